"""How long a play will run, before it is rendered: what `dramac plan` reports.

A line is timed by its letters and its pause marks (, . ; : ? ! …), not by its words: across the
example plays the embedded voices speak 3.2 to 4.0 words a second but 0.068 seconds a letter, and
each mark is a short pause in the voice (benchmarks/estimate.py: on a generated play of short,
sparsely punctuated sentences this model is 4% off where seconds per character are 9% off). Each
voice's pace is learned from the takes a build rendered (or read from the cache), as the ratio of
their seconds to what the model expected of them, and kept in the clip cache folder
(`speaking-rates.json`); a voice never heard yet is timed by the model alone. The gaps, pauses, scene breaks and sound cues around
the speech are placed by the stitcher's own timeline code, with each line given its estimated length,
so the estimate follows every [stitch] setting exactly.

These rates are for reports only. The planner sizes clips with its own fixed words-per-second rate
(compiler/plan.py): a learned rate there would move clip boundaries between builds and re-render
clips whose text did not change.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from compiler.atomic import write_atomically
from compiler.diagnostics import CompileError
from compiler.plan_types import Clip, Plan, SoundCue

RATES_FILE = "speaking-rates.json"
RATES_FORMAT = "dramac-speaking-rates-2"
# The model for a voice not heard yet: least squares over every take of the example plays by the
# embedded voices (benchmarks/estimate.py compares it with the rendered lengths).
SECONDS_PER_LETTER = 0.0589
SECONDS_PER_MARK = 0.19
_MARK = re.compile(r"[,.;:?!…]")
MAX_VOICES = 512  # a settings file tried with many tempos must not grow the file without bound
_MAX_FILE_BYTES = 1 << 20
# A voice measured at less than a tenth or more than ten times the model is not speech (a damaged
# file, a backend that returns silence): ignored.
_PLAUSIBLE = (0.1, 10.0)


def model_seconds(spoken: str) -> float:
    """What the model expects a line to take, before any voice was heard."""
    letters = sum(ch.isalnum() for ch in spoken)
    return letters * SECONDS_PER_LETTER + len(_MARK.findall(spoken)) * SECONDS_PER_MARK


@dataclass
class SpeakingRates:
    """Per voice key: seconds its takes lasted and seconds the model expected of them, as last measured."""

    measured: dict[str, tuple[float, float]] = field(default_factory=dict)

    def pace(self, voice_key: str) -> float:
        """How much longer than the model this voice speaks (1.0: not heard yet)."""
        seconds, expected = self.measured.get(voice_key, (0.0, 0.0))
        return seconds / expected if expected else 1.0

    def line_seconds(self, voice_key: str, spoken: str) -> float:
        return model_seconds(spoken) * self.pace(voice_key)

    def known(self, voice_key: str) -> bool:
        return voice_key in self.measured


def load_rates(cache_dir: str | Path) -> SpeakingRates:
    """The rates stored in the cache folder; none when the file is missing, unreadable, not a
    regular file or not what this version writes (a cache is a hint, never an error)."""
    from compiler.source import read_regular_file

    try:
        raw = read_regular_file(Path(cache_dir) / RATES_FILE, _MAX_FILE_BYTES, "rates file")
        data = json.loads(raw.decode("utf-8"))
    except (CompileError, UnicodeDecodeError, ValueError, RecursionError):
        return SpeakingRates()
    if not isinstance(data, dict) or data.get("format") != RATES_FORMAT or not isinstance(data.get("voices"), dict):
        return SpeakingRates()
    measured = {}
    for key, entry in list(data["voices"].items())[-MAX_VOICES:]:
        rate = _valid_entry(entry)
        if rate is not None:
            measured[key] = rate
    return SpeakingRates(measured)


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _valid_entry(entry) -> tuple[float, float] | None:
    if not (isinstance(entry, dict) and set(entry) == {"seconds", "expected"}):
        return None
    seconds, expected = _number(entry["seconds"]), _number(entry["expected"])
    if seconds is None or expected is None or expected <= 0 or not _PLAUSIBLE[0] <= seconds / expected <= _PLAUSIBLE[1]:
        return None
    return seconds, expected


def measure(clips: list[Clip], takes: dict[str, list[np.ndarray]], sample_rate: int) -> dict[str, tuple[float, float]]:
    """Per voice key, the seconds its takes last and the seconds the model expected of their lines,
    over every line of `clips` (each distinct clip counted once)."""
    totals: dict[str, list] = {}
    for clip in {c.key: c for c in clips}.values():
        for line, take in zip(clip.lines, takes.get(clip.key, ())):
            voice = clip.voices[clip.slot(line.speaker)]
            total = totals.setdefault(voice.key, [0.0, 0.0])
            total[0] += len(take) / sample_rate
            total[1] += model_seconds(line.spoken)
    return {key: (round(seconds, 4), round(expected, 4)) for key, (seconds, expected) in totals.items() if expected > 0}


def learn(cache_dir: str | Path, clips: list[Clip], takes: dict[str, list[np.ndarray]], sample_rate: int,
          only: set[str] | None = None) -> bool:
    """Store this build's measurement for each of its voices (or those in `only`), replacing that
    voice's older one: a whole play's takes are the better sample. The file is rewritten only when
    something changed. Returns whether it was written. A cache folder that cannot be written is left
    as it is."""
    rates = load_rates(cache_dir)
    fresh = {key: rate for key, rate in measure(clips, takes, sample_rate).items()
             if (only is None or key in only) and _valid_entry({"seconds": rate[0], "expected": rate[1]}) is not None}
    if all(rates.measured.get(key) == rate for key, rate in fresh.items()):
        return False
    merged = {key: rate for key, rate in rates.measured.items() if key not in fresh}
    merged.update(fresh)  # the voices of this build are the newest: kept last, dropped last
    kept = list(merged.items())[-MAX_VOICES:]
    document = {"format": RATES_FORMAT,
                "voices": {key: {"seconds": seconds, "expected": expected} for key, (seconds, expected) in kept}}
    try:
        write_atomically(Path(cache_dir) / RATES_FILE, (json.dumps(document, indent=1) + "\n").encode())
    except OSError:
        return False
    return True


def learn_missing(cache_dir: str | Path, clips: list[Clip], read_takes: Callable[[Clip], list[np.ndarray] | None],
                  sample_rate: int) -> bool:
    """For a build that reads no takes (nothing changed): the voices whose pace is not stored (the
    file was deleted, or written by an older dramac) are measured from their cached takes, read
    with `read_takes(clip)` (None: not cached). Costs one small file read when every voice is known."""
    unknown = {v.key for c in clips for v in c.voices} - set(load_rates(cache_dir).measured)
    if not unknown:
        return False
    takes = {}
    for clip in clips:
        if clip.key not in takes and unknown.intersection(v.key for v in clip.voices):
            found = read_takes(clip)
            if found is not None:
                takes[clip.key] = found
    return learn(cache_dir, clips, takes, sample_rate, only=unknown)


def clip_seconds(clip: Clip, rates: SpeakingRates) -> float:
    """Estimated speech in a clip: its lines at their voices' rates, plus the pauses inside it."""
    return sum(rates.line_seconds(clip.voices[clip.slot(line.speaker)].key, line.spoken) + max(0.0, line.pause_before)
               for line in clip.lines)


def play_seconds(plan: Plan, rates: SpeakingRates, sample_rate: int, stitch_settings) -> float:
    """The estimated length of the mastered play: the stitcher's timeline built from stand-in takes
    of each line's estimated length (zero-copy arrays: no audio is allocated), with sound cues at
    their files' lengths (read from the headers). A cue whose file cannot be read counts as silence
    of no length; falls back to the sum of speech and pauses if the timeline refuses the plan."""
    from compiler import stitch
    from compiler.plan_types import PauseStep

    silence = np.zeros(1, dtype=np.float32)
    stand_ins = {}
    for clip in plan.clips:
        voices = [clip.voices[clip.slot(line.speaker)].key for line in clip.lines]
        stand_ins[clip.key] = [np.broadcast_to(silence, (max(1, round(rates.line_seconds(v, line.spoken) * sample_rate)),))
                               for v, line in zip(voices, clip.lines)]
    try:
        return stitch.build_timeline(plan, stand_ins, sample_rate, stitch_settings, _sound_lengths(plan)).duration
    except CompileError:
        return (sum(clip_seconds(c, rates) for c in plan.clips)
                + sum(s.seconds for s in plan.steps if isinstance(s, PauseStep) and s.seconds > 0))


def _sound_lengths(plan: Plan) -> dict[str, float]:
    """Each cue's file length in seconds from its header; unreadable files are left out, and so is
    anything but a regular file (a FIFO would block the read, a device would never end)."""
    import soundfile

    lengths = {}
    for step in plan.steps:
        if isinstance(step, SoundCue) and step.path and step.path not in lengths:
            try:
                if not stat.S_ISREG(os.stat(step.path).st_mode):
                    continue
                lengths[step.path] = soundfile.info(step.path).duration
            except Exception:  # noqa: BLE001  (soundfile raises its own and OS errors; the build reports them)
                continue
    return lengths
