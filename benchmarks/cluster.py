"""The render farm (compiler/cluster.py): its overhead on this machine, and its scaling by simulation.

(a) engine overhead: wall time of a cold `dramac build` of an example play (empty clip cache) with
    the local process pool of N workers against a local Ray cluster (`ray start --head
    --num-cpus=N`, started before timing, as a studio's cluster is already running) with N workers.
    Target: cluster / pool <= 1.15.
(b) scaling: simulated GPUs whose render is a sleep of a clip's GPU time, over a 300-clip play and
    a 3,000-clip series, with 1, 8, 32 and 128 GPUs: the makespan against the ideal one
    (max(total GPU time / GPUs, longest clip)). GPU time of a clip = Dia2 steps / 41.5 steps/s
    (upstream's figure for Dia2-2B on an RTX 4090, docs/dia2.md; no GPU was measured here), steps =
    12.5 per second of speech plus the voice prefixes (--prefix-seconds). Clip lengths are drawn from
    the Dia2 plans of the example plays. The driver runs the real engine: cluster.render with the
    real cache writes of every take (16-bit .npz of the clip's length).

    Time is compressed to keep a run short: a sleep is a clip's GPU time / C, C chosen so the run's
    ideal makespan is about --seconds, but never so far that the driver gets clips faster than
    --max-load real GPUs would send them (N × C <= max-load; the "driver load" column). A compressed
    run loads the driver more than N real GPUs would: its efficiency is a lower bound for N real
    GPUs. The driver's own ceiling is measured with clips that take no time at all (clips/s), which
    says at how many real GPUs the driver becomes the bottleneck. The 3,000-clip series runs for
    --series-gpus only by default (each takes about a minute at 1 or 8 GPUs: --series-gpus 1,8,32,128).

    The simulated GPUs are threads of a few Ray actors holding no CPU (num_cpus=0): 128 processes do
    not fit on two cores, and the driver sees one in-flight slot per GPU either way.

    python benchmarks/cluster.py              # both, about two minutes on 2 cores
    python benchmarks/cluster.py --part b     # the simulation only
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

import numpy as np  # noqa: E402

from compiler import backends, cluster  # noqa: E402
from compiler.backends import Capabilities  # noqa: E402
from compiler.render import ClipCache, Takes  # noqa: E402

STEPS_PER_SECOND = 41.5  # Dia2-2B on an RTX 4090, upstream PR #4 (docs/dia2.md)
FRAME_RATE = 12.5
SAMPLE_RATE = 24000
EXAMPLES = ["examples/night-ferry/night-ferry.fountain", "examples/lighthouse/lighthouse.md"]


class SimulatedGPU:
    """A Dia2 worker whose render is a sleep of the clip's GPU time (× the run's time scale); its takes
    are silence of the clip's estimated length, so the driver stores as many bytes as for real ones."""

    name = "simulated-gpu"
    sample_rate = SAMPLE_RATE
    capabilities = Capabilities(max_clip_seconds=100.0, min_clip_seconds=5.0, nonverbal=frozenset(), parallel=True)

    def __init__(self, scale_file: str = "", prefix_seconds: float = 8.0, workspace=None):
        # The time scale is read from a file at each clip, so one set of actors serves every run.
        self.scale_file, self.prefix_seconds = scale_file, prefix_seconds

    def identity(self) -> str:
        return "simulated-gpu"

    def cluster_resources(self) -> dict:
        return {"num_cpus": 0}

    def render(self, clip):
        time.sleep(gpu_seconds(clip.est_seconds, self.prefix_seconds) * float(Path(self.scale_file).read_text()))
        share = clip.est_seconds / len(clip.lines)
        return [np.zeros(int(share * SAMPLE_RATE), dtype=np.float32) for _ in clip.lines]


def gpu_seconds(speech_seconds: float, prefix_seconds: float) -> float:
    return (speech_seconds + prefix_seconds) * FRAME_RATE / STEPS_PER_SECOND


def example_clip_lengths() -> list:
    from compiler.build import prepare

    clips = []
    for script in EXAMPLES:
        clips += prepare(ROOT / script, "dia2", None).plan.clips
    return clips


def clip_set(examples: list, count: int, seed: int) -> list:
    """`count` distinct clips whose lengths are drawn from the example plans' clips."""
    import dataclasses

    rng = random.Random(seed)
    out = []
    for n in range(count):
        model = rng.choice(examples)
        # Distinct text per clip: distinct cache keys, as in a real play.
        lines = tuple(dataclasses.replace(line, spoken=f"{line.spoken} #{seed}-{n}") for line in model.lines)
        out.append(dataclasses.replace(model, lines=lines))
    return out


# --- (a) the engine's overhead against the local process pool -------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_head(temp: Path, cpus: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    temp.mkdir(parents=True, exist_ok=True)
    log = temp / "head.log"
    head = subprocess.Popen([str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", f"--port={port}",
                             f"--num-cpus={cpus}", "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
                             f"--temp-dir={temp}"], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while "Ray runtime started" not in log.read_text():
        if head.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"ray start failed:\n{log.read_text()[-2000:]}")
        time.sleep(0.5)
    return head, f"127.0.0.1:{port}"


def stop_head(head: subprocess.Popen) -> None:
    head.terminate()
    try:
        head.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)


def timed_build(script: Path, out: Path, *flags) -> float:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    cache = out.with_name(f"{out.name}-cache")
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "compiler", "build", str(script), "-o", str(out), "--cache-dir", str(cache),
                          *flags], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(run.stderr[-3000:])
    return wall


def part_a(workers: int, repeats: int) -> None:
    example = ROOT / "examples" / "lighthouse"
    with tempfile.TemporaryDirectory(prefix="dramac-bench-") as tmp:
        tmp = Path(tmp)
        shutil.copytree(example, tmp / "lighthouse", ignore=shutil.ignore_patterns(".dramac-cache"))
        script = tmp / "lighthouse" / "lighthouse.md"
        head, address = start_head(tmp / "ray", workers)
        try:
            print(f"(a) cold build of {(example / script.name).relative_to(ROOT)} with {workers} workers, best of {repeats} "
                  f"(each into an empty cache):")
            first = timed_build(script, tmp / "warm", "-j", str(workers), "--cluster", address)  # the cluster's first job
            pool, farm = [], []
            for n in range(repeats):
                pool.append(timed_build(script, tmp / f"pool{n}", "-j", str(workers)))
                farm.append(timed_build(script, tmp / f"farm{n}", "-j", str(workers), "--cluster", address))
            same = all((tmp / "pool0" / f).read_bytes() == (tmp / "farm0" / f).read_bytes()
                       for f in ("lighthouse.wav", "lighthouse.srt", "lighthouse.json"))
        finally:
            stop_head(head)
    print(f"    local process pool   {min(pool):6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in pool)})")
    print(f"    local Ray cluster    {min(farm):6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in farm)}; "
          f"the cluster's first job: {first:.2f} s)")
    print(f"    cluster / pool       {min(farm) / min(pool):6.2f}x   (target <= 1.15x); outputs byte-identical: {same}")


# --- (b) scaling, simulated -----------------------------------------------------------------------


def simulate(clips: list, gpus: int, scale: float, prefix_seconds: float, folder: Path) -> dict:
    """One run of the real engine over `clips` on `gpus` simulated GPUs; wall time and the driver's share."""
    scale_file = folder / "scale"
    scale_file.write_text(repr(scale))
    options = {"scale_file": str(scale_file), "prefix_seconds": prefix_seconds}
    backend = SimulatedGPU(**options)
    cache_dir = folder / f"cache-{len(clips)}-{gpus}-{scale}"
    cache = ClipCache(cache_dir)
    takes = Takes()
    finish_seconds = [0.0]

    def finish(clip, result, problem):
        started = time.perf_counter()
        assert problem is None, problem
        takes.keep(clip.key, cache.put(backend.identity(), clip, result, SAMPLE_RATE))
        finish_seconds[0] += time.perf_counter() - started

    slots = min(gpus, 16)  # GPUs per actor process: threads of one actor
    started = time.perf_counter()
    report = cluster.render(clips, "simgpu", options, backend, "auto", gpus, finish, slots=slots)
    wall = time.perf_counter() - started
    assert len(takes) == len(clips) and sum(w.clips for w in report.workers) == len(clips)
    times = [gpu_seconds(c.est_seconds, prefix_seconds) * scale for c in clips]
    ideal = max(sum(times) / gpus, max(times))
    return {"wall": wall, "ideal": ideal, "finish": finish_seconds[0]}


def part_b(seconds: float, prefix_seconds: float, gpu_counts: list[int], series_gpus: list[int], max_load: float) -> None:
    os.environ["RAY_AUTH_MODE"] = "disabled"  # before Ray is imported: a private cluster on this machine
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    backends.register("simgpu", f"{Path(__file__).stem}:SimulatedGPU")
    examples = example_clip_lengths()
    mean_speech = sum(c.est_seconds for c in examples) / len(examples)
    per_clip = gpu_seconds(mean_speech, prefix_seconds)
    print(f"(b) simulated GPUs at {STEPS_PER_SECOND} steps/s: a clip is {mean_speech:.1f} s of speech on average "
          f"(the example plans' {len(examples)} Dia2 clips) + {prefix_seconds:g} s of voice prefix = "
          f"{per_clip:.2f} GPU-seconds")
    try:
        with tempfile.TemporaryDirectory(prefix="dramac-sim-") as tmp:
            print(f"    {'clips':>5} {'GPUs':>5} {'compress':>8} {'driver load':>11} {'ideal s':>8} {'wall s':>7} "
                  f"{'efficiency':>10}")
            startup = []
            sets = {count: clip_set(examples, count, seed) for count, seed in ((300, 1), (3000, 2))}
            for gpus in gpu_counts:  # GPUs outer: the actors of one slot count serve both clip sets
                for count, clips in sets.items():
                    if count == 3000 and gpus not in series_gpus:
                        continue
                    total = sum(gpu_seconds(c.est_seconds, prefix_seconds) for c in clips)
                    longest = max(gpu_seconds(c.est_seconds, prefix_seconds) for c in clips)
                    real_ideal = max(total / gpus, longest)
                    scale = min(1.0, max(seconds / real_ideal, gpus / max_load))
                    # Workers started and warm before the clock runs: a real farm's start-up (loading
                    # Dia2 on every GPU) is a constant, printed apart below, not scheduling.
                    warm = simulate(clip_set(examples, 2 * gpus, seed=100 + gpus), gpus, 0.0, prefix_seconds, Path(tmp))
                    startup.append(warm["wall"])
                    run = simulate(clips, gpus, scale, prefix_seconds, Path(tmp))
                    print(f"    {count:5d} {gpus:5d} {1 / scale:7.0f}x {gpus / scale:8.0f} GPUs {run['ideal']:8.2f} "
                          f"{run['wall']:7.2f} {run['ideal'] / run['wall']:9.0%}   "
                          f"(real: {real_ideal / 60:.1f} min ideal)")
            print(f"    (worker start-up, not counted above: {max(startup):.1f} s at most here; a Dia2 worker also loads "
                  f"its weights once)")
            # The driver's ceiling: clips that take no GPU time at all (the engine, transfers, cache writes).
            ceiling_clips = clip_set(examples, 600, seed=9)
            run = simulate(ceiling_clips, 32, 0.0, prefix_seconds, Path(tmp))
            ceiling = len(ceiling_clips) / run["wall"]
            print(f"    driver ceiling: {ceiling:.0f} clips/s with zero-time clips "
                  f"({1000 * run['finish'] / len(ceiling_clips):.1f} ms per clip of it in the cache write) -> "
                  f"the driver is the bottleneck beyond ~{ceiling * per_clip:.0f} real GPUs")
    finally:
        cluster.close_pool()
        ray.shutdown()
    print("    efficiency = ideal makespan / measured; target >= 85% at 32 GPUs. A run's 'driver load' is the")
    print("    number of real GPUs that would send clips to the driver as fast as the compressed run did.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("a", "b", "all"), default="all")
    parser.add_argument("--workers", type=int, default=2, help="(a) workers of the pool and of the cluster")
    parser.add_argument("--repeats", type=int, default=2, help="(a) builds of each kind")
    parser.add_argument("--seconds", type=float, default=6.0, help="(b) ideal makespan of each compressed run")
    parser.add_argument("--prefix-seconds", type=float, default=8.0, help="(b) voice prefix frames per clip, in seconds")
    parser.add_argument("--gpus", default="1,8,32,128", help="(b) simulated GPU counts, 300-clip play")
    parser.add_argument("--series-gpus", default="32,128", help="(b) simulated GPU counts, 3,000-clip series")
    parser.add_argument("--max-load", type=float, default=512.0, help="(b) most real GPUs a compressed run may stand for")
    args = parser.parse_args()
    if args.part in ("a", "all"):
        part_a(args.workers, args.repeats)
    if args.part in ("b", "all"):
        series = [int(g) for g in args.series_gpus.split(",")]
        gpus = sorted(set([int(g) for g in args.gpus.split(",")] + series))
        part_b(args.seconds, args.prefix_seconds, gpus, series, args.max_load)


if __name__ == "__main__":
    main()
