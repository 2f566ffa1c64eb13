"""Chapters and tags: from the script's sections, headings and title page to every audio format.

Read back with readers that share no code with dramac's writer: ffprobe (ffmpeg's demuxers) for the
chapters of every format where ffmpeg is installed, tinytag (a pure-Python reader) for the tags and
the Vorbis chapter comments, and mutagen's own parsers for ID3 CHAP/CTOC. Chapter times are checked
against the audio itself: each chapter starts where its scene is first heard, within 50 ms."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from compiler import chapters as chaptering
from compiler import emit, encode
from compiler.build import build, prepare
from compiler.stitch import build_timeline

ROOT = Path(__file__).resolve().parent.parent
HORN = ROOT / "examples" / "night-ferry" / "sounds" / "horn.wav"
FFPROBE = shutil.which("ffprobe")
FORMATS = ["wav", "flac", "mp3", "ogg", "opus", "m4b"]

PLAY = """\
Title: The Short Crossing
Credit: Written by
Author: Jo Writer
    Sam Writer
Copyright: (c) 2026 Jo Writer
Draft date: 26 November 2026

# Act One

INT. FERRY BRIDGE - NIGHT

ROSA
Evening, Miles. We leave at nine.

MILES
The weather report says wind after midnight.

EXT. CAR DECK - CONTINUOUS

[[sfx: sounds/horn.wav volume=-6dB]]

HANNAH
Has anyone seen the doctor?

# Act Two

INT. ENGINE ROOM - LATER

The engines hum.

INT. FERRY BRIDGE - LATER

ROSA
Home; at last = safe.
"""
# Scene 3 (the engine room) has nothing to hear without a narrator: no chapter of its own, and Act
# Two starts where the bridge scene is first heard.
EXPECTED_TITLES = ["Act One — INT. FERRY BRIDGE - NIGHT", "EXT. CAR DECK - CONTINUOUS",
                   "Act Two — INT. FERRY BRIDGE - LATER"]


def make_project(folder: Path, text: str = PLAY, name: str = "play.fountain") -> Path:
    (folder / "sounds").mkdir(parents=True, exist_ok=True)
    shutil.copy(HORN, folder / "sounds" / "horn.wav")
    (folder / "dramac.toml").write_text('[project]\nname = "crossing"\n')
    script = folder / name
    script.write_text(text)
    return script


def dramac(*args):
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    r = subprocess.run([sys.executable, "-m", "compiler", *map(str, args)], capture_output=True, text=True, env=env,
                       timeout=600, cwd=ROOT)
    assert "Traceback" not in r.stderr, r.stderr
    return r


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crossing")
    script = make_project(folder)
    out, cache = folder / "out", tmp_path_factory.mktemp("cache")
    formats = FORMATS if encode.aac_encoder() else [f for f in FORMATS if f != "m4b"]
    r = dramac("build", script, "-o", out, "--cache-dir", cache, "--format", ",".join(formats), "--json")
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)
    validate_record(record)
    return {"out": out, "cache": cache, "script": script, "formats": formats,
            "record": record["builds"][0], "manifest": json.loads((out / "play.json").read_text())}


def validate_record(record: dict) -> None:
    import jsonschema

    jsonschema.validate(record, json.loads((ROOT / "docs" / "build-record.schema.json").read_text()))


# --- readers ---------------------------------------------------------------------------------------


def ffprobe_chapters(path: Path) -> list[tuple[float, str]]:
    r = subprocess.run([FFPROBE, "-v", "error", "-show_chapters", "-of", "json", str(path)], capture_output=True,
                       text=True, check=True)
    return [(float(c["start_time"]), c.get("tags", {}).get("title", "")) for c in json.loads(r.stdout)["chapters"]]


def mutagen_chapters(path: Path) -> list[tuple[float, str]]:
    """ID3: the CHAP frames in the order of the top-level CTOC; MP4: the Nero chapter list."""
    if path.suffix == ".m4b":
        from mutagen.mp4 import MP4

        return [(c.start, c.title) for c in MP4(path).chapters]
    from mutagen.id3 import ID3
    from mutagen.wave import WAVE

    tags = WAVE(path).tags if path.suffix == ".wav" else ID3(path)
    toc = [f for f in tags.getall("CTOC") if f.flags & 1]  # TOP_LEVEL
    assert len(toc) == 1
    return [(tags[f"CHAP:{e}"].start_time / 1000, str(tags[f"CHAP:{e}"].sub_frames["TIT2"])) for e in toc[0].child_element_ids]


def tinytag_chapters(path: Path) -> list[tuple[float, str]]:
    """The Vorbis chapter comments as tinytag reads them (CHAPTER001=HH:MM:SS.mmm, CHAPTER001NAME=)."""
    from tinytag import TinyTag

    other = TinyTag.get(path).other
    found, n = [], 1
    while f"chapter{n:03d}" in other:
        h, m, s = other[f"chapter{n:03d}"][0].split(":")
        found.append((int(h) * 3600 + int(m) * 60 + float(s), other[f"chapter{n:03d}name"][0]))
        n += 1
    return found


def onset_near(audio: np.ndarray, rate: int, at: float, window: float = 0.4) -> float:
    """Where sound begins near `at`: the first 5 ms frame 12 dB above the floor of the 0.3 s before
    (in stereo, of the channels' energies summed)."""
    hop = int(0.005 * rate)
    lo, hi = max(0, int((at - window) * rate)), int((at + window) * rate)
    power = audio[lo: lo + (hi - lo) // hop * hop].astype(np.float64) ** 2
    frames = (power.sum(axis=1) if power.ndim == 2 else power).reshape(-1, hop)
    level = 10 * np.log10(np.mean(frames, axis=1) + 1e-20)
    floor = np.median(level[: int(0.3 / 0.005)])
    loud = np.nonzero(level > floor + 12)[0]
    assert len(loud), f"nothing heard near {at:.3f} s"
    return (lo + loud[0] * hop) / rate


def first_sound_of_each_scene(manifest: dict, script: Path) -> dict[str, float]:
    """From the manifest's lines and sounds, grouped by the scene their source line lies in."""
    from compiler.parser import parse_file

    headings = [(s.heading.span.line, s.heading.text) for s in parse_file(script).script.scenes if s.heading]
    first: dict[str, float] = {}
    for item in manifest["lines"] + manifest["sounds"]:
        scene = [text for line, text in headings if line <= item["span"]["line"]][-1]
        first[scene] = min(first.get(scene, item["start"]), item["start"])
    return first


# --- chapters in every file ------------------------------------------------------------------------


def test_manifest_chapters_start_at_each_scenes_first_sound(built):
    chapters = built["manifest"]["chapters"]
    assert [c["title"] for c in chapters] == EXPECTED_TITLES
    first = first_sound_of_each_scene(built["manifest"], built["script"])
    assert "INT. ENGINE ROOM - LATER" not in first  # nothing to hear there
    for chapter in chapters:
        scene = chapter["marks"][-1]["title"]
        assert chapter["start"] == pytest.approx(first[scene], abs=1e-6)
    assert [c["end"] for c in chapters] == [c["start"] for c in chapters[1:]] + [built["manifest"]["duration"]]
    assert chapters[0]["marks"][0] == {"kind": "section", "title": "Act One", "depth": 1, "span": {
        "file": "play.fountain", "line": 8, "col": 1, "end_line": 8, "end_col": 10}}


def test_every_file_lists_every_chapter_where_its_scene_is_heard(built):
    out, manifest = built["out"], built["manifest"]
    audio, rate = sf.read(out / "play.wav", dtype="float32")
    expected = [(c["start"], c["title"]) for c in manifest["chapters"]]
    for (start, title) in expected:  # the oracle: the audio itself
        assert abs(onset_near(audio, rate, start) - start) <= 0.05, title
    for fmt in built["formats"]:
        path = out / f"play.{fmt}"
        readers = []
        if fmt in ("mp3", "wav", "m4b"):
            readers.append(("mutagen", mutagen_chapters(path)))
        if fmt in ("flac", "ogg", "opus"):
            readers.append(("tinytag", tinytag_chapters(path)))
        if FFPROBE:
            readers.append(("ffprobe", ffprobe_chapters(path)))
        for reader, found in readers:
            assert [t for _, t in found] == [t for _, t in expected], (fmt, reader)
            for (got, _), (want, title) in zip(found, expected):
                # M4B's QuickTime chapter track has no gaps: its first chapter starts at 0, in the lead-in.
                if fmt == "m4b" and reader == "ffprobe" and want == expected[0][0]:
                    assert got == 0.0
                    continue
                assert abs(got - want) <= 0.05, (fmt, reader, title, got, want)


def test_tags_from_the_title_page_in_every_file(built):
    from tinytag import TinyTag

    for fmt in built["formats"]:
        tag = TinyTag.get(built["out"] / f"play.{fmt}")
        assert tag.title == "The Short Crossing", fmt
        assert tag.artist in ("Jo Writer", "Jo Writer/Sam Writer", "Jo Writer, Sam Writer"), (fmt, tag.artist)
        # ID3v2.3 keeps the year (TYER) apart from the day (TDAT, DDMM); tinytag reads the year.
        assert tag.year == ("2026" if fmt in ("mp3", "wav") else "2026-11-26"), fmt
        assert tag.other["copyright"] == ["(c) 2026 Jo Writer"], fmt
        assert tag.other["credit"] == ["Written by"], fmt
    assert built["manifest"]["tags"] == {"title": "The Short Crossing", "authors": ["Jo Writer", "Sam Writer"],
                                         "credit": "Written by", "copyright": "(c) 2026 Jo Writer",
                                         "date": "2026-11-26", "draft_date": "26 November 2026"}


@pytest.mark.skipif(FFPROBE is None, reason="ffprobe (ffmpeg) is not installed")
def test_ffprobe_reads_the_tags_of_every_format(built):
    for fmt in built["formats"]:
        r = subprocess.run([FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json",
                            str(built["out"] / f"play.{fmt}")], capture_output=True, text=True, check=True)
        data = json.loads(r.stdout)
        tags = {k.lower(): v for part in [data["format"]] + data["streams"] for k, v in part.get("tags", {}).items()}
        assert tags["title"] == "The Short Crossing", fmt
        assert tags["copyright"] == "(c) 2026 Jo Writer", fmt
        assert tags["date"] == "2026-11-26", fmt


def test_files_still_decode_and_say_which_encoder_wrote_them(built):
    wav, rate = sf.read(built["out"] / "play.wav", dtype="float32")
    flac, _ = sf.read(built["out"] / "play.flac", dtype="float32")
    # The id3 chunk and the comments leave the audio alone (libsndfile's FLAC rounds floats its own way).
    assert rate == 22050 and len(wav) == len(flac) and np.abs(wav - flac).max() <= 2 / 32768
    opus = sf.info(built["out"] / "play.opus")
    assert (opus.format, opus.subtype, opus.samplerate) == ("OGG", "OPUS", 48000)
    assert abs(opus.duration - len(wav) / rate) < 0.05
    outputs = {o["format"]: o for o in built["record"]["outputs"]}
    assert outputs["ogg"]["encoder"].startswith("libsndfile ") and outputs["ogg"]["encoder"].endswith(" vorbis")
    assert "encoder" not in outputs["json"]
    assert outputs["opus"]["encoder"].endswith(" opus")
    assert "encoders" not in built["manifest"]  # the same manifest whichever formats are written
    if "m4b" in built["formats"]:
        name = encode.aac_encoder()[1]
        assert outputs["m4b"]["encoder"] == name
        assert name.startswith("ffmpeg ") and name.split()[-1] in encode.AAC_ENCODERS
        # An audiobook to players: the file type box's major brand is "M4B " (after its chapters were muxed).
        head = (built["out"] / "play.m4b").read_bytes()[:12]
        assert head[4:8] == b"ftyp" and head[8:12] == b"M4B "


def test_the_record_gives_each_lossy_file_its_own_peak_and_loudness(built):
    """As decoded, under the [master] ceiling (-1 dBTP): measured here with scipy and pyloudnorm."""
    import pyloudnorm

    from tests.stereo_meter import true_peak_dbtp

    outputs = {o["format"]: o for o in built["record"]["outputs"]}
    assert "true_peak_db" not in outputs["wav"] and "true_peak_db" not in outputs["flac"]
    for fmt in ("mp3", "ogg", "opus"):
        audio, rate = sf.read(built["out"] / f"play.{fmt}", dtype="float64")
        figures = outputs[fmt]
        assert true_peak_dbtp(audio) <= -1.0 + 0.1 and figures["true_peak_db"] <= -1.0
        assert figures["true_peak_db"] == pytest.approx(true_peak_dbtp(audio), abs=0.1)
        assert figures["integrated_lufs"] == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(audio), abs=0.2)
        assert figures["gain_db"] <= 0.0
    # a build with nothing changed writes nothing and still reports each file's own figures
    r = dramac("build", built["script"], "-o", built["out"], "--cache-dir", built["cache"],
               "--format", ",".join(built["formats"]), "--json")
    again = json.loads(r.stdout)["builds"][0]
    assert again["seconds"]["write"] == 0.0 and again["outputs"] == built["record"]["outputs"]


def test_tagged_outputs_are_the_same_bytes_in_another_process(built, tmp_path):
    again = tmp_path / "again"
    r = dramac("build", built["script"], "-o", again, "--cache-dir", built["cache"], "--format", ",".join(built["formats"]))
    assert r.returncode == 0, r.stderr
    for fmt in built["formats"]:
        assert (again / f"play.{fmt}").read_bytes() == (built["out"] / f"play.{fmt}").read_bytes(), fmt


def test_a_changed_title_page_rebuilds_the_tags(built, tmp_path):
    """The plan does not hold the title page or the sections: the build record's digest must."""
    folder = tmp_path / "p"
    script = make_project(folder, PLAY)
    out = folder / "out"
    assert dramac("build", script, "-o", out, "--cache-dir", built["cache"], "--format", "flac").returncode == 0
    script.write_text(PLAY.replace("(c) 2026 Jo Writer", "(c) 2027 Sam Writer").replace("# Act Two", "# The Return"))
    assert dramac("build", script, "-o", out, "--cache-dir", built["cache"], "--format", "flac").returncode == 0
    from mutagen.flac import FLAC

    tags = FLAC(out / "play.flac").tags
    assert tags["COPYRIGHT"] == ["(c) 2027 Sam Writer"]
    assert tags["CHAPTER003NAME"] == ["The Return — INT. FERRY BRIDGE - LATER"]


# --- M4B without an encoder ------------------------------------------------------------------------


def test_m4b_without_an_aac_encoder_is_a_warning_and_the_rest_is_built(built, tmp_path, monkeypatch):
    monkeypatch.setattr(encode, "ffmpeg_path", lambda: None)
    script = make_project(tmp_path / "p")
    prepared = prepare(script)
    result = build(prepared, tmp_path / "out", ["m4b", "mp3"], 1, built["cache"])
    assert [d.severity.value for d in result.diagnostics] == ["warning"]
    message = result.diagnostics[0].message
    assert "play.m4b was not written" in message and "no AAC encoder" in message and "ffmpeg" in message
    assert not (tmp_path / "out" / "play.m4b").exists()
    assert mutagen_chapters(tmp_path / "out" / "play.mp3")[0][1] == EXPECTED_TITLES[0]
    assert list(result.encoders) == [str(tmp_path / "out" / "play.mp3")]
    again = build(prepare(script), tmp_path / "out", ["m4b", "mp3"], 1, built["cache"])  # nothing changed
    assert again.stages["write"] == 0.0 and [d.message for d in again.diagnostics] == [message]  # the no-op path


def test_the_cli_reports_the_missing_encoder_in_its_record(tmp_path, built):
    empty = tmp_path / "bin"
    empty.mkdir()
    (empty / "python").symlink_to(sys.executable)
    env = dict(os.environ, PATH=str(empty), NO_COLOR="1")  # no ffmpeg on the PATH
    script = make_project(tmp_path / "p")
    r = subprocess.run([sys.executable, "-m", "compiler", "build", str(script), "-o", str(tmp_path / "out"), "--cache-dir",
                        str(built["cache"]), "--format", "m4b,ogg", "--json"], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    validate_record(json.loads(r.stdout))
    entry = json.loads(r.stdout)["builds"][0]
    assert entry["ok"] and [o["format"] for o in entry["outputs"]] == ["ogg", "srt", "vtt", "json"]
    assert [d["severity"] for d in entry["diagnostics"]] == ["warning"]
    assert "no AAC encoder" in entry["diagnostics"][0]["message"]
    assert "warning" in r.stderr and "play.m4b was not written" in r.stderr


# --- chapters and tags from the syntax tree (no audio) ---------------------------------------------


def timeline_of(script: Path):
    """The real plan's timeline, with silent takes of a second per line (no voice rendered)."""
    prepared = prepare(script)
    takes = {clip.key: [np.zeros(22050, np.float32) for _ in clip.lines] for clip in prepared.plan.clips}
    lengths = {step.path: 1.0 for step in prepared.plan.steps if getattr(step, "path", None)}
    return prepared, build_timeline(prepared.plan, takes, 22050, prepared.stitch, lengths)


MARKDOWN = """\
---
title: The Lighthouse
author: [Jo Writer, Sam Writer]
date: 2026-03-05
copyright: CC0
---

ANNA: Before anything, a word.

# The lamp room

### Part one

ANNA: Tom, the storm will reach us.

TOM: Did you hear that?

### Part two

TOM: Both tanks are full.

## Morning

*Gulls.*

# The beach

ANNA: Look.
"""


def test_markdown_headings_and_front_matter(tmp_path):
    script = make_project(tmp_path, MARKDOWN, "lighthouse.md")
    prepared, timeline = timeline_of(script)
    found = chaptering.chapters(prepared.parsed.script, timeline, prepared.plan.title)
    starts = {pl.line.original: pl.start for pl in timeline.lines}
    assert [(c.title, c.start) for c in found] == [
        ("The Lighthouse", starts["Before anything, a word."]),  # before the first heading: the opening
        ("The lamp room — Part one", starts["Tom, the storm will reach us."]),
        ("Part two", starts["Both tanks are full."]),
        ("The beach", starts["Look."]),  # "Morning" has nothing to hear
    ]
    assert [m.kind for m in found[1].marks] == ["scene", "section"]
    tags = chaptering.tags(prepared.parsed.script.title_page, prepared.plan.title)
    assert tags == chaptering.Tags("The Lighthouse", ("Jo Writer", "Sam Writer"), None, "CC0", "2026-03-05", "2026-03-05")


def test_a_play_without_title_page_or_headings_has_one_chapter_and_its_file_name(tmp_path):
    script = make_project(tmp_path, "ANNA: Hello.\n\nTOM: Hello yourself.\n", "bare.md")
    prepared, timeline = timeline_of(script)
    found = chaptering.chapters(prepared.parsed.script, timeline, prepared.plan.title)
    assert [(c.title, c.start, c.end) for c in found] == [("bare", timeline.lines[0].start, timeline.duration)]
    assert chaptering.tags(prepared.parsed.script.title_page, prepared.plan.title) == chaptering.Tags("bare")


def test_a_nested_section_does_not_close_its_parent(tmp_path):
    text = ("# Act One\n\n## Part A\n\nINT. ROOM - DAY\n\nANNA\nOne.\n\n## Part B\n\nINT. HALL - DAY\n\nTOM\nTwo.\n\n"
            "# Act Two\n\nINT. YARD - DAY\n\nANNA\nThree.\n")
    script = make_project(tmp_path, text)
    prepared, timeline = timeline_of(script)
    found = chaptering.chapters(prepared.parsed.script, timeline)
    assert [c.title for c in found] == ["Act One — Part A — INT. ROOM - DAY", "Part B — INT. HALL - DAY",
                                        "Act Two — INT. YARD - DAY"]
    assert [c.marks[0].depth for c in found] == [1, 2, 1]


@pytest.mark.parametrize("text, iso", [
    ("2026-11-26", "2026-11-26"), ("26 November 2026", "2026-11-26"), ("November 26, 2026", "2026-11-26"),
    ("Nov. 3rd 2026", "2026-11-03"), ("March 2026", "2026-03"), ("2026", "2026"), ("1/20/2012", "2012"),
    ("Draft 3, 2019", "2019"), ("31 February 2026", None), ("soon", None), ("2019 to 2020", None),
])
def test_draft_dates_become_iso_dates_only_without_guessing(text, iso):
    assert chaptering.iso_date(text) == iso


def test_chapter_stamps_and_ffmetadata_escapes():
    assert chaptering.stamp(3723.4567) == "01:02:03.457"
    from compiler.tagging import ffmetadata

    mark = chaptering.Mark("scene", "x", None)
    text = ffmetadata([chaptering.Chapter("A=b;c#d\\e", 0.5, 2.0, (mark,))])
    assert text.splitlines() == [";FFMETADATA1", "[CHAPTER]", "TIMEBASE=1/1000", "START=500", "END=2000",
                                 "title=A\\=b\\;c\\#d\\\\e"]


def test_a_tagging_failure_is_a_diagnostic_at_the_output(tmp_path):
    def broken(tmp, container, subtype):
        from compiler.tagging import TaggingFailed

        raise TaggingFailed("cannot write tags: disk on fire")

    written, failures = emit.write_audio_files(tmp_path, "x", np.zeros(22050, np.float32), 22050, ["flac", "wav"], broken)
    assert written == [] and [d.severity.value for d in failures] == ["error", "error"]
    assert failures[0].message == "cannot tag flac: cannot write tags: disk on fire"
    assert list(tmp_path.iterdir()) == []  # the temporary files went with the failure


@pytest.mark.parametrize("rate", [22050, 44100, 96000, 11025])
def test_opus_resampling_in_blocks_is_one_call_of_scipy(rate):
    from math import gcd

    from scipy.signal import resample_poly

    x = (np.random.default_rng(3).standard_normal(rate * 3 + 17) * 0.3).astype(np.float32)
    up, down = 48000 // gcd(48000, rate), rate // gcd(48000, rate)
    whole = np.clip(resample_poly(x, up, down).astype(np.float32), -1, 1)
    got, to = encode.opus_ready(x, rate)
    assert to == 48000 and got.dtype == np.float32
    assert np.array_equal(encode.resample(x, up, down, block=5000), whole)
    assert np.array_equal(got, whole)


def test_a_play_without_chapters_gets_tags_only(tmp_path):
    from compiler.tagging import tag_file
    from tinytag import TinyTag

    tags = chaptering.Tags("Untitled", ("A. Writer",))
    formats = [f for f in FORMATS if f != "m4b" or encode.aac_encoder()]
    written, failures = emit.write_audio_files(tmp_path, "x", np.zeros(22050, np.float32), 22050, formats,
                                               lambda tmp, c, s: tag_file(tmp, c, s, tags, []))
    assert failures == [] and len(written) == len(formats)
    for path in written:
        tag = TinyTag.get(path)
        assert (tag.title, tag.artist) == ("Untitled", "A. Writer"), path.suffix
        assert not any(k.startswith("chapter") for k in tag.other), path.suffix
        if FFPROBE:
            assert ffprobe_chapters(path) == [], path.suffix
