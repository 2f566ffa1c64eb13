"""Project settings: `dramac.toml` at the project root, overlaid by a script's front matter.

    [build]    backend = "embedded", format = "wav,flac", jobs = 2   (defaults for `dramac build`)
    [cast.NAME] voice = "palette-name", pitch = 180, tempo = 1.1 …; [cast.NAME.<backend>] for one backend
    [narrator] enabled = true, voice = "…"
    [lexicon]  Nguyen = "Win"
    [stitch]   same_speaker_gap = 0.25, …   (compiler.stitch.StitchSettings fields)
    [master]   target_lufs = -16, true_peak_db = -1
    [dia2]     repo = "nari-labs/Dia2-2B", cfg_scale = 2.0, seed = 0 …   (options of one backend)

Errors point into the file that holds the value: `dramac.toml:3:1: error: …`, or the script for a
value that came from its front matter.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from compiler.diagnostics import CompileError, Span, error
from compiler.project import Project

BACKEND_TABLES = {"embedded", "dia2"}  # options passed to that backend's constructor
KNOWN_TABLES = {"project", "build", "cast", "narrator", "lexicon", "stitch", "master"} | BACKEND_TABLES
BUILD_KEYS = {"backend": str, "format": str, "jobs": int}


@dataclass
class _Origin:
    path: str
    text: str


@dataclass
class Settings:
    path: str | None = None  # the dramac.toml read, if any
    text: str = ""  # its text
    build: dict = field(default_factory=dict)
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
            settings.text = cfg.read_text(encoding="utf-8")
            data = tomllib.loads(settings.text)
        except UnicodeDecodeError:
            raise CompileError(error("settings file is not valid UTF-8", Span.point(settings.path, 1, 1))) from None
        except OSError as exc:
            raise CompileError(error(f"cannot read settings: {exc.strerror or exc}", Span.point(settings.path, 1, 1))) from None
        except tomllib.TOMLDecodeError as exc:
            raise CompileError(_toml_error(settings.path, exc)) from None
        settings.origins.append(_Origin(settings.path, settings.text))
        for name in sorted(set(data) - KNOWN_TABLES):
            raise CompileError(
                error(f"unknown table [{name}] in settings", settings.span_of_key(name), f"known tables: {', '.join(sorted(KNOWN_TABLES))}")
            )
        _merge(settings, data)
    if front_matter:
        if script_path:
            settings.origins.append(_Origin(script_path, script_text))
        _merge(settings, {k: v for k, v in front_matter.items() if k in KNOWN_TABLES})
    _check(settings)
    return settings


def _merge(settings: Settings, data: dict) -> None:
    for table in ("build", "narrator", "lexicon", "stitch", "master"):
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
