"""`[[music stop]]`: stops the music that is playing (compiler/plugins/music.py), with its own fade or
`fade_out`. A cue on the timeline that makes no piece of its own: it ends the open music piece."""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.nodes import Node
from compiler.plugins import FADE, Directive


@dataclass
class MusicStop(Node):
    options: dict[str, float | str | bool] = field(default_factory=dict)


class MusicStopPlugin(Directive):
    rule = "music_stop"
    keyword = "music"
    label = "music stop"
    # `stop` is a keyword only when written bare: a file called stop.wav is still a path.
    grammar = 'music_stop: "music" _COLON? "stop" option*'
    example = "[[music stop]]"
    bare_words = ("stop",)
    options = {"fade_out": FADE}
    node = MusicStop

    def build(self, tree, check) -> MusicStop | None:
        options = check.options(tree, self.options, self.label)
        return MusicStop(check.span, options) if options is not None else None

    def place(self, cue, at: int, placing) -> None:
        from compiler.diagnostics import warning
        from compiler.stitch import cue_number

        if not placing.open.get("music"):
            placing.diagnostics.append(warning("music_stop but no music is playing here", cue.span))
        fade = cue_number(cue, "fade_out", -1.0, minimum=None)
        placing.close("music", at, fade if fade >= 0 else None)


PLUGIN = MusicStopPlugin()
