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
    """Write `audio` (a Mastered play) to `tmp` as 16-bit WAV; returns how many parts were copied."""
    import soundfile as sf

    channels = getattr(audio, "channels", 1)
    held = _held_parts(previous_file, previous, channels)
    copied = 0
    with open(previous_file, "rb") if held else _nothing() as old, \
            sf.SoundFile(tmp, "w", sample_rate, channels, format="WAV", subtype="PCM_16") as sound:
        for index, (part, length) in enumerate(zip(audio.parts, audio.lengths)):
            data = _read_part(old, held.get(part), 2 * channels * length) if held else None
            if data is not None:
                sound.buffer_write(data, dtype="int16")
                copied += 1
            else:
                for block in blocks(audio.part(index)):
                    sound.write(block)
    return copied


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


def _read_part(old, where: tuple[int, int] | None, size: int) -> bytes | None:
    if where is None or where[1] != size:
        return None
    old.seek(where[0])
    data = old.read(size)
    return data if len(data) == size else None


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
