"""Compiler-grade diagnostics: `file:line:col: severity: message`, the source line and a caret.

Every stage reports problems as `Diagnostic` values instead of raising; a stage that cannot go on
raises `CompileError` carrying the diagnostics gathered so far. The CLI is the only place that turns
them into text and an exit status, so no input ever reaches the user as a Python traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple


class Span(NamedTuple):
    """A source range, 1-based, end column exclusive (`col == end_col` marks a point).

    A NamedTuple rather than a frozen dataclass: the Fountain parser makes one per line of a
    feature script, and a tuple is built about five times faster."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def to_json(self) -> dict:
        return {"line": self.line, "col": self.col, "end_line": self.end_line, "end_col": self.end_col}

    @staticmethod
    def point(file: str, line: int, col: int) -> "Span":
        return Span(file, line, col, line, col)


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    message: str
    span: Span
    # Extra lines printed after the caret, e.g. "help: did you mean DR. SMITH (line 12)?"
    notes: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_json(self) -> dict:
        return {
            "severity": self.severity.value,
            "message": self.message,
            "file": self.span.file,
            "span": self.span.to_json(),
            "notes": list(self.notes),
        }


def error(message: str, span: Span, *notes: str) -> Diagnostic:
    return Diagnostic(Severity.ERROR, message, span, tuple(notes))


def warning(message: str, span: Span, *notes: str) -> Diagnostic:
    return Diagnostic(Severity.WARNING, message, span, tuple(notes))


class CompileError(Exception):
    """Raised by a stage that cannot continue; carries every diagnostic found so far."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic):
        self.diagnostics = [diagnostics] if isinstance(diagnostics, Diagnostic) else list(diagnostics)
        super().__init__("; ".join(d.message for d in self.diagnostics))


@dataclass
class Sink:
    """Collects diagnostics while a stage runs."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        self.items.append(diagnostic)

    def error(self, message: str, span: Span, *notes: str) -> None:
        self.items.append(error(message, span, *notes))

    def warning(self, message: str, span: Span, *notes: str) -> None:
        self.items.append(warning(message, span, *notes))

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)


def format_diagnostic(diag: Diagnostic, lines: list[str] | None) -> str:
    """Render one diagnostic the way rustc/gcc do, with the source line and a caret underline.

    `lines` are the file's decoded lines (without newlines); None when the source is unreadable.
    """
    s = diag.span
    head = f"{s.file}:{s.line}:{s.col}: {diag.severity.value}: {diag.message}"
    out = [head]
    if lines is not None and 1 <= s.line <= len(lines):
        src = lines[s.line - 1].replace("\t", " ")
        gutter = f"{s.line:>4} | "
        out.append(gutter + src)
        start = max(s.col - 1, 0)
        if s.end_line == s.line and s.end_col > s.col:
            width = s.end_col - s.col
        else:
            width = 1
        width = max(1, min(width, max(len(src) - start, 1)))
        out.append(" " * (len(gutter) - 2) + "| " + " " * start + "^" + "~" * (width - 1))
    for note in diag.notes:
        out.append(f"   = {note}")
    return "\n".join(out)
