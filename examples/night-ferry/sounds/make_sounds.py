"""Regenerate the Night Ferry's sound effects (synthetic, so the example owes nothing to anyone).

    python examples/night-ferry/sounds/make_sounds.py
"""

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 24000


def ship_horn(seconds: float = 1.4) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    # Two low, slightly detuned reed-like tones (odd harmonics), a fifth apart.
    tone = sum(np.sin(2 * np.pi * f * k * t) / k for f in (98.0, 147.0, 98.6) for k in (1, 3, 5))
    envelope = np.minimum(1.0, t / 0.12) * np.minimum(1.0, (seconds - t) / 0.35)
    audio = tone * envelope
    return (0.5 * audio / np.max(np.abs(audio))).astype(np.float32)


if __name__ == "__main__":
    here = Path(__file__).parent
    sf.write(here / "horn.wav", ship_horn(), RATE, subtype="PCM_16")
