"""`dramac watch`: rebuild on change, like typst's watch.

Learns of saves from the operating system (inotify, FSEvents, kqueue through `watchfiles`), watching
the folders of the script, its settings and its sounds; where that cannot work (watchfiles missing,
no inotify watches left) it polls the files instead. Every wake-up, and a quiet one every
`RECHECK_SECONDS` in case the system missed an event (network file systems), compares snapshots of
the files, so an event only makes the check sooner: it is never trusted on its own. Waits until two
snapshots taken `debounce` seconds apart agree so an editor's save-in-several-writes triggers one
build, prints one status line per rebuild with the script lines it re-rendered and the seconds each
step took, and keeps going after errors. Only changed clips are re-rendered: the clip cache makes
every rebuild incremental, and the backend stays loaded in this process between builds (one
instance per backend and options, compiler/backends.shared), so the one or two clips an edit changes
are rendered here at once (render.py renders fewer than MIN_CLIPS_PER_WORKER misses per worker in
this process), without starting worker processes or loading the voice again.

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
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

import typer
from rich.console import Console

from compiler.project import find_project
from compiler.report import describe_failure, styled
from compiler.source import MAX_SOURCE_BYTES

POLL_SECONDS = 0.2  # between snapshots when the operating system cannot report changes
RECHECK_SECONDS = 2.0  # longest wait for an event before the files are compared anyway
# Milliseconds: an event is reported once no other came for STEP_MS (a save's writes arrive
# together), or after GROUP_MS of steady writing.
STEP_MS, GROUP_MS = 30, 300
SHOWN_LINES = 8  # re-rendered script lines listed after a rebuild; the rest are counted
STAGES = ("parse", "plan", "setup", "render", "stitch", "master", "write")


def watched_paths(script: Path, sounds: tuple[Path, ...] = ()) -> list[Path]:
    """The script, its project's settings, and the sound files its last good build used (a failed
    build keeps the previous list, so fixing a sound file still triggers a rebuild)."""
    return [script, find_project(script).config_path, *sounds]


def sounds_of(result) -> tuple[Path, ...]:
    """The cue files and the other files directives read (a [[take]]'s recording)."""
    from compiler import plugins
    from compiler.plan_types import SoundCue

    plan = result.prepared.plan
    cues = [step.path for step in plan.steps if isinstance(step, SoundCue) and step.path]
    return tuple(Path(p) for p in dict.fromkeys([*cues, *plugins.input_files(plan)]))


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


class StoppedWatching(Exception):
    """Ctrl-C while no build was running (watch was waiting for a change): nothing was interrupted,
    so there is nothing to say about cached clips."""


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


class ChangeWaiter:
    """Waits for the next change to a set of files. Where watchfiles can watch their folders the
    operating system says when one of the files changed; otherwise (watchfiles missing or refused:
    no inotify watches left, a file system it cannot watch) it sleeps POLL_SECONDS. `wait` returns
    after an event naming one of the files, after RECHECK_SECONDS without one, or once `stop` is
    set; either way the caller compares snapshots, so a missed or spurious event costs nothing."""

    def __init__(self, stop: threading.Event, use_os: bool = True):
        self.stop = stop
        self.use_os = use_os
        self.fell_back: str | None = None  # why the OS watch failed, until the loop has said so
        self._watching: frozenset[str] | None = None
        self._events = None

    def wait(self, paths: Iterable[Path]) -> None:
        if self.use_os:
            try:
                self._wait_for_event(frozenset(os.path.abspath(p) for p in paths))
                return
            except Exception as exc:  # noqa: BLE001  (whatever stops the OS watch, polling still works)
                self.close()
                self.use_os, self.fell_back = False, describe_failure(exc)
        time.sleep(POLL_SECONDS)

    def _wait_for_event(self, names: frozenset[str]) -> None:
        if names != self._watching:  # new sound files, or a file gone: watch the folders they are in now
            self.close()
            self._events = self._start(names)
            self._watching = names
        try:
            next(self._events)
        except StopIteration:  # `stop` was set
            self.close()

    def _start(self, names: frozenset[str]):
        import watchfiles

        folders = sorted({os.path.dirname(n) for n in names if os.path.isdir(os.path.dirname(n))})
        if not folders:
            raise FileNotFoundError("none of the watched files' folders exists")
        return watchfiles.watch(*folders, watch_filter=lambda _change, path: os.path.abspath(path) in names,
                                debounce=GROUP_MS, step=STEP_MS, rust_timeout=int(RECHECK_SECONDS * 1000),
                                yield_on_timeout=True, stop_event=self.stop, recursive=False, raise_interrupt=True)

    def close(self) -> None:
        if self._events is not None:
            self._events.close()  # ends the watchfiles generator, which closes its watcher
        self._events, self._watching = None, None


def clip_lines(clips, shown: int = SHOWN_LINES) -> list[str]:
    """`file:line  SPEAKER: first words…` for each line of `clips` in script order, at most `shown`
    of them, then a count of the rest. Clips come in the order they finished rendering."""
    lines = sorted((line for clip in clips for line in clip.lines), key=lambda line: (line.span.file, line.span.line, line.span.col))
    rows = []
    for line in lines[:shown]:
        words = line.original.split()
        said = " ".join(words[:8]) + (" …" if len(words) > 8 else "")
        rows.append(f"{line.span.file}:{line.span.line}  {line.speaker}: {said}")
    if len(lines) > shown:
        rows.append(f"… and {len(lines) - shown} more lines")
    return rows


SLOW_WRITE_SECONDS = 2.0  # a rebuild's write stage longer than this, with whole-play encoders, gets a hint
_REWRITTEN_IN_PARTS = {"wav", "wav16", "srt", "vtt", "json"}  # what an edit rewrites only where it changed


def slow_formats_hint(result) -> str | None:
    """A hint when the compressed formats (encoded whole on every build) make a rebuild's write slow."""
    whole = sorted({Path(p).suffix.lstrip(".") for p in result.outputs} - _REWRITTEN_IN_PARTS)
    write = (result.stages or {}).get("write", 0.0)
    if not whole or write <= SLOW_WRITE_SECONDS:
        return None
    return (f"writing took {write:.1f}s: {', '.join(whole)} {'is' if len(whole) == 1 else 'are'} encoded whole on every "
            "build; `dramac watch --format wav` writes only the WAV while you write")


def stage_times(stages: dict[str, float]) -> str:
    """`parse 0.01s · plan 0.02s · …` in the order the build runs them."""
    ordered = [name for name in STAGES if name in stages] + [name for name in stages if name not in STAGES]
    return " · ".join(f"{name} {stages[name]:.2f}s" for name in ordered)


def watch_loop(files: list[Path], build_one: Callable[[Path, Callable], object], console: Console, debounce: float,
               once: bool, stop: threading.Event | None = None, use_os: bool = True) -> None:
    """Build every file, then rebuild each one whenever its files change, until `stop` is set.
    `build_one(f, before_publish)` builds f, calling before_publish(prepared) just before it writes
    any output; its result's `fresh_clips` (the clips it rendered) and `stages` (seconds per step)
    are reported under the status line. Ctrl-C while no build runs raises StoppedWatching; during a
    build the KeyboardInterrupt goes on, for the caller to say the finished clips are cached."""
    sounds: dict[Path, tuple[Path, ...]] = {f: () for f in files}
    stop = stop or threading.Event()
    building = False

    def rebuild(f: Path, started_from: dict) -> bool:
        nonlocal building
        building = True  # left True when Ctrl-C ends the build
        done = build_and_report(f, started_from)
        building = False
        return done

    def build_and_report(f: Path, started_from: dict) -> bool:
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
                             f"{result.rendered} clip{'' if result.rendered == 1 else 's'} rendered, {result.cached} cached, "
                             f"{result.seconds:.1f}s"), soft_wrap=True)
        report_details(result)
        return True

    hinted = False

    def report_details(result) -> None:
        nonlocal hinted
        for row in clip_lines(result.fresh_clips):
            console.print(styled(("    re-rendered ", "dim"), row), soft_wrap=True)
        if result.stages:
            console.print(styled((f"    {stage_times(result.stages)}", "dim")), soft_wrap=True)
        hint = slow_formats_hint(result)
        if hint and not hinted:  # once a session: the writer chose the formats
            console.print(styled((f"    {hint}", "dim")), soft_wrap=True)
            hinted = True

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

    try:
        _keep_building(files, sounds, rebuild, build_settled, console, once, stop, use_os)
    except KeyboardInterrupt:
        if building:
            raise
        raise StoppedWatching from None


def _keep_building(files, sounds, rebuild, build_settled, console, once, stop, use_os) -> None:
    """watch_loop's builds: each file once, then (unless `once`) each again whenever it changes."""
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
    waiter = ChangeWaiter(stop, use_os)
    console.print(styled((f"watching {len(files)} script(s); Ctrl-C to stop", "dim")))
    try:
        while not stop.is_set():
            # Compared before waiting too: a save during the last build is built now, event or not.
            for f in files:
                current = snapshot(watched_paths(f, sounds[f]))
                if current != states[f]:
                    states[f] = build_settled(f, current)
            waiter.wait([p for f in files for p in watched_paths(f, sounds[f])])
            if waiter.fell_back:
                console.print(styled((f"the system cannot report changes here ({waiter.fell_back}); "
                                      f"checking every {POLL_SECONDS:g}s instead", "dim")), soft_wrap=True)
                waiter.fell_back = None  # said once
    finally:
        waiter.close()
