"""Nothing half-written: every output and cache entry is written to a temporary file beside its
target and renamed over it (atomic on POSIX), so a reader — or the next build after Ctrl-C or a full
disk — sees the whole file or none.

A temporary file is named `.<target>.dramac<pid>.<8 random>.tmp`: the writer's process id in the
name lets the next build recognise one left behind by a killed build (`sweep_stale`) without ever
touching a file another running build is still writing.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would have given; mkstemp's 0600 would hide outputs

# mkstemp's random part is 8 characters of [a-z0-9_].
TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.dramac(?P<pid>\d+)\.[a-z0-9_]{8}\.tmp$")
# Earlier builds named them `.<target>.<8 random>.tmp`, without the writer's pid.
LEGACY_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp$")

# A dead writer's file is left this long (seconds since its last write) before it is removed: its pid
# may belong to another machine sharing the folder, where it is still writing.
DEAD_WRITER_GRACE = 60.0
# Any temporary file untouched this long is abandoned, whoever wrote it (pid reused, legacy name).
ABANDONED_AFTER = 3600.0


def temp_prefix(target_name: str) -> str:
    return f".{target_name}.dramac{os.getpid()}."


@contextmanager
def atomic_path(path: str | Path, keep_if_same: bool = False, free_old_later: bool = False) -> Iterator[str]:
    """Yield a temporary path beside `path` for a writer that wants a file name (soundfile, numpy);
    on success it replaces `path`, on any error it vanishes. `keep_if_same`: when the new bytes are
    those of the file already there, that file is left alone (its modification time too), so a
    player, a sync tool or `make` watching it sees no change. `free_old_later`: the replaced file's
    blocks are freed by a thread (see _replace_freeing_later), for outputs of hundreds of MB."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".", prefix=temp_prefix(target.name), suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        if keep_if_same and same_bytes(tmp, target):
            os.unlink(tmp)
            return
        os.chmod(tmp, _FILE_MODE)
        if free_old_later:
            _replace_freeing_later(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_freeing: list[threading.Thread] = []  # unlinks of replaced outputs still running
_left_aside: list[Path] = []  # replaced outputs linked aside, for a process of their own to unlink
FREE_LATER_BYTES = 16 << 20  # a smaller file is freed in a millisecond or two: not worth a thread


class Freeing:
    """Who frees the replaced outputs: a thread of this process (the default), or — for a `dramac
    build` process that ends as soon as its build is done (compiler/cli.py) — a process of its own,
    started once the build has written everything (wait_freed), that outlives it. The kernel frees a
    file of hundreds of MB in a tenth of a second or more, and a process ends only once every one of
    its threads has: that tenth of a second would be the writer's to wait."""

    by_child_process = False


def _replace_freeing_later(tmp: str, target: Path) -> None:
    """os.replace(tmp, target), but the old file is first linked aside under a temporary name and
    unlinked later, by a thread or a process of its own (Freeing): freeing a file of hundreds of MB
    (its blocks, its pages in memory) takes the kernel a tenth of a second or more, which the build
    spends writing its other outputs meanwhile. A build killed before the unlink leaves a temporary
    name that `sweep_stale` removes."""
    aside = target.parent / f"{temp_prefix(target.name)}{os.urandom(4).hex()}.tmp"
    try:
        linked = os.stat(target, follow_symlinks=False).st_size >= FREE_LATER_BYTES  # else freed in no time
        if linked:
            os.link(target, aside, follow_symlinks=False)
    except OSError:  # no file there yet, or a file system without hard links
        linked = False
    if not linked:
        os.replace(tmp, target)
        return
    try:
        os.replace(tmp, target)
    except BaseException:
        os.unlink(aside)
        raise
    if Freeing.by_child_process:
        _left_aside.append(aside)
        return
    thread = threading.Thread(target=_unlink_quietly, args=(aside,), name="dramac-free-old-output")
    thread.start()
    _freeing.append(thread)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:  # the next build's sweep_stale tries again
        pass


def wait_freed() -> None:
    """Wait for the replaced outputs still being freed by threads, and hand those left aside to `rm`
    in a process of its own (Freeing), which no one waits for: detached from this one's terminal and
    output (a caller reading this process's output to its end does not wait for it either). Where
    it cannot start, they are unlinked here."""
    while _freeing:
        _freeing.pop().join()
    if not _left_aside:
        return
    paths = [str(p) for p in _left_aside]
    _left_aside.clear()
    rm = shutil.which("rm")
    try:
        if rm is None:
            raise OSError("no rm")
        quiet = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
        os.posix_spawn(rm, ["rm", "-f", "--", *paths], os.environ, file_actions=quiet, setsid=True)
    except (OSError, AttributeError, NotImplementedError):  # no rm, no posix_spawn (not POSIX)
        for path in paths:
            _unlink_quietly(Path(path))


atexit.register(wait_freed)  # a build that ends with os._exit (compiler/cli.py) still runs the exit handlers


def same_bytes(new: str | Path, old: str | Path) -> bool:
    """Whether the regular file `old` (never followed if a link) holds exactly the bytes of `new`."""
    try:
        info = os.stat(old, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode) or info.st_size != os.path.getsize(new):
            return False
        with open(new, "rb") as a, open(old, "rb") as b:
            while True:
                chunk = a.read(1 << 20)
                if chunk != b.read(1 << 20):
                    return False
                if not chunk:
                    return True
    except OSError:
        return False


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb", keep_if_same: bool = False, durable: bool = True) -> Iterator[IO]:
    """Like open(path, mode) for writing, but atomic (see atomic_path); flushed to disk before the
    rename unless not `durable` (an entry verified on every read, which a crash may cost but never
    corrupt unnoticed)."""
    with atomic_path(path, keep_if_same) as tmp:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": "\n"})) as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())


def write_atomically(path: str | Path, data: bytes, durable: bool = True) -> None:
    with atomic_open(path, "wb", durable=durable) as fh:
        fh.write(data)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OverflowError:  # a number no process can have
        return False
    return True


def is_stale(name: str, age: float, legacy_target: re.Pattern | None = None) -> bool:
    """Whether a directory entry called `name`, last written `age` seconds ago, is a temporary file
    a killed writer left behind. Legacy names (no pid) are only recognised when their target
    matches `legacy_target`, so a user's own `.notes.abcdefgh.tmp` is never taken for one."""
    ours = TEMP_NAME.match(name)
    if ours:
        pid = int(ours["pid"])
        if pid == os.getpid():
            return False  # this process may be writing it right now (another thread)
        return age > ABANDONED_AFTER or (age > DEAD_WRITER_GRACE and not _pid_alive(pid))
    legacy = LEGACY_TEMP_NAME.match(name)
    return bool(legacy and legacy_target and legacy_target.fullmatch(legacy["target"]) and age > ABANDONED_AFTER)


def sweep_stale(folder: str | Path, legacy_target: re.Pattern | None = None) -> list[str]:
    """Remove the stale temporary files (see is_stale) directly inside `folder`; returns their names.

    Never follows a symlink; a directory is removed only when it carries this module's own name
    pattern (a cache entry's path that was a directory is renamed aside to one). Errors are
    ignored: a file that cannot be removed now is tried again by the next build.
    """
    removed = []
    now = time.time()
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not name.endswith(".tmp"):
            continue
        path = os.path.join(folder, name)
        try:
            info = os.lstat(path)
            if not is_stale(name, now - info.st_mtime, legacy_target):
                continue
            if stat.S_ISDIR(info.st_mode):
                if not TEMP_NAME.match(name):
                    continue
                shutil.rmtree(path)
            else:
                os.unlink(path)
            removed.append(name)
        except OSError:
            continue
    return removed


def remove_aside(path: str | Path) -> None:
    """Clear `path` of what stands in the way of a file or folder to be put there (a directory, a
    symlink, a stray file): renamed aside first under a temporary name, so the way is clear at once
    even if removing a directory's contents fails half-way (`sweep_stale` finishes that later)."""
    target = Path(path)
    aside = target.parent / f"{temp_prefix(target.name)}{os.urandom(4).hex()}.tmp"
    os.replace(target, aside)
    if aside.is_dir() and not aside.is_symlink():
        # rmtree never follows symlinks inside the tree, so nothing outside it is touched.
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)  # a link (never its target) or a file
