"""Outputs: audio formats, the manifest, and atomic writes (subtitles: tests/test_subtitles.py)."""

from __future__ import annotations

import json
import os
import math

import numpy as np
import pytest
import soundfile as sf

from compiler import emit
from compiler.diagnostics import CompileError, Span
from compiler.emit import write_audio, write_manifest
from compiler.master import MasterReport
from compiler.plan_types import Clip, Plan, PlannedLine, SceneBreak
from compiler.stitch import StitchSettings, build_timeline
from compiler.subtitles import write_srt

SR = 22050
LONG = ("I told you already, the boat leaves at dawn whether or not your brother "
        "has found the map, and I will not wait for him.")


def make_timeline():
    def pl(speaker, text, line, ext=None):
        return PlannedLine(speaker, text, text.lower(), Span("play.fountain", line, 1, line, 1 + len(text)), ext)

    c1 = Clip(0, ("ANNA", "BEN"), (), (pl("ANNA", "Where were you?", 4), pl("BEN", LONG, 6, "O.S.")), 2.0)
    c2 = Clip(1, ("DR. <NO> & CO",), (), (pl("DR. <NO> & CO", "Fish & chips <now>.", 10),), 1.0)
    plan = Plan("play.fountain", "The Boat", (SceneBreak(0), c1, SceneBreak(1), c2))
    takes = {c1.key: [np.zeros(int(1.2 * SR), np.float32), np.zeros(int(3.5 * SR), np.float32)],
             c2.key: [np.zeros(int(0.9 * SR), np.float32)]}
    return build_timeline(plan, takes, SR, StitchSettings())


def test_manifest_round_trips(tmp_path):
    tl = make_timeline()
    path = tmp_path / "play.json"
    report = MasterReport(-20.5, -16.0, -1.2, 4.5)
    write_manifest(path, tl, {"loudness": report, "backend": "embedded"})
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == 1 and data["title"] == "The Boat" and data["source"] == "play.fountain"
    assert data["duration"] == pytest.approx(tl.duration, abs=1e-5)
    assert data["sample_rate"] == SR and data["backend"] == "embedded"
    assert data["loudness"]["output_lufs"] == -16.0
    assert [l["original"] for l in data["lines"]] == [pl.line.original for pl in tl.lines]
    first = data["lines"][1]
    assert first["index"] == 2 and first["speaker"] == "BEN" and first["extension"] == "O.S."
    assert first["span"] == {"file": "play.fountain", "line": 6, "col": 1, "end_line": 6, "end_col": 1 + len(LONG)}
    assert first["clip"] == tl.lines[1].clip_key
    assert first["start"] == pytest.approx(tl.lines[1].start, abs=1e-5)
    assert data == emit.manifest_dict(tl, {"loudness": report, "backend": "embedded"})


def test_manifest_silence_loudness_is_null(tmp_path):
    path = tmp_path / "m.json"
    write_manifest(path, make_timeline(), {"loudness": MasterReport(-math.inf, -math.inf, -math.inf, 0.0)})
    assert json.loads(path.read_text())["loudness"]["input_lufs"] is None  # strict JSON, no -Infinity


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("fmt, subtype, tolerance", [
    ("wav", "PCM_16", 0.0), ("wav24", "PCM_24", 0.0), ("flac", "PCM_16", 0.0),
    ("ogg", "VORBIS", 0.01), ("mp3", "MPEG_LAYER_III", 0.1),
])
def test_audio_formats_read_back(tmp_path, fmt, subtype, tolerance):
    audio = tone(2.5)
    path = tmp_path / f"play.{fmt}"
    write_audio(path, audio, SR, fmt)
    info = sf.info(str(path))
    assert info.samplerate == SR and info.channels == 1 and info.subtype == subtype
    data, sr = sf.read(str(path), dtype="float32")
    assert len(data) / sr == pytest.approx(2.5, abs=tolerance + 1 / SR)
    if fmt.startswith(("wav", "flac")):
        assert np.max(np.abs(data - audio)) < 1e-3
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_failed_write_leaves_existing_output_untouched(tmp_path, monkeypatch):
    path = tmp_path / "play.wav"
    path.write_bytes(b"previous build")

    real_write = sf.SoundFile.write

    def broken(sound, data):  # half the samples reach the temporary file, then the disk is full
        real_write(sound, data[: len(data) // 2])
        raise RuntimeError("disk full")

    monkeypatch.setattr(sf.SoundFile, "write", broken)
    with pytest.raises(CompileError) as info:
        write_audio(path, tone(0.5), SR, "wav")
    assert "disk full" in str(info.value)
    assert path.read_bytes() == b"previous build"
    assert [p.name for p in tmp_path.iterdir()] == ["play.wav"]


def test_write_errors_are_diagnostics(tmp_path):
    with pytest.raises(CompileError) as info:
        write_audio(tmp_path / "missing-dir" / "a.wav", tone(0.1), SR, "wav")
    assert "cannot write output" in str(info.value)
    with pytest.raises(CompileError):
        write_audio(tmp_path / "a.aiff", tone(0.1), SR, "aiff")
    with pytest.raises(CompileError):
        write_audio(tmp_path / "a.mp3", tone(0.1), 7000, "mp3")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("fmt", ["wav", "flac", "srt", "json"])
def test_an_output_whose_bytes_did_not_change_is_left_alone(tmp_path, fmt):
    """Same bytes: the file stays as it was, modification time and inode included (a player or a sync
    tool watching it sees nothing); other bytes replace it."""
    audio = (0.3 * np.sin(np.arange(SR) / SR * 2 * np.pi * 220)).astype(np.float32)
    timeline = make_timeline()
    path = tmp_path / f"play.{fmt}"

    def write(variant: int) -> None:
        if fmt == "srt":
            write_srt(path, timeline if variant == 0 else build_timeline(
                Plan("play.fountain", "T", [SceneBreak(0)]), {}, SR))
        elif fmt == "json":
            write_manifest(path, timeline, {"variant": variant})
        else:
            write_audio(path, audio * np.float32(1 - 0.5 * variant), SR, fmt)

    write(0)
    before = path.stat()
    first = path.read_bytes()
    write(0)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert path.read_bytes() == first
    write(1)
    assert path.read_bytes() != first
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_a_mastered_play_is_written_without_a_copy():
    """Audio already inside [-1, 1] is handed to the encoder as it is; only out-of-range audio is clipped."""
    from compiler.encode import BLOCK_FRAMES, blocks

    inside = np.linspace(-1.0, 1.0, BLOCK_FRAMES + 5000, dtype=np.float32)
    parts = list(blocks(inside))
    assert [len(p) for p in parts] == [BLOCK_FRAMES, 5000]
    assert all(np.shares_memory(p, inside) for p in parts)
    outside = inside * np.float32(1.5)
    clipped = np.concatenate(list(blocks(outside)))
    assert not np.shares_memory(clipped, outside) and clipped.min() == -1.0 and clipped.max() == 1.0
    nan = inside.copy()
    nan[10] = np.nan
    assert not np.shares_memory(next(blocks(nan)), nan)
    # Parts handed over one by one (a mastered play, segment by segment) come out as the same blocks.
    halves = lambda: iter((inside[:7000], inside[7000:]))  # noqa: E731
    assert np.array_equal(np.concatenate(list(blocks(halves))), inside)


def test_a_large_output_replaced_is_freed_by_a_thread_and_leaves_nothing_behind(tmp_path, monkeypatch):
    """The replaced file is linked aside and unlinked by a thread; once the build waits for it, the
    folder holds the new file alone."""
    from compiler import atomic

    monkeypatch.setattr(atomic, "FREE_LATER_BYTES", 1000)
    path = tmp_path / "play.wav"
    path.write_bytes(b"old" * 1000)
    with atomic.atomic_path(path, free_old_later=True) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"new" * 1000)
    atomic.wait_freed()
    assert path.read_bytes() == b"new" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["play.wav"]


def test_a_build_process_hands_the_freeing_to_a_process_that_outlives_it(tmp_path, monkeypatch):
    """In a `dramac build` process (Freeing.by_child_process) the replaced file stays linked aside
    until the build is done, then `rm`, in a process of its own, unlinks it: the build need not
    wait for the kernel to free it, and a reader of the build's output does not wait for it either."""
    import time

    from compiler import atomic

    monkeypatch.setattr(atomic, "FREE_LATER_BYTES", 1000)
    monkeypatch.setattr(atomic.Freeing, "by_child_process", True)
    path = tmp_path / "play.wav"
    path.write_bytes(b"old" * 1000)
    old = os.stat(path).st_ino
    with atomic.atomic_path(path, free_old_later=True) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"new" * 1000)
    aside = [p for p in tmp_path.iterdir() if p.name != "play.wav"]
    assert [os.stat(p).st_ino for p in aside] == [old]  # kept until the build is done
    atomic.wait_freed()
    deadline = time.monotonic() + 10
    while len(list(tmp_path.iterdir())) > 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.read_bytes() == b"new" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["play.wav"]
