"""Parse a feature-length Fountain script with dramac and with screenplain; print time and peak memory.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/parse.py [--pages 120] [--repeat 5]

The script is generated (deterministically) with every Fountain element dramac supports, about 45
lines a page. Times are the best of --repeat runs after one warm-up (grammar construction is timed
separately); peak memory is tracemalloc's peak during one parse.
"""

from __future__ import annotations

import argparse
import gc
import io
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import traced  # noqa: E402

NAMES = ["ROSA", "MILES", "HANNAH", "GEORGE", "DR. BELL", "@McKenna", "OLD SAILOR"]
WORDS = ("the of harbour light wind storm ferry captain rope deck night we should never have left "
         "that cabin before the tide turned and everyone knew it").split()


def sentence(rng: random.Random, lo=4, hi=16) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    if rng.random() < 0.15:
        i = rng.randrange(len(words))
        words[i] = f"*{words[i]}*"
    return " ".join(words).capitalize() + rng.choice([".", ".", "?", "!"])


def feature_script(pages: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    out = ["Title: Benchmark Feature", "Credit: Written by", "Author: dramac benchmarks", "Draft date: 1 January 2026", ""]
    lines_per_page = 45
    scene = 0
    while len(out) < pages * lines_per_page:
        scene += 1
        out += [f"{rng.choice(['INT.', 'EXT.', 'INT./EXT.'])} LOCATION {scene} - {rng.choice(['DAY', 'NIGHT'])} #{scene}#", ""]
        for _ in range(rng.randint(6, 14)):
            r = rng.random()
            if r < 0.25:
                out += [sentence(rng, 8, 30), ""]
            elif r < 0.9:
                name = rng.choice(NAMES)
                ext = rng.choice(["", "", "", " (V.O.)", " (O.S.)", " (CONT'D)"])
                out.append(name + ext)
                if rng.random() < 0.3:
                    out.append(rng.choice(["(beat)", "(quietly)", "(laughs)"]))
                out.append(sentence(rng))
                if rng.random() < 0.3:
                    out.append(sentence(rng))
                out.append("")
                if rng.random() < 0.05:
                    out += [rng.choice(NAMES) + " ^", sentence(rng), ""]
            elif r < 0.94:
                out += [f"[[{sentence(rng, 3, 6)}]]", ""]
            elif r < 0.97:
                out += ["CUT TO:", ""]
            else:
                out += ["/* cut scene", sentence(rng), "*/", ""]
    return "\n".join(out) + "\n"


def measure(fn, repeat: int):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    gc.collect()
    _, _, peak = traced(fn)
    return min(times), peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    text = feature_script(args.pages)
    n_lines = text.count("\n")
    print(f"script: {args.pages} pages, {n_lines} lines, {len(text) / 1024:.0f} KiB")

    from compiler.diagnostics import Sink
    from compiler.project import Project
    from compiler.source import decode

    t = time.perf_counter()
    import compiler.fountain as fountain

    project = Project(Path.cwd())
    fountain.parse_fountain(decode(b"INT. A - DAY\n", "warm.fountain"), project, Sink())
    print(f"dramac grammar load + first parse: {time.perf_counter() - t:.3f} s")

    def run_dramac():
        script = fountain.parse_fountain(decode(text.encode(), "feature.fountain"), project, Sink())
        assert sum(1 for _ in script.dialogues()) > 500

    results = [("dramac (lark LALR)", *measure(run_dramac, args.repeat))]
    try:
        from screenplain.parsers import fountain as sp
    except ImportError:
        print("screenplain not installed: pip install -e '.[bench]'")
    else:
        results.append(("screenplain 0.12", *measure(lambda: sp.parse(io.StringIO(text)), args.repeat)))

    print(f"{'parser':<22}{'best time':>12}{'peak memory':>14}")
    for name, seconds, peak in results:
        print(f"{name:<22}{seconds:>10.3f} s{peak / 2**20:>11.1f} MiB")
    if len(results) == 2:
        ratio = results[1][1] / results[0][1]
        print(f"dramac is {ratio:.2f}x the speed of screenplain; target: ≤0.25 s and ≥1.0x")


if __name__ == "__main__":
    main()
