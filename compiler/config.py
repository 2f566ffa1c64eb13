"""Project settings: `dramac.toml` at the project root, overlaid by a script's front matter.

    [build]    backend = "embedded", format = "wav,flac", jobs = 2   (defaults for `dramac build`)
    [render]   cluster = "auto"   (render on a Ray cluster: docs/cluster.md)
    [cast.NAME] voice = "palette-name", pitch = 180, tempo = 1.1 …; [cast.NAME.<backend>] for one backend;
                gender = "female" | "male" | "neutral" guides automatic casting (docs/lock.md)
    [narrator] enabled = true, voice = "…"
    [lexicon]  Nguyen = "Win"
    [stitch]   same_speaker_gap = 0.25, …   (compiler.stitch.StitchSettings fields)
    [master]   target_lufs = -16, true_peak_db = -1
    [rooms]    default = "medium" …; [rooms.locations] CATHEDRAL = "large"   (compiler/rooms.py)
    [stage]    channels = "stereo", sample_rate = 0, spread = 0.35   (compiler.stage.StageSettings)
    [dia2]     repo = "nari-labs/Dia2-2B", cfg_scale = 2.0, seed = 0 …   (options of one backend)

Every key is declared once in compiler/settings_schema.py (type, range, default, who may set it;
docs/settings.md lists them). Front matter may set only what a declaration allows a script; settings
that touch the building machine come from dramac.toml or the command line. Errors point at the key
in the file that holds the value (`dramac.toml:3:1: error: …`, or the script for a value from its
front matter): positions come from parsers that report them (compiler/key_positions.py).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from compiler import settings_schema as schema
from compiler.diagnostics import CompileError, Diagnostic, Span, error
from compiler.key_positions import Positions, front_matter_positions, nearest, toml_error_at, toml_positions
from compiler.project import Project
from compiler.settings_schema import Setting, SettingError, Who
from compiler.source import read_regular_file

# dramac.toml holds settings and cast tables: a few KiB. Anything near this is not a settings file.
MAX_SETTINGS_BYTES = 1024 * 1024

CORE_TABLES = ("project", "build", "render", "cast", "narrator", "lexicon", "stitch", "master", "rooms", "stage")
__all__ = ["Settings", "Who", "known_tables", "load_settings", "usable_cores"]


def known_tables() -> list[str]:
    """The tables of dramac.toml: the core ones and one per backend (its options)."""
    return [*CORE_TABLES, *schema.backend_names()]


@dataclass
class _Origin:
    path: str
    text: str
    positions: Positions = field(default_factory=dict)  # key path → where it is written
    values: Positions = field(default_factory=dict)  # key path → where its value is written


@dataclass
class Settings:
    path: str | None = None  # the dramac.toml read, if any
    text: str = ""  # its text
    build: dict = field(default_factory=dict)
    render: dict = field(default_factory=dict)
    cast: dict[str, dict] = field(default_factory=dict)
    narrator: dict = field(default_factory=dict)
    lexicon: dict[str, str] = field(default_factory=dict)
    stitch: dict = field(default_factory=dict)
    master: dict = field(default_factory=dict)
    rooms: dict = field(default_factory=dict)  # [rooms.locations] is its "locations" entry, a dict
    stage: dict = field(default_factory=dict)
    backends: dict[str, dict] = field(default_factory=dict)  # [dia2] → {"cfg_scale": 6.0, …}
    # Where each value came from, so a diagnostic points into the right file.
    origins: list[_Origin] = field(default_factory=list)

    def span_at(self, *path: str) -> Span:
        """Where the key `path` (e.g. "cast", "MOM", "pitch") is written: in the last file that set
        it, as in the merge (front matter after dramac.toml); else its nearest enclosing key."""
        for origin in reversed(self.origins):
            if path in origin.positions:
                return origin.positions[path]
        for origin in reversed(self.origins):
            found = nearest(origin.positions, path)
            if found is not None:
                return found
        return self._nowhere()

    def span_of_key(self, key: str, inner: str | None = None, part: str = "key") -> Span:
        """Where a key named `key` is written, in whichever table (a cast entry's name, `narrator`):
        the last file that set it wins, as in the merge; within a file, the first place. With
        `inner`, where that key is written inside it (`[cast.ANNA] voice`, or in a backend's
        `[cast.ANNA.embedded]`), else `key` itself. With part="value", where the inner key's value
        is written (an unknown name is refused there), else the key."""
        inside = [lambda p: key in p[:-1] and p[-1] == inner] if inner else []
        searches = ([(wanted, "values") for wanted in inside] if part == "value" else []) + \
            [(wanted, "positions") for wanted in inside + [lambda p: p[-1] == key]]
        for wanted, kind in searches:
            for origin in reversed(self.origins):
                spans = [span for path, span in getattr(origin, kind).items() if wanted(path)]
                if spans:
                    return min(spans, key=lambda s: (s.line, s.col))
        return self._nowhere()

    def _nowhere(self) -> Span:
        last = self.origins[-1].path if self.origins else (self.path or "dramac.toml")
        return Span.point(last, 1, 1)


def load_settings(project: Project, front_matter: dict | None = None, script_path: str | None = None,
                  script_text: str = "") -> Settings:
    """dramac.toml overlaid by a script's front matter, every value checked against its declaration
    (compiler/settings_schema.py); all the errors of both files are raised together, each at its key."""
    settings = Settings()
    problems: list[Diagnostic] = []
    cfg = project.config_path
    if cfg.is_file():
        settings.path = _display(cfg)
        try:
            settings.text = read_regular_file(cfg, MAX_SETTINGS_BYTES, "settings file").decode("utf-8")
            data = tomllib.loads(settings.text)
        except CompileError as exc:  # the diagnostic names the path as found; show it as displayed
            raise CompileError(error(exc.diagnostics[0].message, Span.point(settings.path, 1, 1))) from None
        except UnicodeDecodeError:
            raise CompileError(error("settings file is not valid UTF-8", Span.point(settings.path, 1, 1))) from None
        except tomllib.TOMLDecodeError as exc:
            raise CompileError(_toml_error(settings.path, settings.text, exc)) from None
        values: Positions = {}
        origin = _Origin(settings.path, settings.text, toml_positions(settings.text, settings.path, values=values),
                         values)
        settings.origins.append(origin)
        checker = _Checker(origin, {Who.DRIVER})
        for name in data:
            if name not in known_tables():
                checker.fail(f"unknown table [{name}] in settings{schema.suggest(name, known_tables())}", (name,))
        _merge(settings, checker.tables({k: v for k, v in data.items() if k in known_tables()}))
        problems += checker.problems
    if front_matter:
        tables = {k: v for k, v in front_matter.items() if k in known_tables()}
        if tables:
            path = script_path or "<script>"
            values = {}
            origin = _Origin(path, script_text,
                             front_matter_positions(script_text, path, values=values) if script_text else {}, values)
            settings.origins.append(origin)
            checker = _Checker(origin, {Who.DRIVER, Who.MACHINE})
            _merge(settings, checker.tables(tables))
            problems += checker.problems
    if problems:
        raise CompileError(problems)
    return settings


class _Checker:
    """Checks one file's tables against the declarations; each problem is a diagnostic at its key."""

    def __init__(self, origin: _Origin, refused: set[Who]):
        self.origin = origin
        self.refused = refused
        self.problems: list[Diagnostic] = []

    def fail(self, message: str, path: tuple[str, ...]) -> None:
        span = nearest(self.origin.positions, path) or Span.point(self.origin.path, 1, 1)
        self.problems.append(error(message, span))

    def tables(self, data: dict) -> dict:
        clean = {}
        for table, entries in data.items():
            if table == "cast":
                clean[table] = self.cast(entries)
            elif not isinstance(entries, dict):
                what = "backend options" if table in schema.backend_names() else "settings"
                self.fail(f"'{table}' must be a table of {what}, not {entries!r}", (table,))
            elif table == "narrator":
                clean[table] = self.voice(entries, (table,), schema.table_settings(table))
            else:
                clean[table] = self.table(table, entries)
        return clean

    def table(self, table: str, entries: dict) -> dict:
        declared = schema.table_settings(table)
        clean = {}
        for key, value in entries.items():
            key = str(key)
            setting = declared.get(key) or declared.get("*")
            if setting is None and isinstance(value, dict) and schema.table_settings(f"{table}.{key}"):
                clean[key] = self.sub_table(table, key, value)  # [rooms.locations]
            elif setting is None:
                what = (f"[{table}] unknown option '{key}' for the {table} backend" if table in schema.backend_names()
                        else f"unknown setting '{key}' in [{table}]")
                inner = [t.split(".", 1)[1] for t in schema.table_names() if t.startswith(table + ".")]  # [rooms.locations]
                self.fail(what + schema.suggest(key, [*declared, *inner]), (table, key))
            elif self.allowed(setting, table, key):
                clean[key] = self.value(setting, value, (table, key), f"[{table}] {key}")
        return clean

    def sub_table(self, table: str, key: str, entries: dict) -> dict:
        """A table inside a core table (`[rooms.locations]`): its keys are checked against the
        declarations of "table.key", and reported at their own path."""
        declared = schema.table_settings(f"{table}.{key}")
        clean = {}
        for word, value in entries.items():
            word = str(word)
            setting = declared.get(word) or declared.get("*")
            if isinstance(value, dict) or setting is None:
                self.fail(f"[{table}.{key}] {word} must be {setting.expected() if setting else 'a value'}, not a table",
                          (table, key, word))
            elif self.allowed(setting, f"{table}.{key}", word):
                clean[word] = self.value(setting, value, (table, key, word), f"[{table}.{key}] {word}")
        return clean

    def cast(self, cast) -> dict:
        if not isinstance(cast, dict):
            self.fail(f"'cast' must be a table of characters, not {cast!r}", ("cast",))
            return {}
        clean = {}
        for name, entry in cast.items():
            name = str(name)
            if isinstance(entry, str):  # `MOM = "warm-female"` is shorthand for voice =
                entry = {"voice": entry}
            if entry is None:  # a bare name in a front-matter list: cast automatically
                entry = {}
            if not isinstance(entry, dict):
                self.fail(f"cast entry '{name}' must be a table or a voice name, not {entry!r}", ("cast", name))
                continue
            clean[name] = self.voice(entry, ("cast", name))
        return clean

    def voice(self, entry: dict, path: tuple[str, ...], extra: dict[str, Setting] | None = None) -> dict:
        """A cast entry (or [narrator]): voice settings of any backend, and `<backend>` sub-tables
        holding that backend's."""
        where = ".".join(path)
        known = {**schema.voice_settings(), **(extra or {})}
        clean = {}
        for key, value in entry.items():
            key = str(key)
            if isinstance(value, dict) and key in schema.backend_names():
                sub = {}
                for sub_key, sub_value in value.items():
                    sub_key = str(sub_key)
                    setting = schema.voice_settings(key).get(sub_key)
                    if setting is None:
                        self.fail(f"[{where}.{key}] unknown voice setting '{sub_key}' for the {key} backend"
                                  + schema.suggest(sub_key, schema.voice_settings(key)), path + (key, sub_key))
                    else:
                        sub[sub_key] = self.value(setting, sub_value, path + (key, sub_key), f"[{where}.{key}] {sub_key}")
                clean[key] = sub
            elif key in known:
                if self.allowed(known[key], path[0], key):
                    clean[key] = self.value(known[key], value, path + (key,), f"[{where}] {key}")
            else:
                self.fail(f"[{where}] unknown voice setting '{key}'" + schema.suggest(key, {**known, **dict.fromkeys(schema.backend_names())}),
                          path + (key,))
        return clean

    def allowed(self, setting: Setting, table: str, key: str) -> bool:
        if setting.who in self.refused or setting.kind == "driver":
            self.fail(_refusal(table, key, setting), (table, key))
            return False
        return True

    def value(self, setting: Setting, value, path: tuple[str, ...], label: str):
        try:
            return schema.check(setting, value, label)
        except SettingError as exc:
            self.fail(str(exc), path)
            return value


def _refusal(table: str, key: str, setting: Setting) -> str:
    if setting.who is Who.DRIVER:
        return (f"[{table}] {key} is not a setting: dramac uses the project's own root and its .dramac-cache "
                "folder (choose the clip cache with --cache-dir)")
    where = f"dramac.toml ([{table}] {key} = …)" + (f" or the command line ({setting.flag})" if setting.flag else "")
    return (f"[{table}] {key} cannot be set in a script: it decides what runs on the machine that builds it; "
            f"set it in {where}")


def usable_cores() -> int:
    """The cores this process may run on (a container or taskset may allow fewer than the machine has)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _merge(settings: Settings, data: dict) -> None:
    """Checked tables into `settings`: a later file's keys replace an earlier one's."""
    for table in ("build", "render", "narrator", "lexicon", "stitch", "master", "rooms", "stage"):
        if isinstance(data.get(table), dict):
            getattr(settings, table).update({k: v for k, v in data[table].items() if not isinstance(v, dict)})
    for key, words in (data.get("rooms") or {}).items():  # a later file's words join the earlier's
        if isinstance(words, dict):
            settings.rooms.setdefault(key, {}).update(words)
    for table in schema.backend_names():
        if isinstance(data.get(table), dict):
            settings.backends.setdefault(table, {}).update(data[table])
    for name, entry in (data.get("cast") or {}).items():
        settings.cast.setdefault(name, {}).update(entry)


def _toml_error(path: str, text: str, exc: tomllib.TOMLDecodeError):
    at, message = toml_error_at(path, text, exc)
    return error(f"invalid settings file: {message}", at)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
