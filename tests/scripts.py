"""Build small ASTs directly, for stage tests that should not depend on a front end."""

from __future__ import annotations

from compiler.diagnostics import Span
from compiler.nodes import Action, Dialogue, Parenthetical, Pause, Scene, SceneHeading, Script, Speech
from compiler.voices import make_voice

FILE = "t.fountain"


def span(line: int) -> Span:
    return Span(FILE, line, 1, line, 10)


def dialogue(line: int, who: str, *parts, extension=None) -> Dialogue:
    nodes = []
    for p in parts:
        if isinstance(p, str) and p.startswith("(") and p.endswith(")"):
            nodes.append(Parenthetical(span(line), p))
        elif isinstance(p, str):
            nodes.append(Speech(span(line), p, p))
        else:
            nodes.append(p)
    text = " ".join(n.text for n in nodes if isinstance(n, Speech))
    parens = [n for n in nodes if isinstance(n, Parenthetical)]
    return Dialogue(span(line), who, extension, parens, text, parts=nodes, cue=who, cue_span=span(line))


def script(*scenes: list) -> Script:
    """Each scene is a list of (speaker, text) tuples, Action strings or nodes."""
    out = []
    line = 1
    for i, items in enumerate(scenes):
        body = []
        heading = SceneHeading(span(line), f"INT. ROOM {i + 1} - DAY")
        line += 2
        for item in items:
            if isinstance(item, tuple):
                body.append(dialogue(line, *item))
            elif isinstance(item, str):
                body.append(Action(span(line), item, item))
            else:
                body.append(item)
            line += 3
        out.append(Scene(heading.span, heading, body))
    return Script(Span(FILE, 1, 1, line, 1), "fountain", None, out)


def palette(n: int = 6):
    return [make_voice(f"v{i}", "test", f"voice {i}", pitch_hz=90.0 + 25 * i) for i in range(n)]


def resolve(settings: dict, pal):
    for v in pal:
        if v.name == settings.get("voice"):
            return v
    raise ValueError(f"unknown voice '{settings.get('voice')}'")


def pause(line: int, seconds: float) -> Pause:
    return Pause(span(line), seconds)
