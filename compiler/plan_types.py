"""Values the planner hands forward: lines, clips and the steps of a play's timeline.

Kept apart from plan.py (the algorithm) so backends, the renderer and the stitcher can import the
shapes without the planner.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Union

from compiler.diagnostics import Span
from compiler.voices import Voice


@dataclass(frozen=True)
class Recording:
    """A recording that replaces a line's synthetic take (`[[take: PATH]]`, compiler/plugins/take.py)."""

    path: str  # absolute, inside the project
    span: Span  # the directive


@dataclass(frozen=True)
class Room:
    """The acoustic a line is heard in (compiler/rooms.py chooses it from the scene heading or a
    `[[room]]` directive): plain numbers, so the planner and the mixer need no settings to agree."""

    size: str  # one of compiler.settings_schema.ROOM_SIZES other than "dry"
    rt60: float  # seconds for the reverberation to fall by 60 dB
    wet_db: float  # the reverberation's level relative to the voice
    seed: int  # of the impulse response's noise

    @property
    def identity(self) -> str:
        return f"{self.size} {self.rt60!r} {self.wet_db!r} {self.seed}"


@dataclass(frozen=True)
class PlannedLine:
    speaker: str  # character name as cast (narrator: "NARRATOR")
    original: str  # what the writer wrote; subtitles show this
    spoken: str  # normalised text the backend speaks
    span: Span  # where in the script it comes from
    extension: str | None = None  # V.O., O.S., … (changes sound, not voice)
    pause_before: float = 0.0  # seconds of silence before this line inside its clip, e.g. (beat)
    nonverbal: tuple[str, ...] = ()  # (laughs)-style cues the backend supports, kept in place in `spoken`
    take: int = 1  # which rendering of the line (compiler/takes.py): take n draws the backend's noise with another seed
    # Heard instead of the synthetic take, which is still rendered (its loudness is the recording's
    # target) so the clip and its cache key do not depend on the recording.
    recording: Recording | None = None
    # Heard in this room; None: dry (a phone line, a voice-over, the narrator, or rooms switched off).
    # Not part of the clip's key: a room is added when mixing, the voice renders the same.
    room: Room | None = None


@dataclass(frozen=True)
class Clip:
    scene: int  # scene index in the script
    speakers: tuple[str, ...]  # in order of first line; a two-speaker backend numbers them from this
    voices: tuple[Voice, ...]  # parallel to speakers
    lines: tuple[PlannedLine, ...]
    est_seconds: float  # estimated speech length

    @functools.cached_property  # asked for every clip by several stages; the fields are frozen
    def key(self) -> str:
        """Content hash: what the rendered takes depend on. Spans are excluded so moving a line
        without changing it keeps its cache entry; extensions are excluded because their effect
        (muffled, phone) is applied when stitching, not by the voice."""
        h = hashlib.sha256()
        for v in self.voices:
            h.update(v.key.encode())
        for line in self.lines:
            h.update(f"|{line.speaker}|{line.spoken}|{line.pause_before}".encode())
            if line.take != 1:  # take 1 keeps the key it always had: existing caches stay valid
                h.update(f"|take={line.take}".encode())
        return h.hexdigest()[:24]

    def slot(self, speaker: str) -> int:
        return self.speakers.index(speaker)


@dataclass(frozen=True)
class PauseStep:
    seconds: float
    span: Span | None = None


@dataclass(frozen=True)
class SceneBreak:
    scene: int  # index of the scene that starts


@dataclass(frozen=True)
class SoundCue:
    kind: str  # the rule of the directive plugin that places and mixes it (compiler/plugins/)
    path: str | None  # absolute, inside the project (None for a cue without a file)
    options: tuple[tuple[str, float | str | bool], ...]
    span: Span

    def option(self, name: str, default=None):
        for k, v in self.options:
            if k == name:
                return v
        return default


Step = Union[Clip, PauseStep, SceneBreak, SoundCue]


@dataclass(frozen=True)
class Plan:
    source: str  # script path
    title: str
    steps: tuple[Step, ...]

    @property
    def clips(self) -> list[Clip]:
        return [s for s in self.steps if isinstance(s, Clip)]
