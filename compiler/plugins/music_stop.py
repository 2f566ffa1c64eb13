"""`[[music stop]]`: stops the music that is playing (compiler/plugins/music.py), with its own fade or
`fade_out`. A cue on the timeline that makes no piece of its own: it ends the open music piece."""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.nodes import Node
from compiler.plugins import StopDirective


@dataclass
class MusicStop(Node):
    options: dict[str, float | str | bool] = field(default_factory=dict)


class MusicStopPlugin(StopDirective):
    rule = "music_stop"
    keyword = "music"
    label = "music stop"
    grammar = 'music_stop: "music" _COLON? "stop" option*'
    example = "[[music stop]]"
    node = MusicStop
    stops = "music"


PLUGIN = MusicStopPlugin()
