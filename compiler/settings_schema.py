"""Every setting dramac reads, declared once: table, key, type, range or choices, default, unit, help,
and who may set it. Everything else is derived from these declarations:

- validation, with one message per kind of value (config.py reports it at the key, file:line:col);
- unknown-key diagnostics with "did you mean";
- the typed values passed forward: StitchSettings, MasterSettings, Dia2's Sampling and the embedded
  voice take their defaults and ranges from here (`defaults`, `check_table`), never a second copy;
- docs/settings.md and docs/dramac.schema.json (compiler/settings_doc.py writes them:
  `python -m compiler.settings_doc --write`; tests/test_settings_schema.py regenerates both and compares).

The core tables are declared below. A backend declares its own `[<backend>]` options and its voice
settings (keys of `[cast.NAME]`, `[cast.NAME.<backend>]` and `[narrator]`) as two class attributes,
`options` and `voice_settings`, found through the backend registry (compiler/backends/__init__.py).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from enum import Enum

from compiler.gender import GENDERS

AUDIO_FORMATS = ("wav", "flac", "mp3", "ogg", "opus", "m4b")
# The acoustics a scene may have (compiler/rooms.py), from none to the largest.
ROOM_SIZES = ("dry", "exterior", "small", "medium", "large")


class Who(Enum):
    """Who may write a setting."""

    SCRIPT = "script"  # a script's front matter, dramac.toml or the command line: it shapes the play
    MACHINE = "machine"  # dramac.toml or the command line only: it decides what runs on the building machine
    DRIVER = "driver"  # nobody: dramac sets it from the project (its root, its cache folder)


# Kinds of value. "formats" is a comma-separated list of `choices`; "pair" is [low, high] within the range.
KINDS = ("number", "integer", "boolean", "string", "text", "choice", "formats", "pair", "driver")


@dataclass(frozen=True)
class Setting:
    table: str  # "stitch"; "cast" for a voice setting (keys of [cast.NAME], [cast.NAME.<backend>], [narrator])
    key: str  # "*": any key of the table (the lexicon's words)
    kind: str
    default: object = None  # None: unset unless written
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the value must be above `low`, not equal to it
    choices: tuple[str, ...] = ()  # matched case-blind
    unit: str = ""
    help: str = ""
    who: Who = Who.SCRIPT
    flag: str = ""  # the command-line option that sets it too
    backend: str = ""  # a voice setting or an option of this backend only
    expect: str = ""  # what the value must be, in words, where the kind's own wording says too little
    or_zero: bool = False  # 0 is allowed besides the range (it means "the default", e.g. the backend's rate)

    @property
    def label(self) -> str:
        return f"[{self.table}] {self.key}"

    def expected(self) -> str:
        """What a valid value is, in words: the end of every error message about it."""
        if self.expect:
            return self.expect
        unit = f" {self.unit}" if self.unit else ""
        if self.kind == "number":
            if self.low is not None and self.high is not None:
                if self.low_open:
                    return f"a number above {self.low:g} and at most {self.high:g}{unit}"
                return f"a number from {self.low:g} to {self.high:g}{unit}"
            if self.low is not None:
                return f"a number above {self.low:g}{unit}" if self.low_open else f"a number >= {self.low:g}{unit}"
            return "a number"
        if self.kind == "integer":
            if self.low is not None and self.high is not None:
                return f"a whole number from {self.low:g} to {_big(self.high)}{unit}"
            return f"a whole number >= {self.low:g}{unit}" if self.low is not None else "a whole number"
        if self.kind == "pair":
            return (f"two frequencies [low, high] in {self.unit}, each from {self.low:g} to {self.high:g} {self.unit} "
                    "with low < high")
        if self.kind == "boolean":
            return "true or false"
        if self.kind in ("choice", "formats"):
            return ("one of " if self.kind == "choice" else "a comma-separated list of ") + ", ".join(self.choices)
        if self.kind == "text":
            return "a non-empty string"
        return "a string"


def _big(x: float) -> str:
    return "2**63-1" if x >= 2**63 - 1 else f"{x:g}"


class SettingError(ValueError):
    """A value a declaration refuses; `key` names the offending key (never found by searching the
    message). `at_value`: the diagnostic points at the key's value (an unknown name), not the key."""

    def __init__(self, message: str, key: str | None = None, at_value: bool = False):
        super().__init__(message)
        self.key = key
        self.at_value = at_value


def check(setting: Setting, value, label: str | None = None, error: type[SettingError] = SettingError):
    """`value` as the stages use it (ints for whole numbers, floats for numbers, a tuple for a pair,
    a lower-case choice), or `error` with "<label> must be <expected>, not <value>"."""
    ok, clean = _conform(setting, value)
    if not ok:
        raise error(f"{label or setting.label} must be {setting.expected()}, not {written(value)}{_near(setting, value)}",
                    setting.key)
    return clean


def _near(setting: Setting, value) -> str:
    """"; did you mean 'small'?" for a choice misspelt ("smal"), else nothing."""
    if not setting.choices or not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value.lower(), [str(c) for c in setting.choices], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def written(value) -> str:
    """A value as a writer typed it in TOML or YAML (`true`, `"long"`, `[1, 2]`), not as Python shows it."""
    import json

    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # a date, or a float that is not finite
        return str(value)


def _number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _in_range(setting: Setting, x: float) -> bool:
    if setting.or_zero and x == 0:
        return True
    if setting.low is not None and (x < setting.low or (setting.low_open and x == setting.low)):
        return False
    return setting.high is None or x <= setting.high


def _conform(s: Setting, value) -> tuple[bool, object]:
    kind = s.kind
    if kind == "number":
        return (True, float(value)) if _number(value) and _in_range(s, value) else (False, None)
    if kind == "integer":  # 3.0 is a whole number (a TOML float written for an int); 2.5 and true are not
        if not _number(value) or value != int(value):
            return False, None
        return (True, int(value)) if _in_range(s, value) else (False, None)
    if kind == "boolean":
        return isinstance(value, bool), value
    if kind == "string":
        return isinstance(value, str), value
    if kind == "text":
        return isinstance(value, str) and bool(value.strip()), value
    if kind == "choice":
        ok = isinstance(value, str) and value.lower() in s.choices
        return ok, value.lower() if ok else None
    if kind == "formats":
        items = [f.strip().lower() for f in value.split(",") if f.strip()] if isinstance(value, str) else []
        return bool(items) and all(f in s.choices for f in items), value
    if kind == "pair":
        if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(_number(v) and _in_range(s, v) for v in value):
            return False, None
        return (value[0] < value[1]), (float(value[0]), float(value[1]))
    return False, None  # "driver": never a setting


# --------------------------------------------------------------------------------------------------
# The core tables

_S = (0.0, 60.0)  # every duration is capped at a minute: longer gaps or fades are typos, and lead_in or
_DB = (-60.0, 24.0)  # tail size the play's buffer directly; volumes stay within a sane mixing range
_BAND = (20.0, 20000.0)  # filters inside the audio band


def _stitch(key, kind, default, low=None, high=None, unit="", help=""):
    return Setting("stitch", key, kind, default, low, high, unit=unit, help=help)


def _rooms(key, kind, default, low=None, high=None, unit="", help="", choices=()):
    return Setting("rooms", key, kind, default, low, high, choices=choices, unit=unit, help=help)


def _room(size: str, rt60: float, wet_db: float, what: str) -> tuple[Setting, Setting]:
    return (_rooms(f"{size}_rt60", "number", rt60, 0.05, 10.0, "s",
                   f"Reverberation time (to -60 dB) of {what}."),
            _rooms(f"{size}_wet_db", "number", wet_db, -60.0, 0.0, "dB",
                   f"Level of the reverberation of {what}, relative to the voice itself."))


def _master(key, kind, default, low, high, unit, help, low_open=False):
    return Setting("master", key, kind, default, low, high, low_open, unit=unit, help=help)


CORE: tuple[Setting, ...] = (
    Setting("project", "name", "string", help="The project's name, for people; dramac does not use it.",
            who=Who.MACHINE),
    Setting("build", "backend", "string", "embedded", who=Who.MACHINE, flag="--backend",
            help="The render backend (`embedded`, the CPU voice shipped with dramac, or `dia2`)."),
    Setting("build", "format", "formats", "wav", choices=AUDIO_FORMATS, flag="--format",
            help="Audio formats written, comma-separated, e.g. \"wav,flac\"."),
    Setting("build", "jobs", "integer", 0, 0, who=Who.MACHINE, flag="--jobs",
            help="Render worker processes; 0 uses every usable core (more than the cores are capped, with a warning)."),
    Setting("render", "cluster", "string", "", who=Who.MACHINE, flag="--cluster",
            help="Render on a Ray cluster: \"auto\" (the one this machine joined), \"local\" or host:port "
                 "(docs/cluster.md); empty renders here. Needs `pip install 'dramac[cluster]'`."),
    Setting("narrator", "enabled", "boolean", False, flag="--narrator",
            help="A narrator voice reads action lines and scene headings. Voice settings (`voice`, …) may "
                 "follow in the same table, as in `[cast.NAME]`."),
    Setting("lexicon", "*", "text", expect="the words to say, as a string",
            help="`Word = \"how to say it\"`: whole-word pronunciation overrides, e.g. `Nguyen = \"Win\"`."),
    Setting("cast", "voice", "string",
            help="A palette voice by name (`dramac cast` lists the palette of the backend)."),
    Setting("cast", "gender", "choice", choices=GENDERS,
            help="Guides automatic casting: the character gets a voice of this gender (docs/lock.md)."),
    Setting("cast", "pan", "number", None, -1.0, 1.0,
            help="Where the character stands on the stereo stage: -1 left, 0 centre, 1 right (constant-power "
                 "pan; docs/stage.md). Unset: spread automatically within each scene ([stage] spread). "
                 "Its V.O. lines stay centred, like the narrator."),
    Setting("stage", "channels", "choice", "stereo", choices=("stereo", "mono"),
            help="Output channels: `stereo` places each character on a stage (docs/stage.md); `mono` is one "
                 "channel, every voice centred."),
    Setting("stage", "sample_rate", "integer", 0, 8000, 192000, unit="Hz", or_zero=True,
            expect="0 (the backend's own rate) or a whole number from 8000 to 192000 Hz",
            help="The rate the play is mixed and written at; 0 keeps the backend's own (22050 Hz for the "
                 "embedded voice). Takes are resampled where they enter the mix."),
    Setting("stage", "spread", "number", 0.35, 0.0, 1.0,
            help="How far apart the speakers of a scene stand when no `pan` places them: the outermost at "
                 "-spread and +spread, the others evenly between; the narrator stays centred."),
    _stitch("same_speaker_gap", "number", 0.25, *_S, "s", "Gap between two lines of one speaker."),
    _stitch("speaker_change_gap", "number", 0.45, *_S, "s", "Gap when the speaker changes."),
    _stitch("scene_gap", "number", 1.6, *_S, "s", "Gap across a scene break."),
    _stitch("cue_gap", "number", 0.3, *_S, "s", "Gap between a line and a sound cue (and after a waited sfx)."),
    _stitch("lead_in", "number", 0.5, *_S, "s", "Room tone before the first sound."),
    _stitch("tail", "number", 1.5, *_S, "s", "Time after the last line or effect."),
    _stitch("fade_ms", "number", 8.0, 0.0, 1000.0, "ms", "Fade at both ends of every take and effect, against clicks."),
    _stitch("room_tone", "boolean", True, help="Fill silences longer than `room_tone_min_gap` with quiet pink noise."),
    _stitch("room_tone_db", "number", -62.0, -120.0, -20.0, "dBFS", "RMS level of the room tone."),
    _stitch("room_tone_min_gap", "number", 0.3, *_S, "s", "A silence strictly longer than this gets room tone."),
    _stitch("room_tone_seed", "integer", 1907, 0, None, "", "Seed of the room tone's noise (deterministic)."),
    _stitch("sfx_volume_db", "number", 0.0, *_DB, "dB", "Level of sound effects."),
    _stitch("music_volume_db", "number", -8.0, *_DB, "dB", "Level of music."),
    _stitch("music_fade_in", "number", 1.0, *_S, "s", "Music fade-in."),
    _stitch("music_fade_out", "number", 2.0, *_S, "s", "Music fade-out."),
    _stitch("music_duck_db", "number", 12.0, 0.0, 60.0, "dB", "Reduction of music under speech."),
    _stitch("ambience_volume_db", "number", -18.0, *_DB, "dB", "Level of ambience beds (`[[ambience: PATH]]`)."),
    _stitch("ambience_crossfade", "number", 1.5, *_S, "s",
            "Crossfade of the ambience beds at a scene change, centred in the scene gap (also their default "
            "fades)."),
    _stitch("ambience_loop_crossfade", "number", 1.0, *_S, "s",
            "Crossfade of an ambience file's end into its start where it loops (at most half the file)."),
    _stitch("ambience_duck_db", "number", 6.0, 0.0, 60.0, "dB", "Reduction of ambience beds under speech."),
    _stitch("duck_attack", "number", 0.25, *_S, "s",
            "Time music and ambience take to duck before a line starts."),
    _stitch("duck_release", "number", 0.6, *_S, "s", "Time they take to come back after a line ends."),
    _stitch("duck_bridge", "number", 1.2, *_S, "s", "Speech gaps shorter than this stay ducked (no pumping)."),
    _stitch("muffle_cutoff_hz", "number", 2500.0, *_BAND, "Hz", "Low-pass cutoff of the muffled line effect."),
    _stitch("muffle_gain_db", "number", -4.0, *_DB, "dB", "Gain of the muffled line effect."),
    _stitch("phone_band_hz", "pair", (300.0, 3400.0), *_BAND, "Hz", "Pass band of the phone/radio line effect."),
    # tanh(drive * x) / tanh(drive): 0 divides zero by zero; past 20 the line is a square wave.
    _stitch("phone_drive", "number", 2.5, 0.01, 20.0, "", "tanh saturation drive of the phone/radio effect."),
    _rooms("enabled", "boolean", True, help="Each scene sounds like its location (docs/rooms.md); false: every line dry."),
    _rooms("default", "choice", "medium", choices=ROOM_SIZES,
           help="The room of an interior (or a heading without INT./EXT.) whose location names no known place."),
    _rooms("interior_exterior", "choice", "small", choices=ROOM_SIZES,
           help="The room of an `INT./EXT.` or `I/E` scene whose location names no known place."),
    *_room("large", 1.8, -9.0, "a large interior (hall, church, station)"),
    *_room("medium", 0.7, -13.0, "a medium interior (living room, restaurant)"),
    *_room("small", 0.35, -16.0, "a small interior (office, kitchen, car)"),
    *_room("exterior", 0.12, -24.0, "the open air (a short, weak first reflection)"),
    _rooms("seed", "integer", 2718, 0, None, "", "Seed of the rooms' impulse responses (deterministic)."),
    Setting("rooms.locations", "*", "choice", choices=ROOM_SIZES,
            help="`CATHEDRAL = \"large\"`: a word (or words) of a scene heading's location and the room it "
                 "names; these come before the built-in words (docs/rooms.md)."),
    _master("target_lufs", "number", -16.0, -40.0, -5.0, "LUFS", "Integrated loudness of the output (BS.1770)."),
    _master("true_peak_db", "number", -1.0, -20.0, 0.0, "dBTP", "True-peak ceiling."),
    _master("tolerance_lu", "number", 0.2, 0.0, 0.5, "LU", "Iterate until the loudness is within this of the target.",
            low_open=True),
    _master("limiter_margin_db", "number", 0.2, 0.0, 3.0, "dB", "The limiter aims this far below the ceiling."),
    _master("lookahead_ms", "number", 5.0, 0.0, 50.0, "ms", "Look-ahead of the peak limiter.", low_open=True),
    _master("max_iterations", "integer", 10, 1, 50, "", "Gain/limiter rounds at most."),
)

# Keys of every backend table that the driver sets from the project; earlier versions took them as options.
DRIVER_KEYS = ("workspace", "project_root", "cache_dir")
VOICE_TABLE = "cast"


def backend_names() -> list[str]:
    from compiler import backends

    return backends.available()


def backend_settings(name: str) -> tuple[Setting, ...]:
    """A backend's own declarations (its [<name>] options and its voice settings) plus the driver's keys."""
    from compiler import backends

    cls = backends.backend_class(name)
    driver = tuple(Setting(name, key, "driver", who=Who.DRIVER, backend=name,
                           help="Not a setting: dramac uses the project's own root and its .dramac-cache folder.")
                   for key in DRIVER_KEYS)
    return tuple(getattr(cls, "options", ())) + driver + tuple(getattr(cls, "voice_settings", ()))


def all_settings() -> tuple[Setting, ...]:
    return CORE + tuple(s for name in backend_names() for s in backend_settings(name))


def table_names() -> list[str]:
    """The core tables the declarations name, in order (`rooms.locations` is one)."""
    return list(dict.fromkeys(s.table for s in CORE))


def table_settings(table: str) -> dict[str, Setting]:
    """The declarations of one table (core or a backend's options), by key."""
    found = {s.key: s for s in CORE if s.table == table}
    if not found and table in backend_names():
        found = {s.key: s for s in backend_settings(table) if s.table == table}
    return found


def voice_settings(backend: str | None = None) -> dict[str, Setting]:
    """The keys of a cast entry: common ones and those of `backend` (every backend's when None)."""
    names = backend_names() if backend is None else [backend]
    found = {s.key: s for s in CORE if s.table == VOICE_TABLE}
    for name in names:
        found.update({s.key: s for s in backend_settings(name) if s.table == VOICE_TABLE})
    return found


def defaults(table: str) -> dict[str, object]:
    return {key: s.default for key, s in table_settings(table).items() if s.kind != "driver"}


def check_table(table: str, values: dict, error: type[SettingError] = SettingError) -> dict:
    """Every value of `values` checked against the declarations of `table`: the conformed values, or
    `error` at the first unknown key or bad value. The typed settings values call this when built."""
    declared = table_settings(table)
    clean = {}
    for key, value in values.items():
        setting = declared.get(key) or declared.get("*")
        if setting is None or setting.kind == "driver":
            raise error(f"unknown setting '{key}' in [{table}]{suggest(key, declared)}", key)
        clean[key] = check(setting, value, error=error)
    return clean


def suggest(word: str, known) -> str:
    """"; did you mean 'x'?" for a near miss, else the known keys."""
    names = [k for k in known if k != "*"]
    close = difflib.get_close_matches(str(word), names, n=1)
    return f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(sorted(names))}"
