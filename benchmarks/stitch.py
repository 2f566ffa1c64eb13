"""Benchmark: timeline + one preallocated buffer against the naive pydub `+` loop.

Builds a synthetic play (filtered-noise "takes" of 2-5 s, about one clip per line, four speakers,
a scene break every ~40 clips, a pause now and then) of each requested length and reports time and
peak traced memory of `build_timeline` + `assemble` and of a loop that grows an AudioSegment with
`out = out + silence; out = out + take`, which copies the whole play on every append. With
`--beds`, the same play again with an ambience bed (`[[ambience:]]`, a 60 s noise file looped) under
every scene, crossfading at each scene change and ducking under every line: what beds add.

    .venv/bin/python benchmarks/stitch.py                      # 30 and 60 minutes, both methods
    .venv/bin/python benchmarks/stitch.py --minutes 30 60 120 --naive-max-minutes 30
    .venv/bin/python benchmarks/stitch.py --minutes 60 --naive-max-minutes 0 --beds
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import signal

from measure import traced
from compiler.diagnostics import Span
from compiler.plan_types import Clip, PauseStep, Plan, PlannedLine, SceneBreak, SoundCue
from compiler.stitch import StitchSettings, assemble, build_timeline, load_sounds

SPEAKERS = ("ANNA", "BEN", "CLARA", "DAN")


def take_pool(sample_rate: int, count: int, seed: int) -> list[np.ndarray]:
    """Distinct synthetic takes: band-passed noise with a syllable-rate envelope, 2-5 s long."""
    rng = np.random.default_rng(seed)
    sos = signal.butter(2, [150, 3500], "bandpass", fs=sample_rate, output="sos")
    pool = []
    for _ in range(count):
        seconds = 2.0 + 3.0 * rng.random() ** 2  # mean 3 s
        n = int(seconds * sample_rate)
        noise = signal.sosfilt(sos, rng.normal(size=n))
        envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * np.arange(n) / sample_rate + rng.random() * 6.28)
        x = noise * envelope
        pool.append((0.3 * x / np.max(np.abs(x))).astype(np.float32))
    return pool


def synthetic_play(minutes: float, pool: list[np.ndarray], sample_rate: int, seed: int, bed: str | None = None):
    rng = np.random.default_rng(seed)
    steps: list = [SceneBreak(0)]
    if bed:
        steps.append(SoundCue("ambience", bed, (), Span("bench.fountain", 1, 1, 1, 10)))
    takes: dict[str, list[np.ndarray]] = {}
    total, scene, n = 0.0, 0, 0
    while total < minutes * 60:
        if n and n % 40 == 0:
            scene += 1
            steps.append(SceneBreak(scene))
            if bed:
                steps.append(SoundCue("ambience", bed, (), Span("bench.fountain", n + 1, 1, n + 1, 10)))
            total += 1.6
        if rng.random() < 0.05:
            steps.append(PauseStep(1.0))
            total += 1.0
        count = 1 if rng.random() < 0.97 else 2
        lines, arrays = [], []
        for j in range(count):
            speaker = SPEAKERS[int(rng.integers(len(SPEAKERS)))]
            text = f"Line {n}.{j} of the synthetic play."
            lines.append(PlannedLine(speaker, text, text, Span("bench.fountain", n + 1, 1, n + 1, 10)))
            take = pool[int(rng.integers(len(pool)))]
            arrays.append(take)
            total += len(take) / sample_rate + 0.4
        speakers = tuple(dict.fromkeys(l.speaker for l in lines))
        c = Clip(scene, speakers, (), tuple(lines), 3.0)
        steps.append(c)
        takes[c.key] = arrays
        n += 1
    return Plan("bench.fountain", "Benchmark", tuple(steps)), takes


def naive_loop(timeline, segments_by_id, sample_rate):
    from pydub import AudioSegment

    out = AudioSegment.silent(duration=timeline.lines[0].start * 1000, frame_rate=sample_rate)
    prev_end = timeline.lines[0].start
    for pl in timeline.lines:
        gap_ms = (pl.start - prev_end) * 1000
        out = out + AudioSegment.silent(duration=gap_ms, frame_rate=sample_rate)
        out = out + segments_by_id[pl.clip_key, pl.take]
        prev_end = pl.end
    return out


def fast_path(plan, takes, sr, settings, repeat, minutes, method):
    """One row: `build_timeline` + `assemble` of the play (with the sound files it names)."""
    sounds, lengths = load_sounds(plan, sr)
    # Memory from one traced run; time as the best of --repeat untraced runs (shared machines are noisy).
    tl, _, m_tl = traced(lambda: build_timeline(plan, takes, sr, settings, lengths))
    audio, _, m_as = traced(lambda: assemble(tl, takes, settings, sounds))
    del audio
    t_tl = t_as = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        tl = build_timeline(plan, takes, sr, settings, lengths)
        t1 = time.perf_counter()
        audio = assemble(tl, takes, settings, sounds)
        t_tl, t_as = min(t_tl, t1 - t0), min(t_as, time.perf_counter() - t1)
        del audio
    beds = sum(s.cue.kind == "ambience" for s in tl.sounds)
    return (minutes, len(plan.clips), len(tl.lines), tl.duration / 60, method, t_tl + t_as, max(m_tl, m_as),
            f"timeline {t_tl:.2f} s, assemble {t_as:.2f} s" + (f", {beds} beds" if beds else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[30.0, 60.0])
    ap.add_argument("--naive-max-minutes", type=float, default=60.0,
                    help="skip the naive pydub loop for plays longer than this (it grows quadratically)")
    ap.add_argument("--sample-rate", type=int, default=22050)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of the fast path (best is reported)")
    ap.add_argument("--beds", action="store_true", help="also the play with an ambience bed under every scene")
    args = ap.parse_args()

    import warnings

    warnings.filterwarnings("ignore", category=RuntimeWarning, module="pydub")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from pydub import AudioSegment

    sr = args.sample_rate
    pool = take_pool(sr, 64, args.seed)
    pool_segments = [AudioSegment((np.clip(t, -1, 1) * 32767).astype(np.int16).tobytes(),
                                  frame_rate=sr, sample_width=2, channels=1) for t in pool]
    index_of = {id(t): i for i, t in enumerate(pool)}
    settings = StitchSettings()
    rows = []
    folder = tempfile.TemporaryDirectory()
    bed = str(Path(folder.name) / "bed.wav")
    if args.beds:
        import soundfile as sf

        sf.write(bed, (0.05 * np.random.default_rng(args.seed).normal(size=60 * sr)).astype(np.float32), sr)
    for minutes in args.minutes:
        for method, with_bed in (("timeline+buffer", None), ("+ ambience beds", bed if args.beds else None)):
            if method != "timeline+buffer" and with_bed is None:
                continue
            plan, takes = synthetic_play(minutes, pool, sr, args.seed, with_bed)
            rows.append(fast_path(plan, takes, sr, settings, args.repeat, minutes, method))
        tl = build_timeline(plan, takes, sr, settings, load_sounds(plan, sr)[1])
        if minutes <= args.naive_max_minutes:
            segs = {(k, i): pool_segments[index_of[id(a)]] for k, arrs in takes.items() for i, a in enumerate(arrs)}
            out, t_nv, m_nv = traced(lambda: naive_loop(tl, segs, sr))
            note = f"{len(out) / 1000 / 60:.1f} min out (no fades/room tone)"
            rows.append((minutes, len(plan.clips), len(tl.lines), len(out) / 60000, "naive pydub +", t_nv, m_nv, note))
            del out

    print(f"sample rate {sr} Hz; peak = tracemalloc peak during the call (output buffer included); "
          f"fast path: best of {args.repeat} runs")
    print(f"{'target':>7} {'clips':>6} {'lines':>6} {'play min':>9}  {'method':<16} {'seconds':>8} {'peak MiB':>9}  note")
    for minutes, clips, lines, length, method, secs, peak, note in rows:
        print(f"{minutes:>7.0f} {clips:>6} {lines:>6} {length:>9.1f}  {method:<16} {secs:>8.2f} {peak / 2**20:>9.0f}  {note}")


if __name__ == "__main__":
    main()
