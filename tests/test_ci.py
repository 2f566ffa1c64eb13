"""dramac driven the way a CI job drives it: long Ogg files, one JSON record per run (validated against
docs/build-record.schema.json), outputs that do not depend on the working directory, a series in one
run, and the example workflow's own commands."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from compiler import emit, encode
from compiler.diagnostics import CompileError

ROOT = Path(__file__).resolve().parent.parent
SR = 22050


def noise(seconds: float) -> np.ndarray:
    return (np.random.default_rng(7).standard_normal(int(SR * seconds)) * 0.1).astype(np.float32)


# --- audio files -----------------------------------------------------------------------------------


def test_three_minute_ogg_is_written_and_reads_back(tmp_path):
    """libsndfile crashed (SIGSEGV) writing more than ~95 s of Vorbis in one call."""
    audio = noise(180.0)
    target = tmp_path / "long.ogg"
    emit.write_audio(target, audio, SR, "ogg")
    info = sf.info(target)
    assert (info.format, info.subtype, info.samplerate) == ("OGG", "VORBIS", SR)
    decoded, rate = sf.read(target, dtype="float32")
    assert rate == SR and abs(len(decoded) - len(audio)) <= SR // 100
    # Lossy, but the same signal: correlated over the whole length, not a truncated or silent file.
    tail = slice(len(audio) - 10 * SR, len(audio) - SR)
    assert np.corrcoef(decoded[tail], audio[tail])[0, 1] > 0.9
    assert [p.name for p in tmp_path.iterdir()] == ["long.ogg"]


def _crashing_python(tmp_path: Path) -> str:
    """An 'interpreter' that dies of SIGSEGV, as libsndfile's encoder did."""
    fake = tmp_path / "crashing-python"
    fake.write_text("#!/bin/sh\ncat > /dev/null\nkill -SEGV $$\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return str(fake)


def test_encoder_crash_is_a_diagnostic_and_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "play.ogg"
    target.write_bytes(b"previous build")
    monkeypatch.setattr(encode.sys, "executable", _crashing_python(tmp_path))
    with pytest.raises(CompileError) as info:
        emit.write_audio(target, noise(1.0), SR, "ogg")
    assert "crashed (SIGSEGV)" in str(info.value)
    assert target.read_bytes() == b"previous build"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crashing-python", "play.ogg"]  # no temp file


def test_a_crashing_codec_costs_no_other_format(tmp_path, monkeypatch):
    monkeypatch.setattr(encode.sys, "executable", _crashing_python(tmp_path))
    written, failures = emit.write_audio_files(tmp_path, "play", noise(2.0), SR, ["wav", "ogg", "flac"])
    assert [p.name for p in written] == ["play.wav", "play.flac"]
    assert len(failures) == 1 and failures[0].span.file == str(tmp_path / "play.ogg")
    assert sf.info(tmp_path / "play.flac").frames == int(SR * 2.0)
    assert not (tmp_path / "play.ogg").exists()
