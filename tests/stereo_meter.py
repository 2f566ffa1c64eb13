"""Measuring a stereo mix from outside dramac: the files as soundfile reads them, numpy and scipy for
levels and true peaks, the script's own scene order for where each character should stand.

The expected positions follow the rule docs/stage.md states (constant-power pan, θ = (p + 1)·π/4;
the speakers of a scene spread evenly over ±spread in the order they first speak in the scene; the
narrator centred), recomputed here from the parsed script: dramac's stage module is not asked.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def downmix(stereo: np.ndarray) -> np.ndarray:
    """The mono downmix (L + R) / √2 (a centred voice keeps its level)."""
    stereo = np.asarray(stereo, dtype=np.float64)
    return ((stereo[:, 0] + stereo[:, 1]) / math.sqrt(2)).astype(np.float32)


def true_peak_dbtp(audio: np.ndarray) -> float:
    """The highest peak of any channel, 4x oversampled (scipy's polyphase filter), in dBTP."""
    from scipy.signal import resample_poly

    x = np.asarray(audio, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    peak = max(float(np.max(np.abs(resample_poly(x[:, c], 4, 1)))) for c in range(x.shape[1]))
    peak = max(peak, float(np.max(np.abs(x))))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def pan_difference_db(pan: float) -> float:
    """R over L in dB of a mono source at `pan` under the constant-power law: 20·log10(gR / gL)."""
    theta = (pan + 1) * math.pi / 4
    return 20 * math.log10(math.sin(theta) / math.cos(theta))


def channel_difference_db(stereo: np.ndarray, spans: list[tuple[int, int]]) -> float:
    """R over L in dB, energies summed over the given sample spans."""
    parts = np.concatenate([stereo[a:b] for a, b in spans]).astype(np.float64)
    energy = (parts ** 2).sum(axis=0)
    return 10 * math.log10(energy[1] / energy[0])


def scene_of_lines(script: Path) -> list[int]:
    """The source line where each scene starts (its heading), in order."""
    from compiler.parser import parse_file

    parsed = parse_file(script)
    assert parsed.ok
    return [scene.heading.span.line if scene.heading is not None else 0 for scene in parsed.script.scenes]


def expected_pans(script: Path, lines: list[dict], spread: float, fixed: dict[str, float] | None = None,
                  narrator: str = "NARRATOR") -> list[float]:
    """The pan each manifest line should have (lines in play order, as the manifest lists them)."""
    fixed = fixed or {}
    starts = scene_of_lines(script)
    scene = [max(i for i, at in enumerate(starts) if at <= line["span"]["line"]) for line in lines]
    order: dict[int, list[str]] = {}
    for s, line in zip(scene, lines):
        who = line["speaker"]
        if who not in fixed and who != narrator and who not in order.setdefault(s, []):
            order[s].append(who)
    out = []
    for s, line in zip(scene, lines):
        who = line["speaker"]
        if who in fixed:
            out.append(fixed[who])
        elif who == narrator:
            out.append(0.0)
        else:
            free = order[s]
            out.append(0.0 if len(free) == 1 else -spread + 2 * spread * free.index(who) / (len(free) - 1))
    return out
