"""Dia2's text in, per-line takes out: pure text and waveform helpers of the Dia2 backend.

Text side: the words Dia2 will timestamp (`spoken_words`), the script sent for a run of lines
(`build_script`: the one encoder of Dia2's text form).
Waveform side: one generated clip is cut into one trimmed take per line at the quietest point
between the lines' word timestamps (`take_spans`), each take keeping its words' times
(`take_words`); `voiced_bounds` and `spread_words` time a
reference recording. Nothing here touches the Dia2 runtime, so all of it runs without a GPU.
"""

from __future__ import annotations

import re

import numpy as np

from compiler.plan_types import PlannedLine
from compiler.words import Word

_BREAK = re.compile(r'<break\s+time="([0-9]+(?:.[0-9]*)?)s"\s*/?>')
_TAGS = ("[S1]", "[S2]")


def spoken_words(text: str) -> list[str]:
    """The words Dia2 will timestamp: its own normalisation (’ → ', ':' → space), break tags and
    speaker tags removed, whitespace-separated."""
    normalized = _BREAK.sub(" ", text.replace("’", "'").replace(":", " "))
    return [w for w in normalized.split() if w not in _TAGS]


def build_script(lines: tuple[PlannedLine, ...], speakers: tuple[str, ...]) -> str:
    """Dia2 text for `lines`: a speaker tag before every line, a break tag for inner pauses. Starts
    with [S1] because speakers[0] is the first line's speaker."""
    parts = []
    for i, line in enumerate(lines):
        if i and line.pause_before > 0:
            parts.append(f'<break time="{line.pause_before:g}s"/>')
        parts.append(f"[S{speakers.index(line.speaker) + 1}]")
        parts.append(line.spoken)
    return " ".join(p for p in parts if p)


_HOP_S = 0.01
_MIN_WORD_S = 0.12  # a word's audio lasts at least this long after its timestamp
_KEEP_S = 0.03  # silence kept around a trimmed take


def _frame_rms(wave: np.ndarray, sr: int) -> np.ndarray:
    hop = max(1, int(sr * _HOP_S))
    n = len(wave) // hop
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    frames = wave[: n * hop].reshape(n, hop)
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))


def voiced_bounds(wave: np.ndarray, sr: int, floor_db: float = -40.0) -> tuple[int, int]:
    """First and last sample of sound louder than `floor_db` below the loudest 10 ms, with a little
    margin; the whole range when nothing is voiced."""
    rms = _frame_rms(wave, sr)
    if rms.size == 0 or rms.max() <= 1e-5:
        return 0, len(wave)
    loud = np.nonzero(rms > max(rms.max() * 10 ** (floor_db / 20), 1e-4))[0]
    hop = int(sr * _HOP_S)
    keep = int(sr * _KEEP_S)
    start = max(0, loud[0] * hop - keep)
    end = min(len(wave), (loud[-1] + 1) * hop + keep)
    return start, end


def cut_between(wave: np.ndarray, sr: int, last_word: float, next_word: float) -> int:
    """Sample where one line ends and the next begins: the middle of the longest quiet stretch
    between the start of the last word of the line and the start of the next line's first word;
    the quietest 10 ms there when nothing is quiet; the next word's start when they touch."""
    rms = _frame_rms(wave, sr)
    hop = int(sr * _HOP_S)
    lo = int((last_word + _MIN_WORD_S) / _HOP_S)
    hi = min(int(next_word / _HOP_S), rms.size)
    if hi <= lo:
        return min(len(wave), int(next_word * sr))
    window = rms[lo:hi]
    quiet = window < max(rms.max() * 10 ** (-30 / 20), 1e-4)
    best_len, best_mid, run_start = 0, None, None
    for i, q in enumerate(np.append(quiet, False)):
        if q and run_start is None:
            run_start = i
        elif not q and run_start is not None:
            if i - run_start > best_len:
                best_len, best_mid = i - run_start, (run_start + i) / 2
            run_start = None
    frame = best_mid if best_mid is not None else float(np.argmin(window)) + 0.5
    return int((lo + frame) * hop)


def take_spans(wave: np.ndarray, sr: int, starts: list[float], counts: list[int]) -> list[tuple[int, int]]:
    """Where each line's trimmed take lies in `wave`: its first sample and the one after its last
    (an empty span for a line without words)."""
    bounds, cuts, k = [], [0], 0
    for c in counts:
        bounds.append((k, k + c))
        k += c
    spoken = [i for i, c in enumerate(counts) if c]
    for a, b in zip(spoken, spoken[1:]):
        cuts.append(cut_between(wave, sr, starts[bounds[a][1] - 1], starts[bounds[b][0]]))
    cuts.append(len(wave))
    spans, j = [], 0
    for i, c in enumerate(counts):
        if not c:
            spans.append((0, 0))
            continue
        lo, hi = voiced_bounds(wave[cuts[j]:cuts[j + 1]], sr)
        spans.append((cuts[j] + lo, cuts[j] + hi))
        j += 1
    return spans


def take_words(words: list[str], starts: list[float], span: tuple[int, int], sr: int) -> tuple[Word, ...]:
    """The words of one take with Dia2's start times moved into the take (`span`, from take_spans): a
    word ends where the next begins, the last one where the take ends; times clamped to the take."""
    first, seconds = span[0] / sr, (span[1] - span[0]) / sr
    inside = [min(max(t - first, 0.0), seconds) for t in starts]
    ends = inside[1:] + [seconds]
    return tuple(Word(w, s, max(s, e)) for w, s, e in zip(words, inside, ends))


def spread_words(words: list[str], start: float, end: float) -> list[tuple[str, float, float]]:
    weights = [len(w) + 1 for w in words]
    total = float(sum(weights)) or 1.0
    out, t = [], start
    for w, weight in zip(words, weights):
        d = (end - start) * weight / total
        out.append((w, round(t, 3), round(t + d, 3)))
        t += d
    return out
