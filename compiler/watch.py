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
from compiler.report import describe_failure, styled

POLL_SECONDS = 0.2


def watched_paths(script: Path, sounds: tuple[Path, ...] = ()) -> list[Path]:
    """The script, its project's settings, and the sound files its last good build used (a failed
    build keeps the previous list, so fixing a sound file still triggers a rebuild)."""
    return [script, find_project(script).config_path, *sounds]


def sounds_of(result) -> tuple[Path, ...]:
    from compiler.plan_types import SoundCue

    return tuple(Path(step.path) for step in result.prepared.plan.steps if isinstance(step, SoundCue) and step.path)


def snapshot(paths: list[Path]) -> dict[Path, float]:
    stamps = {}
    for p in paths:
        try:
            stamps[p] = p.stat().st_mtime_ns
        except OSError:
            stamps[p] = -1
    return stamps


def watch_loop(files: list[Path], build_one: Callable[[Path], object], console: Console, debounce: float, once: bool) -> None:
    sounds: dict[Path, tuple[Path, ...]] = {f: () for f in files}

    def rebuild(f: Path) -> None:
        started = time.strftime("%H:%M:%S")
        try:
            result = build_one(f)
        except typer.Exit:
            console.print(styled(f"[{started}] ", ("✗", "bold red"), f" {f}: errors above; watching for changes"), soft_wrap=True)
            return
        except Exception as exc:  # keep watching whatever went wrong; the next save may fix it
            console.print(styled(f"[{started}] ", ("✗", "bold red"), f" {f}: internal compiler error: {describe_failure(exc)}; "
                                 "watching for changes"), soft_wrap=True)
            return
        sounds[f] = sounds_of(result)
        console.print(styled(f"[{started}] ", ("✓", "bold green"), f" {f} → {result.outputs[0]}  {result.duration:.1f}s audio, "
                             f"{result.rendered} clips rendered, {result.cached} cached, {result.seconds:.1f}s"), soft_wrap=True)

    states = {}
    for f in files:
        # Snapshot before building: a save that lands during the build triggers the next rebuild.
        states[f] = snapshot(watched_paths(f))
        rebuild(f)
        if sounds[f]:  # now that the sounds are known, watch them from this build on
            states[f].update(snapshot(list(sounds[f])))
    if once:
        return
    console.print(styled((f"watching {len(files)} script(s); Ctrl-C to stop", "dim")))
    while True:
        time.sleep(POLL_SECONDS)
        for f in files:
            current = snapshot(watched_paths(f, sounds[f]))
            if current == states[f]:
                continue
            # Debounce: wait until nothing changed for `debounce` seconds.
            while True:
                time.sleep(debounce)
                again = snapshot(watched_paths(f, sounds[f]))
                if again == current:
                    break
                current = again
            states[f] = current
            rebuild(f)
            # Keep the pre-build stamps (a save during the build triggers the next one); stamp sounds
            # the build newly uses; forget sounds it no longer uses.
            fresh = snapshot(watched_paths(f, sounds[f]))
            states[f] = {p: current.get(p, stamp) for p, stamp in fresh.items()}
