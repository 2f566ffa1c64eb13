"""Encoding audio files, in blocks, and in a child process for the codecs that can crash.

libsndfile's Ogg/Vorbis writer crashes the whole process (SIGSEGV) when a long file (more than about
95 s at 22 kHz) is handed to it in one call; writing in blocks avoids that fault. A native encoder
that still crashes must not take the build with it, nor leak its signal as dramac's exit status, so
lossy codecs (Vorbis, MP3: large C libraries that parse nothing of ours but have crashed before) run
in a child process: `python -m compiler.encode TARGET CONTAINER SUBTYPE RATE CHANNELS`, float32
samples (interleaved in stereo) on standard input. The parent turns any failure of the child into a diagnostic.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Union

import numpy as np

# Frames per SoundFile.write call: small enough to stay clear of the long-write Vorbis fault, large
# enough that the per-call cost is nothing (about 1.5 s of audio at 44.1 kHz).
BLOCK_FRAMES = 65536

# Codecs encoded in a child process (container names as soundfile spells them).
ISOLATED_CONTAINERS = frozenset({"OGG", "MP3"})


class EncodeFailed(Exception):
    """The encoder failed; the message says how, in words for the writer."""


# What encode takes: one array, or a function that yields the play's samples in consecutive parts
# (compiler.master_segments hands over the mastered play segment by segment, never as one array).
Samples = Union[np.ndarray, Callable[[], Iterable[np.ndarray]]]


def blocks(samples: Samples) -> Iterator[np.ndarray]:
    """The samples as contiguous float32 blocks of at most BLOCK_FRAMES, clipped to [-1, 1]."""
    parts = (samples,) if isinstance(samples, np.ndarray) else samples()
    for part in parts:
        part = np.asarray(part, dtype=np.float32)
        for start in range(0, len(part), BLOCK_FRAMES):
            block = part[start:start + BLOCK_FRAMES]
            if block.size and not (block.min() >= -1.0 and block.max() <= 1.0):  # NaN too
                block = np.clip(block, -1.0, 1.0)
            yield np.ascontiguousarray(block)


def channels_of(samples: Samples) -> int:
    """1 for mono (n,) samples, 2 for stereo (n, 2); a mastered play says how many it holds."""
    if isinstance(samples, np.ndarray):
        return 1 if samples.ndim == 1 else int(samples.shape[1])
    return int(getattr(samples, "channels", 1))


def write_blocks(target: str, samples: Samples, sample_rate: int, container: str, subtype: str,
                 channels: int = 1) -> None:
    """Write float32 `samples` ((n,) or (n, channels)) to the file `target`, BLOCK_FRAMES at a time."""
    import soundfile as sf

    with sf.SoundFile(target, "w", sample_rate, channels, format=container, subtype=subtype) as sound:
        for block in blocks(samples):
            sound.write(block)
    if container == "OGG":
        set_ogg_serial(target)


# libsndfile gives every Ogg stream a serial number drawn from the clock, so two builds of the same
# play would differ in bytes 14-17 of every page (and its checksum). dramac writes this one instead:
# a file holds one logical stream, and the number only has to be unique within the file.
OGG_SERIAL = 0x64726D63  # "drmc"
_BIT_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def _ogg_crc(page: bytes) -> int:
    """Ogg's page checksum (CRC-32, polynomial 0x04C11DB7, not reflected, no initial or final xor),
    computed by zlib's reflected CRC-32 over the bit-reversed bytes."""
    import zlib

    reflected = zlib.crc32(page.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


def set_ogg_serial(path: str, serial: int = OGG_SERIAL) -> None:
    """Rewrite every page of the single-stream Ogg file at `path` with `serial` and a fresh checksum."""
    data = bytearray(Path(path).read_bytes())
    offset = 0
    while offset < len(data):
        if data[offset:offset + 4] != b"OggS" or offset + 27 > len(data):
            raise EncodeFailed("the Ogg encoder wrote a malformed page")
        segments = data[offset + 26]
        length = 27 + segments + sum(data[offset + 27: offset + 27 + segments])
        data[offset + 14: offset + 18] = serial.to_bytes(4, "little")
        data[offset + 22: offset + 26] = bytes(4)
        crc = _ogg_crc(bytes(data[offset: offset + length]))
        data[offset + 22: offset + 26] = crc.to_bytes(4, "little")
        offset += length
    Path(path).write_bytes(data)


def encode(target: str, samples: Samples, sample_rate: int, container: str, subtype: str,
           measured: bool = False) -> tuple[float, float] | None:
    """Write `samples` to `target` (a path the caller owns); EncodeFailed if the codec fails, crashes included.
    With `measured`, a lossy file is decoded again and its (true peak, loudness) returned (measure())."""
    import soundfile as sf

    channels = channels_of(samples)
    if container == "M4B" or subtype == "OPUS":  # whole-play encoders: the samples as one array
        empty = np.zeros((0,) if channels == 1 else (0, channels), np.float32)
        samples = np.concatenate([empty, *blocks(samples)])
    if container == "M4B":
        _encode_aac(target, samples, sample_rate)
        return measure(target, container, channels, sample_rate) if measured else None
    if subtype == "OPUS":
        samples, sample_rate = opus_ready(samples, sample_rate)
    if container not in ISOLATED_CONTAINERS:
        try:
            write_blocks(target, samples, sample_rate, container, subtype, channels)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise EncodeFailed(str(exc)) from None
        return None
    return _encode_in_child(target, samples, sample_rate, container, subtype, channels, measured)


def _encode_in_child(target: str, samples: Samples, sample_rate: int, container: str, subtype: str,
                     channels: int = 1, measured: bool = False) -> tuple[float, float] | None:
    """The samples go to the child's standard input block by block; its complaints to a file (a pipe
    it filled while we still write would deadlock both). With `measured`, the child also decodes the
    file it wrote (the decoder is as large a C library as the encoder, and mpg123 talks on stderr)
    and answers "PEAK LOUDNESS" on its standard output."""
    command = [sys.executable, "-m", "compiler.encode", target, container, subtype, str(sample_rate), str(channels),
               *(["measure"] if measured else [])]
    with tempfile.TemporaryFile() as complaints, tempfile.TemporaryFile() as answer:
        try:
            child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=answer, stderr=complaints)
        except OSError as exc:
            raise EncodeFailed(f"cannot start the encoder process: {exc.strerror or exc}") from None
        try:
            for block in blocks(samples):
                child.stdin.write(block.tobytes())
            child.stdin.close()
        except BrokenPipeError:  # the child died; its status says how
            pass
        except BaseException:
            child.kill()
            child.wait()
            raise
        returncode = child.wait()
        complaints.seek(0)
        reason = complaints.read().decode("utf-8", "replace").strip().splitlines()
        answer.seek(0)
        figures = answer.read().decode("ascii", "replace").split()
    if returncode == 0:
        return (float(figures[0]), float(figures[1])) if measured else None
    if returncode < 0:
        raise EncodeFailed(f"the encoder crashed ({_signal_name(-returncode)}); no file was written")
    raise EncodeFailed(reason[-1] if reason else f"the encoder exited with status {returncode}")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _main(argv: list[str]) -> int:
    """The child: read samples from stdin, write the file, report a failure as one line on stderr."""
    import soundfile as sf

    target, container, subtype, rate, channels, *measured = argv
    samples = np.frombuffer(sys.stdin.buffer.read(), dtype=np.float32)
    if int(channels) > 1:
        samples = samples.reshape(-1, int(channels))
    try:
        write_blocks(target, samples, int(rate), container, subtype, int(channels))
        if measured:
            peak, lufs = measure(target, container, int(channels), int(rate))
            sys.stdout.write(f"{float(peak)!r} {float(lufs)!r}\n")
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    return 0


# --------------------------------------------------------------------------------------------------
# Opus: libopus codes 8, 12, 16, 24 or 48 kHz only; other rates are resampled to 48 kHz (polyphase).

OPUS_RATES = frozenset({8000, 12000, 16000, 24000, 48000})


def opus_ready(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    if sample_rate in OPUS_RATES:
        return samples, sample_rate
    from math import gcd

    up, down = 48000 // gcd(48000, sample_rate), sample_rate // gcd(48000, sample_rate)
    return resample(samples, up, down), 48000


def resample(samples: np.ndarray, up: int, down: int, block: int = 1 << 18) -> np.ndarray:
    """`samples` resampled by up/down (scipy's polyphase filter), in float32 and in blocks: scipy works
    in float64 over whatever it is given, which for an hour-long play is gigabytes. Each block is
    filtered with a margin on both sides longer than scipy's filter reaches, and the margins' output
    is dropped; blocks and margins are whole multiples of `down`, so every output sample is the one
    a single call would compute."""
    from scipy.signal import resample_poly

    step = max(1, block // down) * down
    reach = 10 * max(up, down) // up + 2  # scipy's filter: 10 * max(up, down) taps each side, upsampled
    margin = -(-reach // down) * down
    n_out = -(-len(samples) * up // down)
    out = np.empty((n_out,) + samples.shape[1:], np.float32)
    for a in range(0, len(samples), step):
        lo, hi = max(0, a - margin), min(len(samples), a + step + margin)
        piece = resample_poly(samples[lo:hi], up, down, axis=0)
        skip = (a - lo) * up // down
        first, last = a * up // down, min(n_out, -(-min(len(samples), a + step) * up // down))
        out[first:last] = piece[skip: skip + last - first]
    return np.clip(out, -1.0, 1.0, out=out)


# --------------------------------------------------------------------------------------------------
# M4B: AAC in MP4, through an ffmpeg found on the PATH (libsndfile has no AAC encoder). The
# Fraunhofer encoder (libfdk_aac) is preferred where ffmpeg has it, else ffmpeg's own `aac`.

AAC_ENCODERS = ("libfdk_aac", "aac")
AAC_BITRATE = 64000  # bits/s per channel: transparent for speech, the common audiobook rate


def ffmpeg_path() -> str | None:
    import shutil

    return shutil.which("ffmpeg")


def aac_encoder() -> tuple[str, str] | None:
    """(encoder name, description such as "ffmpeg 5.1.9 aac"), or None when no AAC encoder is present."""
    ffmpeg = ffmpeg_path()
    if ffmpeg is None:
        return None
    return _aac_encoder(ffmpeg)


_FOUND: dict[str, tuple[str, str] | None] = {}


def _aac_encoder(ffmpeg: str) -> tuple[str, str] | None:
    if ffmpeg not in _FOUND:
        _FOUND[ffmpeg] = _ask_ffmpeg(ffmpeg)
    return _FOUND[ffmpeg]


def _ask_ffmpeg(ffmpeg: str) -> tuple[str, str] | None:
    try:
        listing = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, check=False, timeout=30)
        version = subprocess.run([ffmpeg, "-version"], capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = {line.split()[1] for line in listing.stdout.decode("utf-8", "replace").splitlines()
             if len(line.split()) > 1 and line.split()[0].startswith("A")}
    words = version.stdout.decode("utf-8", "replace").split()
    release = words[2].split("-")[0] if len(words) > 2 and words[:2] == ["ffmpeg", "version"] else "?"
    for name in AAC_ENCODERS:
        if name in names:
            return name, f"ffmpeg {release} {name}"
    return None


# How an M4B is muxed (here, and again with its chapters by compiler.tagging): bit-exact (no encoder
# version string, no creation time, so builds are reproducible), the index first (a player starts
# at once), and "M4B " as the major brand, which marks an audiobook for players (ffmpeg's ipod
# muxer writes "M4A " otherwise).
M4B_MUXER = ("-fflags", "+bitexact", "-movflags", "+faststart", "-brand", "M4B ", "-f", "ipod")
MISSING_AAC = ("no AAC encoder was found: M4B needs ffmpeg with an AAC encoder on the PATH "
               "(Debian/Ubuntu: apt-get install ffmpeg)")


def _encode_aac(target: str, samples: np.ndarray, sample_rate: int) -> None:
    found = aac_encoder()
    if found is None:
        raise EncodeFailed(MISSING_AAC)
    name, _ = found
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    command = [ffmpeg_path() or "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
               "-f", "f32le", "-ar", str(sample_rate), "-ac", str(channels), "-i", "pipe:0",
               "-map_metadata", "-1", "-c:a", name, "-b:a", str(AAC_BITRATE * channels),
               "-flags:a", "+bitexact", *M4B_MUXER, "-y", target]
    try:
        child = subprocess.run(command, input=samples.tobytes(), capture_output=True, check=False)
    except OSError as exc:
        raise EncodeFailed(f"cannot start ffmpeg: {exc.strerror or exc}") from None
    if child.returncode != 0:
        reason = child.stderr.decode("utf-8", "replace").strip().splitlines()
        raise EncodeFailed(f"ffmpeg failed: {reason[-1] if reason else f'exit status {child.returncode}'}")


def describe(container: str, subtype: str) -> str:
    """The encoder a format is written with, for the manifest and the build record."""
    if container == "M4B":
        found = aac_encoder()
        return found[1] if found else "none"
    import soundfile as sf

    return f"libsndfile {sf.__libsndfile_version__} {subtype.lower()}"


# --------------------------------------------------------------------------------------------------
# The delivered file under the ceiling. A lossy codec reshapes the waveform (a door slam mastered at
# -1 dBTP can decode to +1.5 dBTP in MP3), so the file the listener gets, not the master, is what
# must keep the ceiling: it is decoded and measured with the master's own true-peak meter, and when
# it is over, encoded again from the master lowered by the excess and a margin. The loudness it then
# has is measured and reported beside its peak.

LOSSY_SUBTYPES = frozenset({"MPEG_LAYER_III", "VORBIS", "OPUS", "AAC"})
PEAK_MARGIN_DB = 0.2  # below the ceiling by this much after a retry: a codec's overshoot moves a little with the gain
PEAK_TRIES = 3  # encodes at most; each is a function of the samples and the gain only, so deterministic


@dataclass(frozen=True)
class Measured:
    """A written audio file as it decodes: its true peak (dBTP), its integrated loudness (LUFS) and the
    gain (dB, 0 or below) the master was lowered by for this file to keep the ceiling."""

    true_peak_db: float
    integrated_lufs: float
    gain_db: float


class _Scaled:
    """`samples` (an array or parts) times a gain, as parts that keep the original's channel count."""

    def __init__(self, samples: Samples, gain: np.float32):
        self.samples, self.gain, self.channels = samples, gain, channels_of(samples)

    def __call__(self) -> Iterator[np.ndarray]:
        parts = (self.samples,) if isinstance(self.samples, np.ndarray) else self.samples()
        for part in parts:
            yield np.asarray(part, dtype=np.float32) * self.gain


def encode_under(target: str, samples: Samples, sample_rate: int, container: str, subtype: str,
                 ceiling_db: float) -> Measured:
    """encode() a lossy format, then decode `target` and measure it; while its true peak is over
    `ceiling_db`, encode it again (same path: the caller's temporary file) from `samples` lowered by
    the excess plus PEAK_MARGIN_DB. The last try's figures are returned whatever they are."""
    gain_db = 0.0
    for attempt in range(1, PEAK_TRIES + 1):
        scaled = samples if gain_db == 0.0 else _Scaled(samples, np.float32(10 ** (gain_db / 20)))
        peak, lufs = encode(target, scaled, sample_rate, container, subtype, measured=True)
        if peak <= ceiling_db or attempt == PEAK_TRIES:
            break
        gain_db = round(gain_db - (peak - ceiling_db) - PEAK_MARGIN_DB, 2)
    return Measured(peak, lufs, gain_db)


def measure(path: str, container: str, channels: int, sample_rate: int) -> tuple[float, float]:
    """(true peak dBTP, integrated loudness LUFS) of the audio file at `path` as a player decodes it,
    with compiler.master's meters: 4x oversampled peak over every channel, BS.1770-4 loudness.
    `channels` and `sample_rate` are what an M4B was encoded with (AAC keeps both)."""
    from compiler import master

    if container == "M4B":
        decoded = _decode_aac(path, channels)
        return master.true_peak_db(decoded), master.loudness(decoded, sample_rate)
    import soundfile as sf

    with sf.SoundFile(path) as sound:  # in blocks: an hour of decoded float32 need not be held
        peak, loud = master._PeakMeter(), master._LoudnessMeter(sound.frames, sound.samplerate)
        for block in sound.blocks(blocksize=master._BLOCK, dtype="float32"):
            peak.feed(block)
            loud.feed(block)
    return peak.finish(), loud.finish()


def _decode_aac(path: str, channels: int) -> np.ndarray:
    """The M4B's AAC decoded by ffmpeg (there whenever an M4B was written) as float32 samples."""
    command = [ffmpeg_path() or "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path,
               "-map", "0:a:0", "-f", "f32le", "pipe:1"]
    try:
        child = subprocess.run(command, capture_output=True, check=False)
    except OSError as exc:
        raise EncodeFailed(f"cannot start ffmpeg to check the file: {exc.strerror or exc}") from None
    if child.returncode != 0:
        reason = child.stderr.decode("utf-8", "replace").strip().splitlines()
        raise EncodeFailed(f"ffmpeg cannot decode the file it wrote: {reason[-1] if reason else child.returncode}")
    decoded = np.frombuffer(child.stdout, dtype=np.float32)
    return decoded if channels == 1 else decoded[: len(decoded) // channels * channels].reshape(-1, channels)


if __name__ == "__main__":  # last: the child measures with the functions above
    sys.exit(_main(sys.argv[1:]))
