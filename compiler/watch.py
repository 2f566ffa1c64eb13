"""`dramac watch`: rebuild on change, like typst's watch.

Polls modification times (no extra dependency, works on every file system), waits for `debounce`
seconds of quiet so an editor's save-in-several-writes triggers one build, prints one status line
per rebuild, and keeps going after errors. Only changed clips are re-rendered: the clip cache makes
every rebuild incremental.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import typer
from rich.console import Console

from compiler.project import find_project

POLL_SECONDS = 0.2


def watched_paths(script: Path) -> list[Path]:
    """The script, its project's settings and every sound file under the project."""
    project = find_project(script)
    paths = [script, project.config_path]
    for sub in ("sounds", "music", "voices"):
        d = project.root / sub
        if d.is_dir():
            paths += [p for p in d.rglob("*") if p.is_file()]
    return paths


def snapshot(paths: list[Path]) -> dict[Path, float]:
    stamps = {}
    for p in paths:
        try:
            stamps[p] = p.stat().st_mtime_ns
        except OSError:
            stamps[p] = -1
    return stamps


def watch_loop(files: list[Path], build_one: Callable[[Path], object], console: Console, debounce: float, once: bool) -> None:
    def rebuild(f: Path) -> None:
        started = time.strftime("%H:%M:%S")
        try:
            result = build_one(f)
        except typer.Exit:
            console.print(f"[{started}] [bold red]✗[/] {f}: errors above; watching for changes", highlight=False, soft_wrap=True)
            return
        except Exception as exc:  # keep watching whatever went wrong; the next save may fix it
            console.print(f"[{started}] [bold red]✗[/] {f}: internal compiler error: {type(exc).__name__}: {exc}; "
                          "watching for changes", highlight=False, soft_wrap=True)
            return
        console.print(f"[{started}] [bold green]✓[/] {f} → {result.outputs[0]}  {result.duration:.1f}s audio, "
                      f"{result.rendered} clips rendered, {result.cached} cached, {result.seconds:.1f}s", highlight=False, soft_wrap=True)

    states = {}
    for f in files:
        # Snapshot before building: a save that lands during the build triggers the next rebuild.
        states[f] = snapshot(watched_paths(f))
        rebuild(f)
    if once:
        return
    console.print(f"watching {len(files)} script(s); Ctrl-C to stop", style="dim")
    while True:
        time.sleep(POLL_SECONDS)
        for f in files:
            current = snapshot(watched_paths(f))
            if current == states[f]:
                continue
            # Debounce: wait until nothing changed for `debounce` seconds.
            while True:
                time.sleep(debounce)
                again = snapshot(watched_paths(f))
                if again == current:
                    break
                current = again
            states[f] = current
            rebuild(f)
