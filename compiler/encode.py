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

import numpy as np

# Frames per SoundFile.write call: small enough to stay clear of the long-write Vorbis fault, large
# enough that the per-call cost is nothing (about 1.5 s of audio at 44.1 kHz).
BLOCK_FRAMES = 65536

# Codecs encoded in a child process (container names as soundfile spells them).
ISOLATED_CONTAINERS = frozenset({"OGG", "MP3"})


class EncodeFailed(Exception):
    """The encoder failed; the message says how, in words for the writer."""


def write_blocks(target: str, samples: np.ndarray, sample_rate: int, container: str, subtype: str) -> None:
    """Write mono float32 `samples` to the file `target`, BLOCK_FRAMES at a time."""
    import soundfile as sf

    with sf.SoundFile(target, "w", sample_rate, 1, format=container, subtype=subtype) as sound:
        for start in range(0, len(samples), BLOCK_FRAMES):
            sound.write(samples[start:start + BLOCK_FRAMES])


def encode(target: str, samples: np.ndarray, sample_rate: int, container: str, subtype: str) -> None:
    """Write `samples` to `target` (a path the caller owns); EncodeFailed if the codec fails, crashes included."""
    import soundfile as sf

    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if container not in ISOLATED_CONTAINERS:
        try:
            write_blocks(target, samples, sample_rate, container, subtype)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise EncodeFailed(str(exc)) from None
        return
    _encode_in_child(target, samples, sample_rate, container, subtype)


def _encode_in_child(target: str, samples: np.ndarray, sample_rate: int, container: str, subtype: str) -> None:
    command = [sys.executable, "-m", "compiler.encode", target, container, subtype, str(sample_rate)]
    try:
        child = subprocess.run(command, input=samples.tobytes(), capture_output=True, check=False)
    except OSError as exc:
        raise EncodeFailed(f"cannot start the encoder process: {exc.strerror or exc}") from None
    if child.returncode == 0:
        return
    if child.returncode < 0:
        raise EncodeFailed(f"the encoder crashed ({_signal_name(-child.returncode)}); no file was written")
    reason = child.stderr.decode("utf-8", "replace").strip().splitlines()
    raise EncodeFailed(reason[-1] if reason else f"the encoder exited with status {child.returncode}")


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
