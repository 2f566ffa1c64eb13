"""Encoding audio files, in blocks, and in a child process for the codecs that can crash.

libsndfile's Ogg/Vorbis writer crashes the whole process (SIGSEGV) when a long file (more than about
95 s at 22 kHz) is handed to it in one call; writing in blocks avoids that fault. A native encoder
that still crashes must not take the build with it, nor leak its signal as dramac's exit status, so
lossy codecs (Vorbis, MP3: large C libraries that parse nothing of ours but have crashed before) run
in a child process: `python -m compiler.encode TARGET CONTAINER SUBTYPE RATE`, mono float32 samples
on standard input. The parent turns any failure of the child into a diagnostic.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
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


def write_blocks(target: str, samples: Samples, sample_rate: int, container: str, subtype: str) -> None:
    """Write mono float32 `samples` to the file `target`, BLOCK_FRAMES at a time."""
    import soundfile as sf

    with sf.SoundFile(target, "w", sample_rate, 1, format=container, subtype=subtype) as sound:
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


def encode(target: str, samples: Samples, sample_rate: int, container: str, subtype: str) -> None:
    """Write `samples` to `target` (a path the caller owns); EncodeFailed if the codec fails, crashes included."""
    import soundfile as sf

    if container not in ISOLATED_CONTAINERS:
        try:
            write_blocks(target, samples, sample_rate, container, subtype)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise EncodeFailed(str(exc)) from None
        return
    _encode_in_child(target, samples, sample_rate, container, subtype)


def _encode_in_child(target: str, samples: Samples, sample_rate: int, container: str, subtype: str) -> None:
    """The samples go to the child's standard input block by block; its complaints to a file (a pipe
    it filled while we still write would deadlock both)."""
    command = [sys.executable, "-m", "compiler.encode", target, container, subtype, str(sample_rate)]
    with tempfile.TemporaryFile() as complaints:
        try:
            child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=complaints)
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
    if returncode == 0:
        return
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

    target, container, subtype, rate = argv
    samples = np.frombuffer(sys.stdin.buffer.read(), dtype=np.float32)
    try:
        write_blocks(target, samples, int(rate), container, subtype)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
