"""Render backends behind one small protocol.

A backend turns one planned clip into audio: one take (mono float32 numpy array in [-1, 1] at
`sample_rate`) per line of the clip, in order, leading/trailing silence trimmed. The stitcher places
the takes on the timeline, so every backend yields the same timeline shape and subtitles.

Backends are constructed by name through `create()` from one registry, so worker processes can build
their own copy and the driver never names a backend.
"""

from __future__ import annotations

import importlib
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
    # The backend's settings, declared once (compiler.settings_schema.Setting): `options` are the keys of
    # its [<name>] table, each a keyword of its constructor with the declared default; `voice_settings`
    # the keys it adds to [cast.NAME] and [cast.NAME.<name>]. Validation, docs/settings.md and the JSON
    # Schema of dramac.toml are derived from them; the class attributes are read without an instance.
    options: tuple
    voice_settings: tuple

    def palette(self) -> list["Voice"]:
        """Distinct default voices, in the order automatic casting hands them out."""

    def identity(self) -> str:
        """Model and version string; part of every cache key."""

    def render(self, clip: "Clip") -> list["np.ndarray"]:
        """One take per line of `clip` (clip.lines), in order."""

    # Optional: a backend that knows when its words are spoken also has
    #   def render_timed(self, clip) -> list[Take]
    # the same takes with their word times; the render stage calls it instead of render() when present.

    def voice_from_settings(self, settings: dict, palette: list["Voice"]) -> "Voice":
        """A voice from a `[cast.NAME]` table; ValueError with a message on unknown keys or bad values."""

    def check(self) -> None:
        """Fail early, once, with BackendUnavailable when the runtime is missing; loads no model."""

    # Optional, for the render farm (compiler/cluster.py); a backend without them needs one CPU per
    # worker and makes nothing once per voice:
    #   cluster_resources() -> {"num_gpus": 1} or {"num_cpus": 1}: what one worker holds on a node;
    #   voices_to_prepare(clips) -> [Voice]: voices of `clips` whose files (Dia2: a calibrated prefix)
    #       must be made once before the clips render, and are not made yet;
    #   prepare_voice(voice) -> {path relative to the workspace cache folder: bytes}: make them.


@dataclass(frozen=True)
class Take:
    """One line's audio and, where the backend knows them, its spoken words' times (compiler.words,
    seconds from the take's first sample; empty when not known)."""

    audio: "np.ndarray"
    words: tuple = ()


class BackendUnavailable(RuntimeError):
    """The backend's runtime is missing or broken; the message says how to install it. Raised for
    the whole build (never once per clip)."""


@dataclass(frozen=True)
class Workspace:
    """Where a backend may read and keep files, set by the driver from the project (never from
    settings): voice references resolve inside `root`; artefacts (calibrated voices) go to `cache_dir`."""

    root: str
    cache_dir: str


# name → "module:Class". Imported on first use, so naming a backend costs nothing until it renders
# (Dia2 pulls in torch). A new backend is one line here and one module in this package.
_REGISTRY: dict[str, str] = {
    "embedded": "compiler.backends.embedded:EmbeddedBackend",
    "dia2": "compiler.backends.dia2:Dia2Backend",
}


def register(name: str, target: str) -> None:
    """Make a backend available by name; `target` is "package.module:Class"."""
    _REGISTRY[name] = target


def target_of(name: str) -> str:
    """The "package.module:Class" registered for `name` (a worker process registers it too)."""
    if name not in _REGISTRY:
        raise BackendUnavailable(f"unknown backend '{name}'; available: {', '.join(available())}")
    return _REGISTRY[name]


def available() -> list[str]:
    return list(_REGISTRY)


def backend_class(name: str) -> type:
    if name not in _REGISTRY:
        raise BackendUnavailable(f"unknown backend '{name}'; available: {', '.join(available())}")
    module_name, _, class_name = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def create(name: str, workspace: Workspace | None = None, **options) -> Backend:
    """The backend `name` built with its options (a TypeError names an unknown one)."""
    return backend_class(name)(workspace=workspace, **options)


# One instance per (name, options) in this process: the scripts of a series (`dramac build s1/*.fountain`),
# the rebuilds of `dramac watch` and the render stage all use the same one, so a voice model is loaded once.
_shared: dict[str, Backend] = {}


def shared(name: str, workspace: Workspace | None = None, **options) -> Backend:
    """create(name, workspace, **options), built once per distinct set of options in this process."""
    key = f"{name}:{workspace!r}:{sorted(options.items())!r}"
    if key not in _shared:
        _shared[key] = create(name, workspace, **options)
    return _shared[key]

