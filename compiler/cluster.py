"""The render stage on a Ray cluster: `dramac build --cluster auto|ADDRESS` ([render] cluster).

Ray places the work; everything else stays on the driver (the machine running `dramac build`):
planning, the clip cache, stitching and mastering, so a cluster build is byte-identical to a local
one. Each worker is a Ray actor that builds its backend once (through the registry, with the
driver's options) and renders the clips sent to it: one actor per GPU for a backend that asks for
one (Dia2 on CUDA), one per CPU for the embedded voice.

Scheduling: the longest clips go first (Clip.est_seconds), so the play does not end waiting on one
long clip; each actor holds one clip rendering and one queued, which hides the round trip. Files a
backend makes once per voice (Dia2's calibrated prefixes) are made first, each by one actor, then
copied into every actor's cache folder and the driver's before any clip that needs them.

Faults: a worker that dies mid-clip (killed process, lost node, CUDA out-of-memory) costs its clip
only: the actor is replaced and the clip goes to the front of the queue, for any worker, up to
MAX_ATTEMPTS times; then the clip fails like any clip the backend cannot render, naming its first
line. Every finished clip reaches the driver's cache at once (the `finish` callback), so a driver
interrupted mid-build resumes where it stopped.

The actors are kept for the rest of the run, so the scripts of a series share them (close()).
Ray is imported only here, and only when a cluster is asked for: `pip install 'dramac[cluster]'`.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from compiler.atomic import write_atomically
from compiler.backends import BackendUnavailable, create, register, target_of
from compiler.diagnostics import CompileError
from compiler.plan_types import Clip

MAX_ATTEMPTS = 3  # tries of a clip whose worker died under it; then the build fails at its line
QUEUED_PER_WORKER = 1  # clips sent ahead to a busy worker: its next clip is there when it finishes
# How long the driver waits without any worker able to start (a cluster without the resources asked
# for, every node lost) before failing the clips still waiting.
PLACEMENT_TIMEOUT = 300.0
# What Ray raises for a worker that died rather than a clip that failed; CUDA errors are recognised
# by name in _is_device_fault (torch is never imported here).
_DEATH_NAMES = ("RayActorError", "WorkerCrashedError", "OutOfMemoryError", "NodeDiedError", "ObjectLostError",
                "OwnerDiedError", "ActorDiedError", "ActorUnavailableError", "LocalRayletDiedError")


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ClusterUnavailable(RuntimeError):
    """Ray is missing, or the cluster cannot be reached or cannot run this backend; the message says what to do."""


def require_ray():
    """The ray module, or ClusterUnavailable saying how to install it."""
    if "RAY_AUTH_MODE" not in os.environ and (os.environ.get("RAY_AUTH_TOKEN") or (Path.home() / ".ray" / "auth_token").is_file()):
        # A cluster started by `ray start` (Ray 2.5x) asks for the token saved there; Ray's client sends
        # it by itself for address="auto" but not for host:port. Ray reads this when it is imported.
        os.environ["RAY_AUTH_MODE"] = "token"
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable("rendering on a cluster needs Ray, which is not installed here: "
                                 "pip install 'dramac[cluster]' (on the driver and on every node)") from None
    return ray


def connect(address: str):
    """Join the cluster at `address` ("auto": the one this machine belongs to, started with `ray
    start`; "local": a private one on this machine; else host:port or ray://host:port). A process
    where Ray is already initialised (a test, a notebook) keeps its connection."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    try:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        else:
            # The workers run the driver's own dramac (shipped by Ray, cached per version on each node), so a
            # node with another version installed cannot put different audio under the same cache key.
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING,
                     runtime_env={"py_modules": [str(Path(__file__).resolve().parent)]})
    except (ConnectionError, RuntimeError, ValueError, OSError) as exc:
        hint = "start one with `ray start --head` (docs/cluster.md)" if address == "auto" else "check the address"
        raise ClusterUnavailable(f"cannot join the Ray cluster at '{address}': {_first_line(exc).rstrip('.')}; {hint}") from None
    _started_here.append(True)
    return ray


_started_here: list[bool] = []


@dataclass
class WorkerReport:
    """One worker of a cluster build, for the build record."""

    worker: str  # node address and process id: "10.0.0.5:4242"
    node: str
    gpus: list[str]
    clips: int = 0  # clips it rendered for this script


@dataclass
class ClusterReport:
    address: str
    workers: list[WorkerReport] = field(default_factory=list)
    retried: int = 0  # clips sent again because their worker died
    prepared: int = 0  # voice files made once and shared (Dia2 calibrations)


# --- the actor ----------------------------------------------------------------------------------


class Worker:
    """One backend instance on a cluster node. Ray runs its methods one at a time, in the order sent."""

    def __init__(self, name: str, target: str, options: dict):
        register(name, target)  # a backend registered on the driver exists here too
        self.backend = create(name, **options)
        workspace = options.get("workspace")
        self.cache_dir = Path(workspace.cache_dir) if workspace is not None else None

    def describe(self) -> dict:
        import ray

        return {"node": ray.util.get_node_ip_address(), "pid": os.getpid(),
                "gpus": [str(g) for g in ray.get_gpu_ids()]}

    def install(self, files: dict[str, bytes]) -> None:
        """Put shared voice files into this node's cache folder (a shared folder may have them already)."""
        for relative, data in files.items():
            _write_inside(self.cache_dir, relative, data)

    def prepare(self, voice) -> dict[str, bytes]:
        return self.backend.prepare_voice(voice)

    def render(self, clip: Clip):
        from compiler.render import _render  # with word times where the backend gives them, as a local render

        return _render(self.backend, clip)


def _write_inside(folder: Path | None, relative: str, data: bytes) -> None:
    if folder is None:
        return
    target = (folder / relative).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise ValueError(f"shared file {relative!r} is outside the cache folder")
    try:
        if target.read_bytes() == data:
            return
    except OSError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, data)


# --- the pool -----------------------------------------------------------------------------------


@dataclass(eq=False)
class _Actor:
    handle: object
    ready: object | None  # the ObjectRef of describe() until it answers
    report: WorkerReport | None = None
    running: deque = field(default_factory=deque)  # (ref, item) sent to it, oldest (rendering) first

    @property
    def is_ready(self) -> bool:
        return self.ready is None


class Pool:
    """Actors of one backend and options on the cluster, kept across the scripts of a run."""

    def __init__(self, ray, key: str, make_actor: Callable[[], object], resources: dict, slots: int = 1):
        self.ray, self.key, self.make_actor, self.resources, self.slots = ray, key, make_actor, resources, slots
        self.actors: list[_Actor] = []
        self.in_use = 0  # how many of them this script may use (its --jobs); a series keeps the others
        self.files: dict[str, bytes] = {}  # shared voice files every actor gets before its first clip
        self.start_failures = 0
        self.last_start_error = ""

    def grow(self, size: int) -> None:
        while len(self.actors) < size:
            self._start()
        self.in_use = size

    @property
    def working(self) -> list[_Actor]:
        return self.actors[:self.in_use]  # a replacement takes the place of the dead actor at the end

    def _start(self) -> _Actor:
        handle = self.make_actor()
        actor = _Actor(handle, handle.describe.remote())
        if self.files:
            handle.install.remote(self.files)
        self.actors.append(actor)
        return actor

    def share(self, files: dict[str, bytes]) -> None:
        self.files.update(files)
        for actor in self.actors:
            actor.handle.install.remote(files)

    def replace(self, actor: _Actor) -> None:
        """Drop a dead (or poisoned) actor and start another in its place."""
        if actor in self.actors:
            self.actors.remove(actor)
        try:
            self.ray.kill(actor.handle, no_restart=True)
        except Exception:  # already gone with its node: nothing to end
            pass
        self._start()

    def close(self) -> None:
        for actor in self.actors:
            try:
                self.ray.kill(actor.handle, no_restart=True)
            except Exception:  # already gone
                pass
        self.actors.clear()


_pool: Pool | None = None


def close_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.close()
        _pool = None


def close() -> None:
    """End the kept actors, and the Ray connection this process opened (the end of `dramac build`)."""
    close_pool()
    if _started_here:
        _started_here.clear()
        import ray

        ray.shutdown()


def worker_pool(ray, name: str, options: dict, resources: dict, size: int, slots: int = 1) -> Pool:
    """The kept pool for this backend and options, grown to `size` actors; another one is closed first
    (a setting edited under `dramac watch` must not leave models loaded on the cluster)."""
    global _pool
    key = f"{name}:{sorted(options.items())!r}:{sorted(resources.items())!r}:{slots}"
    if _pool is not None and _pool.key != key:
        _pool.close()
        _pool = None
    if _pool is None:
        remote = ray.remote(**resources, max_restarts=0, max_concurrency=slots)(Worker)
        target = target_of(name)
        _pool = Pool(ray, key, lambda: remote.remote(name, target, options), resources, slots)
    _pool.grow(size)
    return _pool


def capacity(ray, resources: dict) -> int:
    """How many actors asking for `resources` the cluster holds at once."""
    total = ray.cluster_resources()
    fits = [int(total.get(_RESOURCE_NAMES[k], 0) // v) for k, v in resources.items() if v > 0]
    return min(fits) if fits else 1 << 20  # an actor that holds nothing is bounded by nothing Ray counts


_RESOURCE_NAMES = {"num_cpus": "CPU", "num_gpus": "GPU"}


# --- the stage ----------------------------------------------------------------------------------


def render(misses: list[Clip], name: str, options: dict, backend, address: str, jobs: int,
           finish: Callable[[Clip, object, str | None], None], slots: int = 1) -> ClusterReport:
    """Render `misses` on the cluster at `address` with up to `jobs` workers (0: as many as its
    resources hold). `finish(clip, takes, problem)` is called on the driver once per clip as it
    completes (problem: why it could not be rendered, takes then None). `slots`: clips one actor
    renders at once, in threads (benchmarks/cluster.py simulates many GPUs with few processes);
    `jobs` then counts slots."""
    ray = connect(address)
    resources = dict(getattr(backend, "cluster_resources", lambda: {"num_cpus": 1})())
    room = capacity(ray, resources)
    if room < 1:
        asked = ", ".join(f"{_RESOURCE_NAMES[k]}={v:g}" for k, v in resources.items())
        raise ClusterUnavailable(f"no node of the Ray cluster at '{address}' has what a '{name}' worker needs "
                                 f"({asked}); add such a node, or change the backend's device")
    size = max(1, min(jobs if jobs > 0 else room * slots, room * slots, len(misses)))
    pool = worker_pool(ray, name, options, resources, -(-size // slots), slots)
    try:
        return _render_with(pool, misses, options, address, finish, backend)
    except BaseException:
        # Ctrl-C or a failed build: the clips still queued on the workers are dropped with them, and the
        # next build starts clean; every clip already finished is in the cache.
        close_pool()
        raise


def _render_with(pool: Pool, misses: list[Clip], options: dict, address: str, finish, backend) -> ClusterReport:
    report = ClusterReport(address)
    voices = list(getattr(backend, "voices_to_prepare", lambda clips: [])(misses))
    failed_voices = _prepare_voices(pool, voices, options, report)
    ready = []
    for clip in misses:
        problem = next((failed_voices[v.key] for v in clip.voices if v.key in failed_voices), None)
        if problem is None:
            ready.append(clip)
        else:
            finish(clip, None, problem)
    order = sorted(range(len(ready)), key=lambda i: (-ready[i].est_seconds, i))  # longest first, stable
    counts: dict[str, int] = {}

    def done(actor: _Actor, clip: Clip, takes) -> None:
        counts[actor.report.worker] = counts.get(actor.report.worker, 0) + 1
        finish(clip, takes, None)

    report.retried += run(pool, [ready[i] for i in order], lambda actor, clip: actor.handle.render.remote(clip), done,
                          lambda clip, problem: finish(clip, None, problem))
    seen = {}
    for actor in pool.working:
        if actor.report is not None:
            seen[actor.report.worker] = actor.report
    report.workers = [WorkerReport(w, r.node, r.gpus, counts.get(w, 0)) for w, r in sorted(seen.items())]
    # A worker that died during this script rendered clips too; it is listed with them.
    report.workers += [WorkerReport(w, w.rsplit(":", 1)[0], [], n) for w, n in sorted(counts.items()) if w not in seen]
    return report


def _prepare_voices(pool: Pool, voices: list, options: dict, report: ClusterReport) -> dict[str, str]:
    """Make each voice's shared files once (on any worker), keep them in the driver's cache folder and
    give them to every worker. Returns voice key → why it could not be made."""
    if not voices:
        return {}
    made: dict[str, bytes] = {}
    failed: dict[str, str] = {}

    def done(actor: _Actor, voice, files: dict[str, bytes]) -> None:
        made.update(files)
        report.prepared += 1

    report.retried += run(pool, voices, lambda actor, voice: actor.handle.prepare.remote(voice), done,
                          lambda voice, problem: failed.setdefault(voice.key, f"voice '{voice.name}': {problem}"))
    workspace = options.get("workspace")
    for relative, data in made.items():  # the driver's own cache: a resumed or local build reuses them
        _write_inside(Path(workspace.cache_dir) if workspace is not None else None, relative, data)
    if made:
        pool.share(made)
    return failed


def run(pool: Pool, items: list, submit: Callable, on_done: Callable, on_failed: Callable[[object, str], None]) -> int:
    """Send `items` to the pool's actors, at most 1 + QUEUED_PER_WORKER (× slots) at a time each, in
    order; `on_done(actor, item, value)` for each result, `on_failed(item, why)` for an item the
    backend refused or whose workers died MAX_ATTEMPTS times. Returns how many items were sent again."""
    ray = pool.ray
    queue = deque(items)
    in_flight: dict[object, tuple[_Actor, object]] = {}
    attempts: dict[int, int] = {}
    retried = 0
    idle_since = time.monotonic()
    per_actor = pool.slots * (1 + QUEUED_PER_WORKER)
    while queue or in_flight:
        for actor in pool.working:
            while actor.is_ready and queue and len(actor.running) < per_actor:
                item = queue.popleft()
                ref = submit(actor, item)
                in_flight[ref] = (actor, item)
                actor.running.append((ref, item))
        waiting = {actor.ready: actor for actor in pool.working if not actor.is_ready}
        refs = list(in_flight) + list(waiting)
        done, _ = ray.wait(refs, num_returns=1, timeout=1.0)
        if not done:
            if not in_flight and time.monotonic() - idle_since > PLACEMENT_TIMEOUT:
                why = pool.last_start_error or "no worker of the cluster could start within " \
                                               f"{PLACEMENT_TIMEOUT:.0f} s (not enough free resources?)"
                while queue:
                    on_failed(queue.popleft(), why)
            continue
        ref = done[0]
        if ref in waiting:
            _mark_ready(pool, waiting[ref])
            idle_since = time.monotonic()
            continue
        actor, item = in_flight.pop(ref)
        try:
            value = ray.get(ref)
        except Exception as exc:  # noqa: BLE001 — sorted below: a dead worker, or a clip the backend refused
            cause = getattr(exc, "cause", None) or exc
            if _is_worker_fault(exc) or _is_device_fault(cause):
                retried += _lose(pool, actor, ref, item, exc, queue, in_flight, attempts, on_failed)
                idle_since = time.monotonic()
                continue
            _remove(actor, ref)
            _refused(cause, item, on_failed)
            continue
        _remove(actor, ref)
        idle_since = time.monotonic()
        on_done(actor, item, value)
    return retried


def _mark_ready(pool: Pool, actor: _Actor) -> None:
    try:
        info = pool.ray.get(actor.ready)
    except Exception as exc:  # noqa: BLE001 — the actor could not start (its backend, its node)
        pool.start_failures += 1
        cause = getattr(exc, "cause", None) or exc
        pool.last_start_error = f"a worker could not start: {_first_line(cause)}"
        if isinstance(cause, BackendUnavailable):
            raise cause
        if pool.start_failures > len(pool.actors) + MAX_ATTEMPTS:
            raise ClusterUnavailable(pool.last_start_error) from None
        pool.replace(actor)
        return
    actor.ready = None
    worker = f"{info['node']}:{info['pid']}"
    actor.report = WorkerReport(worker, str(info["node"]), list(info["gpus"]))


def _lose(pool: Pool, actor: _Actor, ref, item, exc, queue: deque, in_flight: dict, attempts: dict, on_failed) -> int:
    """The actor died (or its device is poisoned): the item it was rendering costs one attempt, the
    items queued behind it go back to the queue free, and another actor takes its place."""
    running = [(r, i) for r, i in actor.running]
    rendering = running[0][1] if running else item
    for r, _ in running:
        in_flight.pop(r, None)
    actor.running.clear()
    if actor in pool.actors:
        pool.replace(actor)
    retried = 0
    for _, queued in reversed(running[1:]):
        queue.appendleft(queued)
    attempts[id(rendering)] = attempts.get(id(rendering), 0) + 1
    if attempts[id(rendering)] >= MAX_ATTEMPTS:
        on_failed(rendering, f"its worker died {MAX_ATTEMPTS} times rendering it (the last: {_death(exc)})")
    else:
        queue.appendleft(rendering)
        retried += 1
    return retried


def _remove(actor: _Actor, ref) -> None:
    for n, (r, _) in enumerate(actor.running):
        if r == ref:
            del actor.running[n]
            return


def _refused(cause: BaseException, item, on_failed) -> None:
    """A clip the backend raised on: as the local render stage treats it."""
    if isinstance(cause, (BackendUnavailable, CompileError)):
        raise cause
    if isinstance(cause, (ValueError, RuntimeError, OSError)):
        on_failed(item, str(cause) or type(cause).__name__)
        return
    raise cause


def _is_worker_fault(exc: BaseException) -> bool:
    return any(k.__name__ in _DEATH_NAMES for k in type(exc).__mro__) and not _is_task_error(exc)


def _is_task_error(exc: BaseException) -> bool:
    return any(k.__name__ == "RayTaskError" for k in type(exc).__mro__)


def _is_device_fault(cause: BaseException) -> bool:
    """CUDA out-of-memory or a device-side error inside the backend: the clip may fit on another
    worker, and this process's CUDA context cannot be trusted any more (docs/dia2.md)."""
    text = str(cause)
    return type(cause).__name__ == "OutOfMemoryError" or "CUDA out of memory" in text or "CUDA error" in text


def _death(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = _ANSI.sub("", str(exc))  # Ray colours its messages for a terminal; a diagnostic is plain text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__
