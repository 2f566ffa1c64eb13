"""Rooms: a scene's location sets its acoustic.

Choosing (at planning time, plain data on each PlannedLine: compiler.plan_types.Room):

- `INT.` scenes are rooms of a size read from the location in the heading: the writer's words first
  (`[rooms.locations] CATHEDRAL = "large"`), then the built-in ones (LOCATIONS below), the word
  nearest the end winning (`INT. CHURCH KITCHEN` is a kitchen); no known word gives `[rooms] default`.
  A heading without a prefix (a forced `.ATTIC`, a Markdown `# The lamp room`) and the material before
  the first heading are read the same way.
- `EXT.` (and `EST.`) scenes are the open air, `exterior`: a short, weak first reflection and
  nothing more. Only the writer's own words change that (`CANYON = "large"`): the built-in words name
  interiors, and an `EXT. STATION` is an open platform.
- `INT./EXT.` and `I/E` scenes (a car, a doorway, a porch) take a named place's size like an
  interior, else `[rooms] interior_exterior` (small: a threshold rings little).
- `[[room: large]]` (compiler/plugins/room.py) sets the room from there to the end of the scene.
- Lines that are not in the scene's space stay dry: the narrator, a voice-over (V.O.), and a phone
  or radio line (its voice comes out of a small speaker at the listener's ear). An off-screen line
  (O.S., muffled) IS in the location, behind a wall or out of shot: it keeps the room, which rings
  after the muffled voice as it would after any voice there.

Rendering (at mixing time, compiler.pieces): the line's dry take (effect and fades applied) is
convolved with an impulse response generated for the room — Gaussian noise, low-passed like air
and walls absorb the highs, under an exponential decay that falls 60 dB in the room's RT60, after a
pre-delay, ending with a short fade where it reaches -60 dB — by pedalboard's Convolution (JUCE's
partitioned convolution). The wet signal is scaled to `<size>_wet_db` relative to the dry one (the
response has unit energy, so a noise-like voice gets a reverberation that much quieter than itself)
and added to the dry take; the result is the take followed by its tail. The response is seeded by
the room's numbers and the sample rate: every process builds the same one.

The result is mono. A stereo room is a small change here: two responses of independent noise (one
per channel, decorrelated like the reflections reaching two ears) convolved into an (m, 2) wet signal,
added to the dry take at its pan — compiler.pieces passes (m, 2) arrays through as they are.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Callable

import numpy as np

from compiler.plan_types import Room
from compiler.settings_schema import ROOM_SIZES, SettingError, check_table, defaults

# Built-in location words (upper case; a word also matches its plural in -S/-ES). A word or words
# of [rooms.locations] come first. Medium is the default and needs few words of its own: they are
# here so that a medium place named after a large or small one (`HALLWAY`, `LIVING ROOM`) is
# medium.
LOCATIONS: dict[str, str] = {
    **dict.fromkeys((
        "HALL", "CHURCH", "CATHEDRAL", "BASILICA", "TEMPLE", "MOSQUE", "SYNAGOGUE", "CRYPT", "WAREHOUSE",
        "STATION", "TERMINAL", "CONCOURSE", "HANGAR", "FACTORY", "GYM", "GYMNASIUM", "AUDITORIUM", "THEATRE",
        "THEATER", "ARENA", "STADIUM", "BALLROOM", "MUSEUM", "ATRIUM", "LOBBY", "MALL", "CAVE", "CAVERN",
        "TUNNEL", "SEWER", "CISTERN", "PARLIAMENT", "COURTROOM", "SWIMMING POOL", "ENGINE ROOM"), "large"),
    **dict.fromkeys((
        "OFFICE", "KITCHEN", "BEDROOM", "BATHROOM", "TOILET", "SHOWER", "CAR", "TAXI", "CAB", "VAN", "TRUCK",
        "CLOSET", "CUPBOARD", "WARDROBE", "PANTRY", "ELEVATOR", "LIFT", "CABIN", "COCKPIT", "BOOTH", "CELL",
        "STUDY", "NURSERY", "ATTIC", "TENT", "CUBICLE", "BUNK", "PHONE BOX", "PHONE BOOTH"),
        "small"),
    **dict.fromkeys((
        "HALLWAY", "CORRIDOR", "LIVING ROOM", "SITTING ROOM", "DINING ROOM", "APARTMENT", "FLAT", "HOUSE",
        "RESTAURANT", "BAR", "PUB", "CAFE", "CAFÉ", "DINER", "CLASSROOM", "SHOP", "STORE", "LIBRARY", "BRIDGE",
        "WARD", "LAB", "LABORATORY", "STAIRWELL", "BASEMENT", "CELLAR", "GARAGE", "BARN"), "medium"),
}

PREDELAY = {"exterior": 0.008, "small": 0.002, "medium": 0.008, "large": 0.022}  # seconds before reflections
AIR_HZ = 6000.0  # low-pass of the response's noise: walls and air take the highs first
END_FADE = 0.010  # seconds: the fade where the response is cut at -60 dB

_DEFAULT = defaults("rooms")
_BOTH = re.compile(r"^\s*(INT\.?\s*/\s*EXT|EXT\.?\s*/\s*INT|I\s*/\s*E|E\s*/\s*I)\b\.?", re.IGNORECASE)
_INT = re.compile(r"^\s*(INT|INTERIOR)\b\.?", re.IGNORECASE)
_EXT = re.compile(r"^\s*(EXT|EST|EXTERIOR)\b\.?", re.IGNORECASE)
_WORD = re.compile(r"[\w']+")  # of an upper-cased heading: CAFÉ and MARTA'S are words
_VOICE_OVER = re.compile(r"\b(v\.?\s*o|voice[\s-]*over)\b\.?", re.IGNORECASE)


@dataclass(frozen=True)
class RoomSettings:
    """The `[rooms]` table, checked against its declarations (compiler/settings_schema.py);
    `locations` holds [rooms.locations] as (WORDS, size) pairs."""

    enabled: bool = _DEFAULT["enabled"]
    default: str = _DEFAULT["default"]
    interior_exterior: str = _DEFAULT["interior_exterior"]
    large_rt60: float = _DEFAULT["large_rt60"]
    large_wet_db: float = _DEFAULT["large_wet_db"]
    medium_rt60: float = _DEFAULT["medium_rt60"]
    medium_wet_db: float = _DEFAULT["medium_wet_db"]
    small_rt60: float = _DEFAULT["small_rt60"]
    small_wet_db: float = _DEFAULT["small_wet_db"]
    exterior_rt60: float = _DEFAULT["exterior_rt60"]
    exterior_wet_db: float = _DEFAULT["exterior_wet_db"]
    seed: int = _DEFAULT["seed"]
    locations: tuple[tuple[str, str], ...] | dict = ()

    def __post_init__(self):
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "locations"}
        for name, value in check_table("rooms", values).items():
            object.__setattr__(self, name, value)
        words = dict(self.locations)
        checked = check_table("rooms.locations", words) if words else {}
        for word in checked:
            if not _phrase(word):
                raise SettingError(f"[rooms.locations] '{word}' holds no word of a heading", word)
        object.__setattr__(self, "locations", tuple(sorted((_phrase(w), size) for w, size in checked.items())))

    def room(self, size: str) -> Room | None:
        """The room of a size (None for "dry", or when rooms are switched off)."""
        if size == "dry" or not self.enabled:
            return None
        return Room(size, getattr(self, f"{size}_rt60"), getattr(self, f"{size}_wet_db"), self.seed)


def _phrase(words: str) -> str:
    return " ".join(_WORD.findall(words.upper()))


# --------------------------------------------------------------------------------------------------
# Choosing


def heading_size(heading: str | None, settings: RoomSettings) -> str:
    """The room size of a scene from its heading's text (None: the material before the first heading)."""
    if heading is None:
        return settings.default
    mine = dict(settings.locations)
    if match := _BOTH.match(heading):
        place = heading[match.end():]
        return _named(place, mine) or _named(place, LOCATIONS) or settings.interior_exterior
    if match := _EXT.match(heading):
        return _named(heading[match.end():], mine) or "exterior"
    place = heading[match.end():] if (match := _INT.match(heading)) else heading
    return _named(place, mine) or _named(place, LOCATIONS) or settings.default


def _named(place: str, table: dict[str, str]) -> str | None:
    """The size of the known words of `place` that end last (the longer phrase on a tie)."""
    words = _WORD.findall(place.upper())
    best: tuple[int, int, str] | None = None
    for phrase, size in table.items():
        wanted = phrase.split()
        for i in range(len(words) - len(wanted) + 1):
            if all(_same_word(words[i + k], w) for k, w in enumerate(wanted)):
                found = (i + len(wanted), len(wanted), size)
                best = found if best is None or found[:2] > best[:2] else best
    return best[2] if best else None


def _same_word(word: str, known: str) -> bool:
    return word == known or word in (known + "S", known + "ES")


def heard_in(room: Room | None, speaker: str, extension: str | None) -> Room | None:
    """The room a line is heard in: the scene's, except for lines outside its space (module doc)."""
    from compiler.cast import NARRATOR
    from compiler.effects import line_effect

    if room is None or speaker == NARRATOR:
        return None
    if voice_over(extension) or line_effect(extension) == "phone":
        return None
    return room


def voice_over(extension: str | None) -> bool:
    """Whether a cue's extension makes the line a voice-over (V.O., VO, V. O., voice-over): a voice in
    the listener's head, outside the scene's space. The stage centres it too (compiler/stage.py)."""
    return bool(extension and _VOICE_OVER.search(extension))


def scene_rooms(script, settings: RoomSettings) -> list[dict]:
    """Each scene's room as the manifest lists it (before any `[[room]]` directive in it)."""
    out = []
    for index, scene in enumerate(script.scenes):
        heading = scene.heading.text if scene.heading is not None else None
        size = heading_size(heading, settings) if settings.enabled else "dry"
        room = settings.room(size)
        out.append({"scene": index, "heading": heading, "room": size,
                    "rt60": room.rt60 if room else None, "wet_db": room.wet_db if room else None})
    return out


# --------------------------------------------------------------------------------------------------
# Rendering


@lru_cache(maxsize=32)
def impulse_response(room: Room, sample_rate: int) -> np.ndarray:
    """The room's impulse response at `sample_rate` (module doc): unit energy, float32, read-only."""
    import pedalboard

    rng = np.random.default_rng([room.seed, ROOM_SIZES.index(room.size), int(sample_rate)])
    n = max(2, int(round(room.rt60 * sample_rate)))
    noise = rng.standard_normal(n).astype(np.float32)
    noise = pedalboard.LowpassFilter(min(AIR_HZ, 0.45 * sample_rate))(noise, sample_rate, reset=True)
    t = np.arange(n) / sample_rate
    decay = 10.0 ** (-3.0 * t / room.rt60)  # amplitude: -60 dB at t = rt60
    fade = min(n, max(1, int(round(END_FADE * sample_rate))))
    decay[n - fade:] *= 0.5 + 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
    ir = np.concatenate([np.zeros(int(round(PREDELAY[room.size] * sample_rate))), noise * decay])
    ir /= np.sqrt(np.sum(ir * ir))
    ir = ir.astype(np.float32)
    ir.flags.writeable = False
    return ir


@lru_cache(maxsize=1)
def engine() -> str:
    """What renders the rooms, with its version: part of every room piece's identity, so a mix cached
    with another pedalboard is not served as this one's."""
    from importlib.metadata import version

    return f"pedalboard {version('pedalboard')}"


def tail(room: Room | None, sample_rate: int) -> int:
    """Samples the room rings on after the dry sound ends."""
    return 0 if room is None else len(impulse_response(room, sample_rate)) - 1


@lru_cache(maxsize=32)
def _wet_gain(room: Room, sample_rate: int) -> float:
    """The factor that brings pedalboard's output to the response's own scale times the wet level.
    Pedalboard (JUCE) normalises a response it is given; the factor is measured on an impulse rather
    than taken from its source, so another version's normalisation cannot change the level."""
    ir = impulse_response(room, sample_rate)
    probe = np.zeros(min(len(ir), int(round(PREDELAY[room.size] * sample_rate)) + 512), np.float32)
    probe[0] = 1.0
    out = _convolve(probe, ir, sample_rate)
    head = ir[: len(probe)].astype(np.float64)
    scale = float(np.dot(out, head) / np.dot(head, head))
    return 10 ** (room.wet_db / 20) / scale


def _convolve(x: np.ndarray, ir: np.ndarray, sample_rate: int) -> np.ndarray:
    import pedalboard

    return pedalboard.Convolution(ir, mix=1.0, sample_rate=float(sample_rate))(x, sample_rate, reset=True)


_HEARD: OrderedDict[str, np.ndarray] = OrderedDict()  # the last few results of `heard`, by key
_HEARD_LOCK = threading.Lock()
_HEARD_KEEP = 8


def heard(dry: Callable[[], np.ndarray], key: str, room: Room, sample_rate: int) -> np.ndarray:
    """The dry sound in the room: `dry()` followed by the room's tail, plus the reverberation (mono,
    float32, len(dry()) + tail(room) samples, read-only). `key` names the dry sound's samples: the
    last few results are kept by it, since a take is mixed into its own segment and, by its tail,
    into the next ones; `dry` is called only when the result is not kept."""
    key = f"{room.identity} {sample_rate} {key}"
    with _HEARD_LOCK:
        if key in _HEARD:
            _HEARD.move_to_end(key)
            return _HEARD[key]
    source = np.ascontiguousarray(dry(), dtype=np.float32)
    ir = impulse_response(room, sample_rate)
    padded = np.concatenate([source, np.zeros(len(ir) - 1, np.float32)])
    wet = _convolve(padded, ir, sample_rate)
    out = (padded + wet * np.float32(_wet_gain(room, sample_rate))).astype(np.float32)
    out.flags.writeable = False
    with _HEARD_LOCK:
        _HEARD[key] = out
        while len(_HEARD) > _HEARD_KEEP:
            _HEARD.popitem(last=False)
    return out
