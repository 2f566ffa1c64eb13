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
  written before the cue delay it. An `sfx` with wait=true (the default) holds the story: the next
  line starts `cue_gap` after the effect ends. An sfx with wait=false, `music` and `music_stop` do
  not move the lines at all.
- `music` plays from its point until the next `music` or `music_stop` cue (its fade-out starts
  there), the end of its file (loop=false), or the end of the play (fade-out ends there).

Cue options: volume (dB), fade_in, fade_out, start (seconds into the file to begin at), duration
(seconds to play at most; for looped music, how long to loop), wait (sfx), loop and duck (music;
duck is the reduction in dB under speech, either sign accepted, 0 disables).

Room tone: every silence between consecutive lines (and the lead-in and tail) that is longer than
`room_tone_min_gap` seconds is filled with deterministic pink noise at `room_tone_db` dBFS RMS. The
tone overlaps the neighbouring takes by `fade_ms` and is ramped over twice that, so it crossfades
with the take's own fade and there is no step where tone meets speech. Shorter gaps stay digital
silence between two fades: a breath-length hole in a -62 dB floor cannot be heard, and it keeps
a fast exchange of lines free of noise pumping.

Settings are checked when built (`StitchSettings.__post_init__`, ranges in `_BOUNDS`): every
number finite; gaps, fades, lead-in and tail 0..60 s; fade_ms 0..1000; room_tone_db -120..-20
dBFS; volumes -60..+24 dB; music_duck_db 0..60 dB; muffle_cutoff_hz and both ends of
phone_band_hz 20..20000 Hz with low < high; phone_drive 0.01..20; room_tone_seed a whole number
>= 0. A cue's `duration` may not exceed MAX_CUE_SECONDS (4 h).

Line effects by `PlannedLine.extension` are applied per take before placement (see compiler.effects);
sound files are read and music is laid into the mix by compiler.sounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from compiler.diagnostics import CompileError, Diagnostic, Span, error, warning
from compiler.effects import apply_effect, line_effect
from compiler.plan_types import Clip, PauseStep, Plan, PlannedLine, SceneBreak, SoundCue
from compiler.sounds import lay_music, load_sounds, looped
from compiler.words import Word

# apply_effect, line_effect and load_sounds live in compiler.effects / compiler.sounds; they are
# re-exported because build.py and the tests import them from here.
__all__ = [
    "PlacedLine", "PlacedSound", "StitchSettings", "Timeline",
    "apply_effect", "assemble", "build_timeline", "line_effect", "load_sounds", "room_tone_loop",
]

# --------------------------------------------------------------------------------------------------
# Settings and timeline values


@dataclass(frozen=True)
class StitchSettings:
    same_speaker_gap: float = 0.25  # s between two lines of one speaker
    speaker_change_gap: float = 0.45  # s when the speaker changes
    scene_gap: float = 1.6  # s across a scene break
    cue_gap: float = 0.3  # s between a line and a sound cue (and after a waited sfx)
    lead_in: float = 0.5  # s of room tone before the first sound
    tail: float = 1.5  # s after the last line or effect
    fade_ms: float = 8.0  # fade at both ends of every take and effect, against clicks
    room_tone: bool = True
    room_tone_db: float = -62.0  # dBFS RMS of the room tone
    room_tone_min_gap: float = 0.3  # s; a silence strictly longer than this gets room tone
    room_tone_seed: int = 1907
    sfx_volume_db: float = 0.0
    music_volume_db: float = -8.0
    music_fade_in: float = 1.0
    music_fade_out: float = 2.0
    music_duck_db: float = 12.0  # reduction under speech, dB
    duck_attack: float = 0.25  # s the music takes to duck before a line starts
    duck_release: float = 0.6  # s it takes to come back after a line ends
    duck_bridge: float = 1.2  # s; speech gaps shorter than this stay ducked (no pumping)
    muffle_cutoff_hz: float = 2500.0
    muffle_gain_db: float = -4.0
    phone_band_hz: tuple[float, float] = (300.0, 3400.0)
    phone_drive: float = 2.5  # tanh saturation drive of the phone/radio effect

    def __post_init__(self):
        # A dramac.toml value that passes these checks cannot crash the mixer or wreck the audio:
        # no NaN/inf, no buffer sized by a runaway duration, no filter beyond the audio band.
        for name, (low, high, unit) in _BOUNDS.items():
            _check_number(name, getattr(self, name), low, high, unit)
        if not isinstance(self.room_tone, bool):
            raise ValueError(f"[stitch] room_tone must be true or false, got {self.room_tone!r}")
        seed = self.room_tone_seed
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"[stitch] room_tone_seed must be a whole number >= 0, got {seed!r}")
        band = self.phone_band_hz
        if not isinstance(band, (tuple, list)) or len(band) != 2:
            raise ValueError(f"[stitch] phone_band_hz must be two frequencies [low, high] in Hz, got {band!r}")
        lo = _check_number("phone_band_hz low", band[0], *_AUDIO_BAND)
        hi = _check_number("phone_band_hz high", band[1], *_AUDIO_BAND)
        if lo >= hi:
            raise ValueError(f"[stitch] phone_band_hz must be [low, high] with low < high, got {list(band)!r}")
        object.__setattr__(self, "phone_band_hz", (lo, hi))


# Allowed ranges of the numeric StitchSettings fields, inclusive (low, high, unit); docs/build.md
# lists them. Every duration is capped at a minute: longer gaps or fades are typos, and lead_in or
# tail size the play's buffer directly.
_SECONDS = (0.0, 60.0, "s")
_LEVEL_DB = (-60.0, 24.0, "dB")
_AUDIO_BAND = (20.0, 20000.0, "Hz")
_BOUNDS: dict[str, tuple[float, float, str]] = {
    **dict.fromkeys(("same_speaker_gap", "speaker_change_gap", "scene_gap", "cue_gap", "lead_in", "tail",
                     "room_tone_min_gap", "music_fade_in", "music_fade_out", "duck_attack", "duck_release",
                     "duck_bridge"), _SECONDS),
    "fade_ms": (0.0, 1000.0, "ms"),
    "room_tone_db": (-120.0, -20.0, "dBFS"),
    "sfx_volume_db": _LEVEL_DB,
    "music_volume_db": _LEVEL_DB,
    "muffle_gain_db": _LEVEL_DB,
    "music_duck_db": (0.0, 60.0, "dB"),
    "muffle_cutoff_hz": _AUDIO_BAND,
    # tanh(drive * x) / tanh(drive): 0 divides zero by zero; past 20 the line is a square wave.
    "phone_drive": (0.01, 20.0, ""),
}


def _check_number(name: str, value: object, low: float, high: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ValueError(f"[stitch] {name} must be a number from {low:g} to {high:g}{' ' + unit if unit else ''}, "
                         f"got {value!r}")
    return float(value)


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
    duck_db: float = 0.0  # reduction under speech (music only)


@dataclass
class Timeline:
    lines: list[PlacedLine]
    sounds: list[PlacedSound]
    duration: float
    sample_rate: int
    title: str = ""
    source: str = ""
    diagnostics: list[Diagnostic] = field(default_factory=list)  # warnings found while placing

    @property
    def n_samples(self) -> int:
        return int(round(self.duration * self.sample_rate))


# --------------------------------------------------------------------------------------------------
# Cue options

MAX_CUE_SECONDS = 4 * 3600.0  # longest `duration` a cue may ask for (a looped bed under a long play)

_KNOWN = {
    "sfx": {"volume", "fade_in", "fade_out", "start", "duration", "wait"},
    "music": {"volume", "fade_in", "fade_out", "start", "duration", "loop", "duck"},
    "music_stop": {"fade_out"},
}


def _number(cue: SoundCue, name: str, default: float, *, minimum: float | None = 0.0) -> float:
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


def _flag(cue: SoundCue, name: str, default: bool) -> bool:
    raw = cue.option(name, None)
    if raw is None:
        return default
    if not isinstance(raw, bool):  # directives convert yes/no/on/off/1/0 to bool
        raise CompileError(error(f"{cue.kind} option {name}={raw!r} must be true or false", cue.span))
    return raw


# --------------------------------------------------------------------------------------------------
# Phase 1: the timeline (numbers only)


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
    backend gave them; they move with their take.
    """
    sr = int(sample_rate)
    sound_lengths = sound_lengths or {}
    diags: list[Diagnostic] = []
    sec = lambda samples: samples / sr  # noqa: E731
    smp = lambda seconds: int(round(seconds * sr))  # noqa: E731

    lines: list[PlacedLine] = []
    sounds: list[PlacedSound] = []
    cursor = smp(settings.lead_in)  # end of the last thing that holds the story (line or waited sfx)
    last: str | None = None  # "line" | "sfx" | None before anything is placed
    last_speaker: str | None = None
    last_scene: int | None = None
    scene_pending = False
    pause = 0.0  # seconds of PauseStep since the last placed line/waited sfx
    music: list[dict] = []  # open music cues, closed by the next music/music_stop or the end
    story_end = cursor

    def base_gap(for_line: PlannedLine | None) -> float:
        if last is None:
            return 0.0
        if scene_pending:
            return settings.scene_gap
        if for_line is not None and last == "line":
            return settings.same_speaker_gap if for_line.speaker == last_speaker else settings.speaker_change_gap
        return settings.cue_gap

    def close_music(at: int, fade_override: float | None) -> None:
        for m in music:
            fade = m["fade_out"] if fade_override is None else fade_override
            stop = at + smp(fade)
            m["end"] = stop if m["natural_end"] is None else min(m["natural_end"], stop)
            m["fade_out"] = fade
        music.clear()

    for step in plan.steps:
        if isinstance(step, SceneBreak):
            scene_pending = last is not None
            last_scene = step.scene
        elif isinstance(step, PauseStep):
            if step.seconds < 0 or not math.isfinite(step.seconds):
                span = step.span or Span.point(plan.source, 1, 1)
                raise CompileError(error(f"pause of {step.seconds} s: a pause must be a number >= 0", span))
            pause += step.seconds
        elif isinstance(step, Clip):
            clip_takes = takes.get(step.key)
            if clip_takes is None or len(clip_takes) != len(step.lines):
                got = "no takes" if clip_takes is None else f"{len(clip_takes)} takes"
                span = step.lines[0].span if step.lines else Span.point(plan.source, 1, 1)
                raise CompileError(error(f"internal: clip {step.key} has {len(step.lines)} lines but {got}", span))
            if last_scene is not None and step.scene != last_scene and last is not None:
                scene_pending = True  # a plan without explicit SceneBreak steps still gets scene gaps
            last_scene = step.scene
            for i, (line, take) in enumerate(zip(step.lines, clip_takes)):
                extra = max(0.0, line.pause_before)
                start = cursor + smp(base_gap(line) + pause + extra)
                end = start + len(take)
                timed = (words or {}).get(step.key) or ()
                said = tuple(w.shifted(sec(start)) for w in timed[i]) if i < len(timed) else ()
                lines.append(PlacedLine(line, step.key, sec(start), sec(end), take=i, scene=step.scene, words=said))
                cursor, last, last_speaker = end, "line", line.speaker
                scene_pending, pause = False, 0.0
                story_end = max(story_end, end)
        elif isinstance(step, SoundCue):
            unknown = sorted(k for k, _ in step.options if k not in _KNOWN.get(step.kind, set()))
            for k in unknown:
                diags.append(warning(f"unknown {step.kind} option '{k}' is ignored",
                                     step.span, f"known options: {', '.join(sorted(_KNOWN.get(step.kind, ())))}"))
            at = cursor + smp(base_gap(None) + pause)
            if step.kind == "music_stop":
                if not music:
                    diags.append(warning("music_stop but no music is playing here", step.span))
                fade = _number(step, "fade_out", -1.0, minimum=None)
                close_music(at, fade if fade >= 0 else None)
                continue
            if step.kind not in ("sfx", "music"):
                raise CompileError(error(f"unknown sound cue kind '{step.kind}'", step.span))
            length = sound_lengths.get(step.path or "")
            if length is None:
                raise CompileError(error(f"sound file '{step.path}' was not loaded", step.span))
            offset = _number(step, "start", 0.0)
            if offset >= length:
                raise CompileError(error(
                    f"{step.kind} option start={offset:g} s is past the end of the file ({length:.2f} s)", step.span))
            is_music = step.kind == "music"
            gain = _number(step, "volume", settings.music_volume_db if is_music else settings.sfx_volume_db, minimum=None)
            fade_in = _number(step, "fade_in", settings.music_fade_in if is_music else settings.fade_ms / 1000)
            fade_out = _number(step, "fade_out", settings.music_fade_out if is_music else settings.fade_ms / 1000)
            duration = _number(step, "duration", -1.0, minimum=None)
            if duration == 0 or (duration < 0 and step.option("duration") is not None):
                raise CompileError(error(f"{step.kind} option duration must be > 0", step.span))
            if duration > MAX_CUE_SECONDS:  # a looped piece this long would size a buffer past any memory
                raise CompileError(error(f"{step.kind} option duration={duration:g} s is longer than the "
                                         f"{MAX_CUE_SECONDS / 3600:g}-hour maximum", step.span))
            if is_music:
                loop = _flag(step, "loop", False)
                duck = abs(_number(step, "duck", settings.music_duck_db, minimum=None))
                close_music(at, None)  # a new piece replaces the one playing
                if duration > 0:
                    natural = at + smp(duration if loop else min(duration, length - offset))
                else:
                    natural = at + smp(length - offset) if not loop else None
                music.append(dict(cue=step, start=at, natural_end=natural, end=None, gain=gain,
                                  fade_in=fade_in, fade_out=fade_out, offset=offset, loop=loop, duck=duck))
                sounds.append(music[-1])  # type: ignore[arg-type]  # replaced by PlacedSound below
            else:
                play = length - offset if duration < 0 else min(duration, length - offset)
                end = at + smp(play)
                sounds.append(PlacedSound(step, sec(at), sec(end), gain, fade_in, fade_out, offset))
                story_end = max(story_end, end)
                if _flag(step, "wait", True):
                    cursor, last, scene_pending, pause = end, "sfx", False, 0.0
        else:
            raise CompileError(error(f"internal: unknown plan step {type(step).__name__}", Span.point(plan.source, 1, 1)))

    # Music holds the play open only as long as it was meant to sound: a piece stopped by a cue
    # until its fade-out ends, an unstopped one until its file (or duration) ends; an endless loop
    # is cut at the end of the story.
    for m in sounds:
        if isinstance(m, dict):
            end = m["end"] if m["end"] is not None else m["natural_end"]
            if end is not None:
                story_end = max(story_end, end)
    total = story_end + smp(settings.tail)
    placed: list[PlacedSound] = []
    for s in sounds:
        if isinstance(s, PlacedSound):
            placed.append(s)
            continue
        end = s["end"] if s["end"] is not None else (s["natural_end"] if s["natural_end"] is not None else total)
        end = min(end, total)
        placed.append(PlacedSound(s["cue"], sec(s["start"]), sec(end), s["gain"], s["fade_in"], s["fade_out"],
                                  s["offset"], s["loop"], s["duck"]))
    placed.sort(key=lambda p: p.start)
    return Timeline(lines, placed, sec(total), sr, plan.title, plan.source, diags)


# --------------------------------------------------------------------------------------------------
# Phase 2: samples

_TONE_LOOP = 1 << 18  # samples of the periodic room-tone loop (~12 s at 22.05 kHz)


def room_tone_loop(sample_rate: int, settings: StitchSettings) -> np.ndarray:
    """A seamless loop of pink-ish noise at room_tone_db RMS, the same on every build.

    Shaped in the frequency domain (1/sqrt(f), rolled off below 40 Hz) so the inverse FFT is
    periodic: the loop can be tiled without a seam.
    """
    rng = np.random.default_rng(settings.room_tone_seed)
    n = _TONE_LOOP
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    spectrum = rng.normal(size=len(freqs)) + 1j * rng.normal(size=len(freqs))
    shape = 1 / np.sqrt(np.maximum(freqs, 40.0))
    shape[freqs < 20] = 0
    tone = np.fft.irfft(spectrum * shape, n)
    tone *= 10 ** (settings.room_tone_db / 20) / np.sqrt(np.mean(tone**2))
    return tone.astype(np.float32)


def _ramp(n: int) -> np.ndarray:
    """Raised-cosine 0 -> 1 over n samples."""
    if n <= 0:
        return np.ones(0, np.float32)
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)


def _fade(x: np.ndarray, n_in: int, n_out: int) -> np.ndarray:
    x = np.array(x, dtype=np.float32, copy=True)
    n_in, n_out = min(n_in, len(x) // 2), min(n_out, len(x) // 2)
    if n_in:
        x[:n_in] *= _ramp(n_in)
    if n_out:
        x[len(x) - n_out:] *= _ramp(n_out)[::-1]
    return x


def _add(buf: np.ndarray, start: int, x: np.ndarray) -> None:
    a, b = max(start, 0), min(start + len(x), len(buf))
    if b > a:
        buf[a:b] += x[a - start: b - start]


def assemble(
    timeline: Timeline,
    takes: dict[str, list[np.ndarray]],
    settings: StitchSettings = StitchSettings(),
    sounds: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Write the play into one preallocated float32 buffer (mono, timeline.sample_rate)."""
    sr = timeline.sample_rate
    sounds = sounds or {}
    buf = np.zeros(timeline.n_samples, dtype=np.float32)
    fade = max(1, int(round(settings.fade_ms / 1000 * sr)))
    idx = lambda seconds: int(round(seconds * sr))  # noqa: E731

    if settings.room_tone:
        _lay_room_tone(buf, timeline, settings, fade)
    for pl in timeline.lines:
        take = takes[pl.clip_key][pl.take]
        take = apply_effect(np.asarray(take, dtype=np.float32), line_effect(pl.line.extension), sr, settings)
        _add(buf, idx(pl.start), _fade(take, fade, fade))
    for ps in timeline.sounds:
        src = sounds.get(ps.cue.path or "")
        if src is None:
            raise CompileError(error(f"sound file '{ps.cue.path}' was not loaded", ps.cue.span))
        if ps.cue.kind == "music":
            lay_music(buf, ps, src, timeline, settings)
        else:
            n = idx(ps.end) - idx(ps.start)
            piece = src[idx(ps.offset): idx(ps.offset) + n] * np.float32(10 ** (ps.gain_db / 20))
            _add(buf, idx(ps.start), _fade(piece, max(fade, idx(ps.fade_in)), max(fade, idx(ps.fade_out))))
    return buf


def _lay_room_tone(buf: np.ndarray, timeline: Timeline, settings: StitchSettings, fade: int) -> None:
    sr = timeline.sample_rate
    loop = room_tone_loop(sr, settings)
    edges = [0] + [x for pl in timeline.lines for x in (int(round(pl.start * sr)), int(round(pl.end * sr)))] + [len(buf)]
    min_gap = settings.room_tone_min_gap * sr
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a <= min_gap:
            continue
        # Overlap the takes by `fade` on either side and ramp over 2*fade: the tone fades in while
        # the previous take fades out, and out while the next take fades in.
        lo, hi = max(0, a - fade), min(len(buf), b + fade)
        piece = looped(loop, lo, hi - lo)
        ramp_in = 0 if lo == 0 else 2 * fade
        ramp_out = 0 if hi == len(buf) else 2 * fade
        _add(buf, lo, _fade(piece, ramp_in, ramp_out))
