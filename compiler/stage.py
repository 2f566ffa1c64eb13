"""The stereo stage: how many channels the play has, the rate it is mixed at, and where every voice stands.

- `channels`: "stereo" (the default) or "mono". In stereo the mixer (compiler.pieces.mix) places a
  mono piece at its `pan` with a constant-power law, gL = cos θ, gR = sin θ, θ = (p + 1)·π/4: a
  voice keeps its loudness wherever it stands, and at the centre each channel carries it 3 dB down.
  A stereo piece (m, 2) is added as it is. In mono every piece is summed as today (a stereo piece is
  folded to (L + R) / 2).
- `sample_rate`: the mix rate; 0 keeps the backend's own, so the default costs no resampling. At
  another rate every take is resampled once where it enters the mix (scipy's polyphase filter,
  deterministic), sound files are read at it, and take lengths on the timeline follow it.
- Where a character stands (`line_pans`): `[cast.NAME] pan` when set; otherwise the speakers of a
  scene are spread evenly between -spread and +spread in the order they first speak in it (the two
  of a two-hander at ∓spread, a lone speaker in the centre); the narrator stays centred. A
  voice-over line (compiler.rooms.voice_over: the rule that keeps it dry) is centred whoever speaks
  it, fixed pan or not: it is a voice in the listener's head, not on the stage. Only a scene's other
  lines count in its spread, so a speaker heard only in V.O. takes no place and moves nobody. The
  rule looks only at the scene, so an edit moves no voice outside the scene it is in, and a take's
  pan is part of its piece's identity (only the segments of that scene can change key).
- `[[move: NAME to P over D]]` (compiler/plugins/move.py) moves a character within the scene: its
  pan ramps linearly from where it stood to P over D seconds of its own following speech, and holds
  P until the scene ends; the next scene places it afresh.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from compiler.rooms import voice_over
from compiler.settings_schema import check_table, defaults

if TYPE_CHECKING:
    from compiler.stitch import Timeline

_DEFAULT = defaults("stage")  # the [stage] declarations in compiler/settings_schema.py
NARRATOR = "NARRATOR"  # compiler.cast.NARRATOR (imported lazily there: cast imports the voice stack)


@dataclass(frozen=True)
class StageSettings:
    channels: str = _DEFAULT["channels"]
    sample_rate: int = _DEFAULT["sample_rate"]
    spread: float = _DEFAULT["spread"]

    def __post_init__(self):
        for name, value in check_table("stage", {f.name: getattr(self, f.name) for f in fields(self)}).items():
            object.__setattr__(self, name, value)

    @property
    def n_channels(self) -> int:
        return 2 if self.channels == "stereo" else 1

    def mix_rate(self, backend_rate: int) -> int:
        return self.sample_rate or int(backend_rate)


def pan_gains(pan) -> tuple[np.ndarray, np.ndarray]:
    """Constant-power (left, right) gains of a pan position (a float or an array), as float32."""
    theta = (np.clip(np.asarray(pan, dtype=np.float64), -1.0, 1.0) + 1.0) * (math.pi / 4)
    return np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)


def balance_gains(pan: float) -> tuple[np.float32, np.float32]:
    """(left, right) gains that move a stereo sound towards one side without raising either channel:
    the far channel is turned down, linearly, to silence at ±1."""
    return np.float32(min(1.0, 1.0 - pan)), np.float32(min(1.0, 1.0 + pan))


# --------------------------------------------------------------------------------------------------
# Where each character stands


@dataclass(frozen=True)
class PlacedMove:
    """A move on the timeline (compiler/plugins/move.py places it)."""

    character: str  # as the script's cues spell it (upper case)
    scene: int
    at: float  # seconds: the move applies to the character's lines that start from here
    to: float  # the pan it moves to
    over: float  # seconds of the character's own speech the move takes (0: at once)


@dataclass(frozen=True)
class LinePan:
    """A take's place: `pan` at its start and, while it moves, `path`: breakpoints (sample from the
    take's start, pan), linear between them and flat after the last."""

    pan: float = 0.0
    path: tuple[tuple[int, float], ...] = ()


def cast_pans(cast_settings: dict[str, dict]) -> dict[str, float]:
    """Character (upper case) → the pan its `[cast.NAME]` table sets."""
    return {str(name).upper(): float(entry["pan"]) for name, entry in cast_settings.items()
            if isinstance(entry, dict) and entry.get("pan") is not None}


def fixed_pans(cast_settings: dict[str, dict], narrator_settings: dict | None = None) -> dict[str, float]:
    """Character (upper case) → the pan `[cast.NAME] pan` sets (`[narrator] pan` for the narrator)."""
    fixed = cast_pans(cast_settings)
    if (narrator_settings or {}).get("pan") is not None:
        fixed[NARRATOR] = float(narrator_settings["pan"])
    return fixed


def stage_pans(timeline: Timeline, stage: StageSettings, fixed: dict[str, float]) -> list[LinePan]:
    """Every line's place: its character's fixed pan (fixed_pans), else the scene's spread, and the
    moves on the timeline."""
    return line_pans(timeline, stage.spread, fixed, timeline.moves)


def scene_positions(speakers: list[str], spread: float, fixed: dict[str, float]) -> dict[str, float]:
    """Each speaker's pan in one scene: its fixed pan, else evenly spread in order of first line."""
    free = [s for s in dict.fromkeys(speakers) if s.upper() not in fixed and s.upper() != NARRATOR]
    placed = {s: (0.0 if len(free) == 1 else -spread + 2 * spread * i / (len(free) - 1)) for i, s in enumerate(free)}
    for s in speakers:
        if s.upper() in fixed:
            placed[s] = fixed[s.upper()]
        elif s.upper() == NARRATOR:
            placed[s] = 0.0
    return placed


def line_pans(timeline: Timeline, spread: float, fixed: dict[str, float],
              moves: list[PlacedMove] | tuple = ()) -> list[LinePan]:
    """The place of every line of the timeline (parallel to timeline.lines)."""
    sr = timeline.sample_rate
    by_scene: dict[int, list[int]] = {}
    for i, pl in enumerate(timeline.lines):
        by_scene.setdefault(pl.scene, []).append(i)
    out: list[LinePan] = [LinePan()] * len(timeline.lines)
    for scene, indices in by_scene.items():
        # V.O. lines keep LinePan(): centred, and out of the spread and the moves (module doc).
        staged = [i for i in indices if not voice_over(timeline.lines[i].line.extension)]
        lines = [timeline.lines[i] for i in staged]
        where = scene_positions([pl.line.speaker for pl in lines], spread, fixed)
        scene_moves = sorted((m for m in moves if m.scene == scene), key=lambda m: m.at)
        for speaker in dict.fromkeys(pl.line.speaker for pl in lines):
            own = [i for i in staged if timeline.lines[i].line.speaker == speaker]
            mine = [m for m in scene_moves if m.character.upper() == speaker.upper()]
            for i, pan in zip(own, _walk(timeline, own, where[speaker], mine, sr)):
                out[i] = pan
    return out


def _walk(timeline: Timeline, own: list[int], start: float, moves: list[PlacedMove], sr: int) -> list[LinePan]:
    """One character's lines in one scene, in order, with the moves made among them."""
    pans, pending = [], list(moves)
    pan, target, rate, left = start, start, 0.0, 0.0  # rate: pan per second of speech; left: seconds to go
    for i in own:
        pl = timeline.lines[i]
        while pending and pending[0].at <= pl.start:
            move = pending.pop(0)
            target, left = move.to, move.over
            if move.over <= 0:
                pan, left = move.to, 0.0
            rate = (target - pan) / move.over if move.over > 0 else 0.0
        length = int(round(pl.end * sr)) - int(round(pl.start * sr))
        if left <= 0 or pan == target:
            pans.append(LinePan(round(pan, 6)))
            continue
        ramp = min(left, length / sr)
        end_pan = target if ramp >= left else pan + rate * ramp
        pans.append(LinePan(round(pan, 6), ((0, round(pan, 6)), (int(round(ramp * sr)), round(end_pan, 6)))))
        pan, left = end_pan, left - ramp
    return pans


def pan_at(line_pan: LinePan, a: int, b: int) -> float | np.ndarray:
    """The pan of positions a..b-1 of a take: one float, or one per sample while it moves."""
    if not line_pan.path:
        return line_pan.pan
    at = [p for p, _ in line_pan.path]
    values = [v for _, v in line_pan.path]
    return np.interp(np.arange(a, b), at, values)


# --------------------------------------------------------------------------------------------------
# Takes at the mix rate


class ResampledTakes:
    """The backend's takes (compiler.render.Takes) at the mix rate: a clip's takes are resampled
    (compiler.sounds.resample: scipy's polyphase filter, the same samples on every run) when the mix
    first reads them. The last few clips are kept, since neighbouring windows read the same takes;
    an hour of takes is never held at the higher rate. A take keeps its digest: the mix rate is in
    every segment's key (compiler.build)."""

    KEPT = 32  # clips

    def __init__(self, takes, from_rate: int, to_rate: int):
        self._takes, self.from_rate, self.to_rate = takes, int(from_rate), int(to_rate)
        self.words = takes.words
        self._kept: OrderedDict[str, list[np.ndarray]] = OrderedDict()

    def __getitem__(self, key: str) -> list[np.ndarray]:
        from compiler.sounds import resample

        found = self._kept.get(key)
        if found is None:
            found = [resample(t, self.from_rate, self.to_rate) for t in self._takes[key]]
            self._kept[key] = found
            if len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(key)
        return found

    def digest(self, key: str, index: int) -> str:
        return self._takes.digest(key, index)

    def stand_ins(self, lengths: dict[str, list[np.ndarray]]) -> dict[str, list[np.ndarray]]:
        """Zero-copy arrays of each take's length at the mix rate, from its length at the backend's."""
        from compiler.sounds import resampled_length

        return {key: [np.broadcast_to(np.float32(0), (resampled_length(len(t), self.from_rate, self.to_rate),))
                      for t in takes] for key, takes in lengths.items()}
