"""Mastering: loudness target and true-peak ceiling, checked with independent measurements."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
from scipy import signal

from compiler.master import MasterSettings, limit, loudness, master

SR = 22050


def measured_lufs(x: np.ndarray) -> float:
    return pyloudnorm.Meter(SR).integrated_loudness(np.asarray(x, np.float64))


def measured_true_peak(x: np.ndarray) -> float:
    up = signal.resample_poly(np.asarray(x, np.float64), 4, 1)
    return 20 * math.log10(np.max(np.abs(up)))


def speechlike(seconds: float, level: float, seed: int = 0) -> np.ndarray:
    """Noise bursts with pauses, shaped like speech's long-term spectrum."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    noise = signal.sosfilt(signal.butter(2, [150, 4000], "bandpass", fs=SR, output="sos"), rng.normal(size=n))
    gate = (np.sin(2 * np.pi * 0.7 * np.arange(n) / SR) > -0.3).astype(float)
    x = noise * gate
    return (x / np.max(np.abs(x)) * level).astype(np.float32)


def peaky(seconds: float) -> np.ndarray:
    """Quiet speech with loud short clicks: reaching -16 LUFS by gain alone would break the ceiling."""
    x = speechlike(seconds, 0.05, seed=1)
    for i in range(SR // 2, len(x), SR):
        x[i: i + 40] += np.hanning(40).astype(np.float32) * 0.9
    return x


@pytest.mark.parametrize("name, audio", [
    ("loud", speechlike(12.0, 0.99)),
    ("quiet", speechlike(12.0, 0.01)),
    ("peaky", peaky(12.0)),
])
def test_master_hits_target_under_ceiling(name, audio):
    settings = MasterSettings()
    out, report = master(audio, SR, settings)
    assert len(out) == len(audio)
    assert measured_lufs(out) == pytest.approx(-16.0, abs=0.5)
    assert measured_true_peak(out) <= -1.0 + 1e-3
    assert report.output_lufs == pytest.approx(measured_lufs(out), abs=0.05)
    assert report.true_peak_db == pytest.approx(measured_true_peak(out), abs=0.05)
    assert report.input_lufs == pytest.approx(measured_lufs(audio), abs=0.05)
    if name == "peaky":
        assert report.limited
        # Gain alone would have pushed the clicks far above the ceiling.
        assert measured_true_peak(audio) + report.gain_db > 3.0


def test_other_targets():
    out, report = master(speechlike(10.0, 0.3), SR, MasterSettings(target_lufs=-23.0, true_peak_db=-2.0))
    assert measured_lufs(out) == pytest.approx(-23.0, abs=0.5)
    assert measured_true_peak(out) <= -2.0 + 1e-3


def test_limiter_scales_smoothly_instead_of_clipping():
    t = np.arange(SR) / SR
    x = (0.4 * np.sin(2 * np.pi * 200 * t) * (1 + 1.4 * (np.abs(t - 0.5) < 0.05))).astype(np.float32)  # a loud swell
    y = limit(x, -6.0, SR)
    assert measured_true_peak(y) <= -6.0 + 1e-3
    nz = np.abs(x) > 0.05
    gain = y[nz] / x[nz]
    assert np.all(gain > 0) and np.all(gain <= 1.0 + 1e-6)
    # The gain moves by tiny steps per sample: no corners that clipping would leave.
    assert float(np.max(np.abs(np.diff(gain)))) < 0.02
    # Away from the swell the signal passes untouched.
    assert np.allclose(y[: int(0.3 * SR)], x[: int(0.3 * SR)], atol=1e-6)


@pytest.mark.parametrize("audio", [np.zeros(SR * 3, np.float32), np.zeros(0, np.float32),
                                   (0.5 * np.ones(100)).astype(np.float32)])
def test_silence_and_short_audio(audio):
    out, report = master(audio, SR)
    assert len(out) == len(audio)
    assert report.input_lufs == -math.inf and report.output_lufs == -math.inf
    if len(audio) and np.any(audio):
        assert report.true_peak_db <= -1.0 + 1e-3


@pytest.mark.parametrize("rate,seconds", [(22050, 0.45), (24000, 7.3), (44100, 31.0), (22050, 130.0)])
def test_streaming_loudness_matches_pyloudnorm(rate, seconds):
    """master.loudness filters in chunks; it must agree with pyloudnorm's whole-signal meter."""
    rng = np.random.default_rng(int(seconds * 10))
    t = np.arange(int(rate * seconds)) / rate
    # Speech-like: bursts of tone and noise with silences, so both gates matter.
    x = (0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 0.4 * t) > 0.2) + 0.01 * rng.standard_normal(len(t)))
    ours = loudness(x.astype(np.float32), rate)
    reference = pyloudnorm.Meter(rate).integrated_loudness(x.astype(np.float32).astype(np.float64))
    assert ours == pytest.approx(reference, abs=1e-6)


@pytest.mark.parametrize("key, value", [
    ("target_lufs", -41.0), ("target_lufs", -4.0), ("target_lufs", float("nan")),
    ("true_peak_db", 0.5), ("true_peak_db", -21.0), ("true_peak_db", float("-inf")),
    ("tolerance_lu", 0.0), ("tolerance_lu", 0.6), ("tolerance_lu", float("nan")),
    ("limiter_margin_db", -0.1), ("limiter_margin_db", 3.5),
    ("lookahead_ms", 0.0), ("lookahead_ms", 51.0), ("lookahead_ms", float("inf")),
    ("max_iterations", 0), ("max_iterations", 51), ("max_iterations", 2.5), ("max_iterations", float("nan")),
    ("max_iterations", True), ("target_lufs", "-16"),
])
def test_settings_reject_out_of_range_values(key, value):
    with pytest.raises(ValueError) as info:
        MasterSettings(**{key: value})
    assert str(info.value).startswith(f"[master] {key} must be")


def test_settings_accept_the_edges_of_each_range():
    s = MasterSettings(target_lufs=-40, true_peak_db=0.0, tolerance_lu=0.5, limiter_margin_db=3.0,
                       lookahead_ms=50.0, max_iterations=3.0)
    assert s.max_iterations == 3 and isinstance(s.max_iterations, int)
    MasterSettings(target_lufs=-5.0, true_peak_db=-20.0, limiter_margin_db=0.0, max_iterations=1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_master_rejects_invalid_samples(bad):
    audio = speechlike(2.0, 0.3)
    audio[SR] = bad
    with pytest.raises(ValueError, match=r"invalid \(NaN/inf\) samples"):
        master(audio, SR)


def _blockwise(monkeypatch, block: int) -> None:
    """Blocks far shorter than the play, so a test of seconds crosses hundreds of block edges."""
    from compiler import master as master_module

    monkeypatch.setattr(master_module, "_BLOCK", block)


@pytest.mark.parametrize("make", [lambda: speechlike(30.0, 0.99), lambda: peaky(30.0), lambda: speechlike(20.0, 0.01)])
def test_master_in_place_gives_the_same_samples_and_report(make, monkeypatch):
    """Mastering over the mix itself must not change a sample: block edges, the one-block-late write
    of the limiter and the tries measured without being kept all agree with a separate output."""
    _blockwise(monkeypatch, 1 << 13)
    audio = make()
    copied, report = master(audio, SR)
    mix = audio.copy()
    in_place, report_in_place = master(mix, SR, in_place=True)
    assert in_place is mix
    assert np.array_equal(in_place, copied) and report_in_place == report
    assert np.array_equal(audio, make())  # the default leaves the caller's array alone


def test_limited_master_equals_limiting_the_gained_play(monkeypatch):
    """What master() applies when it limits is exactly limit(x * gain), and what it reports was
    measured on those samples."""
    _blockwise(monkeypatch, 1 << 13)
    audio = peaky(20.0)
    out, report = master(audio, SR, in_place=False)
    assert report.limited
    gained = audio * np.float32(10 ** (report.gain_db / 20))
    expected = limit(gained, MasterSettings().true_peak_db - MasterSettings().limiter_margin_db, SR)
    assert np.array_equal(out, expected)
    assert report.output_lufs == loudness(out, SR)
    assert report.true_peak_db == pytest.approx(measured_true_peak(out), abs=1e-9)


def test_master_in_place_holds_no_copy_of_the_play(monkeypatch):
    """An hour-long play is 300 MiB of float32; mastering it must not hold a second or third copy.
    Here the play is 100 s and the blocks are small, so anything play-sized shows in the peak."""
    import tracemalloc

    _blockwise(monkeypatch, 1 << 12)
    mix = peaky(100.0)
    tracemalloc.start()
    try:
        _, report = master(mix, SR, in_place=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.limited  # the limiter's path, the one that held two copies
    assert peak < 0.25 * mix.nbytes, f"{peak / 2**20:.1f} MiB for a {mix.nbytes / 2**20:.1f} MiB play"


def test_a_limited_master_reaches_the_target_in_few_passes(monkeypatch):
    """Each try under the limiter is a full pass over the play (15 s for an hour); loudness rises by
    less than the gain there, so the next gain follows the slope between tries (a plain step
    needed 4 tries here, and 4 on a generated hour-long play)."""
    from compiler import master as master_module

    tries = []
    measure = master_module._measure_limited
    monkeypatch.setattr(master_module, "_measure_limited", lambda *a, **k: tries.append(a[1]) or measure(*a, **k))
    audio = speechlike(20.0, 0.89, seed=7)
    settings = MasterSettings(target_lufs=-10.0)
    out, report = master(audio, SR, settings)
    assert report.limited and len(tries) <= 3, tries
    assert abs(report.output_lufs - settings.target_lufs) <= settings.tolerance_lu
    assert measured_lufs(out) == pytest.approx(-10.0, abs=0.5)
    assert measured_true_peak(out) <= -1.0 + 1e-3


@pytest.mark.parametrize("channels", [1, 2])
def test_the_peak_envelope_is_the_oversampled_peak_wherever_it_can_pass_the_mark(channels):
    """peak_envelope oversamples only near loud samples; where the envelope of the whole signal,
    oversampled in one piece by scipy, exceeds `above`, the values are the same to the bit, and
    nowhere is it above that envelope (nor, where it was not computed, above `above`)."""
    from compiler.master import frame_peak, peak_envelope

    rng = np.random.default_rng(7)
    n = 40000
    x = rng.normal(scale=0.05, size=(n, channels) if channels == 2 else n)
    for start in rng.integers(0, n - 300, 12):  # a few loud bursts, as syllables in speech
        x[start: start + 200] *= 12
    x[:3] *= 30  # a peak at the very start: the oversampling's edge
    up = frame_peak(signal.resample_poly(x, 4, 1, axis=0)).reshape(n, 4).max(axis=1)
    whole = np.maximum(frame_peak(x), up)
    for above in (0.0, 0.2, float(frame_peak(x).max()), 2.0):
        envelope = peak_envelope(x, above)
        over = whole > above
        assert np.array_equal(envelope[over], whole[over])
        assert np.all(envelope <= whole) and np.all(envelope[~over] <= above)
