"""The render farm (compiler/cluster.py) on a real Ray cluster: a head started with `ray start` on
this machine, two CPUs, shared by every test of this module (starting Ray takes seconds).

Worker deaths are real: a worker process is SIGKILLed from outside, or kills itself on cue
(tests/cluster_backends.py), as the OOM killer or a lost node would end it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from compiler import backends, render
from compiler.diagnostics import CompileError, Span
from compiler.plan_types import Clip, PlannedLine
from compiler.render import ClipCache, render_plan

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
VOICES = backends.create("embedded").palette()


@pytest.fixture(autouse=True, scope="module")
def _dying_backend():
    """The test backend is registered for this module's tests only: dramac's own lists (the settings
    docs, the declaration checks) never see it."""
    backends.register("dying", "cluster_backends:DyingBackend")
    yield
    backends._REGISTRY.pop("dying", None)


def clip(n: int, text: str) -> Clip:
    span = Span("play.fountain", n, 1, n, 20)
    lines = (PlannedLine("ANNA", text, text, span), PlannedLine("BEN", "I see.", "I see.", span))
    return Clip(0, ("ANNA", "BEN"), (VOICES[0], VOICES[1]), lines, est_seconds=1.0 + n % 3)


CLIPS = [clip(n, f"This is clip number {n}, and it says so.") for n in range(1, 9)]


def same_audio(a, b) -> bool:
    return a.takes.keys() == b.takes.keys() and all(
        len(a.takes[k]) == len(b.takes[k]) and all(np.array_equal(x, y) for x, y in zip(a.takes[k], b.takes[k]))
        for k in a.takes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The address of a one-node Ray cluster with 2 CPUs, started with `ray start --head`."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'dramac[cluster]')")
    temp = tmp_path_factory.mktemp("ray")
    port = free_port()
    # Token authentication is for clusters on a network; this one listens on this machine for this module.
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "RAY_USAGE_STATS_ENABLED": "0"}
    log = open(temp / "head.log", "w")
    head = subprocess.Popen([str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", f"--port={port}",
                             "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
                             f"--temp-dir={temp}"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and head.poll() is None:
            if "Ray runtime started" in (temp / "head.log").read_text():
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"ray start failed: {(temp / 'head.log').read_text()[-2000:]}")
        yield address
    finally:
        render.close_pools()
        head.terminate()  # `ray start --block` ends the processes it started
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        log.close()
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved


@pytest.fixture(autouse=True)
def _close_kept_worker_pools():
    """Unlike the rest of the suite (conftest.py), the tests here keep the workers between tests, as
    the scripts of a series do: a Ray worker takes seconds to start on two cores. The cluster
    fixture ends them."""
    yield


@pytest.fixture(scope="module")
def local_build(tmp_path_factory):
    """CLIPS rendered here, without Ray: what every cluster render must equal."""
    return render_plan(CLIPS, "embedded", {}, ClipCache(tmp_path_factory.mktemp("local") / "c"), jobs=1)


def worker_pids() -> list[int]:
    from compiler import cluster

    return [a.report and int(a.report.worker.rsplit(":", 1)[1]) for a in cluster._pool.actors if a.report]


def test_a_cluster_render_equals_a_local_one_and_counts_clips_per_worker(cluster, local_build, tmp_path):
    seen = []
    result = render_plan(CLIPS, "embedded", {}, ClipCache(tmp_path / "c"), jobs=0, cluster=cluster,
                         on_clip=lambda c, hit: seen.append((c.key, hit)))
    assert same_audio(result, local_build)
    assert sorted(seen) == sorted((c.key, False) for c in CLIPS)  # the progress bar saw every clip
    report = result.cluster
    assert len(report.workers) == 2 and all(w.clips > 0 for w in report.workers)  # both of the 2 CPUs worked
    assert sum(w.clips for w in report.workers) == len(CLIPS) and report.retried == 0
    assert {w.worker.rsplit(":", 1)[1] for w in report.workers} <= {str(p) for p in worker_pids()}
    assert str(os.getpid()) not in {w.worker.rsplit(":", 1)[1] for w in report.workers}  # not rendered here


def test_the_longest_clips_are_sent_first(cluster, tmp_path):
    order = []
    render_plan(CLIPS, "embedded", {}, ClipCache(tmp_path / "c"), jobs=1, cluster=cluster,
                on_clip=lambda c, hit: order.append(c.est_seconds))
    assert order == sorted(order, reverse=True)  # one worker: it renders them in the order sent


def test_a_worker_killed_mid_build_costs_only_its_clip(cluster, local_build, tmp_path):
    killed = []

    def kill_a_busy_worker(clip, from_cache):
        from compiler import cluster as engine

        if killed:
            return
        busy = [a for a in engine._pool.actors if a.running and a.report]
        pid = int(busy[0].report.worker.rsplit(":", 1)[1])
        os.kill(pid, signal.SIGKILL)  # mid-clip: every clip takes 0.5 s
        killed.append(pid)

    result = render_plan(CLIPS, "dying", {"delay": 0.5}, ClipCache(tmp_path / "c"), jobs=2, cluster=cluster,
                         on_clip=kill_a_busy_worker)
    assert killed and same_audio(result, local_build)
    report = result.cluster
    assert report.retried >= 1
    assert sum(w.clips for w in report.workers) == len(CLIPS)
    assert str(killed[0]) not in {str(p) for p in worker_pids()}  # replaced


def test_a_worker_that_dies_on_a_clip_once_is_replaced_and_the_clip_retried(cluster, local_build, tmp_path):
    marker = tmp_path / "died"
    options = {"kill_line": 4, "once_marker": str(marker)}
    result = render_plan(CLIPS, "dying", options, ClipCache(tmp_path / "c"), jobs=2, cluster=cluster)
    assert marker.exists() and same_audio(result, local_build)
    assert result.cluster.retried == 1 and result.rendered == len(CLIPS)


def test_a_clip_that_always_kills_its_worker_fails_the_build_at_its_line(cluster, tmp_path, monkeypatch):
    from compiler import cluster as engine

    monkeypatch.setattr(engine, "MAX_ATTEMPTS", 2)  # each death waits for a new worker to start
    cache = ClipCache(tmp_path / "c")
    with pytest.raises(CompileError) as info:
        render_plan(CLIPS, "dying", {"kill_line": 5}, cache, jobs=2, cluster=cluster)
    (diag,) = info.value.diagnostics
    assert (diag.span.file, diag.span.line) == ("play.fountain", 5)
    assert f"its worker died {engine.MAX_ATTEMPTS} times" in diag.message
    # Every other clip was rendered and kept: the next build renders nothing else.
    again = render_plan([c for c in CLIPS if c.lines[0].span.line != 5], "embedded", {}, cache, jobs=1)
    assert again.rendered == 0 and again.cached == len(CLIPS) - 1


def test_a_backend_missing_on_the_workers_is_one_error_for_the_build(cluster, tmp_path):
    with pytest.raises(CompileError) as info:
        render_plan(CLIPS, "dying", {"missing": True}, ClipCache(tmp_path / "c"), jobs=2, cluster=cluster)
    (diag,) = info.value.diagnostics
    assert "not installed on this node" in diag.message and diag.span.file == "play.fountain"


def test_an_interrupted_driver_resumes_from_the_cache(cluster, local_build, tmp_path):
    cache = ClipCache(tmp_path / "c")
    fresh = []

    def interrupt_after_three(clip, from_cache):
        fresh.append(clip)
        if len(fresh) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_plan(CLIPS, "embedded", {}, cache, jobs=2, cluster=cluster, on_clip=interrupt_after_three)
    from compiler import cluster as engine

    assert engine._pool is None  # the workers were ended with the build, their queues dropped
    resumed = render_plan(CLIPS, "embedded", {}, cache, jobs=2, cluster=cluster)
    assert (resumed.rendered, resumed.cached) == (len(CLIPS) - 3, 3)
    assert same_audio(resumed, local_build)


def test_the_scripts_of_a_series_share_one_pool(cluster, tmp_path):
    from compiler import cluster as engine

    first = render_plan(CLIPS[:4], "embedded", {}, ClipCache(tmp_path / "c"), jobs=2, cluster=cluster)
    pids = sorted(worker_pids())
    second = render_plan(CLIPS[4:], "embedded", {}, ClipCache(tmp_path / "c"), jobs=2, cluster=cluster)
    assert sorted(worker_pids()) == pids and len(pids) == 2  # the same two processes
    assert {w.worker for w in second.cluster.workers} == {w.worker for w in first.cluster.workers}
    render.close_pools()
    assert engine._pool is None


# ---- the command line ---------------------------------------------------------------------------

def dramac(*args, env=None, cwd=None, prelude=""):
    """The CLI in a fresh interpreter; `prelude` runs first (e.g. to hide Ray)."""
    code = f"{prelude}\nimport sys\nfrom compiler.cli import main\nsys.argv = ['dramac'] + sys.argv[1:]\nmain()"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, cwd=cwd)


def test_dramac_build_on_a_cluster_is_byte_identical_to_a_local_build(cluster, tmp_path):
    import jsonschema

    project = tmp_path / "night-ferry"
    shutil.copytree(ROOT / "examples" / "night-ferry", project, ignore=shutil.ignore_patterns(".dramac-cache"))
    script = project / "night-ferry.fountain"
    local = dramac("build", script, "-o", tmp_path / "local", "-j", "1", "--cache-dir", tmp_path / "cache-local")
    assert local.returncode == 0, local.stderr
    with open(project / "dramac.toml", "a", encoding="utf-8") as f:  # the cluster from the project's settings
        f.write(f'\n[render]\ncluster = "{cluster}"\n')
    farm = dramac("build", script, "-o", tmp_path / "farm", "--json")
    assert farm.returncode == 0, farm.stderr
    assert "Traceback" not in farm.stderr
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "farm").iterdir()) and "night-ferry.wav" in names
    for name in names:
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "farm" / name).read_bytes(), name
    record = json.loads(farm.stdout)
    jsonschema.validate(record, json.loads((ROOT / "docs" / "build-record.schema.json").read_text()))
    (build,) = record["builds"]
    assert build["cluster"]["address"] == cluster
    assert sum(w["clips"] for w in build["cluster"]["workers"]) == build["clips_rendered"] > 0


def test_without_ray_cluster_is_one_clear_error(tmp_path):
    project = tmp_path / "night-ferry"
    shutil.copytree(ROOT / "examples" / "night-ferry", project, ignore=shutil.ignore_patterns(".dramac-cache"))
    run = dramac("build", project / "night-ferry.fountain", "-o", tmp_path / "out",
                 "--cluster", "auto", "--json", prelude="import sys; sys.modules['ray'] = None  # Ray not installed")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.count("error:") == 1
    assert "pip install 'dramac[cluster]'" in run.stderr
    record = json.loads(run.stdout)
    assert record["exit_code"] == 1 and len(record["diagnostics"]) == 1 and record["builds"] == []
    assert not (tmp_path / "out").exists()


# ---- Dia2: voices calibrated once, before their clips -------------------------------------------

def test_dia2_voices_are_calibrated_once_on_the_cluster_and_shared_before_their_clips(cluster, tmp_path, request):
    """The real dia2 package with a tiny random-weight checkpoint on CPU workers (tests/test_dia2_real.py)."""
    pytest.importorskip("dia2", reason="the Dia2 tier is not installed (docs/dia2.md)")
    pytest.importorskip("dia2.runtime.voice_clone")
    import dia2_checkpoint
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a worker holding one CPU runs (OMP_NUM_THREADS=1): the same arithmetic
    request.addfinalizer(lambda: torch.set_num_threads(threads))
    checkpoint = dia2_checkpoint.build(tmp_path / "tiny")

    def options(cache: str) -> dict:
        return {"repo": str(checkpoint), "device": "cpu", "dtype": "float32",
                "workspace": backends.Workspace(str(tmp_path), str(tmp_path / cache))}

    farm_options = options("farm-cache")
    backend = backends.create("dia2", **farm_options)
    assert backend.cluster_resources() == {"num_cpus": 1}
    anna, ben = backend.palette()[:2]
    texts = ["where were you last night", "at the house waiting for a boat", "that is not what he told me"]
    clips = []
    for n, text in enumerate(texts, start=1):
        span = Span("play.fountain", n, 1, n, 20)
        lines = (PlannedLine("ANNA", text, text, span), PlannedLine("BEN", "then he is wrong", "then he is wrong", span))
        clips.append(Clip(0, ("ANNA", "BEN"), (anna, ben), lines, est_seconds=3.0))
    assert [v.key for v in backend.voices_to_prepare(clips)] == [anna.key, ben.key]

    farm = render_plan(clips, "dia2", farm_options, ClipCache(tmp_path / "farm-clips"), jobs=2, cluster=cluster)
    assert farm.cluster.prepared == 2  # one calibration per voice for the whole cluster
    assert backend.voices_to_prepare(clips) == []  # and the driver's cache holds them
    local = render_plan(clips, "dia2", options("local-cache"), ClipCache(tmp_path / "local-clips"), jobs=1)
    assert same_audio(farm, local)
    for voice in (anna, ben):
        for suffix in (".wav", ".json"):
            name = f"voices/{voice.key}{suffix}"
            assert (tmp_path / "farm-cache" / name).read_bytes() == (tmp_path / "local-cache" / name).read_bytes()
