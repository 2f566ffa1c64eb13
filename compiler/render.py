"""The render stage: every clip of a plan becomes takes, through a content-addressed cache.

A clip's cache entry is keyed by sha256(backend identity + clip key), so it is reused whenever the
same backend version would say the same lines in the same voices, wherever the clip sits in the
script. Cache misses are rendered in parallel worker processes, each holding one backend instance;
each finished clip is stored at once, so an interrupted build keeps its finished work and the next
build resumes from it.

Takes are stored as 16-bit PCM, and freshly rendered takes go through the same rounding before they
are returned: a build sounds bit-identical whether its clips came from the cache or not. A backend
that times its words (`render_timed`, compiler.words) has them stored beside the samples, so a cached
clip keeps its word times.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import multiprocessing
import os
import re
import signal
import stat
import struct
import sys
import threading
import time
import zipfile
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from compiler.atomic import remove_aside, sweep_stale, write_atomically
from compiler import words as word_times
from compiler.backends import BackendUnavailable, Take, create, shared
from compiler.diagnostics import CompileError, Diagnostic, Span, error
from compiler.plan_types import Clip
from compiler.words import Word
from compiler.project import CACHE_DIR_NAME  # noqa: F401  (tests name the folder through this module)

# A worker process spends ~2 s starting (imports, model load); below this many cache misses per
# worker, rendering them in this process is faster (a `dramac watch` edit re-renders one or two).
MIN_CLIPS_PER_WORKER = 3
_SCALE = 32767.0


@dataclass(frozen=True)
class Known:
    """A cache entry as it was when last verified: its file's signature (size, modification and
    change times, inode: a rewritten file has a new change time, which no program can set back)
    and each take's length and digest. A build that finds the file unchanged needs neither to read
    it to place its takes nor to key the mix (compiler.segments), only to mix a segment anew."""

    signature: tuple[int, ...]
    lengths: tuple[int, ...]
    digests: tuple[str, ...]
    words: tuple[tuple[Word, ...], ...] = ()  # each take's word times (compiler.words), where the backend gave them


class TakesChanged(Exception):
    """A cache entry read on demand is not what its signature promised: build again, reading all."""


def entry_signature(path: Path) -> tuple[int, ...] | None:
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino) if stat.S_ISREG(info.st_mode) else None


class Takes(Mapping):
    """clip.key → one float32 take per line, held as the cache stores them (16-bit): an hour of
    takes is 160 MB instead of 320, and each take is turned back into float32 (the very samples
    a cache hit gives) only while it is used. Takes of a known, unchanged entry are read only when
    first used (`know`)."""

    def __init__(self):
        self._pcm: dict[str, list[np.ndarray]] = {}
        self._digests: dict[tuple[str, int], str] = {}
        self._known: dict[str, Known] = {}  # clip.key → what its entry held
        self._readers: dict[str, Callable[[], list[np.ndarray] | None]] = {}
        self.words: dict[str, list[tuple[Word, ...]]] = {}  # clip.key → each take's word times (may be empty)

    def keep(self, key: str, takes: list[np.ndarray], words: list[tuple[Word, ...]] | None = None,
             known: Known | None = None) -> None:
        """Hold float32 takes that came from 16-bit samples (ClipCache.get and .put return them), and
        their word times where the backend gave them."""
        self._pcm[key] = [_to_pcm(t) for t in takes]
        if words and any(words):
            self.words[key] = list(words)
        if known is not None:
            self._known[key] = known

    def know(self, key: str, known: Known, read: Callable[[], list[np.ndarray] | None]) -> None:
        """A clip whose takes `read()` gives, verified, when first used (its word times are known)."""
        self._known[key] = known
        self._readers[key] = read
        if any(known.words):
            self.words[key] = list(known.words)

    def __getitem__(self, key: str) -> list[np.ndarray]:
        if key not in self._pcm and key in self._readers:
            takes = self._readers.pop(key)()
            if takes is None or tuple(len(t) for t in takes) != self._known[key].lengths:
                raise TakesChanged(key)
            self.keep(key, takes)
            if any(self.digest(key, i) != d for i, d in enumerate(self._known[key].digests)):
                raise TakesChanged(key)
        return [_from_pcm(t) for t in self._pcm[key]]

    def __iter__(self):
        return iter(dict.fromkeys([*self._pcm, *self._readers]))

    def __len__(self) -> int:
        return len(set(self._pcm) | set(self._readers))

    def clear(self) -> None:
        self._pcm.clear()
        self._readers.clear()
        self.words.clear()

    def stand_ins(self) -> dict[str, list[np.ndarray]]:
        """Zero-copy arrays of each take's length, for what needs only lengths (the timeline):
        known entries are not read for them."""
        out = {key: [np.broadcast_to(np.float32(0), (n,)) for n in known.lengths]
               for key, known in self._known.items() if key in self._readers}
        out.update({key: [np.broadcast_to(np.float32(0), (len(t),)) for t in pcm] for key, pcm in self._pcm.items()})
        return out

    def digest(self, key: str, index: int) -> str:
        """A digest of one take's samples (what the mix cache keys a take by: compiler.pieces)."""
        found = self._digests.get((key, index))
        if found is None:
            if key in self._readers:
                return self._known[key].digests[index]
            found = hashlib.sha256(np.ascontiguousarray(self._pcm[key][index], dtype="<i2").tobytes()).hexdigest()[:32]
            self._digests[(key, index)] = found
        return found

    def known(self, key: str) -> Known | None:
        """What the entry of clip `key` held, with this build's digests and word times."""
        known = self._known.get(key)
        if known is None:
            return None
        count = len(known.lengths)
        words = self.words.get(key, [])
        return Known(known.signature, known.lengths, tuple(self.digest(key, i) for i in range(count)),
                     tuple(tuple(words[i]) if i < len(words) else () for i in range(count)))

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for takes in self._pcm.values() for t in takes)


@dataclass
class RenderResult:
    takes: Takes  # clip.key → one float32 take per line
    sample_rate: int
    rendered: int  # distinct clips the backend rendered in this run
    cached: int  # distinct clips read from the cache (rendered + cached = distinct clips)
    seconds: float  # wall time of the whole stage
    cluster: object | None = None  # compiler.cluster.ClusterReport when rendered on a Ray cluster


def quantize(takes: list[np.ndarray]) -> list[np.ndarray]:
    """The takes as the cache stores them (16-bit), back as float32."""
    return [_from_pcm(_to_pcm(t)) for t in takes]


def _to_pcm(take: np.ndarray) -> np.ndarray:
    return np.round(np.clip(np.asarray(take, dtype=np.float64), -1.0, 1.0) * _SCALE).astype(np.int16)


def _from_pcm(pcm: np.ndarray) -> np.ndarray:
    return (pcm.astype(np.float32) / np.float32(_SCALE)).astype(np.float32)


class ClipCache:
    """Takes on disk, one `.npz` per clip, under `directory/<2 hex>/<sha256>.npz`.

    Entries are written to a temporary file in the same directory and renamed into place with
    os.replace(), which is atomic: a reader sees a whole entry or none. Stray temporary files (a
    build killed mid-write) never match an entry name, so they are ignored, and `sweep` removes them.

    An entry is trusted only after it is verified against what it claims to hold: the full cache key
    it was written for and a sha256 of its samples are stored in it, so another clip's entry copied
    onto this path, damaged or rescaled samples, or a file that is not an entry at all (a directory,
    a FIFO, a foreign zip) read as a miss, and the new render replaces it.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._marked = False

    def key(self, identity: str, clip: Clip) -> str:
        return hashlib.sha256(f"{identity}\n{clip.key}".encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npz"

    def get(self, identity: str, clip: Clip, sample_rate: int) -> list[np.ndarray] | None:
        hit = self.read(identity, clip, sample_rate)
        return None if hit is None else hit[0]

    def read(self, identity: str, clip: Clip, sample_rate: int) -> tuple[list[np.ndarray], list[tuple[Word, ...]]] | None:
        """The entry's takes (float32 from 16-bit) and each take's word times, or None on a miss."""
        key = self.key(identity, clip)
        try:
            entry = _read_entry(self.path(key), key, sample_rate, len(clip.lines))
        except _UNREADABLE:
            return None  # damaged or foreign: render again and overwrite
        if entry is None:
            return None
        pcm, words = entry
        return [_from_pcm(t) for t in pcm], words

    def put(self, identity: str, clip: Clip, takes: list[np.ndarray], sample_rate: int,
            words: list[tuple[Word, ...]] | None = None) -> list[np.ndarray]:
        """Store the takes (and their word times); returns them as stored (16-bit, back as float32), so
        a fresh render and a cache hit give the same samples."""
        key = self.key(identity, clip)
        path = self.path(key)
        self._prepare(path.parent)
        pcm = [_to_pcm(t) for t in takes]
        arrays = {f"take{i}": t for i, t in enumerate(pcm)}
        rows = _word_rows(words, len(pcm))
        buffer = io.BytesIO()
        np.savez(buffer, format=np.array(_FORMAT), key=np.array(key), sample_rate=np.array(sample_rate),
                 count=np.array(len(pcm)), digest=np.array(_digest(pcm, rows)), words=np.array(rows), **arrays)
        if path.is_dir() and not path.is_symlink():  # os.replace cannot rename a file over a directory
            remove_aside(path)
        write_atomically(path, buffer.getvalue())  # Ctrl-C or a full disk leaves no partial entry behind
        return [_from_pcm(t) for t in pcm]

    def open(self) -> None:
        """Ready the folder for a build: its markers where missing, and the temporary files of killed
        builds removed."""
        self.mark()
        self.sweep()

    def mark(self) -> None:
        """Create the folder, and its markers wherever they are missing: `.gitignore` keeps the cache
        out of version control, `CACHEDIR.TAG` out of backups. A marker that cannot be written (a
        read-only cache that still serves hits) is tried again by the next build."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, text in _MARKERS.items():
            marker = self.directory / name
            if not marker.is_file():
                try:
                    write_atomically(marker, text.encode())
                except OSError:
                    pass
        self._marked = True

    def sweep(self) -> list[str]:
        """Remove temporary files that killed builds left in the folder and its shards."""
        removed = sweep_stale(self.directory)
        try:
            shards = [entry.path for entry in os.scandir(self.directory) if _SHARD_NAME.fullmatch(entry.name)]
        except OSError:
            return removed
        for shard in shards:
            removed += sweep_stale(shard, _ENTRY_NAME)
        return removed

    def _prepare(self, shard: Path) -> None:
        if not self._marked:
            self.mark()
        if shard.is_symlink() or (shard.exists() and not shard.is_dir()):
            remove_aside(shard)  # never write through a link, nor fail on a file in the way
        shard.mkdir(exist_ok=True)


_FORMAT = "dramac-takes-3"  # bump if the entry layout changes; old entries then read as misses (3: word times)
_MARKERS = {
    ".gitignore": "*\n",
    "CACHEDIR.TAG": "Signature: 8a477f597d28d172789f06886806bc55\n# dramac's rendered clips; safe to delete.\n",
}
_SHARD_NAME = re.compile(r"[0-9a-f]{2}")
_ENTRY_NAME = re.compile(r"[0-9a-f]{64}\.npz")  # what a legacy temporary file in a shard was written for
# What zipfile and numpy raise on a damaged or foreign file (found by mutating entries byte by byte,
# tests/test_cache_entries.py; RuntimeError: a member flagged as encrypted): each means the entry
# cannot be verified, so it is a miss.
_UNREADABLE = (OSError, ValueError, KeyError, IndexError, EOFError, OverflowError, RuntimeError, NotImplementedError,
               struct.error, zipfile.BadZipFile, zipfile.LargeZipFile)


class _Unverified(ValueError):
    pass


def _digest(pcm: list[np.ndarray], rows: str) -> str:
    """sha256 over every take's length and little-endian samples, then the word times' JSON text:
    splitting or reordering takes, or editing a time, changes it."""
    h = hashlib.sha256()
    for take in pcm:
        data = np.ascontiguousarray(take, dtype="<i2").tobytes()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    text = rows.encode()
    h.update(len(text).to_bytes(8, "little"))
    h.update(text)
    return h.hexdigest()


def _word_rows(words: list[tuple[Word, ...]] | None, count: int) -> str:
    """Word times as stored: a JSON list with one list of [word, start, end] rows per take."""
    words = list(words or [])
    return json.dumps([word_times.to_rows(words[i] if i < len(words) else ()) for i in range(count)])


def read_archive(path: Path, read: Callable[[Callable[[str], np.ndarray], list[str]], object]):
    """`read(member, names)` on the .npz entry at `path`, where member(name) reads one array through
    _member's checks and `names` are the arrays the archive holds; None when no regular file is there.
    Only regular files are opened: O_NOFOLLOW refuses a symlink and O_NONBLOCK keeps a FIFO from
    blocking the open until fstat turns it away."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None  # a directory, FIFO or device where an entry should be
        with zipfile.ZipFile(fh) as archive:
            names = [n[:-4] for n in archive.namelist() if n.endswith(".npy")]
            return read(lambda name: _member(archive, name, info.st_size), names)


def _read_entry(path: Path, key: str, sample_rate: int, count: int) -> tuple[list[np.ndarray], list[tuple[Word, ...]]] | None:
    """The 16-bit takes and the word times of the entry at `path` if it verifiably holds `count` takes
    at `sample_rate` written for `key`, else None."""

    def read(member, _names):
        if (str(member("format")) != _FORMAT or str(member("key")) != key
                or int(member("sample_rate")) != sample_rate or int(member("count")) != count):
            return None
        return str(member("digest")), str(member("words")), [member(f"take{i}") for i in range(count)]

    found = read_archive(path, read)
    if found is None:
        return None
    digest, rows, takes = found
    if any(t.ndim != 1 or t.dtype != np.int16 for t in takes) or _digest(takes, rows) != digest:
        return None
    per_take = json.loads(rows)
    if not isinstance(per_take, list) or len(per_take) != count:
        return None
    return takes, [word_times.from_rows(r) for r in per_take]


def _member(archive: zipfile.ZipFile, name: str, file_size: int) -> np.ndarray:
    """One array of an .npz archive, read only after checking that the member is stored (not
    compressed: no zip bomb) within the file's size, and that its header promises no more bytes than
    the member holds: a forged shape must not make numpy allocate gigabytes before the read fails."""
    info = archive.getinfo(f"{name}.npy")
    if info.compress_type != zipfile.ZIP_STORED or info.file_size > file_size:
        raise _Unverified(name)
    blob = archive.read(info)
    header = io.BytesIO(blob)
    if np.lib.format.read_magic(header) != (1, 0):
        raise _Unverified(name)
    shape, _, dtype = np.lib.format.read_array_header_1_0(header)
    if dtype.hasobject or math.prod(shape) * dtype.itemsize > len(blob):
        raise _Unverified(name)
    return np.lib.format.read_array(io.BytesIO(blob), allow_pickle=False)


# --- worker processes ---------------------------------------------------------------------------

_worker_backend = None


def _init_worker(backend_name: str, options: dict) -> None:
    global _worker_backend
    # Ctrl-C reaches the whole process group; the driver alone answers it (and ends the workers).
    # A worker that took it too would die mid-queue with a traceback and could leave the pool's
    # queues locked, hanging the driver's exit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with_driver(os.getppid())
    _worker_backend = create(backend_name, **options)


ORPHAN_CHECK_SECONDS = 0.5


def _end_with_driver(driver: int) -> None:
    """End this worker once its driver is gone. A driver killed outright (SIGKILL, SIGTERM: a `watch`
    stopped by its supervisor, a CI job timing out) ends no worker; they would wait on its queue
    forever, each holding a voice model. A process whose parent dies is given another parent."""

    def watch() -> None:
        while os.getppid() == driver:
            time.sleep(ORPHAN_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="dramac-orphan-check", daemon=True).start()


def _render_in_worker(clip: Clip) -> list:
    return _render(_worker_backend, clip)


def _render(backend, clip: Clip) -> list:
    """The backend's takes for `clip`: with word times (Take) where it has `render_timed`."""
    timed = getattr(backend, "render_timed", None)
    return timed(clip) if timed is not None else backend.render(clip)


# --- the stage ----------------------------------------------------------------------------------


def render_plan(
    clips: list[Clip],
    backend_name: str,
    backend_options: dict,
    cache: ClipCache,
    jobs: int,
    on_clip: Callable[[Clip, bool], None] | None = None,
    known: Mapping[str, Known] | None = None,
    cluster: str | None = None,
) -> RenderResult:
    """Takes for every clip, from the cache or rendered by up to `jobs` worker processes (jobs ≤ 0:
    one per CPU; 1, or only a few misses: in this process). Workers are spawned, so a script that
    calls this with jobs > 1 needs the `if __name__ == "__main__":` guard.

    `on_clip(clip, from_cache)` is called here, in the main process, once for every clip of `clips`
    as it becomes ready. `known` (cache key → Known, from the last build: compiler.mix_cache) lets
    an entry whose file is unchanged go unread until its takes are used. A clip the backend fails on is reported as a CompileError at its first
    line, after all other clips were finished and cached.

    `cluster`: a Ray address ("auto", "local", host:port): the misses are rendered there by up to
    `jobs` workers (0: all the cluster holds) instead of here (compiler/cluster.py); it raises
    compiler.cluster.ClusterUnavailable when Ray is missing or the cluster cannot be joined.
    """
    started = time.perf_counter()
    # The process's one instance for these options: watch rebuilds and a series load the model once.
    backend = shared(backend_name, **backend_options)
    identity = backend.identity()
    rate = backend.sample_rate
    cluster_jobs = jobs  # a farm worker is a GPU or a node's core, not one of this machine's cores
    if jobs <= 0:
        jobs = os.cpu_count() or 1
    if not backend.capabilities.parallel:
        jobs = 1

    by_key: dict[str, list[Clip]] = {}
    for clip in clips:
        by_key.setdefault(clip.key, []).append(clip)

    takes = Takes()
    misses: list[Clip] = []
    known = known or {}
    for key, group in by_key.items():
        entry = cache.key(identity, group[0])
        path = cache.path(entry)
        before = entry_signature(path)
        recorded = known.get(entry)
        if before is not None and recorded is not None and recorded.signature == before:
            takes.know(key, recorded, lambda clip=group[0]: cache.get(identity, clip, rate))
        else:
            hit = cache.read(identity, group[0], rate)
            if hit is None:
                misses.append(group[0])
                continue
            audio, words = hit
            after = entry_signature(path)
            takes.keep(key, audio, words, Known(after, tuple(len(t) for t in audio), ()) if after == before else None)
        for clip in group:
            _notify(on_clip, clip, True)

    failures: list[Diagnostic] = []

    def finish(clip: Clip, result: list[np.ndarray] | None, problem: str | None) -> None:
        if problem is None:
            problem = _check_takes(clip, result)
        if problem is not None:
            failures.append(error(f"backend '{backend_name}' could not render this clip: {problem}", _span_of(clip)))
            return
        audio, words = _unpacked(result, rate)
        stored = cache.put(identity, clip, audio, rate, words)
        signature = entry_signature(cache.path(cache.key(identity, clip)))
        takes.keep(clip.key, stored, words, Known(signature, tuple(len(t) for t in stored), ()) if signature else None)
        for same in by_key[clip.key]:
            _notify(on_clip, same, False)

    farm = None
    workers = min(jobs, len(misses) // MIN_CLIPS_PER_WORKER)
    if cluster and misses:
        from compiler import cluster as engine

        try:
            farm = engine.render(misses, backend_name, backend_options, backend, cluster, cluster_jobs, finish)
        except BackendUnavailable as exc:  # the runtime is missing on the workers: one error for the build
            raise CompileError(error(str(exc), _span_of(misses[0]))) from None
    elif workers <= 1:
        for clip in misses:
            result, problem = None, None
            try:
                result = _render(backend, clip)
            except BackendUnavailable as exc:  # missing or broken runtime: one error for the build
                raise CompileError(error(str(exc), _span_of(clip))) from None
            except (ValueError, RuntimeError, OSError) as exc:
                problem = str(exc) or type(exc).__name__
            finish(clip, result, problem)
    else:
        _render_parallel(misses, backend_name, backend_options, workers, finish)

    if failures:
        raise CompileError(failures)
    return RenderResult(
        takes=takes,
        sample_rate=rate,
        rendered=len(misses),
        cached=len(by_key) - len(misses),
        seconds=time.perf_counter() - started,
        cluster=farm,
    )


# The worker pool is kept for the rest of the process, for one backend and options at a time: the
# scripts of a series share it, so each worker starts and loads its voice model once for the whole run.
# A pool that failed or was interrupted is shut down and forgotten; close_pools() ends the kept one.
_pools: dict[str, tuple[ProcessPoolExecutor, int]] = {}


def _pool(name: str, options: dict, workers: int) -> ProcessPoolExecutor:
    """A pool of at least `workers` processes for this backend; processes start as work arrives."""
    key = f"{name}:{sorted(options.items())!r}"
    kept = _pools.get(key)
    if kept is not None and kept[1] >= workers:
        return kept[0]
    # One pool at a time: workers of another backend or options (a setting edited under `dramac watch`)
    # would otherwise stay alive holding their models.
    close_pools()
    # spawn, not fork: onnxruntime and BLAS thread pools do not survive a fork safely.
    context = multiprocessing.get_context("spawn")
    executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(name, options))
    _pools[key] = (executor, workers)
    return executor


def close_pools() -> None:
    """End every kept worker pool (the end of a `dramac build`), on the cluster too."""
    engine = sys.modules.get("compiler.cluster")  # imported only when a cluster was asked for
    if engine is not None:
        engine.close()
    while _pools:
        _, (executor, _) = _pools.popitem()
        # Nothing is left for them to do: end them at once, as the system reclaims a process, rather
        # than wait while each one's interpreter frees its voice model object by object.
        _end_workers(executor)
        executor.shutdown(wait=True, cancel_futures=True)


def _forget_pool(executor: ProcessPoolExecutor) -> None:
    for key, (kept, _) in list(_pools.items()):
        if kept is executor:
            del _pools[key]


def _render_parallel(misses: list[Clip], name: str, options: dict, workers: int, finish) -> None:
    executor = _pool(name, options, workers)
    interrupted = True
    broken = False
    try:
        pending: dict[Future, Clip] = {executor.submit(_render_in_worker, clip): clip for clip in misses}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                clip = pending.pop(future)
                try:
                    finish(clip, future.result(), None)
                except BrokenProcessPool:
                    broken = True
                    finish(clip, None, "a worker process died (out of memory, or killed)")
                except BackendUnavailable as exc:  # missing or broken runtime: one error for the build
                    raise CompileError(error(str(exc), _span_of(clip))) from None
                except (ValueError, RuntimeError, OSError) as exc:
                    finish(clip, None, str(exc) or type(exc).__name__)
        interrupted = False
    finally:
        if interrupted or broken:
            # On Ctrl-C: drop the queue and return at once; finished clips are already cached.
            _forget_pool(executor)
            if interrupted:
                _end_workers(executor)
            executor.shutdown(wait=not interrupted, cancel_futures=True)


def _end_workers(executor: ProcessPoolExecutor) -> None:
    """Stop the workers where they are (a clip half rendered is lost, not cached): waiting for the
    clips in hand would keep a writer waiting after Ctrl-C for as long as the longest clip."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    for process in processes:  # all signalled first, so they end together, then each waited for
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


def _unpacked(result: list, rate: int) -> tuple[list[np.ndarray], list[tuple[Word, ...]]]:
    """Audio and word times of checked takes (plain arrays: no word times). Word times that do not
    fit their take are dropped (compiler.words.checked), never passed on."""
    audio = [t.audio if isinstance(t, Take) else t for t in result]
    words = [word_times.as_stored(word_times.checked(t.words, len(t.audio) / rate)) if isinstance(t, Take) else ()
             for t in result]
    return audio, words


def _check_takes(clip: Clip, takes) -> str | None:
    if not isinstance(takes, list) or len(takes) != len(clip.lines):
        count = len(takes) if isinstance(takes, list) else type(takes).__name__
        return f"expected {len(clip.lines)} takes, got {count}"
    for i, take in enumerate(takes):
        take = take.audio if isinstance(take, Take) else take
        if not isinstance(take, np.ndarray) or take.ndim != 1:
            return f"take {i + 1} is not mono audio"
        if take.size and not np.all(np.isfinite(take)):
            return f"take {i + 1} contains NaN or infinite samples"
    return None


def _span_of(clip: Clip) -> Span:
    return clip.lines[0].span if clip.lines else Span.point("<plan>", 1, 1)


def _notify(on_clip, clip: Clip, from_cache: bool) -> None:
    if on_clip is not None:
        on_clip(clip, from_cache)
