"""What rooms (compiler/rooms.py) cost the mix: each example built with rooms on and off, clips from
a warm clip cache, every segment mixed and mastered afresh (no mix cache, no build record), and the
time of the stages that mix (stitch: timeline and pieces; master: mixing, measuring, limiting;
write: the mastered samples out). The median of `--runs` builds of each.

    .venv/bin/python benchmarks/rooms.py [--runs 3] [examples/night-ferry/night-ferry.fountain ...]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compiler import build  # noqa: E402

EXAMPLES = [ROOT / "examples" / "night-ferry" / "night-ferry.fountain", ROOT / "examples" / "lighthouse" / "lighthouse.md"]
STAGES = ("stitch", "master", "write")


def one_build(script: Path, clips: Path, work: Path, rooms_on: bool) -> tuple[dict[str, float], float]:
    """Stage seconds of a build whose clips are all cached and whose mix is not."""
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.copytree(clips, cache, ignore=lambda folder, names: [n for n in names if n == "mix" or n.startswith("build-")])
    text = script.read_text(encoding="utf-8")
    project = work / "project"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(script.parent, project, ignore=shutil.ignore_patterns(".dramac-cache", "outputs"))
    toml = project / "dramac.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + f"\n[rooms]\nenabled = {'true' if rooms_on else 'false'}\n",
                    encoding="utf-8")
    (project / script.name).write_text(text, encoding="utf-8")
    prepared = build.prepare(project / script.name, cache_dir=cache)
    result = build.build(prepared, work / "out", ["wav"], 1, cache_dir=cache)
    return {stage: result.stages[stage] for stage in STAGES}, result.duration


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scripts", nargs="*", type=Path, default=EXAMPLES)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"{'play':<22}{'rooms':>6}{'length':>9}" + "".join(f"{s:>9}" for s in STAGES) + f"{'mix total':>11}")
    for script in args.scripts:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            clips = work / "clips"
            prepared = build.prepare(script, cache_dir=clips)  # renders every clip once, into `clips`
            build.build(prepared, work / "first", ["wav"], 1, cache_dir=clips)
            totals = {}
            for rooms_on in (False, True):
                runs = [one_build(script, clips, work, rooms_on) for _ in range(args.runs)]
                median = {s: statistics.median(r[0][s] for r in runs) for s in STAGES}
                totals[rooms_on] = sum(median.values())
                print(f"{script.stem:<22}{'on' if rooms_on else 'off':>6}{runs[0][1]:>8.1f}s"
                      + "".join(f"{median[s]:>8.2f}s" for s in STAGES) + f"{totals[rooms_on]:>10.2f}s")
            print(f"{'':<22}{'extra':>6}{'':>9}{'':>27}{totals[True] - totals[False]:>+10.2f}s "
                  f"({100 * (totals[True] / totals[False] - 1):+.0f} %)")


if __name__ == "__main__":
    main()
