"""Regenerate the Lighthouse example's sound effect (synthetic, so the example owes nothing to anyone).

    python examples/lighthouse/sounds/make_sounds.py

knock.wav: three knocks on a wooden door, 0.9 s, mono, 24 kHz, 16-bit.
"""

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 24000


def knock(seconds: float = 0.9, times: tuple[float, ...] = (0.05, 0.3, 0.55)) -> np.ndarray:
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    rng = np.random.default_rng(7)  # fixed seed: the file is the same on every run
    audio = np.zeros(n)
    for at in times:
        local = t - at
        on = local >= 0
        # A knuckle on wood: a low body resonance that dies within ~80 ms, plus a short noise click.
        body = np.sin(2 * np.pi * 180 * local) + 0.5 * np.sin(2 * np.pi * 410 * local)
        click = rng.standard_normal(n) * np.exp(-local * 400)
        audio += on * (body * np.exp(-local * 45) + 0.6 * click)
    # Soften the noise a little with a short moving average (wood, not metal).
    audio = np.convolve(audio, np.ones(4) / 4, mode="same")
    return (0.7 * audio / np.max(np.abs(audio))).astype(np.float32)


if __name__ == "__main__":
    here = Path(__file__).parent
    sf.write(here / "knock.wav", knock(), RATE, subtype="PCM_16")
