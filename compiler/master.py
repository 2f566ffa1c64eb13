"""Mastering: integrated loudness to a target (BS.1770 via pyloudnorm) under a true-peak ceiling.

The play is mono (n,) or stereo (n, 2): loudness sums the channels' K-weighted energies (BS.1770's
weights are 1 for left and right), the true peak is the highest of either channel, and the limiter's
gain is one for both channels (linked), so a limited peak never moves the stereo image.

Gain alone brings the play to `target_lufs`. When that gain would push the true peak (measured 4x
oversampled, as BS.1770 describes) above `true_peak_db`, a look-ahead limiter lowers only the
peaks: the gain it needs is spread smoothly over a few milliseconds before and after each peak, so
the waveform is scaled, never clipped. Limiting lowers the loudness a little, so gain and limiter
are iterated until both conditions hold.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields

import numpy as np

from compiler.settings_schema import check_table, defaults

# scipy.signal and pyloudnorm take about a second to import, so they are imported by the functions
# that measure and limit: a build whose outputs are up to date never needs them.


_DEFAULT = defaults("master")  # the [master] declarations in compiler/settings_schema.py: defaults and ranges


@dataclass(frozen=True)
class MasterSettings:
    target_lufs: float = _DEFAULT["target_lufs"]
    true_peak_db: float = _DEFAULT["true_peak_db"]
    tolerance_lu: float = _DEFAULT["tolerance_lu"]  # iterate until within this of the target (the promise is +-0.5)
    limiter_margin_db: float = _DEFAULT["limiter_margin_db"]  # the limiter aims this far below the ceiling
    lookahead_ms: float = _DEFAULT["lookahead_ms"]
    max_iterations: int = _DEFAULT["max_iterations"]

    def __post_init__(self):
        # Checked here so a dramac.toml typo becomes a diagnostic at the key, not NaN gain or a
        # limiter with no look-ahead.
        for name, value in check_table("master", {f.name: getattr(self, f.name) for f in fields(self)}).items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class MasterReport:
    input_lufs: float  # -inf for silence or audio shorter than one 400 ms block
    output_lufs: float
    true_peak_db: float  # of the output, dBTP
    gain_db: float  # make-up gain applied before the limiter
    limited: bool = False  # the limiter had to act


_BLOCK = 1 << 18  # 12 s at 22 kHz: the per-block temporaries (float64, 4x oversampled) stay near 30 MB
_PAD = 64  # samples each side of a block: more than the resampling filter reaches


class _PeakMeter:
    """True peak of a signal fed in consecutive blocks of _BLOCK samples (the last may be shorter).

    Each block is oversampled with _PAD samples of its neighbours on either side, so a block is
    measured once the next one has arrived; the result equals oversampling the whole signal in one
    piece, block by block, without ever holding it.
    """

    def __init__(self):
        self.peak = 0.0
        self._left: np.ndarray | None = None  # the _PAD samples before the pending block
        self._pending: np.ndarray | None = None

    def feed(self, block: np.ndarray) -> None:
        if self._left is None:
            self._left = block[:0]
        if self._pending is not None:
            self._measure(block[:_PAD])
        self._pending = block

    def finish(self) -> float:
        """The peak in dBTP; -inf for silence."""
        if self._pending is not None:
            self._measure(self._pending[:0])
            self._pending = None
        return 20 * math.log10(self.peak) if self.peak > 0 else -math.inf

    def _measure(self, right: np.ndarray) -> None:
        block = self._pending
        from scipy import signal

        padded = np.concatenate([self._left, block, right]).astype(np.float64)
        up = signal.resample_poly(padded, 4, 1, axis=0)
        core = up[len(self._left) * 4: (len(self._left) + len(block)) * 4]
        self.peak = max(self.peak, float(np.max(np.abs(core))) if len(core) else 0.0)
        self._left = block[-_PAD:]


def _blocks(x: np.ndarray):
    for a in range(0, len(x), _BLOCK):
        yield x[a: a + _BLOCK]


def true_peak_db(audio: np.ndarray) -> float:
    """Peak of the 4x oversampled signal in dBTP; -inf for silence."""
    meter = _PeakMeter()
    for block in _blocks(np.asarray(audio)):  # block by block: a float64 copy of an hour is 600 MiB
        meter.feed(block)
    return meter.finish()


class _LoudnessMeter:
    """BS.1770-4 integrated loudness (mono or stereo) of a signal of known length fed in consecutive chunks.

    The same K-weighting filters, 400 ms blocks with 75 % overlap and two gates as pyloudnorm, but
    filtered in chunks carrying the filter state, with block energies taken from running sums: the
    memory stays at one chunk instead of several float64 copies of the whole play (about 2 GB for an
    hour at 22 kHz), and the gating is vectorised.
    """

    def __init__(self, length: int, sample_rate: int):
        from scipy import signal

        self.length, self.sample_rate = length, sample_rate
        self._stages = k_weighting(sample_rate)
        self._states: list[np.ndarray] | None = None  # each filter's state, one column per channel
        n_blocks = int(np.round((length / sample_rate - 0.4) / 0.1)) + 1
        j = np.arange(max(n_blocks, 0))
        self._lower = (0.4 * (j * 0.25) * sample_rate).astype(np.int64)
        self._upper = (0.4 * (j * 0.25 + 1) * sample_rate).astype(np.int64)
        self._bounds = np.unique(np.concatenate([self._lower, np.minimum(self._upper, length)]))
        self._energy_at = np.zeros(len(self._bounds))  # sum of squares of the weighted signal before each bound
        self._total, self._fed = 0.0, 0
        self._k = int(np.searchsorted(self._bounds, 0, side="right"))  # bounds at 0 hold no energy
        self._any_sound = False

    def feed(self, chunk: np.ndarray) -> None:
        from scipy import signal

        self._any_sound = self._any_sound or bool(np.any(chunk))
        chunk = chunk.astype(np.float64)
        if self._states is None:
            self._states = [np.zeros((max(len(a), len(b)) - 1,) + chunk.shape[1:]) for _, b, a in self._stages]
        for i, (gain, b, den) in enumerate(self._stages):
            chunk, self._states[i] = signal.lfilter(b, den, chunk, axis=0, zi=self._states[i])
            chunk *= gain
        running = self._total + np.cumsum(channel_energy(chunk))
        a, end = self._fed, self._fed + len(chunk)
        bounds, k = self._bounds, self._k
        while k < len(bounds) and bounds[k] <= end:
            self._energy_at[k] = running[bounds[k] - a - 1]
            k += 1
        self._k, self._fed = k, end
        self._total = running[-1] if len(running) else self._total

    def finish(self) -> float:
        """Integrated loudness in LUFS; -inf for silence or audio shorter than one block."""
        sr, length = self.sample_rate, self.length
        if length < int(0.4 * sr) + 1 or not self._any_sound:
            return -math.inf
        bounds, energy_at = self._bounds, self._energy_at
        before = energy_at[np.searchsorted(bounds, self._lower)]
        through = energy_at[np.searchsorted(bounds, np.minimum(self._upper, length))]
        z = (through - before) / (0.4 * sr)  # mean square of each block
        return gated_loudness(z)


def channel_energy(weighted: np.ndarray) -> np.ndarray:
    """Per sample, the K-weighted energy summed over the channels (BS.1770: left and right weigh 1)."""
    power = weighted * weighted
    return power.sum(axis=1) if power.ndim == 2 else power


def frame_peak(samples: np.ndarray) -> np.ndarray:
    """Per sample, the largest absolute value over the channels (column by column: numpy's max over a
    2-wide axis is some fifty times slower)."""
    if samples.ndim == 1:
        return np.abs(samples)
    return functools.reduce(np.maximum, (np.abs(samples[:, c]) for c in range(samples.shape[1])))


@functools.lru_cache(maxsize=1)
def _oversampling_bound() -> tuple[float, int]:
    """(g, r) for resample_poly's 4x oversampling: no value it gives between samples i and i + 1
    exceeds g times the largest |x| within r samples of i, and a stretch oversampled with r samples
    of its neighbours on either side gets the very values the whole signal would. Read from the
    filter's own impulse response (g: the largest sum of |taps| over the four phases, about 2.2)."""
    from scipy import signal

    impulse = np.zeros(128)
    impulse[64] = 1.0
    response = signal.resample_poly(impulse, 4, 1)
    taps = np.flatnonzero(response)
    reach = max(4 * 64 - int(taps.min()), int(taps.max()) - 4 * 64)  # in oversampled values
    g = max(float(np.sum(np.abs(response[p::4]))) for p in range(4)) * (1 + 1e-9)  # rounding's margin
    return g, reach // 4 + 2


def peak_envelope(x: np.ndarray, above: float) -> np.ndarray:
    """Per sample of float64 `x`, the larger of |x| (its louder channel) and the four 4x oversampled
    values from it to the next — exactly wherever that exceeds `above`; elsewhere |x|, which is then
    under `above` too. Only the samples near one louder than above / g (_oversampling_bound) are
    oversampled, in one call, each stretch of them with its r neighbours on either side: in speech
    a tenth of the samples, where oversampling all of them was most of the cost of mastering an edit."""
    from scipy import ndimage, signal

    magnitude = frame_peak(x)
    envelope = magnitude.copy()
    g, r = _oversampling_bound()
    loud = ndimage.maximum_filter1d(magnitude, size=2 * r + 1, mode="constant") * g > above if len(x) else magnitude > 0
    if not np.any(loud):
        return envelope
    # Stretches of loud samples [s, e), and the samples each is oversampled with: [s - r, e + r).
    edges = np.flatnonzero(np.diff(np.concatenate([[False], loud, [False]]).astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    lows, highs = np.maximum(starts - r, 0), np.minimum(ends + r, len(x))
    taken = np.concatenate([np.arange(lo, hi) for lo, hi in zip(lows, highs)])
    up = frame_peak(signal.resample_poly(x[taken], 4, 1, axis=0)).reshape(len(taken), 4).max(axis=1)
    # Each stretch's own samples within what was taken: its neighbours' values are not exact.
    at = np.concatenate([[0], np.cumsum(highs - lows)[:-1]]) + (starts - lows)
    own = np.concatenate([np.arange(a, a + e - s) for a, s, e in zip(at, starts, ends)])
    envelope[loud] = np.maximum(magnitude[loud], up[own])
    return envelope


@functools.lru_cache(maxsize=4)
def k_weighting(sample_rate: int) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """BS.1770's K-weighting stages (gain, b, a), in order, as pyloudnorm designs them."""
    import pyloudnorm

    filters = pyloudnorm.Meter(sample_rate)._filters.values()
    return [(f.passband_gain, f.b, f.a) for f in filters]


def gated_loudness(z: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Integrated loudness (LUFS) from the mean squares of the K-weighted 400 ms blocks, with
    BS.1770's absolute (-70 LUFS) and relative (-10 LU) gates; -inf when no block passes. `weights`
    count a block for less than one where blocks lie closer than 100 ms (compiler.master_segments)."""
    z = np.asarray(z, dtype=np.float64)
    w = np.ones(len(z)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(z) == 0:
        return -math.inf
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10 * np.log10(z)
    above_absolute = block_lufs >= -70.0
    if not np.any(above_absolute):
        return -math.inf
    relative = -0.691 + 10 * math.log10(float(np.average(z[above_absolute], weights=w[above_absolute]))) - 10.0
    gated = (block_lufs > relative) & above_absolute
    if not np.any(gated):
        return -math.inf
    return -0.691 + 10 * math.log10(float(np.average(z[gated], weights=w[gated])))


def loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (BS.1770-4, mono or stereo) in LUFS; -inf for silence or audio shorter than one block
    (computed in chunks: see _LoudnessMeter)."""
    x = np.asarray(audio)
    if len(x) < int(0.4 * sample_rate) + 1:
        return -math.inf
    meter = _LoudnessMeter(len(x), sample_rate)
    for chunk in _blocks(x):
        meter.feed(chunk)
    return meter.finish()


def limit(audio: np.ndarray, ceiling_db: float, sample_rate: int, lookahead_ms: float = 5.0) -> np.ndarray:
    """Look-ahead peak limiter: every true peak ends up at or below `ceiling_db` (see _limited)."""
    x = np.asarray(audio, dtype=np.float32)
    out = np.empty_like(x)
    for a, block in _limited(x, None, ceiling_db, sample_rate, lookahead_ms):
        out[a: a + len(block)] = block
    return out


def _limited(x: np.ndarray, gain: np.float32 | None, ceiling_db: float, sample_rate: int, lookahead_ms: float):
    """Yield (start, block) of limit(x * gain), _BLOCK samples at a time, reading `x` only.

    The gain each sample needs (ceiling / local oversampled peak, at most 1) is spread with a
    sliding minimum over +-L samples and then smoothed by two box filters of L samples. The
    smoothed gain at any sample is an average of minima that each include that sample, so it is
    never above what the sample needs, yet it changes over ~2L samples instead of jumping. In stereo
    a sample needs what its louder channel needs, and both channels take that one gain.

    A block reads its neighbours up to `margin` samples deep (far less than a block), so a caller
    may write a block's output over `x` once the next block has been yielded.
    """
    from scipy import ndimage

    L = max(2, int(round(lookahead_ms / 1000 * sample_rate)))
    margin = 2 * L + _PAD
    ceiling = 10 ** (ceiling_db / 20)
    for a in range(0, len(x), _BLOCK):
        b = min(len(x), a + _BLOCK)
        lo, hi = max(0, a - margin), min(len(x), b + margin)
        seg = (x[lo:hi] if gain is None else x[lo:hi] * gain).astype(np.float64)
        env = peak_envelope(seg, ceiling)  # exact wherever it is over the ceiling, the only places it counts
        need = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
        g = ndimage.minimum_filter1d(need, size=2 * L + 1, mode="nearest")
        g = ndimage.uniform_filter1d(ndimage.uniform_filter1d(g, size=L, mode="nearest"), size=L, mode="nearest")
        g = np.minimum(g, need)  # box-filter rounding must never let a sample above its need
        yield a, (seg * (g[:, None] if seg.ndim == 2 else g))[a - lo: b - lo].astype(np.float32)


def _gain(db: float) -> np.float32:
    """A float32 factor, so scaling a float32 play makes one float32 copy, not a float64 one too."""
    return np.float32(10 ** (db / 20))


def _measure_limited(x: np.ndarray, gain_db: float, aim_db: float, sample_rate: int, settings: MasterSettings):
    """(loudness, true peak) of limit(x * gain), measured block by block as the limiter yields them:
    trying a gain costs no copy of the play."""
    loudness_meter, peak_meter = _LoudnessMeter(len(x), sample_rate), _PeakMeter()
    for _, block in _limited(x, _gain(gain_db), aim_db, sample_rate, settings.lookahead_ms):
        loudness_meter.feed(block)
        peak_meter.feed(block)
    return loudness_meter.finish(), peak_meter.finish()


def _apply(x: np.ndarray, out: np.ndarray, gain_db: float, limit_to: float | None, sample_rate: int,
           settings: MasterSettings) -> None:
    """out = x * gain, limited to `limit_to` dBTP unless None. `out` may be `x` itself: each limited
    block is written one block late, after the next block has read the samples it needs."""
    if limit_to is None:
        np.multiply(x, _gain(gain_db), out=out)
        return
    held = None
    for a, block in _limited(x, _gain(gain_db), limit_to, sample_rate, settings.lookahead_ms):
        if held is not None:
            out[held[0]: held[0] + len(held[1])] = held[1]
        held = (a, block)
    if held is not None:
        out[held[0]: held[0] + len(held[1])] = held[1]


def _next_step(missing_lu: float, this_try: tuple[float, float], previous: tuple[float, float] | None) -> float:
    """The gain change for the next try. Under the limiter loudness rises by less than the gain (an
    hour-long play measured 0.54 LU per dB), so a plain `missing_lu` step creeps up on the target
    over many tries, each a full pass over the play; the slope between the last two tries (a secant
    step) gets there in one or two. The slope is trusted only within (0.05, 1]: a flatter one would
    ask for a huge gain, a steeper one cannot happen with a limiter that only lowers peaks."""
    if previous is None or this_try[0] == previous[0]:
        return missing_lu
    slope = (this_try[1] - previous[1]) / (this_try[0] - previous[0])
    return missing_lu / slope if 0.05 < slope <= 1.0 else missing_lu


def master(audio: np.ndarray, sample_rate: int, settings: MasterSettings = MasterSettings(),
           in_place: bool = False) -> tuple[np.ndarray, MasterReport]:
    """The mastered play and what was measured. `in_place`: the result is written over `audio` (a
    float32 array the caller gives up), so an hour-long play is held once, not twice or three times."""
    x = np.asarray(audio, dtype=np.float32)
    # One NaN would make every gain and loudness NaN. A float64 sum is finite exactly when every
    # sample is (float32 values cannot overflow it) and needs no play-long boolean array.
    if not math.isfinite(float(np.sum(x, dtype=np.float64))):
        raise ValueError("mix contains invalid (NaN/inf) samples")
    out = x if in_place and x is audio else np.empty_like(x)
    in_lufs = loudness(x, sample_rate)
    if not math.isfinite(in_lufs):
        # Nothing to measure: leave the level alone, only respect the peak ceiling.
        tp = true_peak_db(x)
        out[:] = x
        if tp > settings.true_peak_db:
            out *= _gain(settings.true_peak_db - settings.limiter_margin_db - tp)
            tp = true_peak_db(out)
        return out, MasterReport(in_lufs, -math.inf, tp, 0.0, False)

    gain_db = settings.target_lufs - in_lufs
    aim = settings.true_peak_db - settings.limiter_margin_db
    in_tp = true_peak_db(x)
    limited = False
    out_lufs, tp, limit_to = in_lufs, in_tp, None
    # Each try is measured without being kept; only the gain that is chosen is applied, once.
    applied, previous = gain_db, None
    for _ in range(settings.max_iterations):
        applied, limit_to = gain_db, None
        tp = in_tp + gain_db
        if tp > settings.true_peak_db:
            limit_to, limited = aim, True
            out_lufs, tp = _measure_limited(x, gain_db, aim, sample_rate, settings)
        else:
            out_lufs = in_lufs + gain_db  # pure gain: loudness moves by exactly the gain
        if abs(out_lufs - settings.target_lufs) <= settings.tolerance_lu and tp <= settings.true_peak_db:
            break
        gain_db += _next_step(settings.target_lufs - out_lufs, (gain_db, out_lufs), previous)
        previous = (applied, out_lufs)
    # No try converged: the last one measured is applied (and reported).
    _apply(x, out, applied, limit_to, sample_rate, settings)
    if tp > settings.true_peak_db:  # never leave the ceiling broken, even if loudness must give way
        out *= _gain(aim - tp)
        out_lufs, tp = loudness(out, sample_rate), true_peak_db(out)
    return out, MasterReport(in_lufs, out_lufs, tp, applied, limited)
