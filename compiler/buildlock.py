"""One build of a project at a time: `build`, `watch`, `take` and the studio's rebuilds share a lock.

Two processes writing the same clip cache, outputs and dramac.lock would each be safe file by file
(every write is atomic), but the lock file and the outputs could end up from different builds. So
each takes an exclusive advisory lock (flock) on `build.lock` in the clip cache folder for as long as
it renders and writes. The operating system releases it when the process ends, even when killed, so
a crashed build never leaves the project locked. Where flock does not exist (Windows), builds are
not serialised, as before.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from compiler.diagnostics import CompileError

LOCK_NAME = "build.lock"
# Threads of one process (the studio's rebuilds and its take requests) share the process's flock,
# which would let them in together: they also take this lock, per folder.
_thread_locks: dict[str, threading.RLock] = {}
_guard = threading.Lock()
_depth: dict[str, int] = {}  # holds per folder, changed only by the thread holding its RLock


def _thread_lock(folder: Path) -> threading.RLock:
    with _guard:
        return _thread_locks.setdefault(os.path.realpath(folder), threading.RLock())


@contextmanager
def held(cache_root: Path, on_wait: Callable[[], None] | None = None):
    """Hold the project's build lock (in `cache_root`) for the block; `on_wait()` is called once if
    another build holds it, before waiting for it to finish."""
    cache_root = Path(cache_root)
    inner = _thread_lock(cache_root)
    if not inner.acquire(blocking=False):
        if on_wait:
            on_wait()
        inner.acquire()
    key = os.path.realpath(cache_root)
    try:
        _depth[key] = _depth.get(key, 0) + 1
        if _depth[key] > 1:  # nested in this thread's own hold: the flock is already ours
            yield
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover  (Windows)
            yield
            return
        try:
            if cache_root.is_symlink():  # never write through a link (project.build_folders refuses it too)
                raise OSError("the cache folder is a symbolic link")
            cache_root.mkdir(parents=True, exist_ok=True)
            fd = os.open(cache_root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError:  # a cache folder that cannot be made: the build itself says why
            yield
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait:
                    on_wait()
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock
    finally:
        _depth[key] -= 1
        inner.release()


class CacheRefused(CompileError):
    """The cache folder is one a build refuses (for_build with strict=True); a CompileError."""


@contextmanager
def for_build(project, out_dir: Path, cache_dir: Path | None, on_wait: Callable[[], None] | None = None,
              strict: bool = False):
    """Hold the build lock of the cache folder a build of `project` into `out_dir` would use; yields
    that folder. A folder the build refuses (project.build_folders: a symlinked cache, one inside the
    outputs…) is never created nor locked: the build reports it, or with `strict` (a command that
    writes the cache without building) this raises the same diagnostic."""
    from compiler.diagnostics import Span, error
    from compiler.project import FolderRefused, build_folders

    try:
        root = build_folders(project, out_dir, cache_dir)
    except FolderRefused as exc:
        if strict:
            raise CacheRefused(error(str(exc), Span.point(str(exc.folder), 1, 1))) from None
        yield None
        return
    with held(root, on_wait):
        yield Path(root)


def is_held(cache_root: Path) -> bool:
    """Whether another process holds the build lock now (for tests and the studio's status)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        return False
    path = Path(cache_root) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
