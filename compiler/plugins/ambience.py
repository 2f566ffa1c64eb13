"""`[[ambience: PATH options]]` and `[[ambience stop]]`: an ambience bed (rain, a café, wind) under a
scene.

A bed plays from its directive to the end of its scene, until `[[ambience stop]]`, or until another
ambience directive replaces it, looped for as long as it plays: the file's end crossfades into its
start (`ambience_loop_crossfade`, equal power), so the seam has neither a click nor a dip.

- A bed written before the play's first line starts with the play (it fills the lead-in).
- A bed written at the top of a scene (before its first line or waited sfx) opens that scene: it
  fades in over `ambience_crossfade`, centred on the scene change (the middle of the scene gap),
  while the bed of the scene before fades out over the same samples: the two crossfade in the gap.
  A scene with no bed of its own lets the last one fade out there.
- A bed written later in a scene starts at its point, fading in over `fade_in` while the bed it
  replaces fades out over the same length.
- `[[ambience stop]]` and the end of the play fade it out over `fade_out`.

It ducks under speech by `ambience_duck_db` (or `duck=`), with music's envelope and timings
(compiler/plugins/beds.py). Its piece is rendered in blocks from the position inside the piece,
so a stretch mixed alone is the same samples as the whole mix (compiler/pieces.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compiler.nodes import Node
from compiler.plugins import FileDirective, StopDirective
from compiler.plugins.beds import BED_OPTIONS, per_sample, piece_envelope, shaped_bed, stretch_identity

KIND = "ambience"
_MIN_PERIOD = 1 << 16  # a loop shorter than this is tiled up to it, so looping never steps sample by sample


@dataclass
class Ambience(Node):
    """An ambience bed that starts here and plays under its scene."""

    path: str
    resolved: str
    options: dict[str, float | str | bool] = field(default_factory=dict)


@dataclass
class AmbienceStop(Node):
    options: dict[str, float | str | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class AmbiencePiece:
    start: int
    length: int
    path: str
    sound: str  # the file's identity (digest of its samples)
    offset: int  # where in the loop the bed begins (the `start` option)
    seam: int  # samples over which the file's end crossfades into its start (at most half the file)
    gain_db: float
    n_in: int
    n_out: int
    duck_at: tuple[int, ...] = ()  # breakpoints of the ducking envelope, in samples from the piece start
    duck_db: tuple[float, ...] = ()
    pan: float = 0.0  # as an sfx's (compiler/plugins/sfx.py): a mono bed's place, a stereo bed's balance
    kind = KIND

    def identity(self, a: int, b: int) -> str:
        # Only what reaches positions a..b-1 (compiler.plugins.beds.stretch_identity); the loop's
        # phase at a follows from `a` and the offset.
        return (f"ambience {self.sound} {self.offset} {self.seam} {self.gain_db!r} {a} "
                f"{stretch_identity(self.length, self.n_in, self.n_out, self.duck_at, self.duck_db, a, b)} {self.pan!r}")

    def samples(self, a: int, b: int, sources, loop, settings, sample_rate: int) -> np.ndarray:
        src = np.asarray(sources.sound(self.path), np.float32)
        # Equal-power fades: a bed crossfades with another bed, two unrelated noises.
        from compiler.plugins.sfx import balanced

        return balanced(shaped_bed(self, a, b, lambda b0, b1: seamless_looped(src, self.seam, self.offset + b0, b1 - b0),
                                   equal_power=True), self.pan)


def seamless_looped(src: np.ndarray, seam: int, start: int, n: int) -> np.ndarray:
    """n samples of `src` looped, from position `start` of the loop, with the file's last `seam`
    samples (at most half of it) crossfaded, equal power, into its first ones: one period of the
    loop is the file without its last `seam` samples, whose first `seam` samples are that crossfade.
    Repeated, a period runs on from its end into its start as the file runs on, so there is no
    step at the seam. Only the stretch asked for is computed (a bed's file may be minutes long);
    a short period is first tiled, so looping never steps through a file a few samples at a time.
    Mono (m,) or channels (m, c)."""
    from compiler.sounds import looped

    seam = max(0, min(seam, len(src) // 2))
    period = len(src) - seam
    if period < _MIN_PERIOD:
        one = _crossfaded(src, seam, 0, seam, np.array(src[:period]))
        return looped(np.tile(one, (-(-_MIN_PERIOD // period), *([1] * (src.ndim - 1)))), start, n)
    out = np.empty((n, *src.shape[1:]), np.float32)
    pos, i = start % period, 0
    while i < n:
        k = min(n - i, period - pos)
        out[i: i + k] = src[pos: pos + k]
        _crossfaded(src, seam, pos, min(pos + k, seam), out[i: i + k])
        i, pos = i + k, 0
    return out


def _crossfaded(src: np.ndarray, seam: int, lo: int, hi: int, into: np.ndarray) -> np.ndarray:
    """Write loop positions lo..hi-1 that fall in the crossfade (below `seam`) into `into`, whose
    first sample is position lo."""
    if hi > lo:
        angle = (np.arange(lo, hi) + 0.5) * (0.5 * np.pi / seam)
        head, tail = src[lo: hi], src[len(src) - seam + lo: len(src) - seam + hi]
        into[: hi - lo] = head * per_sample(np.sin(angle), head) + tail * per_sample(np.cos(angle), tail)
    return into


class AmbiencePlugin(FileDirective):
    rule = keyword = label = KIND
    grammar = 'ambience: "ambience" _COLON? path option*'
    example = "[[ambience: sounds/rain.wav]]"
    options = BED_OPTIONS
    node = Ambience
    reads_file = True
    order = 4

    def place(self, cue, at: int, placing) -> None:
        from compiler.plugins.sfx import file_cue_levels
        from compiler.stitch import OpenSound, cue_number

        settings = placing.settings
        crossfade = settings.ambience_crossfade
        _, offset, gain, fade_in, fade_out, _ = file_cue_levels(cue, placing, settings.ambience_volume_db,
                                                                crossfade, crossfade)
        duck = abs(cue_number(cue, "duck", settings.ambience_duck_db, minimum=None))
        if placing.last is None:  # nothing heard yet: the bed starts with the play
            start = 0
            placing.close(KIND, start, 0.0)
        elif placing.scene_pending and placing.scene_change is not None:  # it opens its scene
            start, fade_in = max(0, placing.scene_change - placing.smp(crossfade) // 2), crossfade
            placing.close(KIND, start, 0.0)  # a bed opened in the same gap is replaced before it sounds
        else:  # within a scene: the bed playing fades out while this one fades in
            start = at
            placing.close(KIND, at, fade_in)
        placing.open_sound(KIND, OpenSound(cue, start, None, gain, fade_in, fade_out, offset, True, duck))

    def scene_change(self, at: int, placing) -> None:
        """The bed ends with its scene: it fades out over the crossfade centred on `at`, where the
        next scene's bed fades in."""
        playing = placing.open.get(KIND)
        if playing:
            crossfade = placing.settings.ambience_crossfade
            begin = max(at - placing.smp(crossfade) // 2, max(held[0].start for held in playing))
            placing.close(KIND, begin, crossfade)

    def piece(self, placed, start: int, end: int, sound: str, idx, fade: int, timeline, settings) -> AmbiencePiece:
        from compiler.plugins.sfx import cue_pan

        return AmbiencePiece(start, end - start, placed.cue.path or "", sound, idx(placed.offset),
                             idx(settings.ambience_loop_crossfade), placed.gain_db, max(fade, idx(placed.fade_in)),
                             max(fade, idx(placed.fade_out)), *piece_envelope(timeline, placed, settings, idx, start),
                             cue_pan(placed.cue))


class AmbienceStopPlugin(StopDirective):
    rule = "ambience_stop"
    keyword = KIND
    label = "ambience stop"
    grammar = 'ambience_stop: "ambience" _COLON? "stop" option*'
    example = "[[ambience stop]]"
    node = AmbienceStop
    stops = KIND


PLUGINS = (AmbiencePlugin(), AmbienceStopPlugin())
