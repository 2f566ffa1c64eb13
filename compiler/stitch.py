"""Stitching: place every rendered take on one timeline, then write the samples once.

Two phases, after design-notes "A timeline first, then samples":

1. `build_timeline` computes, as numbers only, where every line and every sound cue starts and ends.
   Subtitles and the manifest are written from this same timeline, so they cannot drift from audio.
2. `assemble` allocates one float32 buffer for the whole play and adds each piece into it once,
   so assembly time grows linearly with the play (never a growing pydub segment copied per append).

Timing rules (every number is a `StitchSettings` field):

- The play opens with `lead_in` seconds and ends `tail` seconds after the last line or effect.
- Between two lines the gap is `same_speaker_gap` when the speaker continues, `speaker_change_gap`
  when it changes, `scene_gap` when a SceneBreak (or a change of `Clip.scene`) lies between them.
  Every PauseStep between them and the later line's `pause_before` are added to that gap. Clip
  boundaries play no part: a take is one line, wherever the planner cut its clips.
- A sound cue's point is computed like a line's start, except that the base gap is `cue_gap`
  (still `scene_gap` right after a scene break, and 0 before anything has been placed); pauses
  written before the cue delay it. From that point the cue's directive plugin places it
  (compiler/plugins/<kind>.py, through `Placing`): an `sfx` with wait=true (the default) holds
  the story, so the next line starts `cue_gap` after the effect ends; an sfx with wait=false and
  the music cues do not move the lines at all; `music` plays from its point until the next music
  cue or `[[music stop]]` (its fade-out starts there), the end of its file (loop=false), or the end
  of the play (fade-out ends there); `ambience` plays a looped bed under its scene, and at a scene
  change (the middle of the scene gap, where each plugin's `scene_change` is called) the outgoing
  bed and the next scene's crossfade.

Cue options and their defaults (these settings) are read by the plugins with `cue_number` and
`cue_flag`; each plugin module declares its options.

Room tone: every silence between consecutive lines (and the lead-in and tail) that is longer than
`room_tone_min_gap` seconds is filled with deterministic pink noise at `room_tone_db` dBFS RMS. The
tone overlaps the neighbouring takes by `fade_ms` and is ramped over twice that, so it crossfades
with the take's own fade and there is no step where tone meets speech. Shorter gaps stay digital
silence between two fades: a breath-length hole in a -62 dB floor cannot be heard, and it keeps
a fast exchange of lines free of noise pumping.

Settings are checked when built (`StitchSettings.__post_init__`) against their declarations in
compiler/settings_schema.py, which hold every default, range and unit (docs/settings.md lists them).
A cue's `duration` may not exceed MAX_CUE_SECONDS (4 h).

A line heard in a room (`PlannedLine.room`, compiler/rooms.py) rings on after its take ends; the tail
sounds in the gap after it and moves nothing, but the play lasts until the last tail has rung out.

Line effects by `PlannedLine.extension` are applied per take before placement (see compiler.effects);
sound files are read and music is laid into the mix by compiler.sounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

import numpy as np

from compiler import plugins, rooms
from compiler.diagnostics import CompileError, Diagnostic, Span, error, warning
from compiler.effects import apply_effect, line_effect
from compiler.pieces import MappedSources, mix, play_pieces, room_tone_loop
from compiler.plan_types import Clip, PauseStep, Plan, PlannedLine, SceneBreak, SoundCue
from compiler.settings_schema import check_table, defaults
from compiler.sounds import load_sounds
from compiler.stage import StageSettings, fixed_pans, stage_pans
from compiler.words import Word

# apply_effect, line_effect and load_sounds live in compiler.effects / compiler.sounds; they are
# re-exported because build.py and the tests import them from here.
__all__ = [
    "PlacedLine", "PlacedSound", "StitchSettings", "Timeline",
    "apply_effect", "assemble", "build_timeline", "line_effect", "load_sounds", "room_tone_loop",
]

# --------------------------------------------------------------------------------------------------
# Settings and timeline values


_DEFAULT = defaults("stitch")  # the [stitch] declarations in compiler/settings_schema.py: defaults, ranges, units


@dataclass(frozen=True)
class StitchSettings:
    same_speaker_gap: float = _DEFAULT["same_speaker_gap"]
    speaker_change_gap: float = _DEFAULT["speaker_change_gap"]
    scene_gap: float = _DEFAULT["scene_gap"]
    cue_gap: float = _DEFAULT["cue_gap"]
    lead_in: float = _DEFAULT["lead_in"]
    tail: float = _DEFAULT["tail"]
    fade_ms: float = _DEFAULT["fade_ms"]
    room_tone: bool = _DEFAULT["room_tone"]
    room_tone_db: float = _DEFAULT["room_tone_db"]
    room_tone_min_gap: float = _DEFAULT["room_tone_min_gap"]
    room_tone_seed: int = _DEFAULT["room_tone_seed"]
    sfx_volume_db: float = _DEFAULT["sfx_volume_db"]
    music_volume_db: float = _DEFAULT["music_volume_db"]
    music_fade_in: float = _DEFAULT["music_fade_in"]
    music_fade_out: float = _DEFAULT["music_fade_out"]
    music_duck_db: float = _DEFAULT["music_duck_db"]
    ambience_volume_db: float = _DEFAULT["ambience_volume_db"]
    ambience_crossfade: float = _DEFAULT["ambience_crossfade"]
    ambience_loop_crossfade: float = _DEFAULT["ambience_loop_crossfade"]
    ambience_duck_db: float = _DEFAULT["ambience_duck_db"]
    duck_attack: float = _DEFAULT["duck_attack"]
    duck_release: float = _DEFAULT["duck_release"]
    duck_bridge: float = _DEFAULT["duck_bridge"]
    muffle_cutoff_hz: float = _DEFAULT["muffle_cutoff_hz"]
    muffle_gain_db: float = _DEFAULT["muffle_gain_db"]
    phone_band_hz: tuple[float, float] = _DEFAULT["phone_band_hz"]
    phone_drive: float = _DEFAULT["phone_drive"]

    def __post_init__(self):
        # A dramac.toml value that passes these checks cannot crash the mixer or wreck the audio:
        # no NaN/inf, no buffer sized by a runaway duration, no filter beyond the audio band.
        for name, value in check_table("stitch", {f.name: getattr(self, f.name) for f in fields(self)}).items():
            object.__setattr__(self, name, value)



@dataclass(frozen=True)
class PlacedLine:
    line: PlannedLine
    clip_key: str
    start: float  # seconds from the start of the play
    end: float
    take: int = 0  # index of this line's take in takes[clip_key]
    scene: int = 0
    words: tuple[Word, ...] = ()  # the take's spoken words on the timeline, where the backend timed them


@dataclass(frozen=True)
class PlacedSound:
    cue: SoundCue
    start: float
    end: float  # fades included
    gain_db: float = 0.0
    fade_in: float = 0.0
    fade_out: float = 0.0
    offset: float = 0.0  # seconds into the file where playing starts
    loop: bool = False
    duck_db: float = 0.0  # reduction under speech (music and ambience beds)


@dataclass
class Timeline:
    lines: list[PlacedLine]
    sounds: list[PlacedSound]
    duration: float
    sample_rate: int
    title: str = ""
    source: str = ""
    diagnostics: list[Diagnostic] = field(default_factory=list)  # warnings found while placing
    moves: list = field(default_factory=list)  # compiler.stage.PlacedMove: characters moving on the stage
    channels: int = 1  # of the mix made from it (compiler.stage): the manifest says it
    pans: list | None = None  # compiler.stage.LinePan of each line in a stereo mix (the mixer and the manifest)

    @property
    def n_samples(self) -> int:
        return int(round(self.duration * self.sample_rate))


# --------------------------------------------------------------------------------------------------
# Cue options

MAX_CUE_SECONDS = 4 * 3600.0  # longest `duration` a cue may ask for (a looped bed under a long play)


def cue_number(cue: SoundCue, name: str, default: float, *, minimum: float | None = 0.0) -> float:
    # Options come from compiler.directives, which already turned "500ms"/"-6dB" into float
    # seconds/dB and checked their ranges; this only guards the plan contract.
    raw = cue.option(name, None)
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise CompileError(error(f"{cue.kind} option {name}={raw!r} is not a number", cue.span))
    if minimum is not None and raw < minimum:
        raise CompileError(error(f"{cue.kind} option {name}={raw!r} must be >= {minimum:g}", cue.span))
    return float(raw)


def cue_flag(cue: SoundCue, name: str, default: bool) -> bool:
    raw = cue.option(name, None)
    if raw is None:
        return default
    if not isinstance(raw, bool):  # directives convert yes/no/on/off/1/0 to bool
        raise CompileError(error(f"{cue.kind} option {name}={raw!r} must be true or false", cue.span))
    return raw


# --------------------------------------------------------------------------------------------------
# Phase 1: the timeline (numbers only)


@dataclass(frozen=True)
class OpenSound:
    """A sound whose end is known only later (music until the next cue): `end` is filled in by the
    cue that stops it, `natural_end` is where its file (or duration) runs out (None: never)."""

    cue: SoundCue
    start: int
    natural_end: int | None
    gain: float
    fade_in: float
    fade_out: float
    offset: float
    loop: bool
    duck: float


class Placing:
    """The stitcher's state while it walks the plan, in samples; directive plugins
    (compiler/plugins/) place their cues through it."""

    def __init__(self, plan: Plan, sample_rate: int, settings: StitchSettings, sound_lengths: dict[str, float]):
        self.plan, self.sr, self.settings, self.sound_lengths = plan, sample_rate, settings, sound_lengths
        self.diagnostics: list[Diagnostic] = []
        self.lines: list[PlacedLine] = []
        self.sounds: list[PlacedSound | list] = []  # an open sound is held as [OpenSound, end or None]
        self.cursor = self.smp(settings.lead_in)  # end of the last thing that holds the story (line or waited sfx)
        self.last: str | None = None  # "line" | "sfx" | None before anything is placed
        self.last_speaker: str | None = None
        self.last_scene: int | None = None
        self.scene_pending = False
        self.scene_change: int | None = None  # the latest scene change: the middle of its scene gap
        self.pause = 0.0  # seconds of PauseStep since the last placed line/waited sfx
        self.open: dict[str, list[list]] = {}  # open sounds by kind, closed by a later cue or the end
        self.moves: list = []  # compiler.stage.PlacedMove, placed by compiler/plugins/move.py
        self.story_end = self.cursor
        self.rings_until = 0  # where the last room tail ends (compiler/rooms.py): the play does not cut it

    def smp(self, seconds: float) -> int:
        return int(round(seconds * self.sr))

    def sec(self, samples: int) -> float:
        return samples / self.sr

    def base_gap(self, for_line: PlannedLine | None) -> float:
        settings = self.settings
        if self.last is None:
            return 0.0
        if self.scene_pending:
            return settings.scene_gap
        if for_line is not None and self.last == "line":
            return settings.same_speaker_gap if for_line.speaker == self.last_speaker else settings.speaker_change_gap
        return settings.cue_gap

    def hold(self, end: int) -> None:
        """The story lasts at least until `end`."""
        self.story_end = max(self.story_end, end)

    def wait_for(self, end: int, what: str) -> None:
        """The next line waits until `end` (a sound effect with wait=true)."""
        self.cursor, self.last, self.scene_pending, self.pause = end, what, False, 0.0

    def open_sound(self, kind: str, sound: OpenSound) -> None:
        held = [sound, None]
        self.open.setdefault(kind, []).append(held)
        self.sounds.append(held)

    def close(self, kind: str, at: int, fade_override: float | None) -> None:
        """End every open sound of `kind` at `at`, with its own fade-out or `fade_override`."""
        for held in self.open.get(kind, []):
            sound: OpenSound = held[0]
            fade = sound.fade_out if fade_override is None else fade_override
            stop = at + self.smp(fade)
            held[1] = stop if sound.natural_end is None else min(sound.natural_end, stop)
            held[0] = replace(sound, fade_out=fade)
        self.open[kind] = []

    def sound_length(self, cue: SoundCue) -> float:
        length = self.sound_lengths.get(cue.path or "")
        if length is None:
            raise CompileError(error(f"sound file '{cue.path}' was not loaded", cue.span))
        return length

    def finish(self) -> tuple[list[PlacedSound], float]:
        # An open sound holds the play open only as long as it was meant to sound: one stopped by a
        # cue until its fade-out ends, an unstopped one until its file (or duration) ends; an
        # endless loop is cut at the end of the story.
        for s in self.sounds:
            if isinstance(s, list):
                end = s[1] if s[1] is not None else s[0].natural_end
                if end is not None:
                    self.hold(end)
        total = max(self.story_end + self.smp(self.settings.tail), self.rings_until)
        placed: list[PlacedSound] = []
        sec = self.sec
        for s in self.sounds:
            if isinstance(s, PlacedSound):
                placed.append(s)
                continue
            o, end = s[0], s[1]
            end = end if end is not None else (o.natural_end if o.natural_end is not None else total)
            end = min(end, total)
            placed.append(PlacedSound(o.cue, sec(o.start), sec(end), o.gain, o.fade_in, o.fade_out, o.offset, o.loop,
                                      o.duck))
        placed.sort(key=lambda p: p.start)
        return placed, sec(total)


def build_timeline(
    plan: Plan,
    takes: dict[str, list[np.ndarray]],
    sample_rate: int,
    settings: StitchSettings = StitchSettings(),
    sound_lengths: dict[str, float] | None = None,
    words: Mapping[str, list[tuple[Word, ...]]] | None = None,
) -> Timeline:
    """Place every line and cue. Positions are whole samples, so gaps are exact to one sample.

    `sound_lengths` maps each cue path to its length in seconds (see `load_sounds`). Missing takes or
    sound files raise CompileError with a diagnostic at the line or cue that needs them. `words` maps a
    clip key to each take's word times (compiler.words, seconds from the take's start), where the
    backend gave them; they move with their take. Cues are placed by their directive's plugin
    (compiler/plugins/).
    """
    sr = int(sample_rate)
    p = Placing(plan, sr, settings, sound_lengths or {})
    for step in plan.steps:
        if isinstance(step, SceneBreak):
            p.scene_pending = p.last is not None
            p.last_scene = step.scene
            if p.scene_pending:  # pauses written before the break still belong to the scene it ends
                p.scene_change = p.cursor + p.smp(p.pause + settings.scene_gap / 2)
                for plugin in plugins.plugins():
                    plugin.scene_change(p.scene_change, p)
        elif isinstance(step, PauseStep):
            if step.seconds < 0 or not math.isfinite(step.seconds):
                span = step.span or Span.point(plan.source, 1, 1)
                raise CompileError(error(f"pause of {step.seconds} s: a pause must be a number >= 0", span))
            p.pause += step.seconds
        elif isinstance(step, Clip):
            _place_clip(step, takes, p, words or {})
        elif isinstance(step, SoundCue):
            plugin = plugins.by_rule(step.kind)
            known = set(plugin.options) if plugin is not None else set()
            for k in sorted(k for k, _ in step.options if k not in known):
                p.diagnostics.append(warning(f"unknown {step.kind} option '{k}' is ignored", step.span,
                                             f"known options: {', '.join(sorted(known))}"))
            if plugin is None:
                raise CompileError(error(f"unknown sound cue kind '{step.kind}'", step.span))
            plugin.place(step, p.cursor + p.smp(p.base_gap(None) + p.pause), p)
        else:
            raise CompileError(error(f"internal: unknown plan step {type(step).__name__}", Span.point(plan.source, 1, 1)))
    placed, duration = p.finish()
    return Timeline(p.lines, placed, duration, sr, plan.title, plan.source, p.diagnostics, p.moves)


def _place_clip(step: Clip, takes: dict[str, list[np.ndarray]], p: Placing,
                words: Mapping[str, list[tuple[Word, ...]]]) -> None:
    clip_takes = takes.get(step.key)
    if clip_takes is None or len(clip_takes) != len(step.lines):
        got = "no takes" if clip_takes is None else f"{len(clip_takes)} takes"
        span = step.lines[0].span if step.lines else Span.point(p.plan.source, 1, 1)
        raise CompileError(error(f"internal: clip {step.key} has {len(step.lines)} lines but {got}", span))
    if p.last_scene is not None and step.scene != p.last_scene and p.last is not None:
        p.scene_pending = True  # a plan without explicit SceneBreak steps still gets scene gaps
    p.last_scene = step.scene
    for i, (line, take) in enumerate(zip(step.lines, clip_takes)):
        extra = max(0.0, line.pause_before)
        start = p.cursor + p.smp(p.base_gap(line) + p.pause + extra)
        end = start + len(take)
        timed = words.get(step.key) or ()
        said = tuple(w.shifted(p.sec(start)) for w in timed[i]) if i < len(timed) else ()
        p.lines.append(PlacedLine(line, step.key, p.sec(start), p.sec(end), take=i, scene=step.scene, words=said))
        p.cursor, p.last, p.last_speaker = end, "line", line.speaker
        p.scene_pending, p.pause = False, 0.0
        p.hold(end)
        p.rings_until = max(p.rings_until, end + rooms.tail(line.room, p.sr))  # tails never move a line


# --------------------------------------------------------------------------------------------------
# Phase 2: samples (compiler.pieces: the same pieces mix any stretch of the play, see compiler.segments)


def assemble(
    timeline: Timeline,
    takes: dict[str, list[np.ndarray]],
    settings: StitchSettings = StitchSettings(),
    sounds: dict[str, np.ndarray] | None = None,
    recordings: dict | None = None,
    stage: StageSettings | None = None,
    cast_settings: dict | None = None,
) -> np.ndarray:
    """The whole play in one float32 buffer at timeline.sample_rate: mono (n,), or stereo (n, 2) with
    each voice placed on the `stage` (compiler.stage; None: mono). `recordings`: see
    compiler.plugins.take.prepare (the timeline must have been built with their lengths).
    `cast_settings`: the [cast.NAME] tables, for their `pan`."""

    sounds = dict(sounds or {})
    recordings = recordings or {}
    sounds.update({r.source: r.samples for r in recordings.values()})
    for ps in timeline.sounds:
        reads = getattr(plugins.by_rule(ps.cue.kind), "reads_file", True)
        if reads and (ps.cue.path or "") not in sounds:
            raise CompileError(error(f"sound file '{ps.cue.path}' was not loaded", ps.cue.span))
    channels = stage.n_channels if stage is not None else 1
    pans = stage_pans(timeline, stage, fixed_pans(cast_settings or {})) if channels == 2 else None
    pieces = play_pieces(timeline, settings, recordings=recordings, pans=pans)
    return mix(pieces, 0, timeline.n_samples, MappedSources(takes, sounds), settings, timeline.sample_rate,
               channels=channels)
