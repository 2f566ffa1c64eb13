"""`[[room: large]]`: the lines from here to the end of the scene are heard in a room of that size.

The size is one of compiler.settings_schema.ROOM_SIZES (`dry`, `exterior`, `small`, `medium`,
`large`), whatever the scene heading says; its numbers come from `[rooms]` (compiler/rooms.py). The
directive changes the planner's current room, so it is no step of the timeline: it neither cuts a
clip nor moves a line. Lines that stay dry in any room (narrator, voice-over, phone) stay dry.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from compiler.nodes import Node
from compiler.plugins import Directive


def _sizes() -> tuple[str, ...]:
    from compiler.settings_schema import ROOM_SIZES  # not at import: the settings import the AST, which loads plugins

    return ROOM_SIZES


@dataclass
class RoomChange(Node):
    size: str  # one of compiler.settings_schema.ROOM_SIZES


class RoomPlugin(Directive):
    rule = keyword = label = "room"
    grammar = 'room: "room" _COLON? VALUE'
    example = "[[room: large]]"
    node = RoomChange

    def argument(self) -> str:
        return f"size ({', '.join(_sizes())})"

    def describe(self, node: RoomChange) -> str:
        return f"room: {node.size}"

    def build(self, tree, check) -> RoomChange | None:
        tok = tree.children[0]
        size = tok.value.lower()
        if size not in _sizes():
            close = difflib.get_close_matches(size, _sizes(), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            check.error(f"'{tok.value}' is not a room size: write one of {', '.join(_sizes())}{hint}",
                        check.token(tok))
            return None
        return RoomChange(check.span, size)

    def plan(self, node: RoomChange, walker) -> None:
        walker.room = walker.rooms.room(node.size)


PLUGIN = RoomPlugin()
