"""Real-time factor of the embedded backend, one worker against all cores, on a cold cache.

Renders the same ~20 two-speaker clips (about 40 lines) with jobs=1 and with jobs=os.cpu_count(),
each into an empty temporary cache, and prints audio seconds per wall second (and its inverse).
Then prints the median F0 (Praat) of every palette voice saying one sentence.

    .venv/bin/python benchmarks/render.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compiler.backends.embedded import EmbeddedBackend, palette  # noqa: E402
from compiler.diagnostics import Span  # noqa: E402
from compiler.plan_types import Clip, PlannedLine  # noqa: E402
from compiler.render import ClipCache, render_plan  # noqa: E402

LINES = [
    ("Did you hear the foghorn last night?", "Twice. Once at midnight, once just before dawn."),
    ("The ferry should have docked by now.", "Maybe the captain is waiting for the tide."),
    ("I left my coat in the waiting room.", "Then go back for it, we have time."),
    ("Who keeps the lighthouse these days?", "An old man called Harris, and his dog."),
    ("Look at the water, it's black as ink.", "Don't lean over the rail like that."),
    ("Have you got the tickets?", "They're in my left pocket, with the keys."),
    ("Someone is standing on the pier.", "It's only the harbour master, checking the ropes."),
    ("I can't feel my fingers anymore.", "Put your hands under your arms, like this."),
    ("Listen. Do you hear an engine?", "That's the ferry. At last."),
    ("We'll be home before the kettle boils.", "You said that an hour ago."),
]


def clips() -> list[Clip]:
    pal = palette()
    out = []
    for i in range(20):
        first, second = LINES[i % len(LINES)]
        if i >= len(LINES):  # second round: other voices, so every clip is distinct
            first, second = second, first
        a, b = pal[i % len(pal)], pal[(i + 3) % len(pal)]
        span = Span("bench.fountain", i + 1, 1, i + 1, 2)
        lines = (PlannedLine("A", first, first, span), PlannedLine("B", second, second, span))
        out.append(Clip(0, ("A", "B"), (a, b), lines, 5.0))
    return out


def run(jobs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = render_plan(clips(), "embedded", {}, ClipCache(tmp), jobs)
        wall = time.perf_counter() - started
    audio = sum(t.size for takes in result.takes.values() for t in takes) / result.sample_rate
    assert result.rendered == len(result.takes)
    return audio, wall


def main() -> None:
    cores = os.cpu_count() or 1
    print(f"embedded backend, {len(clips())} clips, cold cache, {cores} CPU cores")
    for jobs in sorted({1, cores}):
        audio, wall = run(jobs)
        print(f"jobs={jobs:<3} {audio:6.1f} s of audio in {wall:5.1f} s wall: "
              f"{audio / wall:5.1f}x real time (RTF {wall / audio:.3f}; model load included)")
    backend = EmbeddedBackend()
    text = "I found the letter under the kitchen table this morning."
    import parselmouth

    print("\npalette median F0 (Praat), one sentence each:")
    for voice in backend.palette():
        take = backend.speak(text, voice)
        f0 = parselmouth.Sound(take.astype(np.float64), 22050).to_pitch(pitch_floor=60, pitch_ceiling=400)
        values = f0.selected_array["frequency"]
        print(f"  {voice.name:<14} target {voice.param('pitch_hz'):5.0f} Hz  measured {np.median(values[values > 0]):6.1f} Hz"
              f"  ({voice.description})")


if __name__ == "__main__":
    main()
