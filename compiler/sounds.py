"""Sound files for sfx, music and ambience cues: reading them, and looping them.

`load_sounds` reads every file a plan names once, as float32 at the play's sample rate (a stereo file
stays stereo, (n, 2), in a stereo play; everything else is mono); its lengths feed
`compiler.stitch.build_timeline`. `looped` repeats a file for music cues that loop and for ambience
beds (compiler.pieces lays the cues into the mix, with their fades and ducking).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np

from compiler.diagnostics import CompileError, Diagnostic, error
from compiler.plan_types import Plan, SoundCue


# --------------------------------------------------------------------------------------------------
# Reading sound files


def load_sounds(plan: Plan, sample_rate: int, channels: int = 1) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Read every file the plan's cues name (sfx, music, ambience) as float32 at `sample_rate` (see
    read_sound for `channels`).

    Returns (samples by path, seconds by path). Unreadable files become one diagnostic each, at the
    cue that names them, raised together.
    """
    sounds, diags = _read_cues(plan, lambda path: read_sound(path, sample_rate, channels))
    if diags:
        raise CompileError(diags)
    return sounds, {p: len(a) / sample_rate for p, a in sounds.items()}


def sound_problems(plan: Plan) -> list[Diagnostic]:
    """What load_sounds would refuse, each at its cue (`dramac check`): every file read whole, at its
    own rate."""
    return _read_cues(plan, lambda path: read_sound(path, None))[1]


def _read_cues(plan: Plan, read: Callable[[str], np.ndarray]) -> tuple[dict[str, np.ndarray], list[Diagnostic]]:
    sounds: dict[str, np.ndarray] = {}
    diags: list[Diagnostic] = []
    for step in plan.steps:
        if not isinstance(step, SoundCue) or not _reads_file(step.kind) or step.path in sounds:
            continue
        if not step.path:
            diags.append(error(f"{step.kind} cue has no file", step.span))
            continue
        try:
            sounds[step.path] = read(step.path)
        except SoundFileError as exc:
            diags.append(error(str(exc), step.span))
    return sounds, diags


def _reads_file(kind: str) -> bool:
    from compiler import plugins

    plugin = plugins.by_rule(kind)
    return plugin is not None and plugin.reads_file


class SoundFileError(ValueError):
    pass


def read_sound(path: str, sample_rate: int | None, channels: int = 1) -> np.ndarray:
    """A sound file as float32 at `sample_rate` (None: its own): (n, 2) when `channels` is 2 and the
    file is stereo, else mono (n,), its channels averaged."""
    p = Path(path)
    if not p.is_file():
        raise SoundFileError(f"sound file '{path}' does not exist")
    _check_wav_complete(p, path)
    try:
        import soundfile as sf

        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as first:  # soundfile cannot decode it: try pydub (needs ffmpeg for most compressed formats)
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydub warns when ffmpeg is absent; the error says enough
                from pydub import AudioSegment

                seg = AudioSegment.from_file(str(p))
            raw = np.array(seg.get_array_of_samples(), dtype=np.float32) / float(1 << (8 * seg.sample_width - 1))
            data, sr = raw.reshape(-1, seg.channels), seg.frame_rate
        except Exception:
            raise SoundFileError(
                f"cannot read sound file '{path}': {first}; use WAV, FLAC, OGG or MP3, or install ffmpeg") from None
    if data.shape[0] == 0:
        raise SoundFileError(f"sound file '{path}' is empty")
    if not np.all(np.isfinite(data)):  # a float file may hold them; one would spread through the whole mix
        raise SoundFileError(f"sound file '{path}' has invalid (NaN/inf) samples")
    kept = data if channels == 2 and data.shape[1] == 2 else data.mean(axis=1)
    return kept if sample_rate is None else resample(kept, int(sr), int(sample_rate))


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling (along time, mono or stereo) by the reduced ratio of the two rates; float32 out."""
    if from_rate != to_rate:
        g = math.gcd(from_rate, to_rate)
        from scipy import signal  # only for a file at another rate: scipy.signal costs a second to import

        samples = signal.resample_poly(samples, to_rate // g, from_rate // g, axis=0)
    return np.ascontiguousarray(samples, dtype=np.float32)


def resampled_length(n: int, from_rate: int, to_rate: int) -> int:
    """How many samples `resample` makes of n (scipy's resample_poly: ceil(n * up / down))."""
    g = math.gcd(from_rate, to_rate)
    return -(-n * (to_rate // g) // (from_rate // g))


# A WAV data chunk of this declared size means "length unknown": streaming writers (a recorder, a
# pipe) cannot seek back to fill it in, and every reader plays such a file to its end.
_UNKNOWN_LENGTH = (0, 0xFFFFFFFF)


def _check_wav_complete(p: Path, path: str) -> None:
    """A WAV whose data chunk promises more bytes than the file holds was cut short (a copy or a
    download interrupted); libsndfile plays the part that is there without a word, so the cue would
    silently be shorter than the writer made it. Other formats fail to decode when cut short."""
    try:
        with open(p, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                return  # not a WAV (or RF64, whose sizes live in a ds64 chunk): left to the decoder
            order = "little" if head[:4] == b"RIFF" else "big"
            block_align = byte_rate = 0
            position = 12
            while position + 8 <= size:  # chunk by chunk; each step moves at least 8 bytes
                fh.seek(position)
                header = fh.read(8)
                declared = int.from_bytes(header[4:8], order)
                if header[:4] == b"fmt ":
                    fmt = fh.read(16)
                    byte_rate, block_align = int.from_bytes(fmt[8:12], order), int.from_bytes(fmt[12:14], order)
                if header[:4] == b"data":
                    held = size - position - 8
                    if declared > held and declared not in _UNKNOWN_LENGTH:
                        raise SoundFileError(f"sound file '{path}' is truncated: its header promises "
                                             f"{_amount(declared, byte_rate, block_align)} of audio, the file holds "
                                             f"{_amount(held, byte_rate, block_align)}; export or copy it again")
                    return
                position += 8 + declared + (declared & 1)  # chunks are padded to an even length
    except OSError as exc:
        raise SoundFileError(f"cannot read sound file '{path}': {exc.strerror or exc}") from None


def _amount(data_bytes: int, byte_rate: int, block_align: int) -> str:
    if byte_rate and block_align:
        return f"{data_bytes // block_align * block_align / byte_rate:.2f} s"
    return f"{data_bytes} bytes"


# --------------------------------------------------------------------------------------------------
# Looping (music and ambience beds; compiler.pieces lays them into the mix)


def looped(src: np.ndarray, start: int, n: int) -> np.ndarray:
    """n samples of `src` repeated forever, beginning at position `start` (slices, no index arrays:
    numpy's take(mode="wrap") reduces large indices by repeated subtraction, which is not linear)."""
    out = np.empty((n, *src.shape[1:]), dtype=np.float32)  # mono (m,) or channels (m, c)
    pos, i = start % len(src), 0
    while i < n:
        k = min(n - i, len(src) - pos)
        out[i: i + k] = src[pos: pos + k]
        i, pos = i + k, 0
    return out
