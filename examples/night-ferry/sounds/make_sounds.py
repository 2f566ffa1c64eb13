"""Regenerate the Night Ferry's sounds (synthetic, so the example owes nothing to anyone).

    python examples/night-ferry/sounds/make_sounds.py

horn.wav: the ferry's horn, 1.4 s, mono, 24 kHz, 16-bit (a `[[sfx:]]` in scene 1).
rain.wav: rain on the bridge windows, 3 s, mono, 16 kHz, 16-bit: the `[[ambience:]]` bed of the
bridge scenes, looped by the mixer (it crossfades the file's end into its start, so the file needs
no seamless cut of its own).
"""

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 24000
RAIN_RATE = 16000  # rain is noise: 8 kHz of bandwidth is plenty, and the file stays small


def ship_horn(seconds: float = 1.4) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    # Two low, slightly detuned reed-like tones (odd harmonics), a fifth apart.
    tone = sum(np.sin(2 * np.pi * f * k * t) / k for f in (98.0, 147.0, 98.6) for k in (1, 3, 5))
    envelope = np.minimum(1.0, t / 0.12) * np.minimum(1.0, (seconds - t) / 0.35)
    audio = tone * envelope
    return (0.5 * audio / np.max(np.abs(audio))).astype(np.float32)


def rain(seconds: float = 3.0) -> np.ndarray:
    n = int(seconds * RAIN_RATE)
    rng = np.random.default_rng(11)  # fixed seed: the file is the same on every run
    # A steady hiss: white noise shaped in the frequency domain, a broad hump from ~600 Hz to ~5 kHz.
    freqs = np.fft.rfftfreq(n, 1 / RAIN_RATE)
    shape = 1 / (1 + (600 / np.maximum(freqs, 1)) ** 2) / (1 + (freqs / 5000) ** 2) / np.sqrt(np.maximum(freqs, 50))
    hiss = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * shape, n)
    # Drops on the glass: short decaying pings at random pitches.
    drops = np.zeros(n)
    t = np.arange(int(0.012 * RAIN_RATE)) / RAIN_RATE
    for at in rng.integers(0, n - len(t), int(seconds * 40)):
        ping = np.sin(2 * np.pi * rng.uniform(2000, 4500) * t) * np.exp(-t * 500) * rng.uniform(0.2, 1.0)
        drops[at: at + len(t)] += ping
    audio = hiss / np.sqrt(np.mean(hiss ** 2)) + 0.6 * drops / np.sqrt(np.mean(drops ** 2) + 1e-12)
    return (10 ** (-24 / 20) * audio / np.sqrt(np.mean(audio ** 2))).astype(np.float32)  # -24 dBFS RMS


if __name__ == "__main__":
    here = Path(__file__).parent
    sf.write(here / "horn.wav", ship_horn(), RATE, subtype="PCM_16")
    sf.write(here / "rain.wav", rain(), RAIN_RATE, subtype="PCM_16")
