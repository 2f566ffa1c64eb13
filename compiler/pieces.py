"""The sounding pieces of a play, and the mix of any stretch of it.

The timeline (compiler.stitch) says where everything sits, in numbers. This module turns it into
pieces — room tone in a gap, a take, a sound effect, a music cue — each a pure function of its own
values and of a position *inside the piece*: a piece sounds the same wherever it lands in the play.
That is what makes mixing incremental (compiler.segments): a stretch of the play is the sum of the
pieces that overlap it, so it can be mixed alone, and it is the same stretch whenever the same
pieces overlap it at the same offsets, however much earlier lines grew or shrank.

Two rules keep a stretch mixed alone bit-identical to the same samples of the whole play:
- every gain (fades, ramps, ducking) is computed sample by sample from the position in the piece,
  never by a running operation over the play;
- pieces are added in one canonical order (kind, then start), so each sample is the same sum of
  the same float32 values in the same order.

A take heard in a room (compiler/rooms.py) is longer than the take: the piece is the take followed by
its reverberation tail, computed from the whole take and sliced like an effect, so the tail rings
into the gap after the line (and is found there by `Pieces.overlapping`) without moving anything.

Room tone in the gap after a line starts its loop at a phase drawn from that line's take, not from
the position in the play: moving a line does not change the noise around the lines after it.

A piece's `samples` are mono (m,) or stereo (m, 2). In a stereo mix a mono piece is placed at its
`pan` (default 0, the centre; `pan_path`, breakpoints (sample, pan), when it moves) with the
constant-power law of compiler.stage, and a stereo piece is added as it is; in a mono mix a stereo
piece is folded to (L + R) / 2. A take's pan belongs to its piece's identity.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Mapping, Protocol

import numpy as np

from compiler import plugins, rooms
from compiler.effects import apply_effect, line_effect
from compiler.plan_types import Room
from compiler.sounds import looped
from compiler.stage import LinePan, pan_at, pan_gains

if TYPE_CHECKING:
    from compiler.stitch import StitchSettings, Timeline

_TONE_LOOP = 1 << 18  # samples of the periodic room-tone loop (~12 s at 22.05 kHz)


def ramp(positions: np.ndarray, n: int, equal_power: bool = False) -> np.ndarray:
    """0 -> 1 over n samples, at the given positions (1 from n on): a raised cosine, whose fade-in
    and mirrored fade-out sum to 1 (a crossfade of one sound with itself), or with `equal_power` a
    quarter sine, whose squares sum to 1 (a crossfade of two unrelated sounds, e.g. noise beds,
    keeps their power)."""
    out = np.ones(len(positions), np.float32)
    inside = positions < n  # only these are computed: a bed's fades are seconds of a piece of minutes
    if n > 0 and inside.any():
        p = positions[inside]
        if equal_power:
            out[inside] = np.sin(0.5 * np.pi * (p + 0.5) / n)
        else:
            out[inside] = 0.5 - 0.5 * np.cos(np.pi * (p + 0.5) / n)
    return out


def fade_gain(a: int, b: int, length: int, n_in: int, n_out: int, equal_power: bool = False) -> np.ndarray:
    """The fade-in/fade-out gain of positions a..b-1 of a piece of `length` samples; each fade is
    at most half the piece."""
    n_in, n_out = min(n_in, length // 2), min(n_out, length // 2)
    pos = np.arange(a, b)
    return ramp(pos, n_in, equal_power) * ramp(length - 1 - pos, n_out, equal_power)


class Sources(Protocol):
    """Where pieces get their samples: takes by clip key (a list per clip) and sound files by path."""

    def take(self, clip_key: str, index: int) -> np.ndarray: ...

    def sound(self, path: str) -> np.ndarray: ...


@dataclass(frozen=True)
class MappedSources:
    takes: Mapping[str, list[np.ndarray]]
    sounds: Mapping[str, np.ndarray]

    def take(self, clip_key: str, index: int) -> np.ndarray:
        return self.takes[clip_key][index]

    def sound(self, path: str) -> np.ndarray:
        return self.sounds[path]


# --------------------------------------------------------------------------------------------------
# Pieces. `samples(a, b, sources, ...)` gives positions a..b-1 of the piece; `identity(a, b)` is a
# text that is equal for two pieces exactly when those samples are (given the build-wide settings,
# which segments add to every key).


@dataclass(frozen=True)
class TonePiece:
    start: int
    length: int
    phase: int  # where in the tone loop the piece begins
    ramp_in: int
    ramp_out: int
    kind = "tone"

    def identity(self, a: int, b: int) -> str:
        return f"tone {self.phase} {self.length} {self.ramp_in} {self.ramp_out}"

    def samples(self, a: int, b: int, sources: Sources, loop: np.ndarray, settings, sample_rate: int) -> np.ndarray:
        return scaled(looped(loop, self.phase + a, b - a), fade_gain(a, b, self.length, self.ramp_in, self.ramp_out))


@dataclass(frozen=True)
class TakePiece:
    start: int
    length: int  # the take's samples and the room's tail
    clip_key: str
    index: int  # which take of the clip
    sound: str  # the take's identity (digest of its samples): a clip rendered again to the same takes keeps it
    effect: str
    fade: int
    room: Room | None = None  # None: dry
    tail: int = 0  # samples of the room's reverberation after the take (compiler.rooms.tail)
    pan: float = 0.0  # where the voice stands (compiler.stage)
    pan_path: tuple[tuple[int, float], ...] = ()  # while it moves: (sample in the take, pan) breakpoints
    kind = "take"

    def identity(self, a: int, b: int) -> str:
        return (f"take {self.sound} {self.length} {self.effect} {self.fade} {self.pan!r} {self.pan_path!r}"
                + room_identity(self.room, self.tail))

    def samples(self, a: int, b: int, sources: Sources, loop, settings, sample_rate: int) -> np.ndarray:
        take = np.asarray(sources.take(self.clip_key, self.index), dtype=np.float32)
        if len(take) != self.length - self.tail:
            raise ValueError(f"take {self.index} of clip {self.clip_key} is {len(take)} samples, not "
                             f"{self.length - self.tail}")
        return take_samples(take, self.effect, self.fade, self.room, a, b, sample_rate, settings)


def take_samples(take: np.ndarray, effect: str, fade: int, room: Room | None, a: int, b: int, sample_rate: int,
                 settings) -> np.ndarray:
    """Positions a..b-1 of a take's piece: the take with its line effect and fades, in its room."""
    n = len(take)
    if room is None:
        if effect != "none":  # filters need the whole take (their state runs from its start)
            take = apply_effect(take, effect, sample_rate, settings)
        return take[a:b] * fade_gain(a, b, n, fade, fade)

    def dry() -> np.ndarray:
        filtered = apply_effect(take, effect, sample_rate, settings) if effect != "none" else take
        return filtered * fade_gain(0, n, n, fade, fade)

    # The reverberation, like the filters, runs from the take's start: computed whole, then sliced.
    # The key names everything the dry sound is made of (an effect: the settings too, which a watch
    # process may see change).
    key = f"{sound_identity(take)} {effect} {fade}" + (f" {settings!r}" if effect != "none" else "")
    return rooms.heard(dry, key, room, sample_rate)[a:b]


def room_identity(room: Room | None, tail: int) -> str:
    return "" if room is None else f" room {room.identity} {tail} {rooms.engine()}"


# A directive's piece (compiler/plugins/: SfxPiece, MusicPiece, AmbiencePiece, RecordedTakePiece) has the same shape:
# start, length, kind, identity(a, b) and samples(a, b, sources, loop, settings, sample_rate).
Piece = TonePiece | TakePiece


# --------------------------------------------------------------------------------------------------
# From the timeline to pieces


def scaled(samples: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Mono (m,) or stereo (m, 2) samples times a per-sample gain (m,)."""
    return samples * (gain[:, None] if samples.ndim == 2 else gain)


def sound_identity(samples: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(samples, dtype=np.float32).tobytes()).hexdigest()[:32]


def play_pieces(timeline: Timeline, settings: StitchSettings, sound_ids: Mapping[str, str] | None = None,
                take_ids: Callable[[str, int], str] | None = None, recordings: Mapping | None = None,
                pans: list[LinePan] | None = None) -> Pieces:
    """Every piece of the play, in the canonical order. `sound_ids` gives each sound file's
    identity and `take_ids(clip_key, index)` each take's (see sound_identity; without them, the
    path and the clip key and index stand in). `recordings` maps (clip key, index) of a line a
    recording replaces to its compiler.plugins.take.Recorded, whose piece takes the take's place.
    `pans` gives each line's place on the stage (compiler.stage.line_pans; None: all centred)."""
    sr = timeline.sample_rate
    sound_ids = sound_ids or {}
    take_ids = take_ids or (lambda clip_key, index: f"{clip_key}/{index}")
    idx = lambda seconds: int(round(seconds * sr))  # noqa: E731
    fade = max(1, idx(settings.fade_ms / 1000))
    takes = [take_ids(pl.clip_key, pl.take) for pl in timeline.lines]
    pieces: list[Piece] = list(_tones(timeline, takes, settings, fade)) if settings.room_tone else []
    recordings = recordings or {}
    pans = pans or [LinePan()] * len(timeline.lines)
    for pl, take, place in zip(timeline.lines, takes, pans):
        start = idx(pl.start)
        recorded = recordings.get((pl.clip_key, pl.take))
        room, length = pl.line.room, idx(pl.end) - start
        tail = rooms.tail(room, sr)
        if recorded is not None:
            pieces.append(recorded.piece(start, length, line_effect(pl.line.extension), fade, room, tail, place))
            continue
        pieces.append(TakePiece(start, length + tail, pl.clip_key, pl.take, take, line_effect(pl.line.extension),
                                fade, room, tail, place.pan, place.path))
    n = timeline.n_samples
    for ps in timeline.sounds:
        path = ps.cue.path or ""
        start, end = idx(ps.start), min(idx(ps.end), n)
        if end <= start:
            continue
        plugin = plugins.by_rule(ps.cue.kind)  # the directive's plugin says which piece it becomes
        pieces.append(plugin.piece(ps, start, end, sound_ids.get(path, path), idx, fade, timeline, settings))
    # One canonical order (room tone, takes, then each directive's pieces), so every sample is the
    # same float32 sum whatever stretch is mixed.
    pieces.sort(key=lambda p: (plugins.piece_order(p.kind), p.start))
    return Pieces(pieces)


def _tones(timeline: Timeline, takes: list[str], settings: StitchSettings, fade: int):
    """Room tone in every silence longer than room_tone_min_gap between lines (and in the lead-in
    and tail). It overlaps the takes by `fade` each side and ramps over 2*fade, crossfading with the
    takes' own fades."""
    sr, n = timeline.sample_rate, timeline.n_samples
    edges = [0] + [x for pl in timeline.lines for x in (int(round(pl.start * sr)), int(round(pl.end * sr)))] + [n]
    before = [None] + takes  # the take each gap follows (None: the lead-in)
    min_gap = settings.room_tone_min_gap * sr
    for gap, (a, b) in enumerate(zip(edges[::2], edges[1::2])):
        if b - a <= min_gap:
            continue
        lo, hi = max(0, a - fade), min(n, b + fade)
        previous = before[gap]
        phase = 0 if previous is None else _phase(previous)
        yield TonePiece(lo, hi - lo, phase, 0 if lo == 0 else 2 * fade, 0 if hi == n else 2 * fade)


def _phase(take: str) -> int:
    return int.from_bytes(hashlib.sha256(take.encode()).digest()[:4], "little") % _TONE_LOOP


# --------------------------------------------------------------------------------------------------
# Mixing a stretch


def room_tone_loop(sample_rate: int, settings: StitchSettings, channels: int = 1) -> np.ndarray:
    """A seamless loop of pink-ish noise at room_tone_db RMS, the same on every build.

    Shaped in the frequency domain (1/sqrt(f), rolled off below 40 Hz) so the inverse FFT is
    periodic: the loop can be tiled without a seam. In stereo the two channels are independent
    loops (a room, not a point) at -3 dB each: the tone's energy stays the mono tone's.
    """
    if channels == 2:
        second = replace(settings, room_tone_seed=settings.room_tone_seed + 1)
        pair = np.stack([room_tone_loop(sample_rate, settings), room_tone_loop(sample_rate, second)], axis=1)
        return (pair * np.float32(math.sqrt(0.5))).astype(np.float32)
    rng = np.random.default_rng(settings.room_tone_seed)
    n = _TONE_LOOP
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    spectrum = rng.normal(size=len(freqs)) + 1j * rng.normal(size=len(freqs))
    shape = 1 / np.sqrt(np.maximum(freqs, 40.0))
    shape[freqs < 20] = 0
    tone = np.fft.irfft(spectrum * shape, n)
    tone *= 10 ** (settings.room_tone_db / 20) / np.sqrt(np.mean(tone**2))
    return tone.astype(np.float32)


class Pieces:
    """The play's pieces in canonical order, with their extents as arrays: finding the pieces of
    one segment costs one vectorised comparison, not a Python loop over the play."""

    def __init__(self, pieces: list[Piece]):
        self.all = pieces
        self._starts = np.array([p.start for p in pieces], dtype=np.int64)
        self._ends = self._starts + np.array([p.length for p in pieces], dtype=np.int64)

    def overlapping(self, w0: int, w1: int) -> list[Piece]:
        """The pieces sounding somewhere in w0..w1-1, in canonical order."""
        hits = np.flatnonzero((self._starts < w1) & (self._ends > w0))
        return [self.all[i] for i in hits]


def mix(pieces: Pieces, w0: int, w1: int, sources: Sources, settings: StitchSettings, sample_rate: int,
        tone_loop: np.ndarray | None = None, channels: int = 1) -> np.ndarray:
    """Samples w0..w1-1 of the play: the sum of the pieces (in canonical order) that overlap them;
    (n,) in mono, (n, 2) in stereo (each mono piece placed at its pan)."""
    buf = np.zeros((w1 - w0, 2) if channels == 2 else w1 - w0, dtype=np.float32)
    loop = tone_loop
    for p in pieces.overlapping(w0, w1):
        if p.kind == "tone" and loop is None:
            loop = room_tone_loop(sample_rate, settings, channels)
        a, b = max(w0, p.start) - p.start, min(w1, p.start + p.length) - p.start
        _add(buf[p.start + a - w0: p.start + b - w0], p.samples(a, b, sources, loop, settings, sample_rate), p, a, b)
    return buf


def _add(out: np.ndarray, samples: np.ndarray, piece, a: int, b: int) -> None:
    """Add a piece's samples (positions a..b-1 of it) into `out`, the stretch of the mix they cover."""
    samples = np.asarray(samples, dtype=np.float32)
    if out.ndim == 1:
        out += samples.mean(axis=1, dtype=np.float32) if samples.ndim == 2 else samples
    elif samples.ndim == 2:
        out += samples
    else:
        path = getattr(piece, "pan_path", ())
        left, right = pan_gains(pan_at(LinePan(getattr(piece, "pan", 0.0), path), a, b))
        out[:, 0] += samples * left
        out[:, 1] += samples * right
