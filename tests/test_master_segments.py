"""Incremental mixing and mastering: segments mixed alone equal the whole mix, keys move with the
lines, loudness from per-segment blocks agrees with an independent meter, and a build that reuses
cached segments writes the bytes a cold build writes (in other processes)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from scipy import signal

from compiler import pieces, segments
from compiler.master import MasterSettings
from compiler.master_segments import SegmentMaster, measure
from compiler.mix_cache import MixCache
from compiler.plan_types import Clip, PauseStep, Plan, PlannedLine, Room, SceneBreak, SoundCue
from compiler.diagnostics import Span
from compiler.stage import StageSettings, stage_pans
from compiler.stitch import StitchSettings, assemble, build_timeline, load_sounds

SR = 16000
SPAN = Span("play.fountain", 3, 1, 3, 10)


def line(speaker: str, text: str, ext: str | None = None, room: Room | None = None) -> PlannedLine:
    return PlannedLine(speaker, text, text.lower(), SPAN, ext, 0.0, room=room)


def clip(*lines: PlannedLine, scene: int = 0) -> Clip:
    return Clip(scene, tuple(dict.fromkeys(l.speaker for l in lines)), (), tuple(lines), 1.0)


def speech(seed: int, seconds: float) -> np.ndarray:
    """Noise shaped like speech: bursts of syllables with a loud peak now and then."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    envelope = np.abs(np.sin(np.pi * np.arange(n) / (0.21 * SR))) ** 2
    x = rng.normal(0, 0.15, n) * envelope
    x[rng.integers(0, n, 3)] = 0.95
    return x.astype(np.float32)


def play(tmp_path: Path, texts: list[str], rooms: tuple[Room | None, Room | None] = (None, None)
         ) -> tuple[Plan, dict, dict, dict]:
    """Seven lines in two scenes; `rooms`: the room of each scene's lines."""
    music = tmp_path / "bed.wav"
    if not music.exists():
        sf.write(music, (0.3 * np.sin(2 * np.pi * 220 * np.arange(3 * SR) / SR)).astype(np.float32), SR)
    steps: list = [SoundCue("music", str(music), (("loop", True),), SPAN)]
    for i, text in enumerate(texts):
        if i == 3:
            steps += [SceneBreak(1), PauseStep(1.0)]
        ext = "O.S." if i == 2 else None
        steps.append(clip(line("ANNA" if i % 2 else "BEN", text, ext, rooms[int(i >= 3)]), scene=int(i >= 3)))
        if i == 4:
            steps.append(SoundCue("music_stop", None, (), SPAN))
    plan = Plan("play.fountain", "T", tuple(steps))
    takes = {c.key: [speech(len(c.lines[0].original), 0.4 + 0.05 * len(c.lines[0].original))] for c in plan.clips}
    sounds, lengths = load_sounds(plan, SR)
    return plan, takes, sounds, lengths


TEXTS = ["Where were you last night?", "On the ferry, like every night.", "Nobody saw you there.",
         "Then nobody was looking.", "The captain says otherwise.", "The captain says a lot of things.",
         "We leave at dawn."]


STAGES = {1: StageSettings(channels="mono"), 2: StageSettings()}  # the mono mix and the stereo stage


def cut(plan, takes, sounds, lengths, settings=StitchSettings(), channels=1):
    tl = build_timeline(plan, takes, SR, settings, lengths)
    pans = stage_pans(tl, STAGES[2], {}) if channels == 2 else None
    laid = pieces.play_pieces(tl, settings, {p: pieces.sound_identity(a) for p, a in sounds.items()}, pans=pans)
    spans = [(int(round(pl.start * SR)), int(round(pl.end * SR))) for pl in tl.lines]
    return tl, laid, segments.segments(laid, spans, tl.n_samples, SR, "test")


@pytest.mark.parametrize("channels", [1, 2])
def test_a_segment_mixed_alone_is_the_same_samples_as_the_whole_mix(tmp_path, channels):
    plan, takes, sounds, lengths = play(tmp_path, TEXTS)
    settings = StitchSettings()
    tl, laid, cuts = cut(plan, takes, sounds, lengths, settings, channels)
    whole = assemble(tl, takes, settings, sounds, stage=STAGES[channels])
    assert whole.ndim == channels
    assert len(cuts) == len(tl.lines)
    assert [s.start for s in cuts] == [0] + [s.end for s in cuts[:-1]] and cuts[-1].end == len(whole)
    source = pieces.MappedSources(takes, sounds)
    for s in cuts:
        window = pieces.mix(laid, s.window_start, s.window_end, source, settings, SR, channels=channels)
        assert np.array_equal(window, whole[s.window_start: s.window_end])  # bit for bit: music, tone, effect


def test_a_segment_mixed_alone_is_the_same_samples_as_the_whole_mix_in_rooms(tmp_path):
    """Takes ring on into the gaps after them (compiler/rooms.py): a window that holds only the tail
    of a line still gets it, and every window is the whole mix's samples, bit for bit."""
    from compiler.rooms import RoomSettings

    plan, takes, sounds, lengths = play(tmp_path, TEXTS, (RoomSettings().room("small"), RoomSettings().room("large")))
    settings = StitchSettings()
    tl, laid, cuts = cut(plan, takes, sounds, lengths, settings)
    whole = assemble(tl, takes, settings, sounds)
    last = int(round(tl.lines[-1].end * SR))
    assert len(whole) >= last + int(1.8 * SR)  # the play lasts until the last tail has rung out
    source = pieces.MappedSources(takes, sounds)
    rings = 0
    for s, after in zip(cuts, cuts[1:]):
        window = pieces.mix(laid, s.window_start, s.window_end, source, settings, SR)
        assert np.array_equal(window, whole[s.window_start: s.window_end])
        # The piece of this segment's line reaches into the next segment's window.
        rings += any(p.kind == "take" and p.start < s.end and p.start + p.length > after.start
                     for p in laid.overlapping(after.window_start, after.window_end))
    assert rings >= 3


def test_an_edit_changes_the_keys_of_its_segment_and_its_neighbours_only(tmp_path):
    plan, takes, sounds, lengths = play(tmp_path, TEXTS)
    edited = list(TEXTS)
    edited[5] = "The captain says a great many things, most of them untrue."  # a longer line: later ones move
    plan2, takes2, _, _ = play(tmp_path, edited)
    settings = StitchSettings()
    _, _, before = cut(plan, takes, sounds, lengths, settings)
    tl2, _, after = cut(plan2, takes2, sounds, lengths, settings)
    assert tl2.lines[6].start > build_timeline(plan, takes, SR, settings, lengths).lines[6].start
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a.key != b.key]
    assert changed == [4, 5, 6]  # the music stopped at line 4; line 5 changed and 6 reaches into it


def test_moving_lines_keeps_the_room_tone_after_them(tmp_path):
    plan, takes, sounds, lengths = play(tmp_path, TEXTS)
    edited = list(TEXTS)
    edited[0] = "Where exactly were you last night, and with whom?"
    plan2, takes2, _, _ = play(tmp_path, edited)
    settings = StitchSettings()
    tl1, _, _ = cut(plan, takes, sounds, lengths, settings)
    tl2, _, _ = cut(plan2, takes2, sounds, lengths, settings)
    a, b = assemble(tl1, takes, settings, sounds), assemble(tl2, takes2, settings, sounds)
    # The scene gap after line 3: same tone, only later in the play.
    g1, g2 = int(round(tl1.lines[2].end * SR)), int(round(tl2.lines[2].end * SR))
    n = int(0.8 * SR)
    assert g2 != g1 and np.array_equal(a[g1: g1 + n], b[g2: g2 + n])


@pytest.mark.parametrize("channels", [1, 2])
def test_segment_loudness_and_peak_agree_with_an_independent_meter(tmp_path, channels):
    plan, takes, sounds, lengths = play(tmp_path, TEXTS * 4)
    settings = StitchSettings()
    tl, laid, cuts = cut(plan, takes, sounds, lengths, settings, channels)
    whole = assemble(tl, takes, settings, sounds, stage=STAGES[channels])
    source = pieces.MappedSources(takes, sounds)
    measured = [measure(pieces.mix(laid, s.window_start, s.window_end, source, settings, SR, channels=channels), s, SR)
                for s in cuts]
    from compiler.master_segments import loudness_of

    ours = loudness_of(measured)
    # BS.1770 steps its blocks 100 ms from the first sample, so its figure depends a little on where
    # that grid falls (here up to 0.12 LU: short lines, long gaps). Each segment has a grid of its
    # own; the result must lie within what the independent meter gives for the grid's positions.
    meter = pyloudnorm.Meter(SR)
    theirs = [meter.integrated_loudness(np.concatenate([np.zeros((k,) + whole.shape[1:]), whole]).astype(np.float64))
              for k in range(0, SR // 10, SR // 80)]
    assert min(theirs) - 0.02 <= ours <= max(theirs) + 0.02
    assert ours == pytest.approx(np.mean(theirs), abs=0.05)
    true_peak = float(np.max(np.abs(signal.resample_poly(whole.astype(np.float64), 4, 1, axis=0))))
    assert max(m.peak for m in measured) == pytest.approx(true_peak, rel=1e-3)


@pytest.mark.parametrize("channels", [1, 2])
def test_mastered_segments_meet_the_targets_by_an_independent_meter(tmp_path, channels):
    plan, takes, sounds, lengths = play(tmp_path, TEXTS * 4)
    settings = StitchSettings()
    tl, laid, cuts = cut(plan, takes, sounds, lengths, settings, channels)
    source = pieces.MappedSources(takes, sounds)
    mixer = SegmentMaster(cuts, lambda s: pieces.mix(laid, s.window_start, s.window_end, source, settings, SR,
                                                     channels=channels),
                          MixCache(tmp_path / "cache"), SR, MasterSettings(), channels)
    report, mastered = mixer.master()
    out = np.concatenate(list(mastered())).astype(np.float64)
    mixer.cache.save()
    assert len(out) == tl.n_samples
    assert report.limited  # the loud peaks need the limiter at this gain
    assert pyloudnorm.Meter(SR).integrated_loudness(out) == pytest.approx(-16.0, abs=0.5)
    assert 20 * math.log10(np.max(np.abs(signal.resample_poly(out, 4, 1, axis=0)))) <= -1.0 + 0.05
    # Again from the cache alone: nothing is mixed or limited, the samples are the same.
    again = SegmentMaster(cuts, lambda s: pytest.fail("mixed a cached segment"), MixCache(tmp_path / "cache"), SR,
                          MasterSettings(), channels)
    report2, mastered2 = again.master()
    assert report2 == report and np.array_equal(np.concatenate(list(mastered2())), out.astype(np.float32))
    assert (again.computed, again.limited_computed) == (0, 0)


def test_a_damaged_mix_entry_is_computed_again(tmp_path):
    cache = MixCache(tmp_path)
    cache.put("ab" * 32, {"samples": np.arange(10, dtype=np.float32)})
    path = cache.path("ab" * 32)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF  # a flipped bit in the samples
    path.write_bytes(bytes(data))
    assert MixCache(tmp_path).get("ab" * 32) is None
    assert MixCache(tmp_path).get("cd" * 32) is None


# --- the whole command, in separate processes ------------------------------------------------------

SCRIPT = """Title: Segments

INT. KITCHEN - NIGHT

MARTA
The kettle has been whistling for a minute.

JONAS
Let it whistle. I am thinking.

MARTA
About the letter?

JONAS
About who sent it.

EXT. GARDEN - LATER

MARTA
It was never signed.

JONAS
Then we will ask the postman.
"""


def _build(project: Path, out: str = "out") -> dict:
    done = subprocess.run([sys.executable, "-m", "compiler", "build", "play.fountain", "-o", out, "--json", "-j", "1"],
                          cwd=project, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)["builds"][0]


def test_an_incremental_build_writes_the_bytes_of_a_cold_build(tmp_path):
    project = tmp_path / "edited"
    project.mkdir()
    (project / "dramac.toml").write_text("")
    (project / "play.fountain").write_text(SCRIPT)
    first = _build(project)
    assert first["segments"]["mixed"] == first["segments"]["total"] == 6
    script = SCRIPT.replace("Let it whistle. I am thinking.", "Let it whistle, it has earned it. I am thinking.")
    (project / "play.fountain").write_text(script)
    second = _build(project)
    assert second["clips_rendered"] == 1
    assert second["segments"]["mixed"] <= 3  # the edited line and its two neighbours
    cold = tmp_path / "cold"
    cold.mkdir()
    (cold / "dramac.toml").write_text("")
    (cold / "play.fountain").write_text(script)
    shutil.copytree(project / ".dramac-cache", cold / ".dramac-cache",
                    ignore=lambda folder, names: [n for n in names if n == "mix" or n.startswith("build-")])
    third = _build(cold)
    assert third["clips_rendered"] == 0 and third["segments"]["mixed"] == 6  # every segment mixed afresh
    for suffix in ("wav", "srt", "vtt"):
        assert (project / "out" / f"play.{suffix}").read_bytes() == (cold / "out" / f"play.{suffix}").read_bytes()
    assert second["integrated_lufs"] == third["integrated_lufs"]


def test_an_edit_reads_only_the_takes_of_segments_mixed_anew(tmp_path, monkeypatch):
    """A clip entry the last build verified, unchanged since, is not read again unless a segment
    that needs its samples is mixed anew; one that changed under the same signature is caught when
    read, and the build starts again reading every entry."""
    from compiler import build, render

    project = tmp_path / "p"
    project.mkdir()
    (project / "dramac.toml").write_text("")
    script = project / "play.fountain"
    script.write_text(SCRIPT)
    build.build(build.prepare(script), project / "out", ["wav"], 1)
    reads = []
    real = render._read_entry
    monkeypatch.setattr(render, "_read_entry", lambda path, *a: reads.append(path) or real(path, *a))
    script.write_text(SCRIPT.replace("It was never signed.", "It was never signed, not even with initials."))
    result = build.build(build.prepare(script), project / "out", ["wav"], 1)
    assert result.rendered == 1 and 1 <= result.segments["mixed"] <= 3  # the line and the neighbours reaching into it
    assert len(reads) <= 2  # the neighbours' clips at most (the edited one was rendered, not read)
    first_wav = (project / "out" / "play.wav").read_bytes()

    # Same signature, other bytes: the recorded signature is made to match a damaged entry, and the
    # mix entries are gone, so every segment is mixed from its takes.
    from compiler.mix_cache import MixCache

    cache_root = project / ".dramac-cache"
    shutil.rmtree(cache_root / "mix")
    record = f"{(project / 'out').resolve()}\nplay"
    prepared = build.prepare(script)
    cache = render.ClipCache(cache_root)
    identity = prepared.backend.identity()
    table = MixCache(cache_root, record)
    for clip in prepared.plan.clips:  # what the last build knew of every entry, whole
        pcm = render.Takes()
        key = cache.key(identity, clip)
        takes = cache.get(identity, clip, prepared.backend.sample_rate)
        pcm.keep(clip.key, takes, known=render.Known((), tuple(len(t) for t in takes), ()))
        table.takes_now[key] = pcm.known(clip.key)
    entry = cache.path(next(iter(table.takes_now)))
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0x01
    entry.write_bytes(bytes(data))
    for key, known in table.takes_now.items():  # ... recorded with the signatures the files have now
        table.takes_now[key] = render.Known(render.entry_signature(cache.path(key)), known.lengths, known.digests,
                                           known.words)
    table.save()
    (project / "out" / "play.wav").unlink()
    result = build.build(prepared, project / "out", ["wav"], 1)
    assert result.rendered == 1  # the damaged entry was found out and rendered again
    assert (project / "out" / "play.wav").read_bytes() == first_wav


class _Parts:
    """A mastered play made of named parts (what compiler.wav_link reads of one)."""

    def __init__(self, named: dict[str, np.ndarray]):
        self.parts, self.samples = list(named), list(named.values())
        self.lengths = [len(x) for x in self.samples]
        self.channels = self.samples[0].ndim
        self.asked: list[int] = []

    def part(self, index: int) -> np.ndarray:
        self.asked.append(index)
        return self.samples[index]

    def __call__(self):
        return iter(self.samples)


@pytest.mark.parametrize("channels", [1, 2])
def test_a_wav_reuses_the_parts_the_previous_file_holds_and_nothing_else(tmp_path, channels):
    from compiler import wav_link

    rng = np.random.default_rng(3)
    shape = (lambda n: (n,)) if channels == 1 else (lambda n: (n, 2))
    a, b, c, d = (rng.uniform(-0.9, 0.9, shape(n)).astype(np.float32) for n in (1000, 2500, 700, 3000))
    path = tmp_path / "play.wav"
    first = _Parts({"a": a, "b": b, "c": c})
    wav_link.write(str(path), first, SR, path, None)
    layout = wav_link.layout_of(path, first)
    second = _Parts({"a": a, "d": d, "c": c})  # b edited into d: a and c are copied, d converted
    out = tmp_path / "next.wav"
    assert wav_link.write(str(out), second, SR, path, layout) == 2 and second.asked == [1]
    fresh = tmp_path / "fresh.wav"
    sf.write(fresh, np.concatenate([a, d, c]), SR, subtype="PCM_16")
    assert out.read_bytes() == fresh.read_bytes()  # what soundfile writes from the samples alone
    path.write_bytes(path.read_bytes())  # the previous file rewritten since: trusted no more
    third = _Parts({"a": a, "d": d, "c": c})
    assert wav_link.write(str(out), third, SR, path, layout) == 0 and third.asked == [0, 1, 2]
    assert out.read_bytes() == fresh.read_bytes()


def test_wav_parts_are_converted_by_numpy_into_the_bytes_soundfile_writes(tmp_path):
    """The converted parts of a WAV are numpy's work (no trip through libsndfile's callbacks), and
    the bytes are those soundfile writes for the same samples: every 16-bit step, its midpoints,
    the extremes, values outside [-1, 1] once clipped, in mono and stereo."""
    from compiler import wav_link
    from compiler.encode import blocks

    assert wav_link._numpy_matches_libsndfile()  # so the fast path is the one in use here
    steps = np.arange(-32768, 32768, dtype=np.float64)
    edges = np.concatenate([steps / 32768, (steps + 0.5) / 32768, (steps + 0.999) / 32768,
                            [1.0, -1.0, 0.0, -0.0, 1.5, -7.0, 1e-12]]).astype(np.float32)
    for samples in (edges, np.stack([edges, edges[::-1]], axis=1)):
        converted = b"".join(wav_link._pcm16(block, SR, samples.ndim) for block in blocks(samples))
        written = tmp_path / "sf.wav"
        sf.write(written, np.clip(samples, -1, 1), SR, subtype="PCM_16")
        assert converted == written.read_bytes()[44:]
