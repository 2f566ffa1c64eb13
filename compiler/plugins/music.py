"""`[[music: PATH options]]`: music that plays under the following lines until the next music cue,
`[[music stop]]` (compiler/plugins/music_stop.py), the end of its file or the end of the play.

Planned as a SoundCue; placed as an open sound the next music cue closes; mixed as a MusicPiece that
ducks under speech.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compiler.nodes import Node
from compiler.plugins import BOOL, FADE, LENGTH, LEVEL, PAN, START, FileDirective, OptionSpec

_BLOCK = 1 << 20  # a play-long music bed is rendered in blocks, never as one play-long temporary


@dataclass
class Music(Node):
    """A music cue that starts here and plays under the following lines until `MusicStop` or the end."""

    path: str
    resolved: str
    options: dict[str, float | str | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class MusicPiece:
    start: int
    length: int
    path: str
    sound: str
    offset: int
    loop: bool
    gain_db: float
    n_in: int
    n_out: int
    duck_at: tuple[int, ...] = ()  # breakpoints of the ducking envelope, in samples from the piece start
    duck_db: tuple[float, ...] = ()
    pan: float = 0.0  # as an sfx's (compiler/plugins/sfx.py)
    kind = "music"

    def identity(self, a: int, b: int) -> str:
        # Only what reaches positions a..b-1: the fades where they overlap them, the ducking
        # envelope over them. Music sounds on under many lines; a line that grows late in the cue
        # must not change the key of the stretches before it.
        n_in, n_out = min(self.n_in, self.length // 2), min(self.n_out, self.length // 2)
        fade_in = n_in if a < n_in else "-"
        fade_out = f"{self.length} {n_out}" if b > self.length - n_out else "-"
        return (f"music {self.sound} {self.offset} {self.loop} {self.gain_db!r} {a} {fade_in} {fade_out} "
                f"{self._envelope(a, b)!r} {self.pan!r}")

    def _envelope(self, a: int, b: int) -> list:
        """The ducking breakpoints that shape positions a..b-1: those inside, and the nearest one on
        either side, whose position matters only where the gain changes towards it (between two
        breakpoints of equal gain, np.interp gives that gain exactly, wherever they are)."""
        at, db = self.duck_at, self.duck_db
        lo = int(np.searchsorted(at, a, side="left"))
        hi = int(np.searchsorted(at, b, side="left"))
        inner = [(at[i], db[i]) for i in range(lo, hi)]
        left = (at[lo - 1], db[lo - 1]) if lo > 0 else None
        right = (at[hi], db[hi]) if hi < len(at) else None
        first = inner[0] if inner else right
        last = inner[-1] if inner else left
        if left is not None and first is not None and left[1] == first[1]:
            left = ("flat", left[1])
        if right is not None and last is not None and right[1] == last[1]:
            right = ("flat", right[1])
        return [left, *inner, right]

    def samples(self, a: int, b: int, sources, loop, settings, sample_rate: int) -> np.ndarray:
        from compiler.pieces import fade_gain, scaled
        from compiler.plugins.sfx import balanced
        from compiler.sounds import looped

        src = sources.sound(self.path)
        out = np.empty((b - a,) + src.shape[1:], np.float32)
        gain = 10 ** (self.gain_db / 20)
        for b0 in range(a, b, _BLOCK):
            b1 = min(b, b0 + _BLOCK)
            pos = np.arange(b0, b1)
            if self.loop:  # over the whole file; `offset` only sets where the first pass begins
                chunk = looped(src, self.offset + b0, b1 - b0)
            else:
                chunk = np.zeros((b1 - b0,) + src.shape[1:], np.float32)
                part = src[self.offset + b0: self.offset + b1]
                chunk[: len(part)] = part
            g = np.full(b1 - b0, gain, dtype=np.float64)
            g *= fade_gain(b0, b1, self.length, self.n_in, self.n_out)
            if self.duck_at:
                g *= 10 ** (np.interp(pos, self.duck_at, self.duck_db) / 20)
            out[b0 - a: b1 - a] = scaled(chunk, g)
        return balanced(out, self.pan)


class MusicPlugin(FileDirective):
    rule = keyword = label = "music"
    grammar = 'music: "music" _COLON? path option*'
    example = "[[music: music/theme.wav]]"
    options = {
        "volume": LEVEL, "fade_in": FADE, "fade_out": FADE, "start": START, "duration": LENGTH, "loop": BOOL,
        # How far the music drops under speech; the mixer reads either sign as a reduction, 0 turns it off.
        "duck": OptionSpec("db", -60.0, 60.0),
        "pan": PAN,
    }
    node = Music
    reads_file = True
    order = 3

    def place(self, cue, at: int, placing) -> None:
        from compiler.plugins.sfx import file_cue_levels
        from compiler.stitch import OpenSound, cue_flag, cue_number

        settings = placing.settings
        length, offset, gain, fade_in, fade_out, duration = file_cue_levels(
            cue, placing, settings.music_volume_db, settings.music_fade_in, settings.music_fade_out)
        loop = cue_flag(cue, "loop", False)
        duck = abs(cue_number(cue, "duck", settings.music_duck_db, minimum=None))
        placing.close("music", at, None)  # a new piece replaces the one playing
        smp = placing.smp
        if duration > 0:
            natural = at + smp(duration if loop else min(duration, length - offset))
        else:
            natural = at + smp(length - offset) if not loop else None
        placing.open_sound("music", OpenSound(cue, at, natural, gain, fade_in, fade_out, offset, loop, duck))

    def piece(self, placed, start: int, end: int, sound: str, idx, fade: int, timeline, settings) -> MusicPiece:
        at, db = duck_breakpoints(timeline, placed, settings)
        from compiler.plugins.sfx import cue_pan

        return MusicPiece(start, end - start, placed.cue.path or "", sound, idx(placed.offset), placed.loop,
                          placed.gain_db, max(fade, idx(placed.fade_in)), max(fade, idx(placed.fade_out)),
                          tuple(idx(t) - start for t in at), tuple(db), cue_pan(placed.cue))


def duck_breakpoints(timeline, ps, settings) -> tuple[list[float], list[float]]:
    """Piecewise-linear gain (dB) of the music: 0 away from speech, -duck under it.

    The music is fully ducked when a line starts (it begins going down duck_attack before) and
    comes back over duck_release after the line; lines closer than duck_bridge stay ducked through
    the gap, so the music does not pump between quick exchanges.
    """
    if ps.duck_db <= 0:
        return [], []
    spans: list[list[float]] = []
    # Gaps a release+attack cannot fit into are bridged too, so the breakpoints stay in order.
    bridge = max(settings.duck_bridge, settings.duck_attack + settings.duck_release)
    for pl in timeline.lines:
        if pl.end < ps.start - settings.duck_release or pl.start > ps.end + settings.duck_attack:
            continue
        if spans and pl.start - spans[-1][1] < bridge:
            spans[-1][1] = max(spans[-1][1], pl.end)
        else:
            spans.append([pl.start, pl.end])
    t: list[float] = []
    db: list[float] = []
    for s, e in spans:
        t += [s - settings.duck_attack, s, e, e + settings.duck_release]
        db += [0.0, -ps.duck_db, -ps.duck_db, 0.0]
    return t, db


PLUGIN = MusicPlugin()
