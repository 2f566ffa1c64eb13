"""`[[pause 1.5s]]`: silence of that length between lines; it also ends the clip, so the voices do not
run across it."""

from __future__ import annotations

from dataclasses import dataclass

from compiler.nodes import Node
from compiler.plugins import Directive

MAX_PAUSE_SECONDS = 60.0


@dataclass
class Pause(Node):
    seconds: float


class PausePlugin(Directive):
    rule = keyword = label = "pause"
    grammar = 'pause: "pause" _COLON? VALUE'
    example = "[[pause 1.5s]]"
    node = Pause

    def argument(self) -> str:
        return "duration"

    def describe(self, node) -> str:
        return f"pause {node.seconds:g}s"

    def build(self, tree, check) -> Pause | None:
        from compiler.directives import parse_duration

        tok = tree.children[0]
        seconds = parse_duration(tok.value)
        where = check.token(tok)
        if seconds is None:
            check.error(f"'{tok.value}' is not a duration; write e.g. 1.5s, 500ms or 2 (seconds)", where)
            return None
        if seconds <= 0:
            check.error(f"a pause must be longer than zero (got '{tok.value}')", where)
            return None
        if seconds > MAX_PAUSE_SECONDS:
            check.error(f"pause of {seconds:g} s is longer than the {MAX_PAUSE_SECONDS:g} s limit; "
                        "use music or a sound effect for long gaps", where)
            return None
        return Pause(check.span, seconds)

    def plan(self, node: Pause, walker) -> None:
        from compiler.plan_types import PauseStep

        walker.boundary(PauseStep(node.seconds, node.span))


PLUGIN = PausePlugin()
