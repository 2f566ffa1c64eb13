"""What the beds that play under lines (music, ambience) share: ducking under speech, and the
identity of a stretch of a long piece.

Not a directive (it is not in compiler.plugins.BUILTIN): the ducking envelope a bed's piece is
shaped by and its gain, and how much of a bed's fades and envelope a stretch of the piece depends
on (for the piece's identity, compiler/pieces.py).

The envelope is piecewise linear in dB, with breakpoints in samples from the piece's start, so a
sample's gain is a function of its position in the piece alone (compiler/pieces.py's rule for
incremental mixing).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from compiler.plugins import FADE, LEVEL, PAN, START, OptionSpec

# The options every bed takes (music adds its own): level, fades, where in the file it starts, and
# how far it drops under speech (either sign is a reduction, 0 turns ducking off).
BED_OPTIONS = {"volume": LEVEL, "fade_in": FADE, "fade_out": FADE, "start": START, "duck": OptionSpec("db", -60.0, 60.0),
               "pan": PAN}
BLOCK = 1 << 20  # a play-long bed is rendered in blocks, never as one play-long temporary


def duck_breakpoints(timeline, ps, settings) -> tuple[list[float], list[float]]:
    """Piecewise-linear gain (dB) of a bed (`ps`, a PlacedSound): 0 away from speech, -ps.duck_db
    under it; breakpoints in seconds of the play.

    The bed is fully ducked when a line starts (it begins going down duck_attack before) and
    comes back over duck_release after the line; lines closer than duck_bridge stay ducked through
    the gap, so the bed does not pump between quick exchanges.
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


def piece_envelope(timeline, ps, settings, idx, start: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The ducking breakpoints of a bed's piece that starts at sample `start`: positions in samples
    from the piece's start (`idx` turns seconds into samples), and gains in dB."""
    at, db = duck_breakpoints(timeline, ps, settings)
    return tuple(idx(t) - start for t in at), tuple(db)


def stretch_identity(length: int, n_in: int, n_out: int, at: tuple[int, ...], db: tuple[float, ...], a: int,
                     b: int) -> str:
    """What shapes positions a..b-1 of a bed of `length` samples: its fades where they overlap them
    (each at most half the piece, as compiler.pieces.fade_gain clamps them) and the ducking envelope
    over them. A bed sounds on under many lines; a line that grows late in the cue must not change
    the key of the stretches before it."""
    n_in, n_out = min(n_in, length // 2), min(n_out, length // 2)
    fade_in = n_in if a < n_in else "-"
    fade_out = f"{length} {n_out}" if b > length - n_out else "-"
    return f"{fade_in} {fade_out} {envelope_identity(at, db, a, b)!r}"


def envelope_identity(at: tuple[int, ...], db: tuple[float, ...], a: int, b: int) -> list:
    """The ducking breakpoints that shape positions a..b-1: those inside, and the nearest one on
    either side, whose position matters only where the gain changes towards it (between two
    breakpoints of equal gain, np.interp gives that gain exactly, wherever they are)."""
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


def duck_gain(at: tuple[int, ...], db: tuple[float, ...], positions: np.ndarray) -> np.ndarray | float:
    """The ducking gain (linear) at `positions` of the piece; 1.0 when the bed does not duck."""
    if not at:
        return 1.0
    level = np.interp(positions, at, db)
    # A bed spends most of its time at one of the envelope's levels (full, or ducked under a line):
    # those samples get that level's gain; only the ramps between them need a power each.
    gain = np.ones(len(positions))
    ramping = level != 0.0
    for flat in set(db) - {0.0}:
        at_flat = level == flat
        gain[at_flat] = 10 ** (np.full(1, flat) / 20)
        ramping &= ~at_flat
    gain[ramping] = 10 ** (level[ramping] / 20)
    return gain


def per_sample(gain: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`gain` (one value a sample) shaped to multiply `like`, mono (m,) or multichannel (m, c)."""
    return gain if like.ndim == 1 else gain.reshape(-1, *([1] * (like.ndim - 1)))


def shaped_bed(piece, a: int, b: int, source_at: Callable[[int, int], np.ndarray],
               equal_power: bool = False) -> np.ndarray:
    """Positions a..b-1 of a bed's piece (its length, gain_db, n_in, n_out, duck_at, duck_db),
    in blocks: `source_at(b0, b1)` gives the bed's unshaped samples at positions b0..b1-1, and
    each gets its gain, fades and ducking, all functions of the position in the piece."""
    from compiler.pieces import fade_gain

    out: np.ndarray | None = None
    gain = 10 ** (piece.gain_db / 20)
    for b0 in range(a, b, BLOCK):
        b1 = min(b, b0 + BLOCK)
        chunk = source_at(b0, b1)
        if out is None:
            out = np.empty((b - a, *chunk.shape[1:]), np.float32)
        g = np.full(b1 - b0, gain, dtype=np.float64)
        g *= fade_gain(b0, b1, piece.length, piece.n_in, piece.n_out, equal_power)
        g *= duck_gain(piece.duck_at, piece.duck_db, np.arange(b0, b1))
        out[b0 - a: b1 - a] = chunk * per_sample(g, chunk)
    return out if out is not None else np.zeros(0, np.float32)
