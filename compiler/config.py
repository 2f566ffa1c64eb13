"""Project settings: `dramac.toml` at the project root, overlaid by a script's front matter.

    [build]    backend = "embedded", format = "wav,flac", jobs = 2   (defaults for `dramac build`)
    [render]   cluster = "auto"   (render on a Ray cluster: docs/cluster.md)
    [cast.NAME] voice = "palette-name", pitch = 180, tempo = 1.1 …; [cast.NAME.<backend>] for one backend;
                gender = "female" | "male" | "neutral" guides automatic casting (docs/lock.md)
    [narrator] enabled = true, voice = "…"
    [lexicon]  Nguyen = "Win"
    [stitch]   same_speaker_gap = 0.25, …   (compiler.stitch.StitchSettings fields)
    [master]   target_lufs = -16, true_peak_db = -1
    [dia2]     repo = "nari-labs/Dia2-2B", cfg_scale = 2.0, seed = 0 …   (options of one backend)

Front matter may set only what `SETTINGS` below allows a script; settings that touch the building
machine come from dramac.toml or the command line. Errors point into the file that holds the value: `dramac.toml:3:1: error: …`, or the script for a
value that came from its front matter.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from compiler.diagnostics import CompileError, Span, error
from compiler.project import Project
from compiler.source import read_regular_file

# dramac.toml holds settings and cast tables: a few KiB. Anything near this is not a settings file.
MAX_SETTINGS_BYTES = 1024 * 1024

BACKEND_TABLES = {"embedded", "dia2"}  # options passed to that backend's constructor
KNOWN_TABLES = {"project", "build", "render", "cast", "narrator", "lexicon", "stitch", "master"} | BACKEND_TABLES
BUILD_KEYS = {"backend": str, "format": str, "jobs": int}
RENDER_KEYS = {"cluster": str}


class Who(Enum):
    """Who may write a setting."""

    SCRIPT = "script"  # a script's front matter, dramac.toml or the command line: it shapes the play
    MACHINE = "machine"  # dramac.toml or the command line only: it decides what runs on the building machine
    DRIVER = "driver"  # nobody: dramac sets it from the project (its root, its cache folder)


@dataclass(frozen=True)
class Rule:
    who: Who
    flag: str = ""  # the command-line option that sets it too


# Which settings a script may set: the one place that says so. A script is text from anyone (a
# downloaded play, a pull request); the machine that builds it belongs to someone else, so a script
# may not choose the code that runs (backend, model repository, compilation), the hardware and its
# load (device, precision, workers) or the folders written and read. "*" covers a table's other keys;
# tests check that every backend option is declared here.
SETTINGS: dict[tuple[str, str], Rule] = {
    ("project", "*"): Rule(Who.MACHINE),
    ("build", "format"): Rule(Who.SCRIPT, "--format"),
    ("build", "backend"): Rule(Who.MACHINE, "--backend"),
    ("build", "jobs"): Rule(Who.MACHINE, "--jobs"),
    ("render", "cluster"): Rule(Who.MACHINE, "--cluster"),
    ("cast", "*"): Rule(Who.SCRIPT),  # every key of [cast.NAME]: voice, pitch, tempo, formant, gender, reference…
    ("narrator", "*"): Rule(Who.SCRIPT, "--narrator"),
    ("lexicon", "*"): Rule(Who.SCRIPT),
    ("stitch", "*"): Rule(Who.SCRIPT),
    ("master", "*"): Rule(Who.SCRIPT),
    ("embedded", "threads"): Rule(Who.MACHINE),
    ("embedded", "workspace"): Rule(Who.DRIVER),
    **{("dia2", key): Rule(Who.SCRIPT) for key in ("cfg_scale", "temp_text", "topk_text", "temp_audio", "topk_audio",
                                                   "cfg_filter_k", "initial_padding", "seed")},
    **{("dia2", key): Rule(Who.MACHINE) for key in ("repo", "device", "dtype", "use_cuda_graph", "use_torch_compile")},
    # The project's own root and cache folder are passed by the driver; earlier versions took them as options.
    **{(table, key): Rule(Who.DRIVER) for table in BACKEND_TABLES for key in ("workspace", "project_root", "cache_dir")},
}


def rule_for(table: str, key: str) -> Rule | None:
    """Who may set `[table] key`; None for a key nobody declared (the stage that reads it rejects it)."""
    return SETTINGS.get((table, key)) or SETTINGS.get((table, "*"))


@dataclass
class _Origin:
    path: str
    text: str


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
    backends: dict[str, dict] = field(default_factory=dict)  # [dia2] → {"cfg_scale": 6.0, …}
    # Where each value came from, so a diagnostic points into the right file.
    origins: list[_Origin] = field(default_factory=list)

    def span_of_key(self, key: str) -> Span:
        """Best-effort position of a key (tomllib and YAML give no positions): the last file that
        set it wins, as in the merge; the front matter is searched before dramac.toml."""
        pattern = re.compile(
            r"^[ \t]*(\[[^\]]*\b" + re.escape(key) + r"\b[^\]]*\]|[\"']?" + re.escape(key) + r"[\"']?\s*[=:])", re.M)
        for origin in reversed(self.origins):
            m = pattern.search(origin.text)
            if m:
                at = m.start(1)  # the key itself, after any indentation
                line = origin.text.count("\n", 0, at) + 1
                col = at - (origin.text.rfind("\n", 0, at) + 1) + 1
                return Span(origin.path, line, col, line, col + len(m.group(1)))
        last = self.origins[-1].path if self.origins else (self.path or "dramac.toml")
        return Span.point(last, 1, 1)


def load_settings(project: Project, front_matter: dict | None = None, script_path: str | None = None,
                  script_text: str = "") -> Settings:
    settings = Settings()
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
            raise CompileError(_toml_error(settings.path, exc)) from None
        settings.origins.append(_Origin(settings.path, settings.text))
        for name in sorted(set(data) - KNOWN_TABLES):
            raise CompileError(
                error(f"unknown table [{name}] in settings", settings.span_of_key(name), f"known tables: {', '.join(sorted(KNOWN_TABLES))}")
            )
        _refuse(data, {Who.DRIVER}, lambda key, table: settings.span_of_key(key))
        _merge(settings, data)
    if front_matter:
        tables = {k: v for k, v in front_matter.items() if k in KNOWN_TABLES}
        if script_path:
            origin = _Origin(script_path, script_text)
            _refuse(tables, {Who.DRIVER, Who.MACHINE}, lambda key, table: _front_matter_span(origin, table, key))
            settings.origins.append(origin)
        _merge(settings, tables)
    _check(settings)
    return settings


def _refuse(tables: dict, refused: set[Who], span_of) -> None:
    """One diagnostic at each key of `tables` whose rule is in `refused`, raised together."""
    found = []
    for table, entries in tables.items():
        if not isinstance(entries, dict):
            continue  # _merge reports a table that is not a table
        for key in entries:
            rule = rule_for(table, str(key))
            if rule is not None and rule.who in refused:
                found.append(error(_refusal(table, str(key), rule), span_of(str(key), table)))
    if found:
        raise CompileError(found)


def _refusal(table: str, key: str, rule: Rule) -> str:
    if rule.who is Who.DRIVER:
        return (f"[{table}] {key} is not a setting: dramac uses the project's own root and its .dramac-cache "
                "folder (choose the clip cache with --cache-dir)")
    where = f"dramac.toml ([{table}] {key} = …)" + (f" or the command line ({rule.flag})" if rule.flag else "")
    return (f"[{table}] {key} cannot be set in a script: it decides what runs on the machine that builds it; "
            f"set it in {where}")


def _front_matter_span(origin: _Origin, table: str, key: str) -> Span:
    """Where `key` of `table` is written in a script's front matter (YAML or TOML, block or inline):
    the first `key:` or `key =` after the table's name, inside the header only."""
    text = origin.text
    end = _front_matter_end(text)
    table_at = re.compile(r"(?m)^[ \t]*(?:\[[ \t]*)?[\"']?" + re.escape(table) + r"\b").search(text, 0, end)
    start = table_at.start() if table_at else 0
    key_at = re.compile(r"(?<![\w.-])[\"']?" + re.escape(key) + r"[\"']?[ \t]*[:=]").search(text, start, end)
    at = key_at.start() if key_at else start
    width = len(key) if key_at else 1
    line = text.count("\n", 0, at) + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    return Span(origin.path, line, col, line, col + width)


def _front_matter_end(text: str) -> int:
    """Offset of the line that closes the front matter (`---` or `+++`), or the text's end."""
    delimiter = text[:3]
    m = re.compile(r"(?m)^" + re.escape(delimiter) + r"[ \t]*$").search(text, 4)
    return m.start() if m else len(text)


def usable_cores() -> int:
    """The cores this process may run on (a container or taskset may allow fewer than the machine has)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _merge(settings: Settings, data: dict) -> None:
    for table in ("build", "render", "narrator", "lexicon", "stitch", "master"):
        if table not in data:
            continue
        value = data[table]
        if not isinstance(value, dict):
            raise CompileError(error(f"'{table}' must be a table of settings, not {value!r}", settings.span_of_key(table)))
        getattr(settings, table).update(value)
    for table in BACKEND_TABLES & set(data):
        if not isinstance(data[table], dict):
            raise CompileError(error(f"'{table}' must be a table of backend options", settings.span_of_key(table)))
        settings.backends.setdefault(table, {}).update(data[table])
    if "cast" not in data:
        return
    cast = data["cast"]
    if not isinstance(cast, dict):
        raise CompileError(error(f"'cast' must be a table of characters, not {cast!r}", settings.span_of_key("cast")))
    for name, entry in cast.items():
        if isinstance(entry, str):  # `MOM = "warm-female"` is shorthand for voice =
            entry = {"voice": entry}
        if entry is None:  # a bare name in a front-matter list: cast automatically
            entry = {}
        if not isinstance(entry, dict):
            raise CompileError(error(f"cast entry '{name}' must be a table or a voice name, not {entry!r}", settings.span_of_key(str(name))))
        settings.cast.setdefault(str(name), {}).update(entry)


def _check(settings: Settings) -> None:
    """Types the later stages rely on; the stitch and master tables are checked by build.py against
    their dataclasses, the cast tables by the backend."""
    for key, value in settings.build.items():
        kind = BUILD_KEYS.get(key)
        if kind is None:
            raise CompileError(error(f"unknown setting '{key}' in [build]", settings.span_of_key(key), f"known: {', '.join(BUILD_KEYS)}"))
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
            raise CompileError(error(f"[build] {key} must be {'a whole number >= 0' if kind is int else 'a string'}, not {value!r}",
                                     settings.span_of_key(key)))
    for key, value in settings.render.items():
        if key not in RENDER_KEYS:
            raise CompileError(error(f"unknown setting '{key}' in [render]", settings.span_of_key(key), f"known: {', '.join(RENDER_KEYS)}"))
        if not isinstance(value, str) or not value.strip():
            raise CompileError(error(f"[render] {key} must be a Ray address (\"auto\", \"local\" or host:port), not {value!r}",
                                     settings.span_of_key(key)))
    enabled = settings.narrator.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise CompileError(error(f"[narrator] enabled must be true or false, not {enabled!r}", settings.span_of_key("enabled")))
    for word, said in settings.lexicon.items():
        if not isinstance(said, str) or not said.strip():
            raise CompileError(error(f"[lexicon] {word} must be the words to say, as a string, not {said!r}", settings.span_of_key(word)))


def _toml_error(path: str, exc: tomllib.TOMLDecodeError):
    m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
    message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)) or "invalid TOML"
    return error(f"invalid settings file: {message}", Span(path, line, col, line, col + 1))


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
