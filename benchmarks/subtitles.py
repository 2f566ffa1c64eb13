"""Subtitle cues against the broadcast rules (Netflix Timed Text Style Guide: ≤ 42 characters a line,
≤ 2 lines, 5/6 s to 7 s a cue, no overlap), before and after compiler/subtitles.py, on the examples and
a generated 4-minute play built with the embedded voice.

    .venv/bin/python benchmarks/subtitles.py                 # both examples and the 4-minute play
    .venv/bin/python benchmarks/subtitles.py --minutes 4 12  # other generated lengths

"Before" is the previous writer, measured from the same build: one cue per manifest line, its text
wrapped into at most two balanced lines. "After" is the build's own .srt and .vtt, read back with the
`srt` and `webvtt-py` parsers. For the cues that start inside a line (a long line split), it also
prints how far each starts from the nearest speech onset measured on the audio, with the backend's
word times (what the build wrote) and without them (the line's time shared out by characters).
Each play is built in a work folder (--workdir) that keeps its clip
cache, so only the first run renders (about a minute for the 4-minute play on two cores).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
from incremental import generated_play  # noqa: E402

from compiler import subtitles  # noqa: E402
from compiler.diagnostics import Span  # noqa: E402
from compiler.plan_types import PlannedLine  # noqa: E402
from compiler.stitch import PlacedLine, Timeline  # noqa: E402
from tests.subtitle_rules import Cue, nearest_onset, read_srt, read_vtt, violations  # noqa: E402

EXAMPLES = {"night-ferry": "night-ferry.fountain", "lighthouse": "lighthouse.md"}


def build(project: Path, script: Path) -> Path:
    out = project / "out"
    r = subprocess.run([sys.executable, "-m", "compiler", "build", str(script), "-o", str(out), "--format", "wav",
                        "--jobs", "2"], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"build of {script} failed:\n{r.stderr}")
    return out


def before_cues(manifest: dict) -> list[Cue]:
    """The cues the previous writer made: one per line, at most two balanced lines."""
    return [Cue(line["start"], line["end"], _old_wrap(line["original"])) for line in manifest["lines"]]


def _old_wrap(text: str, width: int = 42) -> list[str]:
    words = text.split()
    flat = " ".join(words)
    if len(flat) <= width or len(words) < 2:
        return [flat]
    best = min(range(1, len(words)), key=lambda i: (max(len(" ".join(words[:i])), len(" ".join(words[i:]))),
                                                    len(" ".join(words[i:]))))
    return [" ".join(words[:best]), " ".join(words[best:])]


def without_word_times(manifest: dict) -> list[float]:
    """Starts of the cues the build would write if the backend gave no word times (the line's time
    shared out by characters), from the manifest's lines."""
    lines = [PlacedLine(PlannedLine(l["speaker"], l["original"], l["spoken"], Span.point("x", 1, 1)), l["clip"],
                        l["start"], l["end"]) for l in manifest["lines"]]
    return [c.start for c in subtitles.cues(Timeline(lines, [], manifest["duration"], manifest["sample_rate"]))]


def onset_errors(audio: np.ndarray, rate: int, starts: list[float], line_starts: list[float]) -> str:
    """How far the cues that start inside a line (split cues) start from the nearest measured onset."""
    split = [t for t in starts if not any(abs(t - s) <= 0.0015 for s in line_starts)]
    errors = [nearest_onset(audio, rate, t) for t in split]
    if not split:
        return "no split cues"
    # No onset within 0.3 s counts as 0.3 s: the cue is at least that far from one.
    found = np.array([0.3 if e is None else abs(e) for e in errors])
    return (f"{len(split):2d} split cues, |cue start - onset| median {np.median(found) * 1000:3.0f} ms, "
            f"max {found.max() * 1000:3.0f} ms, over 0.1 s: {int(np.sum(found > 0.1))}")


def plays(workdir: Path, minutes: list[float]) -> list[tuple[str, Path, Path]]:
    out = []
    for name, file in EXAMPLES.items():
        project = workdir / name
        if not project.exists():
            shutil.copytree(ROOT / "examples" / name, project, ignore=shutil.ignore_patterns(".dramac-cache", "outputs"))
        out.append((name, project, project / file))
    for m in minutes:
        project = workdir / f"play-{m:g}min"
        project.mkdir(parents=True, exist_ok=True)
        script = project / "play.fountain"
        script.write_text(generated_play(m), encoding="utf-8")
        (project / "dramac.toml").write_text('[build]\nformat = "wav"\n', encoding="utf-8")
        out.append((f"generated {m:g} min", project, script))
    return out


def summary(cues: list[Cue]) -> str:
    found = violations(cues)
    parts = [f"{len(v)} {k}" for k, v in found.items()]
    return f"{len(cues):3d} cues; " + ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="*", default=[4.0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dramac-bench-subtitles"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    for name, project, script in plays(args.workdir, args.minutes):
        out = build(project, script)
        stem = script.stem
        manifest = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))
        print(f"{name}: {len(manifest['lines'])} lines, {manifest['duration']:.0f} s")
        print(f"  before (one cue a line): {summary(before_cues(manifest))}")
        print(f"  after, .srt            : {summary(read_srt(out / f'{stem}.srt'))}")
        print(f"  after, .vtt            : {summary(read_vtt(out / f'{stem}.vtt'))}")
        audio, rate = sf.read(out / f"{stem}.wav", dtype="float32")
        line_starts = [line["start"] for line in manifest["lines"]]
        print(f"  split cues, word times from the backend: "
              f"{onset_errors(audio, rate, [c.start for c in read_srt(out / f'{stem}.srt')], line_starts)}")
        print(f"  split cues, time shared by characters : "
              f"{onset_errors(audio, rate, without_word_times(manifest), line_starts)}")
        found = violations(read_srt(out / f"{stem}.srt"))
        for rule, cues in found.items():
            for cue in cues[:3]:
                print(f"    {rule}: {cue}")


if __name__ == "__main__":
    main()
