"""Printing diagnostics for people (file:line:col, source line, caret) and for tools (--json).

Everything printed here may carry user text — script lines, character names, file names, messages
that quote them — so nothing is ever read as rich markup (`[/X]` in a scene heading), as an emoji
code (`:100:` in `file:100:13:`) or highlighted; styles are attached to plain `Text` pieces instead.
Control characters are shown as visible symbols, so a script cannot drive the writer's terminal.
"""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.text import Text

from compiler.diagnostics import Diagnostic, Severity, format_diagnostic

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.NOTE: "bold cyan"}

# C0 controls (but tab and newline) as their Unicode control pictures (U+2400…), DEL as U+2421 and
# C1 controls (which some terminals obey as escape sequences) as U+FFFD: one column each, so carets
# under a source line stay aligned.
_VISIBLE = {c: 0x2400 + c for c in range(0x20) if chr(c) not in "\t\n"}
_VISIBLE[0x7F] = 0x2421
_VISIBLE.update({c: 0xFFFD for c in range(0x80, 0xA0)})
# Bytes of a file name that is not UTF-8 reach Python as lone surrogates, which no terminal can print.
_VISIBLE.update({c: 0xFFFD for c in range(0xDC80, 0xDD00)})


def visible(text: str) -> str:
    """User text with control characters replaced by visible symbols of the same width."""
    return text.translate(_VISIBLE)


class LiteralConsole(Console):
    """A console whose strings are printed as written: markup, emoji codes and highlighting are off
    by default, and control characters made visible wherever a string becomes text (print, table
    cells, titles)."""

    def __init__(self, **kwargs):
        super().__init__(**{"markup": False, "emoji": False, "highlight": False, **kwargs})

    def render_str(self, text: str, **kwargs) -> Text:
        kwargs.update(markup=False, emoji=False)  # never, even when a caller asks
        return super().render_str(visible(text), **kwargs)


def styled(*parts: str | tuple[str, str]) -> Text:
    """Plain text built from pieces, each a string or a (string, style) pair; never parsed."""
    text = Text()
    for part in parts:
        words, style = (part, "") if isinstance(part, str) else part
        text.append(visible(words), style=style)
    return text


def print_diagnostics(diagnostics: list[Diagnostic], lines_by_file: dict[str, list[str]], console: Console) -> None:
    for diag in diagnostics:
        text = format_diagnostic(diag, lines_by_file.get(diag.span.file))
        head, _, rest = text.partition("\n")
        label = f"{diag.severity.value}:"
        before, _, after = head.partition(f" {label} ")
        console.print(styled((before, "bold"), " ", (label, _STYLE[diag.severity]), " ", (after, "bold")), soft_wrap=True)
        if rest:
            console.print(styled(rest), soft_wrap=True)


def summary_line(diagnostics: list[Diagnostic]) -> str:
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = sum(d.severity is Severity.WARNING for d in diagnostics)
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' * (errors != 1)}")
    if warnings:
        parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
    return ", ".join(parts) or "no problems"


def describe_failure(exc: BaseException) -> str:
    """`Type: message` of an unexpected exception, even one whose own str() fails."""
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:
        return type(exc).__name__


def dump_json(data) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    # A lone surrogate (a file name that is not UTF-8) becomes the JSON escape `\udcff`.
    sys.stdout.write(text.encode("utf-8", "backslashreplace").decode("utf-8"))
