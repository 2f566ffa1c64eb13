"""Mastering: integrated loudness to a target (BS.1770 via pyloudnorm) under a true-peak ceiling.

Gain alone brings the play to `target_lufs`. When that gain would push the true peak (measured 4x
oversampled, as BS.1770 describes) above `true_peak_db`, a look-ahead limiter lowers only the
peaks: the gain it needs is spread smoothly over a few milliseconds before and after each peak, so
the waveform is scaled, never clipped. Limiting lowers the loudness a little, so gain and limiter
are iterated until both conditions hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyloudnorm
from scipy import ndimage, signal


@dataclass(frozen=True)
class MasterSettings:
    target_lufs: float = -16.0
    true_peak_db: float = -1.0
    tolerance_lu: float = 0.2  # iterate until within this of the target (the promise is +-0.5)
    limiter_margin_db: float = 0.2  # the limiter aims this far below the ceiling
    lookahead_ms: float = 5.0
    max_iterations: int = 10

    def __post_init__(self):
        # Checked here so a dramac.toml typo becomes a diagnostic at the key, not NaN gain or a
        # limiter with no look-ahead. Bounds are inclusive unless marked "above".
        for name, low, high, low_open in (
            ("target_lufs", -40.0, -5.0, False),
            ("true_peak_db", -20.0, 0.0, False),
            ("tolerance_lu", 0.0, 0.5, True),
            ("limiter_margin_db", 0.0, 3.0, False),
            ("lookahead_ms", 0.0, 50.0, True),
        ):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                    or value > high or value < low or (low_open and value == low)):
                bound = f"above {low:g} and at most {high:g}" if low_open else f"from {low:g} to {high:g}"
                raise ValueError(f"[master] {name} must be a number {bound}, got {value!r}")
        n = self.max_iterations
        if (isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n) or n != int(n)
                or not 1 <= n <= 50):
            raise ValueError(f"[master] max_iterations must be a whole number from 1 to 50, got {n!r}")
        object.__setattr__(self, "max_iterations", int(n))


@dataclass(frozen=True)
class MasterReport:
    input_lufs: float  # -inf for silence or audio shorter than one 400 ms block
    output_lufs: float
    true_peak_db: float  # of the output, dBTP
    gain_db: float  # make-up gain applied before the limiter
    limited: bool = False  # the limiter had to act


_BLOCK = 1 << 20
_PAD = 64  # samples each side of a block: more than the resampling filter reaches


def true_peak_db(audio: np.ndarray) -> float:
    """Peak of the 4x oversampled signal in dBTP; -inf for silence."""
    peak = 0.0
    x = np.asarray(audio)  # converted block by block: a float64 copy of an hour is 600 MiB
    for a in range(0, len(x), _BLOCK):
        lo, hi = max(0, a - _PAD), min(len(x), a + _BLOCK + _PAD)
        up = signal.resample_poly(x[lo:hi].astype(np.float64), 4, 1)
        core = up[(a - lo) * 4: (min(len(x), a + _BLOCK) - lo) * 4]
        peak = max(peak, float(np.max(np.abs(core))) if len(core) else 0.0)
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (BS.1770-4, mono) in LUFS; -inf for silence or audio shorter than one block.

    The same K-weighting filters, 400 ms blocks with 75 % overlap and two gates as pyloudnorm, but
    filtered in chunks carrying the filter state, with block energies taken from running sums: the
    memory stays at one chunk instead of several float64 copies of the whole play (about 2 GB for an
    hour at 22 kHz), and the gating is vectorised.
    """
    x = np.asarray(audio)
    if len(x) < int(0.4 * sample_rate) + 1 or not np.any(x):
        return -math.inf
    filters = pyloudnorm.Meter(sample_rate)._filters.values()  # the K-weighting stages, in order
    stages = [(f.passband_gain, f.b, f.a) for f in filters]
    states = [signal.lfilter_zi(b, a) * 0.0 for _, b, a in stages]
    n_blocks = int(np.round((len(x) / sample_rate - 0.4) / 0.1)) + 1
    j = np.arange(n_blocks)
    lower = (0.4 * (j * 0.25) * sample_rate).astype(np.int64)
    upper = (0.4 * (j * 0.25 + 1) * sample_rate).astype(np.int64)
    bounds = np.unique(np.concatenate([lower, np.minimum(upper, len(x))]))
    energy_at = np.empty(len(bounds))  # sum of squares of the weighted signal before each bound
    total, k = 0.0, 0
    while k < len(bounds) and bounds[k] == 0:
        energy_at[k] = 0.0
        k += 1
    for a in range(0, len(x), _BLOCK):
        chunk = x[a: a + _BLOCK].astype(np.float64)
        for i, (gain, b, den) in enumerate(stages):
            chunk, states[i] = signal.lfilter(b, den, chunk, zi=states[i])
            chunk *= gain
        running = total + np.cumsum(chunk * chunk)
        end = a + len(chunk)
        while k < len(bounds) and bounds[k] <= end:
            energy_at[k] = running[bounds[k] - a - 1]
            k += 1
        total = running[-1] if len(running) else total
    before = energy_at[np.searchsorted(bounds, lower)]
    through = energy_at[np.searchsorted(bounds, np.minimum(upper, len(x)))]
    z = (through - before) / (0.4 * sample_rate)  # mean square of each block
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10 * np.log10(z)
    above_absolute = block_lufs >= -70.0
    if not np.any(above_absolute):
        return -math.inf
    relative = -0.691 + 10 * math.log10(float(np.mean(z[above_absolute]))) - 10.0
    gated = (block_lufs > relative) & above_absolute
    if not np.any(gated):
        return -math.inf
    return -0.691 + 10 * math.log10(float(np.mean(z[gated])))


def limit(audio: np.ndarray, ceiling_db: float, sample_rate: int, lookahead_ms: float = 5.0) -> np.ndarray:
    """Look-ahead peak limiter: every true peak ends up at or below `ceiling_db`.

    The gain each sample needs (ceiling / local oversampled peak, at most 1) is spread with a
    sliding minimum over +-L samples and then smoothed by two box filters of L samples. The
    smoothed gain at any sample is an average of minima that each include that sample, so it is
    never above what the sample needs, yet it changes over ~2L samples instead of jumping.
    """
    x = np.asarray(audio, dtype=np.float32)
    L = max(2, int(round(lookahead_ms / 1000 * sample_rate)))
    margin = 2 * L + _PAD
    ceiling = 10 ** (ceiling_db / 20)
    out = np.empty_like(x)
    for a in range(0, len(x), _BLOCK):
        b = min(len(x), a + _BLOCK)
        lo, hi = max(0, a - margin), min(len(x), b + margin)
        seg = x[lo:hi].astype(np.float64)
        up = np.abs(signal.resample_poly(seg, 4, 1))
        env = np.maximum(np.abs(seg), up[: 4 * len(seg)].reshape(len(seg), 4).max(axis=1))
        need = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
        g = ndimage.minimum_filter1d(need, size=2 * L + 1, mode="nearest")
        g = ndimage.uniform_filter1d(ndimage.uniform_filter1d(g, size=L, mode="nearest"), size=L, mode="nearest")
        g = np.minimum(g, need)  # box-filter rounding must never let a sample above its need
        out[a:b] = (seg * g)[a - lo: b - lo]
    return out


def _gain(db: float) -> np.float32:
    """A float32 factor, so scaling a float32 play makes one float32 copy, not a float64 one too."""
    return np.float32(10 ** (db / 20))


def master(audio: np.ndarray, sample_rate: int, settings: MasterSettings = MasterSettings()) -> tuple[np.ndarray, MasterReport]:
    x = np.asarray(audio, dtype=np.float32)
    # One NaN would make every gain and loudness NaN. A float64 sum is finite exactly when every
    # sample is (float32 values cannot overflow it) and needs no play-long boolean array.
    if not math.isfinite(float(np.sum(x, dtype=np.float64))):
        raise ValueError("mix contains invalid (NaN/inf) samples")
    in_lufs = loudness(x, sample_rate)
    if not math.isfinite(in_lufs):
        # Nothing to measure: leave the level alone, only respect the peak ceiling.
        tp = true_peak_db(x)
        y = x
        if tp > settings.true_peak_db:
            y = x * _gain(settings.true_peak_db - settings.limiter_margin_db - tp)
            tp = true_peak_db(y)
        return y, MasterReport(in_lufs, -math.inf, tp, 0.0, False)

    gain_db = settings.target_lufs - in_lufs
    aim = settings.true_peak_db - settings.limiter_margin_db
    in_tp = true_peak_db(x)
    limited = False
    y, out_lufs, tp = x, in_lufs, in_tp
    for _ in range(settings.max_iterations):
        y = x * _gain(gain_db)
        tp = in_tp + gain_db
        if tp > settings.true_peak_db:
            y = limit(y, aim, sample_rate, settings.lookahead_ms)
            limited = True
            out_lufs, tp = loudness(y, sample_rate), true_peak_db(y)
        else:
            out_lufs = in_lufs + gain_db  # pure gain: loudness moves by exactly the gain
        if abs(out_lufs - settings.target_lufs) <= settings.tolerance_lu and tp <= settings.true_peak_db:
            break
        gain_db += settings.target_lufs - out_lufs
    if tp > settings.true_peak_db:  # never leave the ceiling broken, even if loudness must give way
        y = y * _gain(aim - tp)
        out_lufs, tp = loudness(y, sample_rate), true_peak_db(y)
    return y, MasterReport(in_lufs, out_lufs, tp, gain_db, limited)
