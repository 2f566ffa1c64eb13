"""Project settings: `dramac.toml` at the project root, overlaid by a script's front matter.

    [build]    backend, format, jobs
    [cast.NAME] voice = "palette-name", pitch = 180, tempo = 1.1, formant = 1.05, gender = "female"
    [narrator] enabled = true, voice = "…"
    [lexicon]  Nguyen = "Win"
    [stitch]   same_speaker_gap = 0.25, …   (compiler.stitch.StitchSettings fields)
    [master]   target_lufs = -16, true_peak_db = -1

Errors point into the file that holds them (`dramac.toml:3:1: error: …`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from compiler.diagnostics import CompileError, Span, error
from compiler.project import Project

KNOWN_TABLES = {"project", "build", "cast", "narrator", "lexicon", "stitch", "master"}


@dataclass
class Settings:
    path: str | None = None  # the dramac.toml read, if any (for diagnostics)
    text: str = ""  # its text, to find positions of keys for diagnostics
    build: dict = field(default_factory=dict)
    cast: dict[str, dict] = field(default_factory=dict)
    narrator: dict = field(default_factory=dict)
    lexicon: dict[str, str] = field(default_factory=dict)
    stitch: dict = field(default_factory=dict)
    master: dict = field(default_factory=dict)

    def span_of_key(self, key: str) -> Span:
        """Best-effort position of a key in dramac.toml (tomllib gives no positions)."""
        if self.path and self.text:
            pattern = re.compile(r"^[ \t]*(\[[^\]]*\b" + re.escape(key) + r"\b[^\]]*\]|\"?" + re.escape(key) + r"\"?\s*=)", re.M)
            m = pattern.search(self.text)
            if m:
                line = self.text.count("\n", 0, m.start()) + 1
                col = m.start() - (self.text.rfind("\n", 0, m.start()) + 1) + 1
                return Span(self.path, line, col, line, col + len(m.group(0).strip()))
        return Span.point(self.path or "dramac.toml", 1, 1)


def load_settings(project: Project, front_matter: dict | None = None) -> Settings:
    settings = Settings()
    cfg = project.config_path
    if cfg.is_file():
        settings.path = _display(cfg)
        try:
            settings.text = cfg.read_text(encoding="utf-8")
            data = tomllib.loads(settings.text)
        except UnicodeDecodeError:
            raise CompileError(error("settings file is not valid UTF-8", Span.point(settings.path, 1, 1))) from None
        except tomllib.TOMLDecodeError as exc:
            raise CompileError(_toml_error(settings.path, exc)) from None
        unknown = set(data) - KNOWN_TABLES
        for name in sorted(unknown):
            raise CompileError(
                error(f"unknown table [{name}] in settings", settings.span_of_key(name), f"known tables: {', '.join(sorted(KNOWN_TABLES))}")
            )
        _merge(settings, data)
    if front_matter:
        _merge(settings, {k: v for k, v in front_matter.items() if k in KNOWN_TABLES})
    return settings


def _merge(settings: Settings, data: dict) -> None:
    for table in ("build", "narrator", "lexicon", "stitch", "master"):
        value = data.get(table)
        if isinstance(value, dict):
            getattr(settings, table).update(value)
    cast = data.get("cast")
    if isinstance(cast, dict):
        for name, entry in cast.items():
            if isinstance(entry, str):  # `MOM = "warm-female"` is shorthand for voice =
                entry = {"voice": entry}
            if isinstance(entry, dict):
                settings.cast.setdefault(str(name), {}).update(entry)


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
