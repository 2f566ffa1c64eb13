"""Printing diagnostics for people (file:line:col, source line, caret) and for tools (--json)."""

from __future__ import annotations

import json
import sys

from rich.console import Console

from compiler.diagnostics import Diagnostic, Severity, format_diagnostic

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.NOTE: "bold cyan"}


def print_diagnostics(diagnostics: list[Diagnostic], lines_by_file: dict[str, list[str]], console: Console) -> None:
    for diag in diagnostics:
        text = format_diagnostic(diag, lines_by_file.get(diag.span.file))
        head, _, rest = text.partition("\n")
        label = f"{diag.severity.value}:"
        before, _, after = head.partition(f" {label} ")
        console.print(f"[bold]{_esc(before)}[/bold] [{_STYLE[diag.severity]}]{label}[/] [bold]{_esc(after)}[/bold]", highlight=False, soft_wrap=True)
        if rest:
            console.print(_esc(rest), highlight=False, soft_wrap=True)


def summary_line(diagnostics: list[Diagnostic]) -> str:
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = sum(d.severity is Severity.WARNING for d in diagnostics)
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' * (errors != 1)}")
    if warnings:
        parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
    return ", ".join(parts) or "no problems"


def dump_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _esc(text: str) -> str:
    return text.replace("[", "\\[")
