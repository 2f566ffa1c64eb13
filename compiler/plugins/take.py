"""`[[take: recordings/elena-12.wav]]`: a recording replaces the synthetic take of the line before it.

Written after a speech (in the same dialogue block, or on its own line right after it), it applies
to that whole speech, which is then planned as one line however long it is. The synthetic take is
still rendered: it is the level the recording is matched to. The recording is

- read like any sound file (compiler/sounds.py: WAV, FLAC, OGG, MP3; cut-short and NaN files refused)
  and resampled to the play's rate;
- trimmed: leading and trailing frames (10 ms) quieter than TRIM_BELOW_PEAK_DB under the loudest
  frame are cut, keeping TRIM_MARGIN of them;
- level-matched to the integrated loudness (BS.1770, pyloudnorm) of the synthetic take it replaces
  (a recording that would need more than MAX_MATCH_DB either way is refused: near silence or clipping);
- placed like any take: the gaps around it, its line's effect (V.O., telephone ...) and the take fades.

Its subtitle cue keeps the script's words (the line's `original`). The mix piece's identity is the
digest of the recording's samples, and the build record reads the file's bytes (input_files), so
editing the recording rebuilds what it touches and nothing is served stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from compiler.nodes import Node
from compiler.plan_types import Room
from compiler.plugins import FileDirective

TRIM_BELOW_PEAK_DB = 40.0  # a 10 ms frame this far under the loudest one is silence at the ends
TRIM_FRAME = 0.010  # seconds
TRIM_MARGIN = 0.020  # seconds of the quiet ends kept, so the first consonant's lead-in is not cut
MAX_MATCH_DB = 30.0  # a gain beyond this would only lift noise: the recording is refused instead
MIN_SECONDS = 0.05


@dataclass
class Take(Node):
    path: str  # as written, relative to the project root
    resolved: str  # absolute path inside the project
    options: dict


@dataclass(frozen=True)
class RecordedTakePiece:
    """A recording in place of a take: its samples are a pure function of the recording's
    content (`sound`, a digest of them) and the gain, effect and fade, like a TakePiece's."""

    start: int
    length: int  # the recording's samples and the room's tail
    source: str  # key of the trimmed, resampled recording in the sources' sounds
    sound: str
    gain_db: float
    effect: str
    fade: int
    room: Room | None = None  # as for a take (compiler.pieces.TakePiece)
    tail: int = 0
    pan: float = 0.0  # where the voice stands (compiler.stage), as for a TakePiece
    pan_path: tuple[tuple[int, float], ...] = ()
    kind = "take"

    def identity(self, a: int, b: int) -> str:
        from compiler.pieces import room_identity

        return (f"recorded {self.sound} {self.length} {self.gain_db!r} {self.effect} {self.fade} {self.pan!r} "
                f"{self.pan_path!r}" + room_identity(self.room, self.tail))

    def samples(self, a: int, b: int, sources, loop, settings, sample_rate: int) -> np.ndarray:
        from compiler.pieces import take_samples

        take = np.asarray(sources.sound(self.source), dtype=np.float32)
        if len(take) != self.length - self.tail:
            raise ValueError(f"recording {self.source} is {len(take)} samples, not {self.length - self.tail}")
        take = take * np.float32(10 ** (self.gain_db / 20))
        return take_samples(take, self.effect, self.fade, self.room, a, b, sample_rate, settings)


@dataclass(frozen=True)
class Recorded:
    """A recording ready to place: its key among the sounds, digest, samples and matching gain."""

    source: str
    sound: str
    samples: np.ndarray
    gain_db: float

    def piece(self, start: int, length: int, effect: str, fade: int, room: Room | None = None,
              tail: int = 0, place=None) -> RecordedTakePiece:
        """Its piece at `start`, `length` samples of recording followed by `tail` of `room`, standing
        at `place` (compiler.stage.LinePan; None: the centre)."""
        pan, path = (place.pan, place.path) if place is not None else (0.0, ())
        return RecordedTakePiece(start, length + tail, self.source, self.sound, self.gain_db, effect, fade, room, tail,
                                 pan, path)


class TakePlugin(FileDirective):
    rule = keyword = label = "take"
    grammar = 'take: "take" _COLON? path option*'
    example = "[[take: recordings/elena-12.wav]]"
    options = {}
    node = Take

    def plan(self, node: Take, walker) -> None:
        """The utterances of the speech just before become one line that carries the recording."""
        from dataclasses import replace

        from compiler.diagnostics import CompileError, error
        from compiler.nodes import Dialogue, Speech
        from compiler.plan import Utterance
        from compiler.plan_types import Recording

        before = walker.previous
        if isinstance(before, Dialogue):  # `[[take]]` on its own line after the dialogue block
            speeches = [p for p in before.parts if isinstance(p, Speech)]
            before = speeches[-1] if speeches and before.parts[-1] is speeches[-1] else None
        if not isinstance(before, Speech):
            raise CompileError(error("take must follow a line of dialogue: it replaces that line's voice", node.span))
        n = 0
        while n < len(walker.items) and isinstance(walker.items[-1 - n], Utterance) \
                and walker.items[-1 - n].line.span == before.span:
            n += 1
        if n == 0:
            raise CompileError(error("the line before this take has nothing to speak", node.span))
        parts = walker.items[-n:]
        del walker.items[-n:]
        first = parts[0].line
        line = replace(first, original=" ".join(u.line.original for u in parts),
                       spoken=" ".join(u.line.spoken for u in parts),
                       nonverbal=tuple(c for u in parts for c in u.line.nonverbal),
                       recording=Recording(node.resolved, node.span))
        walker.items.append(Utterance(line, sum(u.est for u in parts)))

    def input_files(self, plan) -> list[str]:
        from compiler.plan_types import Clip

        return [line.recording.path for step in plan.steps if isinstance(step, Clip) for line in step.lines
                if line.recording is not None]


def recorded_lines(plan):
    """(clip key, take index, line) of every line a recording replaces."""
    for clip in plan.clips:
        for i, line in enumerate(clip.lines):
            if line.recording is not None:
                yield clip.key, i, line


def prepare(plan, takes: Mapping[str, list[np.ndarray]], sample_rate: int) -> dict[tuple[str, int], Recorded]:
    """Read, trim and level-match every recording of the plan against the synthetic take it
    replaces; one diagnostic per bad recording, at its directive, raised together."""
    from compiler.diagnostics import CompileError, error
    from compiler.pieces import sound_identity
    from compiler.sounds import SoundFileError, read_sound

    out: dict[tuple[str, int], Recorded] = {}
    diags = []
    read: dict[str, np.ndarray] = {}
    for clip_key, index, line in recorded_lines(plan):
        rec = line.recording
        try:
            if rec.path not in read:
                read[rec.path] = trim(read_sound(rec.path, sample_rate), sample_rate)
            samples = read[rec.path]
            if len(samples) < MIN_SECONDS * sample_rate:
                raise SoundFileError(f"recording '{rec.path}' is silent (nothing above the trim threshold)")
            gain = match_gain(samples, takes[clip_key][index], sample_rate)
            if abs(gain) > MAX_MATCH_DB:
                raise SoundFileError(f"recording '{rec.path}' needs {gain:+.1f} dB to match the line's level "
                                     f"(more than {MAX_MATCH_DB:g} dB); record it louder")
        except SoundFileError as exc:
            diags.append(error(str(exc), rec.span))
            continue
        out[(clip_key, index)] = Recorded(f"take:{rec.path}", sound_identity(samples), samples, gain)
    if diags:
        raise CompileError(diags)
    return out


def trim(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Without the leading and trailing silence (see the module docstring)."""
    frame = max(1, int(round(TRIM_FRAME * sample_rate)))
    n = len(samples) // frame
    if n == 0:
        return samples[:0]
    rms = np.sqrt(np.mean(samples[: n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1))
    peak = rms.max()
    if peak <= 0:
        return samples[:0]
    loud = np.flatnonzero(rms >= peak * 10 ** (-TRIM_BELOW_PEAK_DB / 20))
    margin = int(round(TRIM_MARGIN * sample_rate))
    a = max(0, loud[0] * frame - margin)
    b = min(len(samples), (loud[-1] + 1) * frame + margin)
    return np.ascontiguousarray(samples[a:b], dtype=np.float32)


def loudness(samples: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS, BS.1770 gating) of one take; blocks shrink for takes under 400 ms."""
    import pyloudnorm

    block = min(0.4, len(samples) / sample_rate)
    return float(pyloudnorm.Meter(sample_rate, block_size=block).integrated_loudness(samples.astype(np.float64)))


def match_gain(recording: np.ndarray, synthetic: np.ndarray, sample_rate: int) -> float:
    """dB that bring the recording to the synthetic take's loudness (0 if either is silent)."""
    target, level = loudness(np.asarray(synthetic), sample_rate), loudness(recording, sample_rate)
    if not (np.isfinite(target) and np.isfinite(level)):
        return 0.0
    return round(target - level, 3)


PLUGIN = TakePlugin()
