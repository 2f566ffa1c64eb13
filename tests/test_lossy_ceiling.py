"""A lossy file keeps the true-peak ceiling as a player decodes it (compiler/encode.py encode_under).

The oracle is outside dramac: each written file is decoded (soundfile; ffmpeg for M4B) and measured
with tests/stereo_meter.py's 4x polyphase true peak and pyloudnorm's BS.1770 loudness.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from compiler import emit, encode
from compiler.master import limit
from tests.stereo_meter import true_peak_dbtp

SR = 44100
CEILING = -1.0
TOLERANCE_DB = 0.1
LOSSY = ["mp3", "opus", "m4b"]


def door_slams(seconds: float = 3.0) -> np.ndarray:
    """Quiet stereo room tone with full-scale noise bursts in the right channel only, limited to the
    ceiling as dramac's master leaves them: every codec here decodes them some 3-4 dB over it."""
    rng = np.random.default_rng(9)
    n = int(seconds * SR)
    x = (0.05 * rng.standard_normal((n, 2))).astype(np.float32)
    for start in range(SR // 4, n - 2000, SR // 3):
        x[start:start + 1500, 1] = np.sign(rng.standard_normal(1500))
    return limit(x, CEILING, SR)


def decoded(path) -> tuple[np.ndarray, int]:
    if path.suffix != ".m4b":
        return sf.read(path, dtype="float64")
    wav = path.with_suffix(".decoded.wav")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-c:a", "pcm_f32le", "-y", str(wav)],
                   check=True)
    return sf.read(wav, dtype="float64")


def needs(fmt: str) -> None:
    if fmt == "m4b" and encode.aac_encoder() is None:
        pytest.skip("no ffmpeg with an AAC encoder")


def loudness(audio: np.ndarray, rate: int) -> float:
    return pyloudnorm.Meter(rate).integrated_loudness(np.asarray(audio, dtype=np.float64))


@pytest.mark.parametrize("fmt", LOSSY)
def test_a_lossy_file_decodes_under_the_ceiling_and_says_what_it_cost(tmp_path, fmt):
    needs(fmt)
    master = door_slams()
    assert true_peak_dbtp(master) <= CEILING + 0.01
    path = tmp_path / f"play.{fmt}"
    unchecked = tmp_path / f"unchecked.{fmt}"
    emit.write_audio(unchecked, master, SR, fmt)  # without the check: the codec's overshoot, as before
    full_level, full_rate = decoded(unchecked)
    assert true_peak_dbtp(full_level) > CEILING + 1.0

    figures = emit.write_audio(path, master, SR, fmt, ceiling_db=CEILING)
    audio, rate = decoded(path)
    peak = true_peak_dbtp(audio)
    assert peak <= CEILING + TOLERANCE_DB
    assert figures.gain_db < -1.0  # lowered by about the overshoot
    assert figures.true_peak_db == pytest.approx(peak, abs=0.1)  # the figures are the file's own
    assert figures.integrated_lufs == pytest.approx(loudness(audio, rate), abs=0.2)
    # the file is quieter than the full-level encode by the gain it took (the codec's own loss aside)
    assert loudness(audio, rate) == pytest.approx(loudness(full_level, full_rate) + figures.gain_db, abs=0.3)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".wav")) == sorted([path.name, unchecked.name])


@pytest.mark.parametrize("fmt", LOSSY)
def test_a_file_under_the_ceiling_is_encoded_once_at_the_masters_loudness(tmp_path, fmt):
    needs(fmt)
    t = np.arange(3 * SR) / SR
    speech_like = (0.2 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(np.float32)
    figures = emit.write_audio(tmp_path / f"a.{fmt}", speech_like, SR, fmt, ceiling_db=CEILING)
    audio, rate = decoded(tmp_path / f"a.{fmt}")
    assert figures.gain_db == 0.0 and true_peak_dbtp(audio) <= CEILING
    assert loudness(audio, rate) == pytest.approx(loudness(speech_like, SR), abs=0.5)


def test_the_lowered_encode_is_the_same_bytes_every_time(tmp_path):
    """Deterministic: the gain comes from the decoded file, which the same samples always encode to."""
    master = door_slams(2.0)
    first, second = tmp_path / "a.mp3", tmp_path / "b.mp3"
    emit.write_audio(first, master, SR, "mp3", ceiling_db=CEILING)
    emit.write_audio(second, master, SR, "mp3", ceiling_db=CEILING)
    assert first.read_bytes() == second.read_bytes()


def test_lossless_formats_are_not_decoded_again(tmp_path, monkeypatch):
    monkeypatch.setattr(encode, "measure", lambda *a: pytest.fail("a lossless file was measured"))
    assert emit.write_audio(tmp_path / "a.flac", door_slams(1.0), SR, "flac", ceiling_db=CEILING) is None


def test_a_file_still_over_after_the_last_encode_is_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(encode, "PEAK_TRIES", 1)  # the first encode is the last: the overshoot stays
    measured = {}
    written, failures = emit.write_audio_files(tmp_path, "play", door_slams(1.5), SR, ["mp3"], None, CEILING, measured)
    assert written == [tmp_path / "play.mp3"] and measured[str(written[0])].gain_db == 0.0
    assert [d.severity.value for d in failures] == ["warning"]
    assert "play.mp3 decodes to" in failures[0].message and "over the -1 dBTP ceiling" in failures[0].message
