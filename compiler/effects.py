"""Per-take line effects chosen by a line's extension: a telephone/radio band or an off-screen muffle.

Applied to each take before it is placed on the timeline (see compiler.stitch.assemble); an effect
never changes a take's length, so the timeline computed before the samples stays exact.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # stitch imports this module; the settings type is only needed for annotations
    from compiler.stitch import StitchSettings

_PHONE = re.compile(r"phone|radio|intercom|speaker|walkie|\btv\b|television|comms|transmission")
_MUFFLED = re.compile(r"\b(os|oc|off|offscreen|offstage|offcamera)\b")


def line_effect(extension: str | None) -> str:
    """'phone' (telephone/radio band), 'muffled' (off-screen) or 'none' for an extension like O.S."""
    if not extension:
        return "none"
    text = extension.lower().replace(".", "").replace("'", "")
    text = text.replace("off-screen", "offscreen").replace("off-stage", "offstage").replace("t v", "tv")
    if _PHONE.search(text):
        return "phone"
    if _MUFFLED.search(text):
        return "muffled"
    return "none"


def apply_effect(take: np.ndarray, effect: str, sample_rate: int, settings: StitchSettings) -> np.ndarray:
    if effect == "none" or len(take) == 0:
        return take
    nyquist = sample_rate / 2
    x = take.astype(np.float64)
    if effect == "muffled":
        from scipy import signal  # imported when a line needs it: scipy.signal costs a second to import

        sos = signal.butter(4, min(settings.muffle_cutoff_hz, nyquist * 0.95), "lowpass", fs=sample_rate, output="sos")
        y = signal.sosfilt(sos, x) * 10 ** (settings.muffle_gain_db / 20)
    elif effect == "phone":
        hi = min(settings.phone_band_hz[1], nyquist * 0.95)
        # A band set for a higher sample rate than this take's may start above the top it can
        # carry; keep the top octave then rather than hand butter an inverted band.
        lo = min(settings.phone_band_hz[0], hi / 2)
        from scipy import signal

        sos = signal.butter(4, [lo, hi], "bandpass", fs=sample_rate, output="sos")
        band = signal.sosfilt(sos, x)
        peak = float(np.max(np.abs(band))) or 1.0
        drive = settings.phone_drive
        # Soft saturation normalised to the band-passed peak, then restored to that peak: adds
        # the harmonics of a small speaker without changing the line's level much.
        y = np.tanh(drive * band / peak) / math.tanh(drive) * peak
    else:
        raise ValueError(f"unknown effect {effect!r}")
    return y.astype(np.float32)
