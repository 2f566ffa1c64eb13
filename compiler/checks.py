"""Semantic checks on a parsed script: likely mistakes the grammar cannot see."""

from __future__ import annotations

import re

from compiler.diagnostics import Sink, Span
from compiler.nodes import Script


def fold_name(name: str) -> str:
    """`DR. SMITH`, `Dr Smith` and `DR SMITH` fold to the same key."""
    return re.sub(r"[\W_]+", "", name.casefold())


# Warnings here; `build`, `watch` and `check` refuse a plan with nothing to render (compiler/build.py),
# and their error replaces these.
EMPTY = "script is empty: nothing to render"
NO_DIALOGUE = "script has no dialogue: nothing will be spoken unless the narrator is enabled"


def check_script(script: Script, sink: Sink) -> None:
    if not script.scenes or not any(scene.body or scene.heading for scene in script.scenes):
        sink.warning(EMPTY, Span.point(script.span.file, 1, 1))
        return
    first_by_name: dict[str, object] = {}
    for d in script.dialogues():
        first_by_name.setdefault(d.character, d)
    if not first_by_name:
        sink.warning(NO_DIALOGUE, Span.point(script.span.file, 1, 1))
    by_fold: dict[str, str] = {}
    for name, d in first_by_name.items():
        key = fold_name(name)
        other = by_fold.get(key)
        if other is None:
            by_fold[key] = name
            continue
        first = first_by_name[other]
        sink.warning(
            f"character '{name}' differs from '{other}' only in case or punctuation; they will get different voices",
            d.cue_span or d.span,
            f"note: '{other}' first speaks at line {(first.cue_span or first.span).line}; use one spelling if they are the same person",
        )
    from compiler import plugins

    for plugin in plugins.plugins():  # what a directive checks against the whole script (a move's character)
        plugin.check_script(script, sink)
