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


class FolderRefused(ValueError):
    """A cache or output folder a build must not use; the message is fit for a diagnostic at `folder`."""

    def __init__(self, message: str, folder: Path):
        super().__init__(message)
        self.folder = folder


def _within(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or lies under it (both real paths)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def build_folders(project: Project, out_dir: str | Path, cache_dir: str | Path | None) -> Path:
    """The clip cache folder a build of `project` writes to, given its output folder and the
    --cache-dir it was given (None: the project's own `.dramac-cache`).

    Raises FolderRefused where the build would write somewhere it must not: the project's own cache
    folder when it is a symlink or leads outside the project (a cloned project could point it
    anywhere; a folder chosen on the command line is the user's own choice), and any cache folder that
    is the output folder, the project root or a folder above either (its shard folders would be
    scattered among them), or lies inside the output folder (published with the outputs).
    """
    root = os.path.realpath(project.root)
    out = os.path.realpath(out_dir)
    if cache_dir is None:
        cache = project.cache_dir
        if cache.is_symlink():
            raise FolderRefused(f"the cache folder {cache} is a symbolic link (to {os.readlink(cache)}); dramac does not "
                                "write through one it did not create: remove it, or choose a folder with --cache-dir", cache)
        if not _within(os.path.realpath(cache), root):
            raise FolderRefused(f"the cache folder {cache} leads outside the project root {root}", cache)
    else:
        cache = Path(cache_dir)
    real = os.path.realpath(cache)
    if _within(root, real):
        what = "the project root" if real == root else f"a folder above the project root {root}"
        raise FolderRefused(f"the cache folder {cache} is {what}; its shard folders would be scattered there: "
                            "give --cache-dir a folder of its own", cache)
    if _within(out, real):
        what = "the output folder" if real == out else f"a folder above the output folder {out}"
        raise FolderRefused(f"the cache folder {cache} is {what}; its shard folders would be scattered among the "
                            "outputs: give --cache-dir a folder of its own, or -o another folder", cache)
    if cache_dir is not None and _within(real, out) and not _within(root, out):
        raise FolderRefused(f"the cache folder {cache} lies inside the output folder {out} and would be published "
                            "with the outputs: give --cache-dir a folder outside it", cache)
    return cache
