"""What the stereo stage costs: mixing, mastering and writing a play in mono, in stereo (the default) and
in stereo at 48 kHz, in this process, with the clips already rendered; printed beside the mono baseline.

    .venv/bin/python benchmarks/stage.py                  # a generated 1-minute play
    .venv/bin/python benchmarks/stage.py --minutes 2 --repeat 3

Two figures per setting, each the best of --repeat runs (the machine is shared): a full mix (every
segment mixed, measured, limited and written: the mix cache emptied first) and a one-line edit (a word
added to a speech in the middle; its clip renders, which is not counted: stitch + master + write only).
The clips are rendered once, by the first build, into the work folder's clip cache.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from incremental import CHARACTERS, generated_play  # noqa: E402

SETTINGS = {"mono": 'channels = "mono"', "stereo": 'channels = "stereo"',
            "stereo 48 kHz": 'channels = "stereo"\nsample_rate = 48000'}


def build_once(script: Path, out: Path) -> dict[str, float]:
    from compiler import build

    result = build.build(build.prepare(script), out, ["wav"], 2)
    return result.stages


def edited(text: str, n: int) -> str:
    lines = text.split("\n")
    middle = len(lines) // 2
    target = next(i for i in range(middle, len(lines)) if lines[i - 1] in CHARACTERS and lines[i])
    lines[target] = lines[target].replace(" ", f" really {n} ", 1)
    return "\n".join(lines)


def measure(project: Path, script: Path, text: str, stage: str, repeat: int, edits: int) -> tuple[float, float]:
    (project / "dramac.toml").write_text(f"[build]\nformat = \"wav\"\n\n[stage]\n{stage}\n")
    full, edit = [], []
    for _ in range(repeat):
        shutil.rmtree(project / ".dramac-cache" / "mix", ignore_errors=True)
        shutil.rmtree(project / "out", ignore_errors=True)
        script.write_text(text)
        stages = build_once(script, project / "out")
        full.append(stages["stitch"] + stages["master"] + stages["write"])
        script.write_text(edited(text, edits))  # a new word each time: its clip renders, the rest is cached
        edits += 1
        stages = build_once(script, project / "out")
        edit.append(stages["stitch"] + stages["master"] + stages["write"])
    script.write_text(text)
    return min(full), min(edit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dramac-bench-stage"))
    args = parser.parse_args()
    project = args.workdir / f"play-{args.minutes:g}min"
    project.mkdir(parents=True, exist_ok=True)
    script = project / "play.fountain"
    text = generated_play(args.minutes)
    script.write_text(text)
    print(f"{args.minutes:g}-minute generated play; clips rendered once, then cached", flush=True)
    started = time.perf_counter()
    (project / "dramac.toml").write_text("[build]\nformat = \"wav\"\n")
    build_once(script, project / "out")
    print(f"  first build (renders what the cache lacks): {time.perf_counter() - started:.1f} s")
    figures = {}
    for n, (label, stage) in enumerate(SETTINGS.items()):
        figures[label] = measure(project, script, text, stage, args.repeat, 1000 * n)
    base_full, base_edit = figures["mono"]
    print(f"  {'setting':<16}{'full mix+master+write':>24}{'vs mono':>10}{'one-line edit (no render)':>28}{'vs mono':>10}")
    for label, (full, edit) in figures.items():
        print(f"  {label:<16}{full:>22.2f} s{full / base_full:>9.2f}x{edit:>26.2f} s{edit / base_edit:>9.2f}x")


if __name__ == "__main__":
    main()
