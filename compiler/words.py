"""Word times: when each spoken word of a take begins and ends, where a backend can say.

A backend that knows its word times (Dia2 timestamps every word it speaks; the embedded Piper voice
reads them from its own duration predictor) gives them per take, in seconds from the take's first
sample. The render stage keeps them beside the take in the clip cache, the stitcher moves them onto
the timeline with their take (`PlacedLine.words`), and the subtitles use them for cue splits and
WebVTT word timestamps. A take without word times has an empty tuple: nothing is ever guessed here.

The words are the backend's *spoken* words (the normalised text it was given, e.g. "nine forty-five");
compiler.subtitles maps them onto the words the writer wrote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds: from the take's first sample, or on the timeline once placed
    end: float

    def shifted(self, seconds: float) -> "Word":
        return Word(self.text, self.start + seconds, self.end + seconds)


def checked(words, take_seconds: float) -> tuple[Word, ...]:
    """`words` as a tuple of Word if they are well formed for a take of `take_seconds`: texts non-empty,
    times finite, each word inside the take (10 ms of slack for rounding), starts never going back.
    Anything else is dropped as a whole (a backend's bad times must not move a subtitle), so the result
    is either every word or none."""
    out = []
    last = 0.0
    for w in words or ():
        if not isinstance(w, Word) or not w.text.strip():
            return ()
        if not (math.isfinite(w.start) and math.isfinite(w.end)):
            return ()
        if w.start < last - 1e-6 or w.start < -0.01 or w.end < w.start or w.end > take_seconds + 0.01:
            return ()
        out.append(Word(w.text, max(0.0, w.start), min(max(w.end, w.start), take_seconds)))
        last = w.start
    return tuple(out)


def to_rows(words: tuple[Word, ...]) -> list[list]:
    """JSON-ready rows [text, start, end] (the clip cache stores them so)."""
    return [[w.text, round(w.start, 4), round(w.end, 4)] for w in words]


def as_stored(words: tuple[Word, ...]) -> tuple[Word, ...]:
    """The words as the clip cache gives them back (times rounded to 0.1 ms): a fresh render and a
    cache hit give the same subtitles, as they give the same samples."""
    return from_rows(to_rows(words))


def from_rows(rows) -> tuple[Word, ...]:
    """Words from rows written by `to_rows`; ValueError on anything else."""
    if not isinstance(rows, list):
        raise ValueError("word rows must be a list")
    out = []
    for row in rows:
        if (not isinstance(row, list) or len(row) != 3 or not isinstance(row[0], str)
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in row[1:])):
            raise ValueError(f"bad word row {row!r}")
        out.append(Word(row[0], float(row[1]), float(row[2])))
    return tuple(out)
