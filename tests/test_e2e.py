"""End to end, as a listener would check it: build the examples with the embedded voice, then
transcribe the WAV offline and compare with the script, and measure timing, loudness and clicks."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from tests.listen import (
    heard_onset, median_f0, normalize, script_speeches, speech_regions, transcribe, unheard_speeches, unmapped_speeches, wer,
)
from tests.stereo_meter import channel_difference_db, downmix, expected_pans, pan_difference_db, true_peak_dbtp
from tests.subtitle_rules import nearest_onset, read_srt, read_vtt, violations, words

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {
    "night-ferry": ROOT / "examples" / "night-ferry" / "night-ferry.fountain",
    "lighthouse": ROOT / "examples" / "lighthouse" / "lighthouse.md",
}


def dramac(*args, hash_seed="0"):
    # An explicit hash seed per process: the reproducibility test builds under two different ones.
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", PYTHONHASHSEED=hash_seed)
    r = subprocess.run([sys.executable, "-m", "compiler", *map(str, args)], capture_output=True, text=True, env=env, timeout=900)
    assert "Traceback" not in r.stderr, r.stderr
    return r


class Built:
    def __init__(self, name: str, out: Path, summary: dict):
        self.name = name
        self.out = out
        self.summary = summary
        self.manifest = json.loads((out / f"{name}.json").read_text())
        self.stereo, self.rate = sf.read(out / f"{name}.wav", dtype="float32")
        assert self.stereo.ndim == 2 and self.stereo.shape[1] == 2  # stereo is the default
        self.audio = downmix(self.stereo)  # what the listening checks hear: (L + R) / √2
        self.words = transcribe(self.audio, self.rate)
        self.regions = speech_regions(self.audio, self.rate)


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def built(request, tmp_path_factory):
    name = request.param
    out = tmp_path_factory.mktemp(f"out-{name}")
    cache = tmp_path_factory.mktemp(f"cache-{name}")
    r = dramac("build", EXAMPLES[name], "-o", out, "--cache-dir", cache, "--format", "wav,flac", "--json")
    assert r.returncode == 0, r.stderr
    return Built(name, out, json.loads(r.stdout)["builds"][0])


def line_words(b: Built, line: dict, slack: float = 0.15):
    return [w for w in b.words if line["start"] - slack <= (w[1] + w[2]) / 2 <= line["end"] + slack]


def test_words_spoken_match_the_script(built):
    reference = " ".join(line["spoken"] for line in built.manifest["lines"])
    hypothesis = " ".join(w for w, _, _ in built.words)
    error = wer(reference, hypothesis)
    print(f"{built.name}: WER {error:.3f} over {len(normalize(reference))} words")
    assert error <= 0.10, (reference, hypothesis)


def test_every_speech_of_the_script_is_heard_in_order(built):
    """The oracle is the script, not the manifest: every speech in the syntax tree of the source file
    has most of its words heard, aligned in script order with what the recogniser heard."""
    speeches = script_speeches(EXAMPLES[built.name])
    unheard = unheard_speeches(speeches, [w for w, _, _ in built.words])
    print(f"{built.name}: {len(speeches) - len(unheard)} of {len(speeches)} speeches heard")
    assert len(speeches) >= 15 and not unheard, unheard  # 16 and 27 in the examples: never vacuous


def test_every_speech_of_the_script_has_its_manifest_line(built):
    """Each speech of the script maps, in order, to its own manifest line (by source line and speaker),
    and the manifest has no spoken line the script does not have."""
    speeches = script_speeches(EXAMPLES[built.name])
    assert unmapped_speeches(speeches, built.manifest["lines"]) == []
    assert len(built.manifest["lines"]) == len(speeches)


def _victim(speeches):
    """A short speech from the middle of the script: the hardest line to miss when it is gone."""
    middle = len(speeches) // 2
    short = [n for n, (_l, _w, text) in enumerate(speeches) if 3 <= len(normalize(text)) <= 6]
    return speeches[min(short, key=lambda n: abs(n - middle))]


def test_the_script_oracle_rejects_a_build_that_drops_a_line(built):
    """Mutation: the build as it would be if one line were silently dropped, its audio silenced and
    its manifest entry gone. Both script oracles must name exactly that line; the manifest-based
    word error rate above, which compares with the manifest's own text, cannot tell."""
    speeches = script_speeches(EXAMPLES[built.name])
    victim = _victim(speeches)
    lines = built.manifest["lines"]
    entry = next(l for l in lines if l["span"]["line"] <= victim[0] <= l["span"]["end_line"] and l["speaker"] == victim[1]
                 and normalize(l["original"]) == normalize(victim[2]))
    audio = built.audio.copy()
    audio[int((entry["start"] - 0.02) * built.rate): int((entry["end"] + 0.02) * built.rate)] = 0.0
    heard = [w for w, _, _ in transcribe(audio, built.rate)]
    kept = [l for l in lines if l is not entry]

    assert [u[:3] for u in unheard_speeches(speeches, heard)] == [victim]
    assert unmapped_speeches(speeches, kept) == [victim]
    blind = wer(" ".join(l["spoken"] for l in kept), " ".join(heard))
    print(f"{built.name}: dropped {victim}; WER against the manifest's own text still {blind:.3f}")


def test_words_come_in_script_order_at_subtitle_times(built):
    """Each line's words are heard inside that line's own time window, line after line."""
    lines = built.manifest["lines"]
    starts = [line["start"] for line in lines]
    assert starts == sorted(starts)
    bad = []
    for line in lines:
        heard = " ".join(w for w, _, _ in line_words(built, line))
        if wer(line["spoken"], heard) > 0.34:
            bad.append((line["spoken"], heard))
    assert len(bad) <= max(1, len(lines) // 20), bad


def first_heard_word(b: Built, line: dict):
    """The recognised word that begins `line`: the first word heard near the cue whose text is the
    line's first word, else the first word heard after the cue's start."""
    first = normalize(line["spoken"])[:1]
    near = [w for w in b.words if line["start"] - 0.6 <= w[1] <= line["end"]]
    same = [w for w in near if normalize(w[0])[:1] == first]
    return (same or [w for w in near if w[1] >= line["start"] - 0.1] or [None])[0]


def test_subtitle_cues_start_where_speech_starts(built):
    """Cues start within 0.3 s of where the recogniser hears the line's first word, and every cue within
    50 ms of the measured onset of the speech (signal energy, 5 ms frames).

    The recogniser's time for a word is the onset of the speech region its voice-activity detector
    heard it in. tiny.en still misplaces a word now and then (measured: "Wait!" in a muffled O.S. line
    placed on the next word, 0.47 s late), so one cue in twenty may miss 0.3 s, none may miss 0.6 s;
    the energy check below holds every cue to the strict bound."""
    offsets = []
    for line in built.manifest["lines"]:
        w = first_heard_word(built, line)
        if w is not None:
            offsets.append(abs(heard_onset(w, built.regions) - line["start"]))
    offsets = np.array(offsets)
    print(f"{built.name}: cue start vs first heard word: median {np.median(offsets):.3f}s, "
          f"within 0.3 s: {np.mean(offsets <= 0.3):.0%}, max {offsets.max():.3f}s")
    assert len(offsets) >= 0.95 * len(built.manifest["lines"])
    assert np.sum(offsets > 0.3) <= max(1, len(offsets) // 20), offsets
    assert offsets.max() <= 0.6, offsets

    r, frame = built.rate, int(0.005 * built.rate)
    for line in built.manifest["lines"]:
        i0 = int((line["start"] - 0.1) * r)
        # The level of both channels together (their energies summed): a voice's, wherever it is panned.
        seg = (built.stereo[i0: i0 + int(0.6 * r)].astype(np.float64) ** 2).sum(axis=1)
        seg = seg[: len(seg) // frame * frame].reshape(-1, frame)
        level = 20 * np.log10(np.sqrt(seg.mean(axis=1)) + 1e-12)
        onset = np.argmax(level > -35.0) * 0.005 - 0.1
        # One 5 ms frame beyond 50 ms is the meter's resolution: a stereo master limits less than a
        # mono one (a panned voice peaks lower in each channel), so a soft first consonant sits about
        # 1 dB lower against full scale and may cross -35 dBFS a frame later (measured: 55 ms, lighthouse).
        assert -0.01 <= onset <= 0.05 + 0.005 + 1e-9, (line["original"], onset)


def test_split_cues_start_at_speech_onset(built):
    """A cue that starts inside a line (a long line split to the rules) starts within 0.1 s of a speech
    onset measured on the audio: 20 ms below -35 dBFS (5 ms frames), then sound."""
    starts = [line["start"] for line in built.manifest["lines"]]
    split = [c for c in read_srt(built.out / f"{built.name}.srt") if not any(abs(c.start - s) <= 0.0015 for s in starts)]
    assert split  # each example has a line too long for one cue
    misses = []
    for cue in split:
        nearest = nearest_onset(built.stereo, built.rate, cue.start)
        print(f"{built.name}: split cue at {cue.start:.3f} s, nearest onset {nearest}")
        if nearest is None or abs(nearest) > 0.1:
            misses.append((cue.start, cue.lines, nearest))
    assert not misses, misses


def test_loudness_and_true_peak(built):
    """In stereo, as pyloudnorm measures the 2-channel file and scipy oversamples each channel 4x."""
    loudness = pyloudnorm.Meter(built.rate).integrated_loudness(built.stereo.astype(np.float64))
    peak = true_peak_dbtp(built.stereo)
    print(f"{built.name}: {loudness:.2f} LUFS, true peak {peak:.2f} dBTP")
    assert abs(loudness - (-16.0)) <= 0.5
    assert peak <= -1.0
    assert built.summary["integrated_lufs"] == pytest.approx(loudness, abs=0.1)
    assert built.manifest["channels"] == 2 and built.manifest["sample_rate"] == built.rate


def test_a_mono_downmix_keeps_the_loudness(built):
    meter = pyloudnorm.Meter(built.rate)
    stereo = meter.integrated_loudness(built.stereo.astype(np.float64))
    mono = meter.integrated_loudness(built.audio.astype(np.float64))
    print(f"{built.name}: stereo {stereo:.2f} LUFS, mono downmix {mono:.2f} LUFS")
    assert abs(stereo - mono) <= 1.0


def test_each_character_stands_where_the_stage_puts_it(built):
    """Per character and scene, the level difference between the channels over its lines matches its
    pan position (the examples set none: the automatic spread of the scene) within 1 dB."""
    lines = built.manifest["lines"]
    pans = expected_pans(EXAMPLES[built.name], lines, spread=0.35)
    groups: dict[tuple[str, float], list[tuple[int, int]]] = {}
    for line, pan in zip(lines, pans):
        groups.setdefault((line["speaker"], pan), []).append((int(line["start"] * built.rate), int(line["end"] * built.rate)))
    assert len({pan for _, pan in groups}) >= 3  # left, right and centre all occur: never vacuous
    for (speaker, pan), spans in groups.items():
        measured = channel_difference_db(built.stereo, spans)
        print(f"{built.name}: {speaker} at {pan:+.2f}: {measured:+.2f} dB (law {pan_difference_db(pan):+.2f} dB)")
        assert abs(measured - pan_difference_db(pan)) <= 1.0, (speaker, pan, measured)


def test_no_clicks_at_joins(built):
    a = built.audio
    jumps = np.abs(np.diff(a))
    r = built.rate
    inside = np.concatenate([jumps[int((l["start"] + 0.05) * r): int((l["end"] - 0.05) * r)] for l in built.manifest["lines"]])
    speech_max = float(inside.max())
    join_max = 0.0
    for line in built.manifest["lines"]:
        for t in (line["start"], line["end"]):
            i = int(t * r)
            join_max = max(join_max, float(jumps[max(i - int(0.01 * r), 0): i + int(0.01 * r)].max()))
    print(f"{built.name}: max jump at joins {join_max:.4f}, inside speech {speech_max:.4f}")
    assert join_max <= speech_max


def test_characters_sound_different(built):
    r = built.rate
    by_speaker: dict[str, list[np.ndarray]] = {}
    for line in built.manifest["lines"]:
        by_speaker.setdefault(line["speaker"], []).append(built.audio[int(line["start"] * r): int(line["end"] * r)])
    f0 = {s: median_f0(np.concatenate(parts), r) for s, parts in by_speaker.items()}
    print(f"{built.name}: median F0 {f0}")
    names = sorted(f0)
    assert len(names) >= 4
    # Every pair of characters differs clearly in pitch (≥ 15 %) or in voice type (formants): at least the
    # two characters with the most lines must be ≥ 15 % apart, and no two may share a median pitch within 5 %.
    top = sorted(names, key=lambda s: -len(by_speaker[s]))[:2]
    lo, hi = sorted(f0[s] for s in top)
    assert hi / lo >= 1.15, f0
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            assert max(f0[x], f0[y]) / min(f0[x], f0[y]) >= 1.05, (x, y, f0)


def test_subtitles_and_manifest_match_the_script(built):
    lines = built.manifest["lines"]
    srt_cues = read_srt(built.out / f"{built.name}.srt")
    vtt_cues = read_vtt(built.out / f"{built.name}.vtt")
    vtt = (built.out / f"{built.name}.vtt").read_text()
    # Broadcast rules on every cue, as two independent parsers read the files; both files agree.
    assert not any(violations(srt_cues).values()), violations(srt_cues)
    assert [(c.start, c.end, c.lines) for c in srt_cues] == [(c.start, c.end, c.lines) for c in vtt_cues]
    assert len(lines) <= len(srt_cues) <= 2 * len(lines)
    # Every word of every line, in order, and nothing else but speaker labels.
    speakers = {line["speaker"] for line in lines}
    shown = []
    for cue in srt_cues:
        for row in cue.lines:
            row = row[1:] if row.startswith("-") else row
            name = next((n for n in speakers if row.startswith(f"{n}: ")), None)
            shown += words(row[len(name) + 2:] if name else row)
    assert shown == words(" ".join(line["original"] for line in lines))
    # Each line's first cue starts where the line starts (the onset checks below hold those times).
    for line in lines:
        assert any(abs(c.start - line["start"]) <= 0.0015 or c.start < line["start"] < c.end for c in srt_cues), line
    for line in lines:
        assert f"<v {line['speaker']}>" in vtt
    assert re.search(r"<\d\d:\d\d:\d\d\.\d\d\d>", vtt)  # the embedded voice times its words
    script_lines = EXAMPLES[built.name].read_text(encoding="utf-8").split("\n")
    for line in lines:
        src = script_lines[line["span"]["line"] - 1]
        first = line["original"].split()[0].strip(",.!?\"'*")
        assert first in src or first in " ".join(script_lines[line["span"]["line"] - 1: line["span"]["end_line"]]), (line, src)
    for sound in built.manifest["sounds"]:
        assert sound["path"].startswith("sounds/")  # project-relative: the same on every machine
    flac, rate = sf.read(built.out / f"{built.name}.flac", dtype="float32")
    assert rate == built.rate and abs(len(flac) - len(built.audio)) <= 1


def test_rebuild_is_incremental(tmp_path):
    project = tmp_path / "ferry"
    shutil.copytree(EXAMPLES["night-ferry"].parent, project, ignore=shutil.ignore_patterns(".dramac-cache"))
    script = project / "night-ferry.fountain"
    out, cache = tmp_path / "out", tmp_path / "cache"
    first = json.loads(dramac("build", script, "-o", out, "--cache-dir", cache, "--json").stdout)["builds"][0]
    assert first["clips_cached"] == 0 and first["clips_rendered"] > 3
    again = json.loads(dramac("build", script, "-o", out, "--cache-dir", cache, "--json").stdout)["builds"][0]
    assert again["clips_rendered"] == 0 and again["clips_cached"] == first["clips_rendered"]
    text = script.read_text(encoding="utf-8").replace("Maybe forty minutes at this speed.", "Maybe an hour in this weather.")
    script.write_text(text, encoding="utf-8")
    edited = json.loads(dramac("build", script, "-o", out, "--cache-dir", cache, "--json").stdout)["builds"][0]
    assert 1 <= edited["clips_rendered"] <= 2
    manifest = json.loads((out / "night-ferry.json").read_text())
    assert any("an hour in this weather" in line["original"] for line in manifest["lines"])


def test_builds_are_reproducible_across_processes_caches_and_job_counts(built, tmp_path):
    """A fresh build in another process, under another hash seed, with a new cache and one worker,
    produces the very same bytes as the fixture's build (hash seed 0, all workers)."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    r = dramac("build", EXAMPLES[built.name], "-o", out, "--cache-dir", cache, "--jobs", "1", "--json", hash_seed="4242")
    assert r.returncode == 0, r.stderr
    for suffix in ("wav", "flac", "srt", "vtt", "json"):
        if (built.out / f"{built.name}.{suffix}").exists() and (out / f"{built.name}.{suffix}").exists():
            assert (out / f"{built.name}.{suffix}").read_bytes() == (built.out / f"{built.name}.{suffix}").read_bytes(), suffix
