"""The project a script belongs to: its root, its settings file, and path resolution inside it.

The project root is the nearest directory at or above the script that holds `dramac.toml`; a script
with none above it is a project of its own directory. Paths named in scripts and cast files (sound
effects, music, voice references) are relative to that root and must stay inside it: `..` or an
absolute path or a symlink that leads outside is an error, so a script can never read arbitrary
files from the machine that builds it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CONFIG_NAME = "dramac.toml"
CACHE_DIR_NAME = ".dramac-cache"  # clip cache and calibrated voices, beside dramac.toml


@dataclass(frozen=True)
class Project:
    root: Path  # absolute, resolved

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def cache_dir(self) -> Path:
        return self.root / CACHE_DIR_NAME


def find_project(script_path: str | Path) -> Project:
    try:
        start = Path(script_path).resolve().parent
    except (OSError, RuntimeError):  # a symlink loop: reading the script reports it as a diagnostic
        start = Path(os.path.abspath(script_path)).parent
    for d in (start, *start.parents):
        if (d / CONFIG_NAME).is_file():
            return Project(d)
    return Project(start)


class PathEscapes(ValueError):
    pass


def resolve_inside(project: Project, relative: str) -> Path:
    """Resolve a path written in a script against the project root, refusing escapes.

    Raises PathEscapes with a message fit for a diagnostic. Existence is not checked here.
    """
    if not relative.strip():
        raise PathEscapes("empty path")
    if "\x00" in relative:
        raise PathEscapes("path contains a NUL character")
    p = Path(relative)
    if p.is_absolute() or relative.startswith("~"):
        raise PathEscapes(f"path '{relative}' is absolute; write it relative to the project root {project.root}")
    candidate = Path(os.path.normpath(project.root / p))
    try:
        # resolve() follows symlinks, so a link pointing outside the project is caught too.
        resolved = candidate.resolve()
        root = project.root.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
        raise PathEscapes(f"cannot follow path '{relative}': {_reason(exc)}") from None
    if resolved != root and root not in resolved.parents:
        raise PathEscapes(f"path '{relative}' leads outside the project root {root}")
    _check_usable(resolved, relative)
    return resolved


def _check_usable(resolved: Path, relative: str) -> None:
    """Refuse a path the file system cannot even look up (a name over NAME_MAX, a loop of links), so
    callers may test is_file()/is_dir() on it without an OSError; a missing file is left to them."""
    try:
        os.stat(resolved)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise PathEscapes(f"cannot use path '{relative}': {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return "a symbolic link loops back on itself" if isinstance(exc, RuntimeError) else str(exc)
