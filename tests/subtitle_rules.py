"""The broadcast subtitle rules, checked on written files with independent parsers: `srt` reads the
SRT, `webvtt-py` the WebVTT (tests/test_subtitles.py, tests/test_e2e.py, benchmarks/subtitles.py).

Rules (Netflix Timed Text Style Guide, as docs/build.md states them): at most 42 characters per line,
at most 2 lines per cue, each cue from 5/6 s to 7 s long, cues in order and never overlapping.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import srt
import webvtt

MAX_CHARS = 42
MAX_LINES = 2
MAX_SECONDS = 7.0
MIN_SECONDS = 5 / 6


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: list[str]  # as a reader sees them: tags removed, entities decoded


def read_srt(path: Path) -> list[Cue]:
    subs = list(srt.parse(Path(path).read_text(encoding="utf-8")))
    return [Cue(s.start.total_seconds(), s.end.total_seconds(), s.content.split("\n")) for s in subs]


def _vtt_seconds(stamp: str) -> float:
    return srt.srt_timestamp_to_timedelta(stamp.replace(".", ",")).total_seconds()


def read_vtt(path: Path) -> list[Cue]:
    # webvtt-py removes the tags; the character references (&amp; &lt; &gt;) a player decodes too.
    return [Cue(_vtt_seconds(c.start), _vtt_seconds(c.end), html.unescape(c.text).split("\n")) for c in webvtt.read(str(path))]


def vtt_raw(path: Path) -> list[tuple[float, float, str]]:
    """(start, end, raw text with tags) of every WebVTT cue."""
    return [(_vtt_seconds(c.start), _vtt_seconds(c.end), c.raw_text) for c in webvtt.read(str(path))]


def violations(cues: list[Cue]) -> dict[str, list]:
    """Each rule's offending cues (1-based numbers, with what is wrong)."""
    found: dict[str, list] = {"line over 42 chars": [], "over 2 lines": [], "over 7 s": [], "under 5/6 s": [],
                              "overlap": []}
    for n, cue in enumerate(cues, 1):
        long = [line for line in cue.lines if len(line) > MAX_CHARS]
        if long:
            found["line over 42 chars"].append((n, long))
        if len(cue.lines) > MAX_LINES:
            found["over 2 lines"].append((n, cue.lines))
        seconds = cue.end - cue.start
        if seconds > MAX_SECONDS + 0.0005:
            found["over 7 s"].append((n, round(seconds, 3)))
        if seconds < MIN_SECONDS - 0.0015:  # the files hold milliseconds
            found["under 5/6 s"].append((n, round(seconds, 3), cue.lines))
        if n > 1 and cue.start < cues[n - 2].end:
            found["overlap"].append((n, cues[n - 2].end, cue.start))
    return found


_WORD = re.compile(r"[\w']+")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def nearest_onset(audio: np.ndarray, rate: int, t: float, floor_db: float = -35.0) -> float | None:
    """Seconds from `t` to the nearest speech onset within 0.3 s of it, measured on the audio: 20 ms
    below `floor_db` dBFS (5 ms frames), then sound. None when there is none. Stereo audio (n, 2) is
    measured on its channels' energies summed: a voice's level wherever it is panned."""
    frame = int(0.005 * rate)
    i0 = int((t - 0.3) * rate)
    power = np.asarray(audio[max(i0, 0): i0 + int(0.6 * rate)], dtype=np.float64) ** 2
    power = power.sum(axis=1) if power.ndim == 2 else power
    power = power[: len(power) // frame * frame].reshape(-1, frame)
    loud = 20 * np.log10(np.sqrt(power.mean(axis=1)) + 1e-12) > floor_db
    onsets = [k * 0.005 - 0.3 for k in range(4, len(loud)) if loud[k] and not loud[k - 4: k].any()]
    return min(onsets, key=abs) if onsets else None
