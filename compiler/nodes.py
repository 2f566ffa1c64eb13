"""The AST shared by both input formats: plain dataclasses, every node with its source span.

Both front ends (fountain.py, markdown.py) produce a `Script`. Later stages walk it; nothing here
knows about either syntax. `to_json()` gives the stable `dramac ast --json` form (docs/ast.md):
every node is an object with "type" (the class name) and "span".

Text fields hold the plain text with emphasis markers and escapes resolved; `raw` fields hold the
text as written (markers included) where a consumer may want the writer's markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Union

from compiler.diagnostics import Span


@dataclass
class Node:
    span: Span

    def to_json(self) -> dict:
        out: dict = {"type": type(self).__name__, "span": self.span.to_json()}
        for f in fields(self):
            if f.name == "span":
                continue
            out[f.name] = _json_value(getattr(self, f.name))
        return out


def _json_value(value):
    if isinstance(value, (Node, Span)):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------
# Audio directives: the same syntax in both formats, `[[pause 1.5s]]`, `[[sfx: path opts]]` …
# Each directive's node class lives in its plugin module (compiler/plugins/<name>.py) with its
# syntax and checks; `nodes.Pause`, `nodes.Sfx` … still name them (module __getattr__ below).

Directive = Node  # any plugin's node (compiler.plugins.node_types() lists the classes)


def __getattr__(name: str):
    from compiler import plugins

    if name == "DIRECTIVE_TYPES":
        return plugins.node_types()
    for cls in plugins.node_types():
        if cls.__name__ == name:
            return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------
# Script elements


@dataclass
class TitleField(Node):
    key: str
    value: str  # continuation lines joined with "\n"


@dataclass
class TitlePage(Node):
    fields: list[TitleField]

    def get(self, key: str) -> str | None:
        for f in self.fields:
            if f.key.lower() == key.lower():
                return f.value
        return None


@dataclass
class SceneHeading(Node):
    text: str  # without the forcing "." and the scene number
    scene_number: str | None = None
    forced: bool = False


@dataclass
class Action(Node):
    text: str  # line breaks kept; leading tabs/spaces kept
    raw: str = ""
    forced: bool = False


@dataclass
class Parenthetical(Node):
    text: str  # including the parentheses, e.g. "(beat)"


@dataclass
class Speech(Node):
    """A run of spoken dialogue text between parentheticals or directives."""

    text: str
    raw: str = ""


DialoguePart = Union[Speech, Parenthetical, Directive]


@dataclass
class Dialogue(Node):
    character: str  # normalised: no "@", "^", extension or CONT'D; case kept as written
    extension: str | None  # e.g. "V.O.", "O.S.", "on the radio"; CONT'D is dropped
    parentheticals: list[Parenthetical]
    text: str  # all speech, parts joined by a space (line breaks inside a part kept)
    dual: bool = False  # true for both cues of a dual-dialogue pair
    cue: str = ""  # the cue line as written
    cue_span: Span | None = None
    parts: list[DialoguePart] = field(default_factory=list)  # speech, parentheticals, directives in order
    lyric: bool = False


@dataclass
class Transition(Node):
    text: str
    forced: bool = False


@dataclass
class Centered(Node):
    text: str


@dataclass
class Lyrics(Node):
    text: str


@dataclass
class Note(Node):
    text: str


@dataclass
class Section(Node):
    text: str
    depth: int


@dataclass
class Synopsis(Node):
    text: str


@dataclass
class PageBreak(Node):
    pass


Element = Union[
    SceneHeading, Action, Dialogue, Transition, Centered, Lyrics, Note, Section, Synopsis, PageBreak, Directive,
]


@dataclass
class Scene(Node):
    """A scene heading and everything up to the next one. Material before the first heading lives
    in a scene with `heading=None`."""

    heading: SceneHeading | None
    body: list[Element] = field(default_factory=list)


@dataclass
class Script(Node):
    format: str  # "fountain" | "markdown"
    title_page: TitlePage | None
    scenes: list[Scene]
    # Cast settings given in front matter (Markdown) — same shape as dramac.toml's [cast] table.
    metadata: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = super().to_json()
        out["file"] = self.span.file
        return out

    def dialogues(self):
        for scene in self.scenes:
            for el in scene.body:
                if isinstance(el, Dialogue):
                    yield el
