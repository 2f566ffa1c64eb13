"""Mastering segment by segment: loudness from cached per-segment measurements, the limiter and the
true-peak meter run only where the audio changed.

The rules are those of compiler.master — gain to `target_lufs`, a look-ahead limiter under the
true-peak ceiling, gain and limiter iterated until both hold — applied to the segments of
compiler.segments instead of to one array:

- Each segment's window is mixed and measured once: the mean square of every K-weighted 400 ms
  loudness block that starts in the segment (100 ms apart, as BS.1770 steps them; the window's
  leading context lets the filters settle), the true peak of its own samples, and the peak the
  limiter would see over the window. Integrated loudness is BS.1770's gating over all the blocks.
- Gains are tried in steps of GAIN_STEP_DB, so a small edit usually leaves every gain the same and
  every measurement at those gains cached. A segment whose window stays under the ceiling at a gain
  is not limited at all: its samples are scaled, its blocks scaled by the gain squared.
- A segment that must be limited is limited within its window (the limiter looks 5 ms around each
  sample, far less than the window's context), measured, and its mastered samples cached.

Everything a segment contributes is a function of its key and the gain, so a build that reuses
cached segments writes the same bytes as one that computes them all (tests/test_master_segments.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from compiler.master import MasterReport, MasterSettings, _gain, _limited, _next_step, gated_loudness, k_weighting
from compiler.mix_cache import MixCache
from compiler.segments import Segment

GAIN_STEP_DB = 0.1  # gains are tried on this grid; the loudness tolerance (0.2 LU) is twice as wide
_UNTOUCHED = 1 - 1e-4  # a window whose scaled peak stays this far under the ceiling is not limited


@dataclass(frozen=True)
class Measured:
    blocks: np.ndarray  # mean squares of the K-weighted loudness blocks that start in the segment
    weights: np.ndarray  # 1 for each block, less for the last when the next segment starts under 100 ms after it
    peak: float  # linear true peak of the segment's own samples
    reach: float = 0.0  # linear true peak over the whole window: what the limiter would see

    def scaled(self, factor: float) -> Measured:
        return Measured(self.blocks * (factor * factor), self.weights, self.peak * factor, self.reach * factor)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"blocks": self.blocks, "weights": self.weights, "peaks": np.array([self.peak, self.reach])}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Measured:
        peak, reach = (float(v) for v in np.asarray(arrays["peaks"]).reshape(-1)[:2])
        return cls(np.asarray(arrays["blocks"], dtype=np.float64), np.asarray(arrays["weights"], dtype=np.float64),
                   peak, reach)


def loudness_of(measured: list[Measured]) -> float:
    if not measured:
        return -math.inf
    return gated_loudness(np.concatenate([m.blocks for m in measured]), np.concatenate([m.weights for m in measured]))


def measure(window: np.ndarray, segment: Segment, sample_rate: int) -> Measured:
    """Loudness blocks and true peaks of a segment, from its window's samples."""
    from scipy import signal

    x = np.asarray(window, dtype=np.float64)
    weighted = x
    for gain, b, a in k_weighting(sample_rate):
        weighted = signal.lfilter(b, a, weighted) * gain
    energy = np.concatenate([[0.0], np.cumsum(weighted * weighted)])
    hop = int(round(0.1 * sample_rate))
    size = 4 * hop
    core = segment.core
    # Each segment has its own grid of blocks, 100 ms apart, starting at a phase drawn from its key:
    # a grid starting at every cut (the middle of a gap) would put blocks at the same place in every
    # gap and bias the gating. Each block stands for the 100 ms from its start, the first also for
    # the samples before it, the last only up to the segment's end: the weights add up to the
    # segment's length in blocks, as a grid over the whole play would.
    phase = min(int(segment.key[:8], 16) % hop, max(0, core.stop - core.start - 1))
    starts = np.arange(core.start + phase, core.stop, hop)
    weights = np.ones(len(starts))
    if len(starts):
        weights[-1] = (core.stop - starts[-1]) / hop
        weights[0] += phase / hop
    whole = starts + size <= len(x)  # past the end of the play a block is incomplete: not counted
    starts, weights = starts[whole], weights[whole]
    blocks = (energy[starts + size] - energy[starts]) / size
    up = np.abs(signal.resample_poly(x, 4, 1))
    reach = max(float(np.max(np.abs(x), initial=0.0)), float(np.max(up, initial=0.0)))
    own = up[4 * core.start: 4 * core.stop]
    peak = max(float(np.max(np.abs(x[core]), initial=0.0)), float(np.max(own, initial=0.0)))
    return Measured(blocks, weights, peak, reach)


class SegmentMaster:
    """Masters a play given as segments. `mix_window(segment)` mixes a segment's window (only
    called for segments the cache does not hold)."""

    def __init__(self, segments: list[Segment], mix_window: Callable[[Segment], np.ndarray], cache: MixCache,
                 sample_rate: int, settings: MasterSettings):
        self.segments, self._mix_window, self.cache = segments, mix_window, cache
        self.sample_rate, self.settings = sample_rate, settings
        self.computed = 0  # segments mixed and measured in this build (the rest came from the cache)
        self.limited_computed = 0  # (segment, gain) pairs limited in this build
        self._plain: list[Measured] = []

    # -- measurements -----------------------------------------------------------------------------

    def _window(self, segment: Segment) -> np.ndarray:
        found = self.cache.get(segment.key + "-w")
        if found is not None:
            return found["samples"]
        window = np.asarray(self._mix_window(segment), dtype=np.float32)
        self.cache.put(segment.key + "-w", {"samples": window})
        return window

    def _measure_plain(self, segment: Segment) -> Measured:
        found = self.cache.measured(segment.key)
        if found is not None:
            self.cache.keep(segment.key + "-w")  # read only if its samples are needed
            return Measured.from_arrays(found)
        window = np.asarray(self._mix_window(segment), dtype=np.float32)
        if not math.isfinite(float(np.sum(window, dtype=np.float64))):  # one NaN would make every gain NaN
            raise ValueError("mix contains invalid (NaN/inf) samples")
        self.computed += 1
        measured = measure(window, segment, self.sample_rate)
        self.cache.put(segment.key + "-w", {"samples": window})
        self.cache.put_measured(segment.key, measured.arrays())
        return measured

    def _limited(self, segment: Segment, step: int, aim: float) -> Measured:
        """The measurement of the segment limited at gain step `step`."""
        found = self.cache.measured(f"{segment.key}-g{step}")
        if found is not None:
            self.cache.keep(f"{segment.key}-g{step}-y")
            return Measured.from_arrays(found)
        return self._limit(segment, step, aim)[0]

    def _limit(self, segment: Segment, step: int, aim: float) -> tuple[Measured, np.ndarray]:
        """Limit the segment's window at gain step `step`; cache its measurement and samples."""
        window = self._window(segment)
        y = np.empty_like(window)
        for a, block in _limited(window, _gain(step * GAIN_STEP_DB), aim, self.sample_rate, self.settings.lookahead_ms):
            y[a: a + len(block)] = block
        self.limited_computed += 1
        measured = measure(y, segment, self.sample_rate)
        self.cache.put(f"{segment.key}-g{step}-y", {"samples": y[segment.core]})
        self.cache.put_measured(f"{segment.key}-g{step}", measured.arrays())
        return measured, y[segment.core]

    def _untouched(self, plain: Measured, step: int, aim: float) -> bool:
        return plain.reach * float(_gain(step * GAIN_STEP_DB)) <= 10 ** (aim / 20) * _UNTOUCHED

    def _try(self, step: int, aim: float) -> tuple[float, float]:
        """(loudness, true peak dBTP) of the play limited to `aim` at gain step `step`."""
        measured = [plain.scaled(float(_gain(step * GAIN_STEP_DB))) if self._untouched(plain, step, aim)
                    else self._limited(segment, step, aim) for segment, plain in zip(self.segments, self._plain)]
        return loudness_of(measured), _db(max(m.peak for m in measured))

    # -- the master --------------------------------------------------------------------------------

    def master(self, on_segment: Callable[[], None] | None = None) -> tuple[MasterReport, Callable[[], Iterator[np.ndarray]]]:
        """Measure, choose the gain, and return the report with a function that yields the mastered
        play segment by segment (each call reads the segments again: no play-long array is held)."""
        s = self.settings
        self._plain = []
        for segment in self.segments:
            self._plain.append(self._measure_plain(segment))
            if on_segment:
                on_segment()
        in_lufs = loudness_of(self._plain)
        in_tp = _db(max((m.peak for m in self._plain), default=0.0))
        aim = s.true_peak_db - s.limiter_margin_db
        if not math.isfinite(in_lufs):  # nothing to measure: leave the level alone, respect the ceiling
            extra = aim - in_tp if in_tp > s.true_peak_db else 0.0
            report = MasterReport(in_lufs, -math.inf, in_tp + extra, 0.0, False)
            return report, lambda: self._output(0, None, extra)
        step = _step(s.target_lufs - in_lufs)
        out_lufs, tp, limit_to, limited, applied, previous = in_lufs, in_tp, None, False, step, None
        for _ in range(s.max_iterations):
            applied, limit_to = step, None
            gain_db = step * GAIN_STEP_DB
            tp = in_tp + gain_db
            if tp > s.true_peak_db:
                limit_to, limited = aim, True
                out_lufs, tp = self._try(step, aim)
            else:
                out_lufs = in_lufs + gain_db  # pure gain: loudness moves by exactly the gain
            if abs(out_lufs - s.target_lufs) <= s.tolerance_lu and tp <= s.true_peak_db:
                break
            change = _next_step(s.target_lufs - out_lufs, (gain_db, out_lufs), previous)
            previous = (gain_db, out_lufs)
            step = _step(gain_db + change)
            if step == applied:  # the grid cannot get closer: this gain is as near as it goes
                break
        extra = 0.0
        if tp > s.true_peak_db:  # never leave the ceiling broken, even if loudness must give way
            extra = aim - tp
            out_lufs, tp = out_lufs + extra, tp + extra
        report = MasterReport(in_lufs, out_lufs, tp, applied * GAIN_STEP_DB, limited)
        return report, Mastered(self, applied, limit_to, extra)

    def _output(self, index: int, step: int, limit_to: float | None, extra_db: float) -> np.ndarray:
        segment, plain = self.segments[index], self._plain[index]
        if limit_to is None or self._untouched(plain, step, limit_to):
            out = self._window(segment)[segment.core] * _gain(step * GAIN_STEP_DB)
        else:
            found = self.cache.get(f"{segment.key}-g{step}-y")
            out = found["samples"] if found is not None else self._limit(segment, step, limit_to)[1]
        if extra_db:
            out = out * _gain(extra_db)
        return np.asarray(out, dtype=np.float32)


class Mastered:
    """The mastered play, segment by segment: calling it yields the samples (compiler.encode.Samples);
    `parts` names what each segment's samples are made of, so a writer may reuse the bytes a previous
    output holds for the same part (compiler.wav_link)."""

    def __init__(self, master: SegmentMaster, step: int, limit_to: float | None, extra_db: float):
        self._master, self._step, self._limit_to, self._extra = master, step, limit_to, extra_db
        self.cache = master.cache
        self.parts = [f"{s.key}:{step}:{limit_to is not None}:{extra_db!r}" for s in master.segments]
        self.lengths = [s.end - s.start for s in master.segments]

    def part(self, index: int) -> np.ndarray:
        return self._master._output(index, self._step, self._limit_to, self._extra)

    def __call__(self) -> Iterator[np.ndarray]:
        for index in range(len(self.parts)):
            yield self.part(index)


def _step(gain_db: float) -> int:
    return int(round(gain_db / GAIN_STEP_DB))


def _db(linear: float) -> float:
    return 20 * math.log10(linear) if linear > 0 else -math.inf
