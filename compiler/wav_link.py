"""A 16-bit WAV written from mastered segments, reusing the bytes the previous file holds for them.

Like an incremental linker: the mastered play is a sequence of parts (compiler.master_segments.
Mastered), each named by what its samples are made of. When the previous WAV of the same output is
still exactly as dramac wrote it — its signature (size, modification and change times, inode) the
one recorded then — the bytes of every part it already holds are copied from it, and only the
parts that changed are converted from samples. 16-bit PCM is the same bytes for the same samples
wherever they sit, so the file equals one written from samples alone (tests/test_master_segments.py).
A frame is 2 bytes per channel (interleaved in stereo); a file of the other channel count holds no
part of this one.
"""

from __future__ import annotations

import errno
import functools
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler.encode import blocks
from compiler.render import entry_signature

FORMATS = ("wav", "wav16")  # the formats written this way: 16-bit PCM in a WAV container


@dataclass(frozen=True)
class Layout:
    """Where each part's samples lie in a written file."""

    signature: tuple[int, ...]
    data_offset: int  # bytes before the first sample
    parts: tuple[str, ...]
    lengths: tuple[int, ...]  # frames per part
    channels: int = 1

    def to_json(self) -> dict:
        return {"signature": list(self.signature), "data_offset": self.data_offset, "parts": list(self.parts),
                "lengths": list(self.lengths), "channels": self.channels}

    @classmethod
    def from_json(cls, data: dict) -> Layout:
        return cls(tuple(int(v) for v in data["signature"]), int(data["data_offset"]),
                   tuple(str(p) for p in data["parts"]), tuple(int(n) for n in data["lengths"]),
                   int(data.get("channels", 1)))


def write(tmp: str, audio, sample_rate: int, previous_file: Path, previous: Layout | None) -> int:
    """Write `audio` (a Mastered play) to `tmp` as 16-bit WAV; returns how many parts were copied.
    The bytes of held parts go from file to file inside the kernel (copy_file_range: no trip through
    this process, twice the bytes in stereo), consecutive ones in one call; the others are
    converted by libsndfile, as soundfile.write would."""
    channels = getattr(audio, "channels", 1)
    held = _held_parts(previous_file, previous, channels)
    frame = 2 * channels
    copied = 0
    with open(previous_file, "rb") if held else _nothing() as old, open(tmp, "wb", buffering=0) as out:
        _write_all(out, _header(sample_rate, channels, frame * sum(audio.lengths)))
        run: list[int] = []  # [offset, bytes] of held bytes not copied yet
        for index, (part, length) in enumerate(zip(audio.parts, audio.lengths)):
            where = held.get(part)
            if where is not None and where[1] == frame * length:
                copied += 1
                if run and run[0] + run[1] == where[0]:
                    run[1] += where[1]
                else:
                    _copy(old, out, run)
                    run = list(where)
                continue
            _copy(old, out, run)
            run = []
            for block in blocks(audio.part(index)):
                _write_all(out, _pcm16(block, sample_rate, channels))
        _copy(old, out, run)
    return copied


def _header(sample_rate: int, channels: int, data_bytes: int) -> bytes:
    """The 44 bytes libsndfile writes before 16-bit PCM samples (RIFF, a 16-byte fmt chunk, data)."""
    frame = 2 * channels
    return (b"RIFF" + (36 + data_bytes).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
            + (1).to_bytes(2, "little") + channels.to_bytes(2, "little") + sample_rate.to_bytes(4, "little")
            + (sample_rate * frame).to_bytes(4, "little") + frame.to_bytes(2, "little") + (16).to_bytes(2, "little")
            + b"data" + data_bytes.to_bytes(4, "little"))


def _pcm16(block: np.ndarray, sample_rate: int, channels: int) -> bytes:
    """16-bit little-endian PCM of float samples in [-1, 1], the bytes libsndfile writes for them:
    converted by numpy where it gives libsndfile's very bytes (checked once per process), else by
    libsndfile itself (a headerless file in memory, whose writes call back into Python)."""
    if _numpy_matches_libsndfile():
        return _pcm16_numpy(block)
    return _pcm16_libsndfile(block, sample_rate, channels)


def _pcm16_numpy(block: np.ndarray) -> bytes:
    scaled = np.floor(np.asarray(block, dtype=np.float32) * np.float32(32768))
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


def _pcm16_libsndfile(block: np.ndarray, sample_rate: int, channels: int) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", sample_rate, channels, format="RAW", subtype="PCM_16", endian="LITTLE") as raw:
        raw.write(block)
    return buffer.getvalue()


@functools.lru_cache(maxsize=1)
def _numpy_matches_libsndfile() -> bool:
    """Whether _pcm16_numpy converts as the installed libsndfile does (libsndfile 1.1 on: floor of
    x·32768, clipped; earlier versions rounded x·32767) on every 16-bit step, its midpoints, the
    extremes and noise."""
    steps = np.arange(-32768, 32768, dtype=np.float64)
    probe = np.concatenate([steps / 32768, (steps + 0.5) / 32768, [1.0, -1.0, 0.0, -0.0, 1e-9, -1e-9],
                            np.random.default_rng(0).uniform(-1, 1, 4096)]).astype(np.float32)
    return _pcm16_numpy(probe) == _pcm16_libsndfile(probe, 8000, 1)


def _write_all(out, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[out.write(view):]


def _copy(old, out, run: list[int]) -> None:
    """Append the previous file's bytes `run` = [offset, count] to `out`: in the kernel where it can,
    else read and written (no copy_file_range on this system or between these file systems)."""
    if not run:
        return
    offset, left = run
    while left:
        done = None
        if hasattr(os, "copy_file_range"):
            try:
                done = os.copy_file_range(old.fileno(), out.fileno(), left, offset)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
        if done is None:
            old.seek(offset)
            data = old.read(min(left, 1 << 24))
            _write_all(out, data)
            done = len(data)
        if done == 0:
            raise OSError("the previous output ended while it was read")
        offset, left = offset + done, left - done


def layout_of(path: Path, audio) -> Layout | None:
    """The layout of the file just written at `path` (None if it cannot be read)."""
    signature, offset = entry_signature(path), _data_offset(path)
    if signature is None or offset is None:
        return None
    return Layout(signature, offset, tuple(audio.parts), tuple(audio.lengths), getattr(audio, "channels", 1))


def _held_parts(path: Path, layout: Layout | None, channels: int) -> dict[str, tuple[int, int]]:
    """Part name → (byte offset, bytes) in the previous file, if it is still as written with `channels`."""
    if layout is None or layout.channels != channels or entry_signature(path) != layout.signature:
        return {}
    frame = 2 * channels
    starts = layout.data_offset + frame * np.concatenate([[0], np.cumsum(layout.lengths[:-1], dtype=np.int64)])
    return {part: (int(start), frame * length) for part, start, length in zip(layout.parts, starts, layout.lengths)}


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc) -> None:
        return None


def _data_offset(path: Path) -> int | None:
    """Bytes before the first sample of a RIFF/WAVE file's data chunk."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(12)
            if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            position = 12
            while position + 8 <= size:
                fh.seek(position)
                header = fh.read(8)
                if header[:4] == b"data":
                    return position + 8
                position += 8 + int.from_bytes(header[4:8], "little") + (int.from_bytes(header[4:8], "little") & 1)
    except OSError:
        return None
    return None
