"""Render backends behind one small protocol.

A backend turns one planned clip into audio: one take (mono float32 numpy array in [-1, 1] at
`sample_rate`) per line of the clip, in order, leading/trailing silence trimmed. The stitcher places
the takes on the timeline, so every backend yields the same timeline shape and subtitles.

Backends are constructed by name through `create()`, so worker processes can build their own copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from compiler.plan import Clip
    from compiler.voices import Voice


@dataclass(frozen=True)
class Capabilities:
    max_clip_seconds: float  # speech per clip the planner may schedule (prefix included for Dia2)
    min_clip_seconds: float  # clips shorter than this sound unnatural; the planner merges up to it
    nonverbal: frozenset[str]  # cues kept in the text, e.g. {"(laughs)"}; others are dropped
    max_speakers: int = 2
    parallel: bool = True  # may be rendered in several worker processes at once


class Backend(Protocol):
    name: str
    sample_rate: int
    capabilities: Capabilities

    def palette(self) -> list["Voice"]:
        """Distinct default voices, in the order automatic casting hands them out."""

    def identity(self) -> str:
        """Model and version string; part of every cache key."""

    def render(self, clip: "Clip") -> list["np.ndarray"]:
        """One take per line of `clip` (clip.lines), in order."""

    def voice_from_settings(self, settings: dict, palette: list["Voice"]) -> "Voice":
        """A voice from a `[cast.NAME]` table; ValueError with a message on unknown keys or bad values."""


class BackendUnavailable(RuntimeError):
    """The backend's runtime is missing or broken; the message says how to install it."""


def available() -> list[str]:
    return ["embedded", "dia2"]


def create(name: str, **options) -> Backend:
    if name == "embedded":
        from compiler.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(**options)
    if name == "dia2":
        from compiler.backends.dia2 import Dia2Backend

        return Dia2Backend(**options)
    raise BackendUnavailable(f"unknown backend '{name}'; available: {', '.join(available())}")
