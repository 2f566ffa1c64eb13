"""`[[move: ELENA to 0.8 over 3s]]`: a character moves on the stereo stage from here to the end of the scene.

The position is a pan from -1 (left) to 1 (right), or `left`, `centre` (`center`) or `right`; `over`
(default 0: at once) is how many seconds of the character's own following speech the move takes, so
the listener hears the voice travel. The next scene places every character afresh (compiler/stage.py).
The character must speak in the script (or be the narrator when it reads): an unknown name is an
error at the directive, with "did you mean".

Planned as a SoundCue (a clip boundary, like a pause); placed on the timeline as a
compiler.stage.PlacedMove, which the stage turns into the pans of the character's lines. It makes no
piece of its own: the takes it moves carry their pan in their pieces' identities.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from compiler.nodes import Node
from compiler.plugins import PAN, Directive, OptionSpec

MAX_MOVE_SECONDS = 600.0
POSITIONS = {"left": -1.0, "centre": 0.0, "center": 0.0, "right": 1.0}


@dataclass
class Move(Node):
    character: str  # as written
    to: float  # pan, -1..1
    over: float  # seconds of the character's speech


class MovePlugin(Directive):
    rule = keyword = label = "move"
    grammar = 'move: "move" _COLON? (NAME | QUOTED) "to" VALUE ("over" VALUE)?'
    example = "[[move: ELENA to 0.8 over 3s]]"
    bare_words = ("to", "over")
    # The cue's values (written as words, not name=value options): what the timeline reads back.
    options = {"character": OptionSpec("name"), "to": PAN, "over": OptionSpec("duration", 0.0, MAX_MOVE_SECONDS)}
    node = Move

    def missing_argument(self, example: str) -> str:
        return f"move needs a character and a position, e.g. {example}"

    def unexpected(self, word: str, example: str) -> str:
        return f"unexpected '{word}' in move; write a character, a position and a duration, e.g. {example}"

    def build(self, tree, check) -> Move | None:
        from compiler.directives import parse_duration, parse_number

        name_tok, to_tok, *rest = tree.children
        name = name_tok.value[1:-1].strip() if name_tok.type == "QUOTED" else name_tok.value
        if not name:
            check.error("move needs a character's name", check.token(name_tok))
            return None
        to = POSITIONS.get(to_tok.value.lower(), parse_number(to_tok.value))
        ok = True
        if to is None or not -1.0 <= to <= 1.0:
            check.error(f"'{to_tok.value}' is not a position on the stage; write a number from -1 (left) to 1 "
                        "(right), or left, centre, right", check.token(to_tok))
            ok = False
        over = 0.0
        if rest:
            over = parse_duration(rest[0].value)
            if over is None or not 0.0 <= over <= MAX_MOVE_SECONDS:
                check.error(f"'{rest[0].value}' is not a duration from 0 to {MAX_MOVE_SECONDS:g} s; write e.g. 3s",
                            check.token(rest[0]))
                ok = False
        return Move(check.span, name, to, over) if ok else None

    def check_script(self, script, sink) -> None:
        """Every move names a character who speaks in the script (or the narrator)."""
        names = list(dict.fromkeys(d.character for d in script.dialogues())) + ["NARRATOR"]
        for node in moves_in(script):
            if _named(node.character, names) is None:
                sink.error(_unknown(node.character, names[:-1]), node.span)

    def plan(self, node: Move, walker) -> None:
        from compiler.diagnostics import CompileError, error
        from compiler.plan_types import SoundCue

        names = [m.name for m in walker.cast.members] + ([walker.cast.narrator.name] if walker.cast.narrator else [])
        found = _named(node.character, names)
        if found is None:  # the narrator when it does not read (compiler.checks caught the other names)
            raise CompileError(error(_unknown(node.character, names), node.span))
        walker.boundary(SoundCue(self.rule, None, (("character", found), ("over", node.over), ("to", node.to)),
                                 node.span))

    def place(self, cue, at: int, placing) -> None:
        from compiler.stage import PlacedMove

        # It applies from the end of what was placed before it: the next line may start sooner than
        # `at`, a cue's point (a line after a line keeps its own, shorter gap; the move adds none).
        scene = placing.last_scene if placing.last_scene is not None else 0
        placing.moves.append(PlacedMove(str(cue.option("character")), scene, placing.sec(placing.cursor),
                                        float(cue.option("to")), float(cue.option("over"))))


def moves_in(script):
    """Every move directive of the script, in order (between elements, or inside a dialogue)."""
    from compiler.nodes import Dialogue

    for scene in script.scenes:
        for element in scene.body:
            parts = element.parts if isinstance(element, Dialogue) else (element,)
            yield from (part for part in parts if isinstance(part, Move))


def _named(written: str, names: list[str]) -> str | None:
    return next((n for n in names if n.upper() == written.upper()), None)


def _unknown(written: str, names: list[str]) -> str:
    close = difflib.get_close_matches(written.upper(), [n.upper() for n in names], n=1)
    hint = f"; did you mean {close[0]}?" if close else (f"; the characters are {', '.join(names)}" if names else "")
    return f"move: no character named {written} speaks in this script{hint}"


PLUGIN = MovePlugin()
