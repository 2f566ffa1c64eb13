"""Front-end entry: pick the grammar by file extension, parse, run the semantic checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compiler.checks import check_script
from compiler.diagnostics import CompileError, Diagnostic, Sink, Span, error
from compiler.nodes import Script
from compiler.project import Project, find_project
from compiler.source import Source, read_source

FORMATS = {".fountain": "fountain", ".spmd": "fountain", ".md": "markdown", ".markdown": "markdown"}


@dataclass
class Parsed:
    source: Source | None
    project: Project
    script: Script | None
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return self.script is not None and not any(d.is_error for d in self.diagnostics)


def parse_source(source: Source, project: Project, fmt: str) -> tuple[Script, Sink]:
    sink = Sink()
    if fmt == "fountain":
        from compiler.fountain import parse_fountain

        script = parse_fountain(source, project, sink)
    else:
        from compiler.markdown import parse_markdown

        script = parse_markdown(source, project, sink)
    check_script(script, sink)
    return script, sink


def parse_file(path: str | Path) -> Parsed:
    name = str(path)
    project = find_project(path)
    fmt = FORMATS.get(Path(name).suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        return Parsed(None, project, None, [error(f"unknown script format '{Path(name).suffix}'; expected one of {known}", Span.point(name, 1, 1))])
    try:
        source = read_source(path)
    except CompileError as exc:
        return Parsed(None, project, None, exc.diagnostics)
    try:
        script, sink = parse_source(source, project, fmt)
    except CompileError as exc:
        return Parsed(source, project, None, exc.diagnostics)
    # Source order, as compilers print them (stages report in the order they run).
    ordered = sorted(sink.items, key=lambda d: (d.span.file, d.span.line, d.span.col))
    return Parsed(source, project, script, ordered)
