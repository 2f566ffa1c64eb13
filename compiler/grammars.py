"""Where the Lark grammars are: `grammars/` beside the package in a checkout (editable install), or
the copy setuptools installs as `compiler/_grammars/` (see pyproject.toml) in a regular install."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
_SEARCH = (_HERE.parent / "grammars", _HERE / "_grammars")


def grammar_path(name: str) -> Path:
    for folder in _SEARCH:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"grammar {name} not found in {', '.join(map(str, _SEARCH))}; reinstall dramac")
