"""Mastering a long play: time and peak memory of compiler.master, and of its loudness meter against
pyloudnorm's whole-signal meter on the same audio.

    .venv/bin/python benchmarks/master.py [--minutes 60] [--rate 22050]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyloudnorm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compiler.master import loudness, master, true_peak_db  # noqa: E402
from measure import traced  # noqa: E402


def measure(label: str, fn):
    value, seconds, peak = traced(fn)
    print(f"{label:<34}{seconds:>8.1f} s{peak / 2**20:>10.0f} MiB   {value}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--rate", type=int, default=22050)
    args = ap.parse_args()
    n = int(args.minutes * 60 * args.rate)
    t = np.arange(n, dtype=np.float32) / args.rate
    # Speech-like bursts over noise, so both loudness gates matter.
    audio = (0.2 * np.sin(2 * np.pi * 170 * t) * (np.sin(2 * np.pi * 0.3 * t) > 0.1)).astype(np.float32)
    audio += (0.01 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)
    del t
    print(f"{args.minutes:g} min at {args.rate} Hz: input {audio.nbytes / 2**20:.0f} MiB float32")
    print(f"{'step':<34}{'time':>10}{'peak':>14}   result")
    measure("loudness, pyloudnorm", lambda: round(pyloudnorm.Meter(args.rate).integrated_loudness(audio.astype(np.float64)), 4))
    measure("loudness, dramac (streaming)", lambda: round(loudness(audio, args.rate), 4))
    measure("true peak (4x oversampled)", lambda: round(true_peak_db(audio), 3))
    measure("master() to -16 LUFS, -1 dBTP", lambda: master(audio, args.rate)[1])


if __name__ == "__main__":
    main()
