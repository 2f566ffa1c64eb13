"""Dia2 through dramac's adapter on the real dia2 package, with random weights, on a GPU.

Random weights give no speech, but the real step cost: the shapes, the generation loop, the codec,
CUDA graphs and bf16 are upstream's own. For each model size it renders the clips of a real plan
(an example play) and prints steps per second, real-time factor and peak GPU memory for bf16 and
float32, with and without CUDA graphs; then it renders 20 clips in a row, one of which overruns the
context, and checks the device still works (no device-side assert).

    python benchmarks/dia2_gpu.py                       # on a CUDA machine: 1B and 2B
    python benchmarks/dia2_gpu.py --device cpu --sizes tiny --clips 4   # a smoke run anywhere

Shapes: tests/dia2_checkpoint.py. The 1B/2B layouts are ASSUMPTIONS (the published configs could
not be read without the hub): sized to the published parameter counts, 32 Mimi codebooks,
a 1500-frame context. Their step cost is right to the extent that the layout is.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import dia2_checkpoint  # noqa: E402
from compiler.backends import Workspace  # noqa: E402
from compiler.backends.dia2 import FRAME_RATE, Dia2Backend  # noqa: E402
from compiler.build import prepare  # noqa: E402
from compiler.plan_types import Clip, PlannedLine  # noqa: E402


@dataclass
class Run:
    clips: int = 0
    steps: int = 0
    audio_seconds: float = 0.0
    wall: float = 0.0


def count_steps(run: Run):
    """Wrap dia2's generation loop (still calling it) to count the steps it ran."""
    import dia2.engine

    original = dia2.engine.run_generation_loop

    def counted(*args, **kwargs):
        first, audio = original(*args, **kwargs)
        run.steps += int(audio.shape[-1]) - int(kwargs.get("start_step", 0))
        return first, audio

    dia2.engine.run_generation_loop = counted
    return lambda: setattr(dia2.engine, "run_generation_loop", original)


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def render_clips(backend: Dia2Backend, clips: list[Clip], device: str) -> Run:
    run = Run()
    restore = count_steps(run)
    try:
        for clip in clips:
            synchronize(device)
            started = time.perf_counter()
            takes = backend.render(clip)
            synchronize(device)
            run.wall += time.perf_counter() - started
            run.clips += 1
            run.audio_seconds += sum(len(t) for t in takes) / backend.sample_rate
    finally:
        restore()
    return run


def overrunning_clip(template: Clip, context_seconds: float) -> Clip:
    """Four lines that each fit the context but together need 1.6 times it, planned as if they fit
    (so the adapter does not split first): the generation runs into the context limit."""
    phrase = "the old house was dark and the sea was quiet tonight".split()
    count = int(context_seconds * 2.6 * 0.4)
    words = " ".join((phrase * (count // len(phrase) + 1))[:count])
    lines = tuple(PlannedLine(template.speakers[0], words, words, template.lines[0].span) for _ in range(4))
    return Clip(template.scene, template.speakers[:1], template.voices[:1], lines, 1.0)


def peak_memory_gib(device: str) -> float:
    import torch

    if not device.startswith("cuda"):
        return float("nan")
    return torch.cuda.max_memory_allocated() / 2**30


def reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sizes", default="1B,2B", help="comma-separated: tiny, 1B, 2B")
    parser.add_argument("--script", default=str(ROOT / "examples" / "night-ferry" / "night-ferry.fountain"))
    parser.add_argument("--clips", type=int, default=6, help="clips of the plan per configuration")
    parser.add_argument("--workdir", default=None, help="where checkpoints are built (default: a temp folder)")
    args = parser.parse_args()

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device: use --device cpu --sizes tiny for a smoke run")
    if args.device == "cpu":
        torch.set_num_threads(1)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="dia2-bench-"))
    print(f"device {args.device}: {torch.cuda.get_device_name() if args.device.startswith('cuda') else 'cpu'}; "
          f"torch {torch.__version__}")
    configs = [("bfloat16", False), ("bfloat16", True), ("float32", False), ("float32", True)]
    if not args.device.startswith("cuda"):
        configs = [("float32", False)]  # bf16 computes in fp32 and CUDA graphs are off away from CUDA
    print(f"{'size':>5} {'params':>7} {'dtype':>8} {'graphs':>6} {'clips':>5} {'steps':>6} {'steps/s':>8} "
          f"{'RTF':>6} {'audio s':>8} {'peak GiB':>8}")
    for name in args.sizes.split(","):
        size = dia2_checkpoint.SIZES[name]
        started = time.perf_counter()
        folder = dia2_checkpoint.build(work / name, size)
        params = dia2_checkpoint.parameter_count(size)
        print(f"# {name}: built in {time.perf_counter() - started:.0f} s, {params / 1e6:,.1f} M parameters")
        for dtype, graphs in configs:
            reset_peak(args.device)
            options = {"repo": str(folder), "device": args.device, "dtype": dtype, "use_cuda_graph": graphs}
            prepared = prepare(args.script, "dia2", backend_options=options)
            backend = prepared.backend
            clips = prepared.plan.clips[: args.clips]
            backend.render(clips[0])  # warm-up: model load, calibrations, first graph capture
            run = render_clips(backend, clips, args.device)
            print(f"{name:>5} {params / 1e6:6.0f}M {dtype:>8} {str(graphs):>6} {run.clips:5d} {run.steps:6d} "
                  f"{run.steps / run.wall:8.1f} {run.wall / max(run.audio_seconds, 1e-9):6.2f} "
                  f"{run.audio_seconds:8.1f} {peak_memory_gib(args.device):8.2f}")
            del backend, prepared
        # 20 clips in a row, the 7th overrunning the context: no exception, no device-side assert.
        options = {"repo": str(folder), "device": args.device, "dtype": configs[0][0]}
        prepared = prepare(args.script, "dia2", backend_options=options)
        row = (prepared.plan.clips * 20)[:20]
        row[6] = overrunning_clip(row[6], prepared.backend.context_seconds())
        run = render_clips(prepared.backend, row, args.device)
        synchronize(args.device)
        probe = torch.ones(4, device=args.device).sum().item()
        print(f"# {name}: 20 clips in a row with one past the context: {run.clips} rendered, "
              f"{run.steps} steps in {run.wall:.1f} s, device healthy after: {probe == 4.0}")
        twelve = twelve_line_clip(prepared.plan.clips)
        run = render_clips(prepared.backend, [twelve], args.device)
        print(f"# {name}: one prefixed 12-line clip ({len(twelve.speakers)} speakers): {run.wall:.2f} s "
              f"for {run.steps} steps ({run.audio_seconds:.1f} s of audio)")
    print(f"(a real-time factor below 1 is faster than real time; {FRAME_RATE:g} steps make one second)")


def twelve_line_clip(clips: list[Clip]) -> Clip:
    """Twelve lines of the plan's first two-speaker clips, as one clip (two voice prefixes)."""
    pair = next(c for c in clips if len(c.speakers) == 2)
    lines = [l for c in clips if set(c.speakers) <= set(pair.speakers) for l in c.lines][:12]
    return Clip(pair.scene, pair.speakers, pair.voices, tuple(lines), sum(len(l.spoken.split()) for l in lines) / 2.6)


if __name__ == "__main__":
    main()
