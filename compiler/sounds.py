"""Sound files for sfx and music cues: reading them, and laying a music cue into the mix.

`load_sounds` reads every file a plan names once, as mono float32 at the play's sample rate; its
lengths feed `compiler.stitch.build_timeline`. `lay_music` writes one placed music cue (looping,
fades and ducking under speech) into the play's buffer during `compiler.stitch.assemble`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from compiler.diagnostics import CompileError, Diagnostic, error
from compiler.plan_types import Plan, SoundCue

if TYPE_CHECKING:  # stitch imports this module; its types are only needed for annotations
    from compiler.stitch import PlacedSound, StitchSettings, Timeline

# --------------------------------------------------------------------------------------------------
# Reading sound files


def load_sounds(plan: Plan, sample_rate: int) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Read every sfx/music file of the plan as mono float32 at `sample_rate`.

    Returns (samples by path, seconds by path). Unreadable files become one diagnostic each, at the
    cue that names them, raised together.
    """
    sounds: dict[str, np.ndarray] = {}
    diags: list[Diagnostic] = []
    for step in plan.steps:
        if not isinstance(step, SoundCue) or step.kind not in ("sfx", "music") or step.path in sounds:
            continue
        if not step.path:
            diags.append(error(f"{step.kind} cue has no file", step.span))
            continue
        try:
            sounds[step.path] = read_sound(step.path, sample_rate)
        except SoundFileError as exc:
            diags.append(error(str(exc), step.span))
    if diags:
        raise CompileError(diags)
    return sounds, {p: len(a) / sample_rate for p, a in sounds.items()}


class SoundFileError(ValueError):
    pass


def read_sound(path: str, sample_rate: int) -> np.ndarray:
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
    return resample(data.mean(axis=1), int(sr), int(sample_rate))


def resample(mono: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling by the reduced ratio of the two rates; float32 out."""
    if from_rate != to_rate:
        g = math.gcd(from_rate, to_rate)
        from scipy import signal  # only for a file at another rate: scipy.signal costs a second to import

        mono = signal.resample_poly(mono, to_rate // g, from_rate // g)
    return np.ascontiguousarray(mono, dtype=np.float32)


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
# Music: looping, fades and ducking


def looped(src: np.ndarray, start: int, n: int) -> np.ndarray:
    """n samples of `src` repeated forever, beginning at position `start` (slices, no index arrays:
    numpy's take(mode="wrap") reduces large indices by repeated subtraction, which is not linear)."""
    out = np.empty(n, dtype=np.float32)
    pos, i = start % len(src), 0
    while i < n:
        k = min(n - i, len(src) - pos)
        out[i: i + k] = src[pos: pos + k]
        i, pos = i + k, 0
    return out


_BLOCK = 1 << 20  # music is written in blocks so a play-long loop never needs a play-long temporary


def lay_music(buf: np.ndarray, ps: PlacedSound, src: np.ndarray, timeline: Timeline, settings: StitchSettings) -> None:
    sr = timeline.sample_rate
    start, end = int(round(ps.start * sr)), min(int(round(ps.end * sr)), len(buf))
    if end <= start:
        return
    offset = int(round(ps.offset * sr))
    length = end - start
    fade = max(1, int(round(settings.fade_ms / 1000 * sr)))
    n_in = min(max(fade, int(round(ps.fade_in * sr))), length // 2)
    n_out = min(max(fade, int(round(ps.fade_out * sr))), length // 2)
    env_t, env_db = _duck_breakpoints(timeline, ps, settings)
    gain = 10 ** (ps.gain_db / 20)
    src_len = len(src) - offset if not ps.loop else len(src)
    for b0 in range(0, length, _BLOCK):
        b1 = min(length, b0 + _BLOCK)
        pos = np.arange(b0, b1)
        if ps.loop:
            # Loop over the whole file; `start` only sets where the first pass begins.
            chunk = looped(src, offset + b0, b1 - b0)
        else:
            valid = pos < src_len
            chunk = np.zeros(b1 - b0, np.float32)
            chunk[valid] = src[offset + pos[valid]]
        g = np.full(b1 - b0, gain, dtype=np.float64)
        g *= np.clip((pos + 0.5) / n_in, 0, 1)
        g *= np.clip((length - pos - 0.5) / n_out, 0, 1)
        if len(env_t):
            t = (start + pos) / sr
            g *= 10 ** (np.interp(t, env_t, env_db) / 20)
        buf[start + b0: start + b1] += (chunk * g).astype(np.float32)


def _duck_breakpoints(timeline: Timeline, ps: PlacedSound, settings: StitchSettings) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-linear gain (dB) of the music: 0 away from speech, -duck under it.

    The music is fully ducked when a line starts (it begins going down duck_attack before) and
    comes back over duck_release after the line; lines closer than duck_bridge stay ducked through
    the gap, so the music does not pump between quick exchanges.
    """
    if ps.duck_db <= 0:
        return np.zeros(0), np.zeros(0)
    spans: list[list[float]] = []
    # Gaps a release+attack cannot fit into are bridged too, so the breakpoints stay in order.
    bridge = max(settings.duck_bridge, settings.duck_attack + settings.duck_release)
    for pl in timeline.lines:
        if pl.end < ps.start - settings.duck_release or pl.start > ps.end + settings.duck_attack:
            continue
        if spans and pl.start - spans[-1][1] < bridge:
            spans[-1][1] = max(spans[-1][1], pl.end)
        else:
            spans.append([pl.start, pl.end])
    t: list[float] = []
    db: list[float] = []
    for s, e in spans:
        t += [s - settings.duck_attack, s, e, e + settings.duck_release]
        db += [0.0, -ps.duck_db, -ps.duck_db, 0.0]
    return np.array(t), np.array(db)
