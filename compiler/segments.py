"""Segments: the play cut into stretches that are mixed, measured and mastered on their own.

A cut falls in the middle of every gap between two lines, so a segment is one line with half the
silence on either side. Each segment is mixed in a *window* that reaches into its neighbours:
LEAD seconds before it, for the loudness meter's K-weighting filters to settle (their slowest pole,
the 38 Hz high-pass, decays by e^-12 in 100 ms) and the limiter's look-ahead; TRAIL seconds after
it, for the last 400 ms loudness blocks that start in it and the look-ahead again.

A segment's key is a digest of everything its window's samples are made from — the pieces that
overlap the window, each with its offset from the window's start (compiler.pieces), the window's
length and where the segment lies in it, and the build-wide `context` (settings, sample rate,
backend and code). Positions in the play do not enter it: after a one-line edit, the segments
before the edit keep their keys, and so do those after it, which only moved. Only the edited
line's segment and its two neighbours (whose windows reach into it) get new keys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from compiler.pieces import Pieces

LEAD = 0.15  # seconds of the previous segment in a window
TRAIL = 0.45  # seconds of the next segment in a window: a 400 ms loudness block and the look-ahead


@dataclass(frozen=True)
class Segment:
    start: int  # the segment's first sample in the play
    end: int
    window_start: int  # the window mixed and measured for it (start - LEAD .. end + TRAIL, within the play)
    window_end: int
    key: str
    content: str = ""  # the digest of its pieces alone (the key adds settings, backend and code): what
    # placement choices that must not move when only the code changes are drawn from

    @property
    def core(self) -> slice:
        """The segment's own samples within its window."""
        return slice(self.start - self.window_start, self.end - self.window_start)


def cut_points(line_spans: list[tuple[int, int]]) -> list[int]:
    """The middle of every gap between consecutive lines (sample positions)."""
    return [end + (next_start - end) // 2 for (_, end), (next_start, _) in zip(line_spans, line_spans[1:])
            if next_start >= end]


def segments(pieces: Pieces, line_spans: list[tuple[int, int]], n_samples: int, sample_rate: int,
             context: str) -> list[Segment]:
    """The play's segments, in order, covering samples 0..n_samples-1 exactly once."""
    lead, trail = int(round(LEAD * sample_rate)), int(round(TRAIL * sample_rate))
    cuts = [c for c in cut_points(line_spans) if 0 < c < n_samples]
    bounds = [0, *cuts, n_samples]
    out = []
    for start, end in zip(bounds, bounds[1:]):
        if end <= start:
            continue
        w0, w1 = max(0, start - lead), min(n_samples, end + trail)
        content = _content(pieces, start, end, w0, w1)
        out.append(Segment(start, end, w0, w1, hashlib.sha256(f"{context}\n{content}".encode()).hexdigest(), content))
    return out


def _content(pieces: Pieces, start: int, end: int, w0: int, w1: int) -> str:
    """A digest of what the window is made of, without the build-wide context."""
    h = hashlib.sha256(f"window {w1 - w0} core {start - w0} {end - w0}".encode())
    for p in pieces.overlapping(w0, w1):
        a, b = max(w0, p.start) - p.start, min(w1, p.start + p.length) - p.start
        h.update(f"\n{p.start - w0} {a} {b} {p.identity(a, b)}".encode())
    return h.hexdigest()
