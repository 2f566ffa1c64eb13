"""Backends for tests/test_cluster.py: the embedded voice, whose worker process dies on cue.

A worker death is real: the process rendering the clip sends itself SIGKILL, exactly what the kernel's
OOM killer or `kill -9` does to a render worker. The audio of every clip that is rendered is the
embedded voice's own (same identity, same cache keys), so a build through these compares byte for
byte with a plain embedded build.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from compiler.backends import BackendUnavailable
from compiler.backends.embedded import EmbeddedBackend


class DyingBackend(EmbeddedBackend):
    """`kill_line`: the worker dies when it starts the clip whose first line is at this line number;
    with `once_marker` only the first time (the marker file records it across processes), else
    every time. `delay`: seconds spent on each clip before rendering it, so workers are busy when
    a test kills one from outside. `missing`: every render fails as a node without the runtime does."""

    def __init__(self, kill_line: int = 0, once_marker: str = "", delay: float = 0.0, missing: bool = False, **options):
        super().__init__(**options)
        self.kill_line, self.once_marker, self.delay, self.missing = kill_line, once_marker, delay, missing

    def render(self, clip):
        self._before(clip)
        return super().render(clip)

    def render_timed(self, clip):  # what workers call: the takes with their word times
        self._before(clip)
        return super().render_timed(clip)

    def _before(self, clip) -> None:
        if self.missing:  # as a node without the backend's runtime installed answers
            raise BackendUnavailable("the voice runtime is not installed on this node: pip install dramac")
        time.sleep(self.delay)
        if clip.lines and clip.lines[0].span.line == self.kill_line and self._may_die():
            os.kill(os.getpid(), signal.SIGKILL)

    def _may_die(self) -> bool:
        if not self.once_marker:
            return True
        try:
            Path(self.once_marker).open("x").close()  # only the first process to get here dies
        except FileExistsError:
            return False
        return True
