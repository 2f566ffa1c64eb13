"""Parse time of both front ends on growing adversarial inputs; prints seconds per size and the slope.

    .venv/bin/python benchmarks/parse_adversarial.py [--sizes 10,20,40,80,160] [--repeat 3] [--only NAME]

Each input is generated at every size (KB of text). The slope is the exponent b of a least-squares
fit time = a * size^b over the sizes: about 1 for linear parsing, 2 for quadratic. A normal
screenplay of the same size (benchmarks/parse.py's generator; its Markdown form for the Markdown
front end) is the baseline. Times are the best of --repeat parses, front end and semantic checks
included (compiler.parser.parse_source), after one warm-up parse that builds the grammars.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from parse import feature_script  # noqa: E402

from compiler.parser import parse_source  # noqa: E402
from compiler.project import Project  # noqa: E402
from compiler.source import decode  # noqa: E402


def repeat_to(unit: str, size: int, head: str = "", tail: str = "") -> str:
    """`head`, then `unit` repeated until the text is `size` characters, then `tail`."""
    count = max(1, (size - len(head) - len(tail)) // len(unit))
    return head + unit * count + tail


def screenplay(size: int) -> str:
    """A normal Fountain screenplay of about `size` characters, cut at a paragraph break."""
    text = feature_script(size // 1500 + 2)
    while len(text) < size:
        text += "\n" + text
    cut = text.rfind("\n\n", 0, size)
    return text[:cut if cut > 0 else size] + "\n"


def markdown_play(size: int) -> str:
    """A normal Markdown play of about `size` characters: the feature script's speeches as `NAME: text`."""
    out = []
    for block in screenplay(size).split("\n\n"):
        lines = block.strip("\n").split("\n")
        if lines[0].startswith(("INT.", "EXT.")):
            out.append("# " + lines[0])
        elif len(lines) > 1 and lines[0].upper() == lines[0] and lines[0][:1].isalpha():
            out.append(lines[0].split(" (")[0].lstrip("@").upper() + ": " + " ".join(lines[1:]))
        else:
            out.append(" ".join(lines))
    text = "\n\n".join(out)
    while len(text) < size:
        text += "\n\n" + text
    return text[:size]


# name -> (format, generator of a text of about n characters)
INPUTS = {
    "feature screenplay (baseline)": ("fountain", screenplay),
    "one line of [[": ("fountain", lambda n: repeat_to("[[", n)),
    "unclosed notes, one a line": ("fountain", lambda n: repeat_to("[[note\n", n)),
    "unclosed notes, far ]]": ("fountain", lambda n: repeat_to("[[x\n\n", n // 2) + repeat_to("] ", n // 2) + "]]"),
    "unclosed boneyard /*": ("fountain", lambda n: repeat_to("/*", n)),
    "boneyards spanning lines": ("fountain", lambda n: repeat_to("a /* x\n\n*/ b\n", n)),
    "emphasis runs * and _": ("fountain", lambda n: repeat_to(" *a", n // 2) + repeat_to(" a_", n // 2)),
    "long line of *": ("fountain", lambda n: repeat_to("*", n)),
    "deep parentheticals": ("fountain", lambda n: repeat_to("(", n // 2, "\nBOB\n") + repeat_to(")", n // 2)),
    "many blank lines": ("fountain", lambda n: repeat_to("\n", n, "\nBOB\nHi.\n")),
    "one giant line": ("fountain", lambda n: repeat_to("word ", n)),
    "directives in a speech": ("fountain", lambda n: repeat_to("a [[pause 1s]]", n, "\nBOB\n")),
    "markdown play (baseline)": ("markdown", markdown_play),
    "md: one line of [[": ("markdown", lambda n: repeat_to("[[", n)),
    "md: unclosed notes, one a line": ("markdown", lambda n: repeat_to("[[note\n", n)),
    "md: unclosed comments <!--": ("markdown", lambda n: repeat_to("<!--", n)),
    "md: emphasis runs * and _": ("markdown", lambda n: repeat_to(" *a", n // 2, "ANNA: ") + repeat_to(" a_", n // 2)),
    "md: long line of *": ("markdown", lambda n: repeat_to("*", n)),
    "md: deep parentheticals": ("markdown", lambda n: repeat_to("(", n // 2, "ANNA: ") + repeat_to(")", n // 2)),
    "md: parentheticals after a cue": ("markdown", lambda n: repeat_to("(a) ", n, "ANNA: ")),
    "md: heading full of spaces": ("markdown", lambda n: repeat_to(" ", n, "# a", "b\n")),
    "md: many blank lines": ("markdown", lambda n: repeat_to("\n", n, "ANNA: Hi.\n")),
    "md: one giant line": ("markdown", lambda n: repeat_to("word ", n)),
}


def best_time(text: str, fmt: str, project: Project, repeat: int) -> float:
    source = decode(text.encode("utf-8"), "bench." + ("fountain" if fmt == "fountain" else "md"))
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        parse_source(source, project, fmt)
        times.append(time.perf_counter() - started)
    return min(times)


def slope(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares exponent b of seconds = a * size^b."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(t, 1e-6)) for t in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,20,40,80,160", help="sizes in KB (1 KB = 1024 characters)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="", help="run only the inputs whose name contains this")
    args = ap.parse_args()
    sizes = [int(s) * 1024 for s in args.sizes.split(",")]
    project = Project(Path.cwd())
    for fmt in ("fountain", "markdown"):  # build the grammars outside the timings
        best_time("INT. A - DAY\n\nBOB\nHi.\n" if fmt == "fountain" else "# A\nBOB: Hi.\n", fmt, project, 1)

    header = "".join(f"{s // 1024:>7} KB" for s in sizes)
    print(f"{'input':<34}{'format':<10}{header}   slope")
    for name, (fmt, make) in INPUTS.items():
        if args.only and args.only not in name:
            continue
        seconds = [best_time(make(size), fmt, project, args.repeat) for size in sizes]
        cells = "".join(f"{t:>8.3f}s" for t in seconds)
        print(f"{name:<34}{fmt:<10}{cells}   {slope(sizes, seconds):5.2f}", flush=True)


if __name__ == "__main__":
    main()
