"""Mastering segment by segment: loudness from cached per-segment measurements, the limiter and the
true-peak meter run only where the audio changed.

The targets are those of compiler.master — integrated loudness at `target_lufs`, true peak under
`true_peak_db`, a look-ahead limiter taking the peaks that gain alone would push over — reached on
the segments of compiler.segments instead of on one array:

- Each segment's window is mixed and measured once: the mean square of every K-weighted 400 ms
  loudness block that starts in the segment, the true peak of its own samples, and the peak the
  limiter would see over the window. Integrated loudness is BS.1770's gating over all the blocks.
- The limiter works on the mix before the gain, at a threshold on a THRESHOLD_STEP_DB grid; the
  gain follows on a GAIN_STEP_DB grid. A limiter that only scales samples down gives the same
  samples for limit(x * g, T + g) as for limit(x, T) * g, so a change of gain never runs the
  limiter again: the limited samples are rescaled, their blocks by the gain squared. Only a change
  of threshold does, and a small edit rarely moves it by a whole step.
- A segment whose window stays under the threshold is not limited at all. One that is, is limited
  within its window (the limiter looks 5 ms around each sample, far less than the window's
  context), measured, and its samples cached by its key and the threshold.

The gain hits the target within half a gain step (0.05 LU); the threshold is lowered a step at a
time, from where the unlimited loudness puts it, until the true peak is under the ceiling, so peaks
end up to one threshold step below the limiter's aim. Everything a segment contributes is a
function of its key, the threshold and the gain, so a build that reuses cached segments writes the
same bytes as one that computes them all (tests/test_master_segments.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from compiler.master import (MasterReport, MasterSettings, _gain, _limited, channel_energy, frame_peak, gated_loudness,
                             k_weighting, peak_envelope)
from compiler.mix_cache import MixCache
from compiler.segments import Segment

GAIN_STEP_DB = 0.1  # the gain's grid: within 0.05 LU of the target; small edits rarely move it
THRESHOLD_STEP_DB = 0.5  # the limiter threshold's grid: an edit moves it rarely, and it is what costs
_UNTOUCHED = 1 - 1e-4  # a window whose peak stays this far under the threshold is not limited
_LIMIT_THREADS = 2  # segments limited at once (compiler.master_segments.SegmentMaster._limit_missing)


@dataclass(frozen=True)
class Measured:
    blocks: np.ndarray  # mean squares of the K-weighted loudness blocks that start in the segment
    weights: np.ndarray  # 1 for each block, less for the last when the next segment starts under 100 ms after it
    peak: float  # linear true peak of the segment's own samples
    reach: float = 0.0  # linear true peak over the whole window: what the limiter would see

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
    """Loudness blocks and true peaks of a segment, from its window's samples (mono (n,) or stereo
    (n, 2): a block's energy is the sum of its channels', a peak the higher channel's)."""
    from scipy import signal

    x = np.asarray(window, dtype=np.float64)
    weighted = x
    for gain, b, a in k_weighting(sample_rate):
        weighted = signal.lfilter(b, a, weighted, axis=0) * gain
    energy = np.concatenate([[0.0], np.cumsum(channel_energy(weighted))])
    hop = int(round(0.1 * sample_rate))
    size = 4 * hop
    core = segment.core
    # Each segment has its own grid of blocks, 100 ms apart, starting at a phase drawn from its content
    # (not its key, which changes with the code):
    # a grid starting at every cut (the middle of a gap) would put blocks at the same place in every
    # gap and bias the gating. Each block stands for the 100 ms from its start, the first also for
    # the samples before it, the last only up to the segment's end: the weights add up to the
    # segment's length in blocks, as a grid over the whole play would.
    phase = min(int((segment.content or segment.key)[:8], 16) % hop, max(0, core.stop - core.start - 1))
    starts = np.arange(core.start + phase, core.stop, hop)
    weights = np.ones(len(starts))
    if len(starts):
        weights[-1] = (core.stop - starts[-1]) / hop
        weights[0] += phase / hop
    whole = starts + size <= len(x)  # past the end of the play a block is incomplete: not counted
    starts, weights = starts[whole], weights[whole]
    blocks = (energy[starts + size] - energy[starts]) / size
    # Exact wherever it can exceed the segment's loudest sample, so its maximum over the core is the
    # true peak, and over the window the reach (which is at least that sample).
    envelope = peak_envelope(x, float(np.max(frame_peak(x[core]), initial=0.0)))
    reach = float(np.max(envelope, initial=0.0))
    peak = float(np.max(envelope[core], initial=0.0))
    return Measured(blocks, weights, peak, reach)


class SegmentMaster:
    """Masters a play given as segments. `mix_window(segment)` mixes a segment's window (only
    called for segments the cache does not hold)."""

    def __init__(self, segments: list[Segment], mix_window: Callable[[Segment], np.ndarray], cache: MixCache,
                 sample_rate: int, settings: MasterSettings, channels: int = 1):
        self.segments, self._mix_window, self.cache = segments, mix_window, cache
        self.channels = channels  # what mix_window gives: 1 (n,) or 2 (n, 2)
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

    def _limited(self, segment: Segment, plain: Measured, t: int) -> Measured:
        """The segment limited at threshold step `t` (measured before any gain)."""
        if self._untouched(plain, t):
            return plain
        found = self.cache.measured(f"{segment.key}-t{t}")
        if found is not None:
            self.cache.keep(f"{segment.key}-t{t}-y")
            return Measured.from_arrays(found)
        return self._limit(segment, t)[0]

    def _limit(self, segment: Segment, t: int) -> tuple[Measured, np.ndarray]:
        """Limit the segment's window at threshold step `t`; cache its measurement and samples."""
        measured, core = _limit_window(self._window(segment), segment, t, self.sample_rate, self.settings.lookahead_ms)
        self._store_limited(segment, t, measured, core)
        return measured, core

    def _store_limited(self, segment: Segment, t: int, measured: Measured, core: np.ndarray) -> None:
        self.limited_computed += 1
        self.cache.put(f"{segment.key}-t{t}-y", {"samples": core})
        self.cache.put_measured(f"{segment.key}-t{t}", measured.arrays())

    def _limit_missing(self, t: int) -> None:
        """Limit at threshold step `t` every segment that needs it and the cache does not hold, two at
        a time: an edit leaves a few, each tens of milliseconds of numpy and scipy, which let another
        thread run meanwhile. This thread reads the windows and stores the results, two at a time too
        (a threshold no build tried yet needs hundreds: their windows are never all held at once)."""
        missing = [segment for segment, plain in zip(self.segments, self._plain)
                   if not self._untouched(plain, t) and self.cache.measured(f"{segment.key}-t{t}") is None]
        if len(missing) < 2:
            return
        from concurrent.futures import ThreadPoolExecutor

        rate, lookahead = self.sample_rate, self.settings.lookahead_ms
        with ThreadPoolExecutor(_LIMIT_THREADS, thread_name_prefix="dramac-limit") as pool:
            for first in range(0, len(missing), _LIMIT_THREADS):
                batch = missing[first:first + _LIMIT_THREADS]
                windows = [self._window(segment) for segment in batch]
                done = pool.map(lambda pair: _limit_window(pair[0], pair[1], t, rate, lookahead), zip(windows, batch))
                for segment, (measured, core) in zip(batch, done):
                    self._store_limited(segment, t, measured, core)

    def _untouched(self, plain: Measured, t: int | None) -> bool:
        return t is None or plain.reach <= 10 ** (t * THRESHOLD_STEP_DB / 20) * _UNTOUCHED

    # -- the master --------------------------------------------------------------------------------

    def master(self, on_segment: Callable[[], None] | None = None) -> tuple[MasterReport, Mastered]:
        """Measure, choose threshold and gain, and return the report with the mastered play (read
        segment by segment when written: no play-long array is held)."""
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
            return MasterReport(in_lufs, -math.inf, in_tp + extra, 0.0, False), Mastered(self, None, 0, extra)
        step = _step(s.target_lufs - in_lufs)
        if in_tp + step * GAIN_STEP_DB <= s.true_peak_db:  # pure gain: loudness moves by exactly the gain
            report = MasterReport(in_lufs, in_lufs + step * GAIN_STEP_DB, in_tp + step * GAIN_STEP_DB,
                                  step * GAIN_STEP_DB, False)
            return report, Mastered(self, None, step, 0.0)
        t = self._threshold(math.floor((aim - step * GAIN_STEP_DB) / THRESHOLD_STEP_DB), aim)
        loudness, tp = self._tried[t]
        step = _step(s.target_lufs - loudness)
        tp += step * GAIN_STEP_DB
        extra = aim - tp if tp > s.true_peak_db else 0.0  # never leave the ceiling broken
        gain = step * GAIN_STEP_DB
        report = MasterReport(in_lufs, loudness + gain + extra, tp + extra, gain, True)
        return report, Mastered(self, t, step, extra)

    def _try(self, t: int) -> tuple[float, float]:
        """(loudness, true peak dBTP) of the play limited at threshold step `t`, before the gain."""
        if t not in self._tried:
            self._limit_missing(t)
            limited = [self._limited(segment, plain, t) for segment, plain in zip(self.segments, self._plain)]
            self._tried[t] = (loudness_of(limited), _db(max(m.peak for m in limited)))
        return self._tried[t]

    def _threshold(self, start: int, aim: float) -> int:
        """The highest threshold step at or below `start` whose true peak, once the gain brings the
        loudness to the target, stays under the ceiling. Lowering the threshold by d dB lowers the
        peaks by d and the loudness by s·d (s about 0.5: a limiter takes little loudness), so the gain
        takes back s·d and the peaks come down by (1 - s)·d: a step of that size is taken at once,
        then steps up are tried while they still pass."""
        s = self.settings
        self._tried: dict[int, tuple[float, float]] = {}
        passing, failing, t = None, set(), start
        for _ in range(s.max_iterations):
            loudness, peak = self._try(t)
            over = peak + _step(s.target_lufs - loudness) * GAIN_STEP_DB - s.true_peak_db  # over the ceiling, after the gain
            if over <= 0:
                passing = t if passing is None else max(passing, t)
                if t + 1 in failing or t >= start:
                    break
                t += 1
                continue
            failing.add(t)
            if passing is not None and passing == t - 1:
                break
            slope = self._slope(t)
            t -= max(1, math.ceil((over + (s.true_peak_db - aim)) / (1 - slope) / THRESHOLD_STEP_DB))
            if passing is not None:
                t = max(t, passing + 1) if passing + 1 not in failing else passing
        return passing if passing is not None else min(self._tried)

    def _slope(self, t: int) -> float:
        """Loudness lost per dB of threshold, from the tries nearest `t` (0.5 before there are two)."""
        below = [u for u in self._tried if u != t]
        if not below:
            return 0.5
        u = min(below, key=lambda v: abs(v - t))
        slope = (self._tried[t][0] - self._tried[u][0]) / ((t - u) * THRESHOLD_STEP_DB)
        return min(max(slope, 0.0), 0.9)

    def _output(self, index: int, t: int | None, step: int, extra_db: float) -> np.ndarray:
        segment, plain = self.segments[index], self._plain[index]
        if self._untouched(plain, t):
            out = self._window(segment)[segment.core]
        else:
            found = self.cache.get(f"{segment.key}-t{t}-y")
            out = found["samples"] if found is not None else self._limit(segment, t)[1]
        out = out * _gain(step * GAIN_STEP_DB)
        if extra_db:
            out = out * _gain(extra_db)
        return np.asarray(out, dtype=np.float32)


class Mastered:
    """The mastered play, segment by segment: calling it yields the samples (compiler.encode.Samples);
    `parts` names what each segment's samples are made of, so a writer may reuse the bytes a previous
    output holds for the same part (compiler.wav_link)."""

    def __init__(self, master: SegmentMaster, t: int | None, step: int, extra_db: float):
        self._master, self._t, self._step, self._extra = master, t, step, extra_db
        self.cache = master.cache
        self.parts = [f"{seg.key}:{t if not master._untouched(plain, t) else '-'}:{step}:{extra_db!r}"
                      for seg, plain in zip(master.segments, master._plain)]
        self.lengths = [seg.end - seg.start for seg in master.segments]  # frames
        self.channels = master.channels

    def part(self, index: int) -> np.ndarray:
        return self._master._output(index, self._t, self._step, self._extra)

    def __call__(self) -> Iterator[np.ndarray]:
        for index in range(len(self.parts)):
            yield self.part(index)


def _limit_window(window: np.ndarray, segment: Segment, t: int, sample_rate: int,
                  lookahead_ms: float) -> tuple[Measured, np.ndarray]:
    """A segment's window limited at threshold step `t`: the measurement and the core's samples."""
    y = np.empty_like(window)
    for a, block in _limited(window, None, t * THRESHOLD_STEP_DB, sample_rate, lookahead_ms):
        y[a: a + len(block)] = block
    return measure(y, segment, sample_rate), y[segment.core]


def _step(gain_db: float) -> int:
    return int(round(gain_db / GAIN_STEP_DB))


def _db(linear: float) -> float:
    return 20 * math.log10(linear) if linear > 0 else -math.inf
