"""The writer's loop in `dramac watch`: from a save to the new audio on disk, on a generated play.

Starts the real command (`dramac watch`, a subprocess, as a writer runs it), waits for its first
build, then saves one-line edits the way an editor does (a new file renamed over the script) and
times each from the rename to the moment the play's WAV is replaced. Each edit adds words never
rendered before, so exactly the clip holding that line is rendered again; the rebuild's own report
gives its render seconds, and what is left is the watch's overhead: noticing the save, settling,
parsing, planning, stitching, mastering and writing. Printed beside the issue's target.

    .venv/bin/python benchmarks/watch.py                 # 4-minute play, 3 edits
    .venv/bin/python benchmarks/watch.py --edits 5 --poll  # the polling fallback, for comparison

The play lives in a work folder (--workdir) that keeps its clip cache between runs, so only the
first run pays for rendering the whole play.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from incremental import generated_play  # noqa: E402  (the issue's generated play, shared with that benchmark)

DRAMAC = ROOT / ".venv" / "bin" / "dramac"
TODAY_SECONDS = 4.6  # the figure: save of a one-line edit to new audio, 4-minute play, polling watch
TARGET_OVERHEAD = 1.0  # seconds beyond the changed clip's render time
# Speakable words for the edits, drawn per run so no edit is already in the cache.
EDIT_WORDS = "amber quietly lantern morning silver window orchard river promise cellar whistle harbour".split()


def start_watch(project: Path, script: Path, poll: bool, debounce: float | None) -> tuple[subprocess.Popen, queue.Queue]:
    command = [str(DRAMAC), "watch", str(script), "-o", str(project / "out")]
    command += (["--debounce", str(debounce)] if debounce is not None else []) + (["--poll"] if poll else [])
    env = dict(os.environ, COLUMNS="300", NO_COLOR="1", PYTHONUNBUFFERED="1")
    child = subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in child.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return child, lines


def wait_for(lines: queue.Queue, wanted, timeout: float) -> list[str]:
    """Lines up to and including the first for which wanted(line) holds."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if wanted(line):
            return seen
    sys.exit("dramac watch did not answer in time; it printed:\n" + "\n".join(seen))


def stamp(path: Path):
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


def stages_of(line: str) -> dict[str, float]:
    """`parse 0.01s · plan 0.02s · …` back into seconds per step."""
    stages = {}
    for part in line.strip().split(" · "):
        name, _, seconds = part.rpartition(" ")
        stages[name] = float(seconds.rstrip("s"))
    return stages


def save_edit(script: Path, number: int, rng: random.Random) -> str:
    """Append new words to the `number`-th speech of the script; saved as editors do (write a new
    file, rename it over the script). Returns the edited line."""
    lines = script.read_text(encoding="utf-8").splitlines()
    speeches = [i for i in range(1, len(lines)) if lines[i - 1].isupper() and lines[i - 1].strip() and lines[i].strip()
                and not lines[i - 1].startswith(("INT.", "EXT."))]
    index = speeches[number * 7 % len(speeches)]
    lines[index] = lines[index].rstrip() + " " + " ".join(rng.sample(EDIT_WORDS, 3)).capitalize() + "."
    fresh = script.with_name(f".{script.name}.save")
    fresh.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fresh.replace(script)
    return lines[index]


def measure(minutes: float, edits: int, workdir: Path, poll: bool, debounce: float | None = None) -> list[dict]:
    project = workdir / f"{minutes:g}min"
    project.mkdir(parents=True, exist_ok=True)
    (project / "dramac.toml").touch()
    script = project / "play.fountain"
    script.write_text(generated_play(minutes), encoding="utf-8")
    wav = project / "out" / "play.wav"
    child, lines = start_watch(project, script, poll, debounce)
    rng = random.Random(time.time_ns())
    results = []
    try:
        first = wait_for(lines, lambda l: l.startswith("watching "), timeout=3600)
        status = next((l for l in first if "✓" in l), None)
        if status is None:
            sys.exit("the first build failed:\n" + "\n".join(first))
        print(f"first build: {status.split('  ', 1)[-1]}")
        for number in range(edits):
            time.sleep(1.0)  # a writer pauses between saves
            before = stamp(wav)
            saved = time.perf_counter()
            save_edit(script, number, rng)
            while stamp(wav) == before:
                time.sleep(0.002)
            heard = time.perf_counter() - saved
            report = wait_for(lines, lambda l: l.strip().startswith("parse "), timeout=600)
            stages = stages_of(report[-1])
            rendered = next((l for l in report if "✓" in l), "")
            results.append({"seconds": heard, "stages": stages, "status": rendered})
    finally:
        child.terminate()
        child.wait(timeout=10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="length of the generated play")
    parser.add_argument("--edits", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dramac-bench-watch"))
    parser.add_argument("--poll", action="store_true", help="run watch with --poll (no operating system events)")
    parser.add_argument("--debounce", type=float, default=None, help="watch's --debounce (default: watch's own)")
    args = parser.parse_args()
    results = measure(args.minutes, args.edits, args.workdir, args.poll, args.debounce)
    print(f"\nwatch{' --poll' if args.poll else ''}, one-line edit of a {args.minutes:g}-minute play, save -> new audio on disk:")
    for i, r in enumerate(results, 1):
        overhead = r["seconds"] - r["stages"].get("render", 0.0)
        steps = ", ".join(f"{name} {seconds:.2f}" for name, seconds in r["stages"].items())
        print(f"  edit {i}: {r['seconds']:.2f} s = render {r['stages'].get('render', 0.0):.2f} s + {overhead:.2f} s  ({steps})")
    seconds = statistics.median(r["seconds"] for r in results)
    overhead = statistics.median(r["seconds"] - r["stages"].get("render", 0.0) for r in results)
    mastering = statistics.median(r["stages"].get("master", 0.0) for r in results)
    own = statistics.median(r["seconds"] - sum(r["stages"].values()) for r in results)
    verdict = "met" if overhead <= TARGET_OVERHEAD else "NOT met"
    print(f"median: {seconds:.2f} s from save to audio, of which {overhead:.2f} s beyond the render stage (the changed "
          f"clip's render and reading the cached ones)")
    settle = f"--debounce {args.debounce:g}" if args.debounce is not None else "the default --debounce"
    print(f"  of those: mastering {mastering:.2f} s; noticing the save and settling ({settle}) {own:.2f} s")
    print(f"target: <= {TARGET_OVERHEAD:g} s plus the changed clip's render time ({verdict}); "
          f"today (issue, 4-minute play): {TODAY_SECONDS:g} s")


if __name__ == "__main__":
    main()
