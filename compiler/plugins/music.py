"""`[[music: PATH options]]`: music that plays under the following lines until the next music cue,
`[[music stop]]` (compiler/plugins/music_stop.py), the end of its file or the end of the play.

Planned as a SoundCue; placed as an open sound the next music cue closes; mixed as a MusicPiece that
ducks under speech.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compiler.nodes import Node
from compiler.plugins import BOOL, LENGTH, FileDirective
from compiler.plugins.beds import BED_OPTIONS, piece_envelope, shaped_bed, stretch_identity


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
        # Only what reaches positions a..b-1 (compiler.plugins.beds.stretch_identity).
        return (f"music {self.sound} {self.offset} {self.loop} {self.gain_db!r} {a} "
                f"{stretch_identity(self.length, self.n_in, self.n_out, self.duck_at, self.duck_db, a, b)} {self.pan!r}")

    def samples(self, a: int, b: int, sources, loop, settings, sample_rate: int) -> np.ndarray:
        from compiler.plugins.sfx import balanced
        from compiler.sounds import looped

        src = sources.sound(self.path)

        def source_at(b0: int, b1: int) -> np.ndarray:
            if self.loop:  # over the whole file; `offset` only sets where the first pass begins
                return looped(src, self.offset + b0, b1 - b0)
            chunk = np.zeros((b1 - b0, *src.shape[1:]), np.float32)
            part = src[self.offset + b0: self.offset + b1]
            chunk[: len(part)] = part
            return chunk

        return balanced(shaped_bed(self, a, b, source_at), self.pan)


class MusicPlugin(FileDirective):
    rule = keyword = label = "music"
    grammar = 'music: "music" _COLON? path option*'
    example = "[[music: music/theme.wav]]"
    options = {**BED_OPTIONS, "duration": LENGTH, "loop": BOOL}
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
        from compiler.plugins.sfx import cue_pan

        return MusicPiece(start, end - start, placed.cue.path or "", sound, idx(placed.offset), placed.loop,
                          placed.gain_db, max(fade, idx(placed.fade_in)), max(fade, idx(placed.fade_out)),
                          *piece_envelope(timeline, placed, settings, idx, start), cue_pan(placed.cue))


PLUGIN = MusicPlugin()
