"""`[[sfx: PATH options]]`: a sound file played once at this point of the script.

Planned as a SoundCue; placed at the cursor (the next line waits for it unless `wait=false`); mixed
as an SfxPiece: the file from `start`, at `volume`, with its fades.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compiler.nodes import Node
from compiler.plugins import BOOL, FADE, LENGTH, LEVEL, PAN, START, FileDirective


@dataclass
class Sfx(Node):
    """A one-shot sound effect placed at this point of the script."""

    path: str  # as written, relative to the project root
    resolved: str  # absolute path inside the project
    options: dict[str, float | str | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class SfxPiece:
    start: int
    length: int
    path: str
    sound: str  # the file's identity (digest of its samples)
    offset: int  # samples into the file where playing starts
    gain_db: float
    n_in: int
    n_out: int
    pan: float = 0.0  # a mono file is placed here; a stereo one is balanced towards it (compiler.stage)
    kind = "sfx"

    def identity(self, a: int, b: int) -> str:
        return f"sfx {self.sound} {self.offset} {self.length} {self.gain_db!r} {self.n_in} {self.n_out} {self.pan!r}"

    def samples(self, a: int, b: int, sources, loop, settings, sample_rate: int) -> np.ndarray:
        from compiler.pieces import fade_gain, scaled

        src = sources.sound(self.path)
        piece = np.zeros((b - a,) + src.shape[1:], np.float32)
        part = src[self.offset + a: self.offset + b]
        piece[: len(part)] = part
        gain = np.float32(10 ** (self.gain_db / 20)) * fade_gain(a, b, self.length, self.n_in, self.n_out)
        return balanced(scaled(piece, gain), self.pan)


class SfxPlugin(FileDirective):
    rule = keyword = label = "sfx"
    grammar = 'sfx: "sfx" _COLON? path option*'
    example = "[[sfx: sounds/door.wav]]"
    # Defaults are not filled in here: the mixer's settings (compiler/stitch.py) own them, and a
    # project may change them, so a node's `options` holds exactly what the writer wrote.
    options = {"volume": LEVEL, "fade_in": FADE, "fade_out": FADE, "start": START, "duration": LENGTH, "wait": BOOL,
               "pan": PAN}
    node = Sfx
    reads_file = True
    order = 2

    def describe(self, node) -> str:
        return f"sound: {node.path}"

    def place(self, cue, at: int, placing) -> None:
        from compiler.stitch import PlacedSound, cue_flag

        settings = placing.settings
        fade = settings.fade_ms / 1000
        length, offset, gain, fade_in, fade_out, duration = file_cue_levels(cue, placing, settings.sfx_volume_db,
                                                                            fade, fade)
        play = length - offset if duration < 0 else min(duration, length - offset)
        end = at + placing.smp(play)
        placing.sounds.append(PlacedSound(cue, placing.sec(at), placing.sec(end), gain, fade_in, fade_out, offset))
        placing.hold(end)
        if cue_flag(cue, "wait", True):
            placing.wait_for(end, "sfx")

    def piece(self, placed, start: int, end: int, sound: str, idx, fade: int, timeline, settings) -> SfxPiece:
        return SfxPiece(start, end - start, placed.cue.path or "", sound, idx(placed.offset), placed.gain_db,
                        max(fade, idx(placed.fade_in)), max(fade, idx(placed.fade_out)), cue_pan(placed.cue))


def cue_pan(cue) -> float:
    """A file cue's `pan=` option (0, the centre, when not given)."""
    from compiler.stitch import cue_number

    return cue_number(cue, "pan", 0.0, minimum=-1.0)


def balanced(samples: np.ndarray, pan: float) -> np.ndarray:
    """A stereo sound moved towards `pan` (compiler.stage.balance_gains); a mono one is left to the
    mixer, which places it at the piece's pan."""
    if samples.ndim == 1 or pan == 0:
        return samples
    from compiler.stage import balance_gains

    return samples * np.array(balance_gains(pan), np.float32)


def file_cue_levels(cue, placing, volume: float, fade_in: float, fade_out: float):
    """(file length, start, volume, fade-in, fade-out, duration or -1) of a file cue, in seconds and
    dB, each option or the default given; a start past the file's end is an error at the cue."""
    from compiler.diagnostics import CompileError, error
    from compiler.stitch import MAX_CUE_SECONDS, cue_number

    length = placing.sound_length(cue)
    offset = cue_number(cue, "start", 0.0)
    if offset >= length:
        raise CompileError(error(
            f"{cue.kind} option start={offset:g} s is past the end of the file ({length:.2f} s)", cue.span))
    return (length, offset, cue_number(cue, "volume", volume, minimum=None), cue_number(cue, "fade_in", fade_in),
            cue_number(cue, "fade_out", fade_out), checked_duration(cue, MAX_CUE_SECONDS))


def checked_duration(cue, longest: float) -> float:
    """The cue's `duration` option in seconds, -1 when not given."""
    from compiler.diagnostics import CompileError, error
    from compiler.stitch import cue_number

    duration = cue_number(cue, "duration", -1.0, minimum=None)
    if duration == 0 or (duration < 0 and cue.option("duration") is not None):
        raise CompileError(error(f"{cue.kind} option duration must be > 0", cue.span))
    if duration > longest:  # a looped piece this long would size a buffer past any memory
        raise CompileError(error(f"{cue.kind} option duration={duration:g} s is longer than the "
                                 f"{longest / 3600:g}-hour maximum", cue.span))
    return duration


PLUGIN = SfxPlugin()
