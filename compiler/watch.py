"""`dramac watch`: rebuild on change, like typst's watch.

Polls the files (no extra dependency, works on every file system), waits until two snapshots taken
`debounce` seconds apart agree so an editor's save-in-several-writes triggers one build, prints one
status line per rebuild, and keeps going after errors. Only changed clips are re-rendered: the clip
cache makes every rebuild incremental.

A snapshot holds each file's size, modification time and inode, and for the script and its settings
a digest of the content: a save on a file system with coarse timestamps, or one that keeps the old
modification time, still counts as a change. A build publishes its outputs only if, just before
writing them, every watched file still matches the snapshot the build started from and the script
still holds the text that was parsed; otherwise the outputs are left alone and the script is built
again once it has settled, so a save that outlasts the debounce never ends up published half-done.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path
from typing import Callable

import typer
from rich.console import Console

from compiler.project import find_project
from compiler.report import describe_failure, styled
from compiler.source import MAX_SOURCE_BYTES

POLL_SECONDS = 0.2


def watched_paths(script: Path, sounds: tuple[Path, ...] = ()) -> list[Path]:
    """The script, its project's settings, and the sound files its last good build used (a failed
    build keeps the previous list, so fixing a sound file still triggers a rebuild)."""
    return [script, find_project(script).config_path, *sounds]


def sounds_of(result) -> tuple[Path, ...]:
    from compiler.plan_types import SoundCue

    return tuple(Path(step.path) for step in result.prepared.plan.steps if isinstance(step, SoundCue) and step.path)


Stamp = tuple  # (size, mtime_ns, inode, content digest or None); None for a file that cannot be read


def _stamp(path: Path, with_digest: bool) -> Stamp | None:
    try:
        if not with_digest:
            info = os.stat(path)
            return info.st_size, info.st_mtime_ns, info.st_ino, None
        # O_NONBLOCK: a FIFO put in the script's place must not block the poll; only a regular file is read.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
            info = os.fstat(fh.fileno())
            regular = stat.S_ISREG(info.st_mode)
            digest = hashlib.sha256(fh.read(MAX_SOURCE_BYTES + 1)).hexdigest() if regular else None
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns, info.st_ino, digest


def snapshot(paths: list[Path], digested: int = 2) -> dict[Path, Stamp | None]:
    """A stamp for every path; the first `digested` (the script and its settings, as watched_paths
    lists them) with a digest of their content. Sound files are stamped without one: they can be
    large, and they are replaced whole rather than edited in place."""
    return {p: _stamp(p, i < digested) for i, p in enumerate(paths)}


def settled(paths: Callable[[], list[Path]], current: dict, debounce: float) -> dict:
    """Wait until two snapshots taken `debounce` seconds apart agree; returns the last one."""
    while True:
        time.sleep(debounce)
        again = snapshot(paths())
        if again == current:
            return again
        current = again


class SourceChanged(Exception):
    """A watched file changed while the build was running: its outputs are not written."""


def publish_check(script: Path, started_from: dict) -> Callable[[object], None]:
    """For `build(..., before_publish=)`: raises SourceChanged unless every file of the snapshot the
    build started from is unchanged and the script still holds the text the build parsed (a save
    that rewrote the same bytes while the build read them leaves the stamps alone, not the parse)."""
    from compiler.diagnostics import CompileError
    from compiler.source import read_source

    def check(prepared) -> None:
        if snapshot(list(started_from)) != started_from:
            raise SourceChanged
        try:
            now = read_source(script).text  # read and decoded as the parser read it
        except CompileError:
            raise SourceChanged from None
        if now != prepared.parsed.source.text:
            raise SourceChanged

    return check


def watch_loop(files: list[Path], build_one: Callable[[Path, Callable], object], console: Console, debounce: float,
               once: bool) -> None:
    """Build every file, then rebuild each one whenever its files change. `build_one(f, before_publish)`
    builds f, calling before_publish(prepared) just before it writes any output."""
    sounds: dict[Path, tuple[Path, ...]] = {f: () for f in files}

    def rebuild(f: Path, started_from: dict) -> bool:
        """Build f; False when a file changed during the build and nothing was published."""
        started = time.strftime("%H:%M:%S")
        try:
            result = build_one(f, publish_check(f, started_from))
        except SourceChanged:
            console.print(styled(f"[{started}] ", ("…", "bold yellow"), f" {f} changed during the build; outputs left "
                                 "as they were, building again when it settles"), soft_wrap=True)
            return False
        except typer.Exit:
            console.print(styled(f"[{started}] ", ("✗", "bold red"), f" {f}: errors above; watching for changes"), soft_wrap=True)
            return True
        except Exception as exc:  # keep watching whatever went wrong; the next save may fix it
            console.print(styled(f"[{started}] ", ("✗", "bold red"), f" {f}: internal compiler error: {describe_failure(exc)}; "
                                 "watching for changes"), soft_wrap=True)
            return True
        sounds[f] = sounds_of(result)
        console.print(styled(f"[{started}] ", ("✓", "bold green"), f" {f} → {result.outputs[0]}  {result.duration:.1f}s audio, "
                             f"{result.rendered} clips rendered, {result.cached} cached, {result.seconds:.1f}s"), soft_wrap=True)
        return True

    def build_settled(f: Path, current: dict) -> dict:
        """Rebuild f from a settled snapshot until a build was not overtaken by a save; returns the
        stamps to compare later polls with."""
        while True:
            current = settled(lambda: watched_paths(f, sounds[f]), current, debounce)
            if rebuild(f, current):
                break
            current = snapshot(watched_paths(f, sounds[f]))
        # Keep the pre-build stamps (a save during the build triggers the next one); stamp sounds
        # the build newly uses; forget sounds it no longer uses.
        fresh = snapshot(watched_paths(f, sounds[f]))
        return {p: current.get(p, stamp) for p, stamp in fresh.items()}

    states = {}
    for f in files:
        # Snapshot before building: a save that lands during the build triggers the next rebuild.
        states[f] = snapshot(watched_paths(f))
        if not rebuild(f, states[f]):
            states[f] = build_settled(f, snapshot(watched_paths(f)))
        elif sounds[f]:  # now that the sounds are known, watch them from this build on
            states[f].update(snapshot(list(sounds[f]), digested=0))
    if once:
        return
    console.print(styled((f"watching {len(files)} script(s); Ctrl-C to stop", "dim")))
    while True:
        time.sleep(POLL_SECONDS)
        for f in files:
            current = snapshot(watched_paths(f, sounds[f]))
            if current != states[f]:
                states[f] = build_settled(f, current)
