"""A series rendered in CI, measured on the real command: N generated episodes built cold (empty clip
cache) once as one `dramac build ep*.fountain` run and once as one `dramac build` run per episode (what
a CI job did when every run loaded its backend and started its workers again). Also a 3-minute Ogg.

    .venv/bin/python benchmarks/series.py                   # 3 episodes of 6 scenes, 2 workers
    .venv/bin/python benchmarks/series.py --episodes 5 --scenes 9 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def episode(number: int, scenes: int) -> str:
    """One short speech per scene: one clip each, none shared between episodes."""
    body = [f"INT. ROOM {k} - DAY\n\nANNA\nEpisode {number}, scene {k}: the tide is turning.\n" for k in range(1, scenes + 1)]
    return f"Title: Episode {number}\n\n" + "\n".join(body)


def build(project: Path, scripts: list[str], jobs: int) -> dict:
    command = [sys.executable, "-m", "compiler", "build", *scripts, "-o", "out", "--jobs", str(jobs), "--json"]
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"dramac build failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)


def cold_seconds(root: Path, name: str, episodes: int, scenes: int, jobs: int, per_script: bool) -> float:
    project = root / name
    project.mkdir()
    (project / "dramac.toml").write_text("")
    scripts = []
    for n in range(1, episodes + 1):
        (project / f"ep{n}.fountain").write_text(episode(n, scenes))
        scripts.append(f"ep{n}.fountain")
    started = time.perf_counter()
    for batch in ([[s] for s in scripts] if per_script else [scripts]):
        build(project, batch, jobs)
    return time.perf_counter() - started


def ogg_seconds(minutes: float) -> float:
    import numpy as np

    from compiler import emit

    audio = (np.random.default_rng(1).standard_normal(int(22050 * 60 * minutes)) * 0.1).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        emit.write_audio(Path(folder) / "long.ogg", audio, 22050, "ogg")
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--scenes", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        one = cold_seconds(root, "series", args.episodes, args.scenes, args.jobs, per_script=False)
        each = cold_seconds(root, "per-script", args.episodes, args.scenes, args.jobs, per_script=True)
    print(f"{args.episodes} episodes x {args.scenes} clips, --jobs {args.jobs}, cold cache:")
    print(f"  one run for the series   {one:6.1f} s")
    print(f"  one run per episode      {each:6.1f} s   ({each / one:.2f}x the series run)")
    print(f"3-minute Ogg/Vorbis written in {ogg_seconds(3.0):.2f} s (blocks, child process)")


if __name__ == "__main__":
    main()
