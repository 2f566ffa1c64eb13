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

Room tone in the gap after a line starts its loop at a phase drawn from that line's take, not from
the position in the play: moving a line does not change the noise around the lines after it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Protocol

import numpy as np

from compiler.effects import apply_effect, line_effect
from compiler.sounds import looped

if TYPE_CHECKING:
    from compiler.stitch import PlacedSound, StitchSettings, Timeline

_TONE_LOOP = 1 << 18  # samples of the periodic room-tone loop (~12 s at 22.05 kHz)
_BLOCK = 1 << 20  # long pieces are rendered in blocks: a play-long music bed never needs a play-long temporary


def ramp(positions: np.ndarray, n: int) -> np.ndarray:
    """Raised-cosine 0 -> 1 over n samples, at the given positions (1 from n on)."""
    if n <= 0:
        return np.ones(len(positions), np.float32)
    inside = np.minimum(positions, n - 1)
    values = (0.5 - 0.5 * np.cos(np.pi * (inside + 0.5) / n)).astype(np.float32)
    return np.where(positions < n, values, np.float32(1.0))


def fade_gain(a: int, b: int, length: int, n_in: int, n_out: int) -> np.ndarray:
    """The fade-in/fade-out gain of positions a..b-1 of a piece of `length` samples; each fade is
    at most half the piece."""
    n_in, n_out = min(n_in, length // 2), min(n_out, length // 2)
    pos = np.arange(a, b)
    return ramp(pos, n_in) * ramp(length - 1 - pos, n_out)


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

_ORDER = {"tone": 0, "take": 1, "sfx": 2, "music": 3}  # the order pieces are added in (as before: tone first)


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
        return looped(loop, self.phase + a, b - a) * fade_gain(a, b, self.length, self.ramp_in, self.ramp_out)


@dataclass(frozen=True)
class TakePiece:
    start: int
    length: int
    clip_key: str
    index: int  # which take of the clip
    sound: str  # the take's identity (digest of its samples): a clip rendered again to the same takes keeps it
    effect: str
    fade: int
    kind = "take"

    def identity(self, a: int, b: int) -> str:
        return f"take {self.sound} {self.length} {self.effect} {self.fade}"

    def samples(self, a: int, b: int, sources: Sources, loop, settings, sample_rate: int) -> np.ndarray:
        take = np.asarray(sources.take(self.clip_key, self.index), dtype=np.float32)
        if len(take) != self.length:
            raise ValueError(f"take {self.index} of clip {self.clip_key} is {len(take)} samples, not {self.length}")
        if self.effect != "none":  # filters need the whole take (their state runs from its start)
            take = apply_effect(take, self.effect, sample_rate, settings)
        return take[a:b] * fade_gain(a, b, self.length, self.fade, self.fade)


@dataclass(frozen=True)
class SfxPiece:
    start: int
    length: int
    path: str
    sound: str  # the file's identity (digest of its samples)
    offset: int  # samples into the file where playing starts
    gain_db: float
    n_in: int
    n_out: int
    kind = "sfx"

    def identity(self, a: int, b: int) -> str:
        return f"sfx {self.sound} {self.offset} {self.length} {self.gain_db!r} {self.n_in} {self.n_out}"

    def samples(self, a: int, b: int, sources: Sources, loop, settings, sample_rate: int) -> np.ndarray:
        src = sources.sound(self.path)
        piece = np.zeros(b - a, np.float32)
        part = src[self.offset + a: self.offset + b]
        piece[: len(part)] = part
        return piece * np.float32(10 ** (self.gain_db / 20)) * fade_gain(a, b, self.length, self.n_in, self.n_out)


@dataclass(frozen=True)
class MusicPiece:
    start: int
    length: int
    path: str
    sound: str
    offset: int
    loop: bool
    gain_db: float
    n_in: int
    n_out: int
    duck_at: tuple[int, ...] = ()  # breakpoints of the ducking envelope, in samples from the piece start
    duck_db: tuple[float, ...] = ()
    kind = "music"

    def identity(self, a: int, b: int) -> str:
        # Only what reaches positions a..b-1: the fades where they overlap them, the ducking
        # envelope over them. Music sounds on under many lines; a line that grows late in the cue
        # must not change the key of the stretches before it.
        n_in, n_out = min(self.n_in, self.length // 2), min(self.n_out, self.length // 2)
        fade_in = n_in if a < n_in else "-"
        fade_out = f"{self.length} {n_out}" if b > self.length - n_out else "-"
        return (f"music {self.sound} {self.offset} {self.loop} {self.gain_db!r} {a} {fade_in} {fade_out} "
                f"{self._envelope(a, b)!r}")

    def _envelope(self, a: int, b: int) -> list:
        """The ducking breakpoints that shape positions a..b-1: those inside, and the nearest one on
        either side, whose position matters only where the gain changes towards it (between two
        breakpoints of equal gain, np.interp gives that gain exactly, wherever they are)."""
        at, db = self.duck_at, self.duck_db
        lo = int(np.searchsorted(at, a, side="left"))
        hi = int(np.searchsorted(at, b, side="left"))
        inner = [(at[i], db[i]) for i in range(lo, hi)]
        left = (at[lo - 1], db[lo - 1]) if lo > 0 else None
        right = (at[hi], db[hi]) if hi < len(at) else None
        first = inner[0] if inner else right
        last = inner[-1] if inner else left
        if left is not None and first is not None and left[1] == first[1]:
            left = ("flat", left[1])
        if right is not None and last is not None and right[1] == last[1]:
            right = ("flat", right[1])
        return [left, *inner, right]

    def samples(self, a: int, b: int, sources: Sources, loop, settings, sample_rate: int) -> np.ndarray:
        src = sources.sound(self.path)
        out = np.empty(b - a, np.float32)
        gain = 10 ** (self.gain_db / 20)
        for b0 in range(a, b, _BLOCK):
            b1 = min(b, b0 + _BLOCK)
            pos = np.arange(b0, b1)
            if self.loop:  # over the whole file; `offset` only sets where the first pass begins
                chunk = looped(src, self.offset + b0, b1 - b0)
            else:
                chunk = np.zeros(b1 - b0, np.float32)
                part = src[self.offset + b0: self.offset + b1]
                chunk[: len(part)] = part
            g = np.full(b1 - b0, gain, dtype=np.float64)
            g *= fade_gain(b0, b1, self.length, self.n_in, self.n_out)
            if self.duck_at:
                g *= 10 ** (np.interp(pos, self.duck_at, self.duck_db) / 20)
            out[b0 - a: b1 - a] = chunk * g
        return out


Piece = TonePiece | TakePiece | SfxPiece | MusicPiece


# --------------------------------------------------------------------------------------------------
# From the timeline to pieces


def sound_identity(samples: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(samples, dtype=np.float32).tobytes()).hexdigest()[:32]


def play_pieces(timeline: Timeline, settings: StitchSettings, sound_ids: Mapping[str, str] | None = None,
                take_ids: Callable[[str, int], str] | None = None) -> Pieces:
    """Every piece of the play, in the canonical order. `sound_ids` gives each sound file's
    identity and `take_ids(clip_key, index)` each take's (see sound_identity; without them, the
    path and the clip key and index stand in)."""
    sr = timeline.sample_rate
    sound_ids = sound_ids or {}
    take_ids = take_ids or (lambda clip_key, index: f"{clip_key}/{index}")
    idx = lambda seconds: int(round(seconds * sr))  # noqa: E731
    fade = max(1, idx(settings.fade_ms / 1000))
    takes = [take_ids(pl.clip_key, pl.take) for pl in timeline.lines]
    pieces: list[Piece] = list(_tones(timeline, takes, settings, fade)) if settings.room_tone else []
    for pl, take in zip(timeline.lines, takes):
        start = idx(pl.start)
        pieces.append(TakePiece(start, idx(pl.end) - start, pl.clip_key, pl.take, take, line_effect(pl.line.extension),
                                fade))
    n = timeline.n_samples
    for ps in timeline.sounds:
        path = ps.cue.path or ""
        sound = sound_ids.get(path, path)
        start, end = idx(ps.start), min(idx(ps.end), n)
        if end <= start:
            continue
        if ps.cue.kind == "music":
            at, db = _duck_breakpoints(timeline, ps, settings)
            pieces.append(MusicPiece(start, end - start, path, sound, idx(ps.offset), ps.loop, ps.gain_db,
                                     max(fade, idx(ps.fade_in)), max(fade, idx(ps.fade_out)),
                                     tuple(idx(t) - start for t in at), tuple(db)))
        else:
            pieces.append(SfxPiece(start, end - start, path, sound, idx(ps.offset), ps.gain_db,
                                   max(fade, idx(ps.fade_in)), max(fade, idx(ps.fade_out))))
    pieces.sort(key=lambda p: (_ORDER[p.kind], p.start))
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


def _duck_breakpoints(timeline: Timeline, ps: PlacedSound, settings: StitchSettings) -> tuple[list[float], list[float]]:
    """Piecewise-linear gain (dB) of the music: 0 away from speech, -duck under it.

    The music is fully ducked when a line starts (it begins going down duck_attack before) and
    comes back over duck_release after the line; lines closer than duck_bridge stay ducked through
    the gap, so the music does not pump between quick exchanges.
    """
    if ps.duck_db <= 0:
        return [], []
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
    return t, db


# --------------------------------------------------------------------------------------------------
# Mixing a stretch


def room_tone_loop(sample_rate: int, settings: StitchSettings) -> np.ndarray:
    """A seamless loop of pink-ish noise at room_tone_db RMS, the same on every build.

    Shaped in the frequency domain (1/sqrt(f), rolled off below 40 Hz) so the inverse FFT is
    periodic: the loop can be tiled without a seam.
    """
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
        tone_loop: np.ndarray | None = None) -> np.ndarray:
    """Samples w0..w1-1 of the play: the sum of the pieces (in canonical order) that overlap them."""
    buf = np.zeros(w1 - w0, dtype=np.float32)
    loop = tone_loop
    for p in pieces.overlapping(w0, w1):
        if p.kind == "tone" and loop is None:
            loop = room_tone_loop(sample_rate, settings)
        a, b = max(w0, p.start) - p.start, min(w1, p.start + p.length) - p.start
        buf[p.start + a - w0: p.start + b - w0] += p.samples(a, b, sources, loop, settings, sample_rate)
    return buf
