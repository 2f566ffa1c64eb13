"""Choosing a voice in the studio writes `[cast.NAME.<backend>] voice = "…"` into dramac.toml.

The file is edited with tomlkit, which keeps its comments, order and layout: only the one value
changes (or the table holding it is added). The voice goes into the backend's own sub-table, which
overlays the plain `[cast.NAME]` keys for that backend only, because palette names belong to one
backend (an embedded voice name means nothing to Dia2). The character's other keys (pitch, tempo, a
`gender`) are left as the writer set them. The write is atomic.
"""

from __future__ import annotations

import os
from pathlib import Path

from compiler.atomic import write_atomically
from compiler.config import MAX_SETTINGS_BYTES
from compiler.source import read_regular_file


class CastFileError(ValueError):
    """dramac.toml cannot take the voice (not TOML, or `cast` is not a table); the message says why."""


def set_voice(config_path: Path, character: str, backend: str, voice: str) -> str:
    """Write the voice; returns the file's new text."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    text = ""
    if os.path.lexists(config_path):
        try:
            text = read_regular_file(config_path, MAX_SETTINGS_BYTES, "settings file").decode("utf-8")
        except UnicodeDecodeError:
            raise CastFileError(f"{config_path} is not UTF-8") from None
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise CastFileError(f"{config_path} is not valid TOML ({exc}); fix it, then choose again") from None
    if "cast" not in doc:
        if text and not text.endswith("\n"):
            doc.add(tomlkit.nl())
        doc.add("cast", tomlkit.table(is_super_table=True))
    cast = doc["cast"]
    if not isinstance(cast, dict):
        raise CastFileError("[cast] in dramac.toml is not a table")
    # The character's table as the writer spelled the name, whatever its case.
    name = next((key for key in cast if str(key).upper() == character.upper()), character)
    if name not in cast:
        cast.add(name, tomlkit.table(is_super_table=True))
    entry = cast[name]
    if not isinstance(entry, dict):  # `ROSA = "low-female"`: a bare voice name for every backend
        raise CastFileError(f"cast.{name} in dramac.toml is not a table; make it [cast.{name}] to choose per backend")
    if backend in entry and isinstance(entry[backend], dict):
        entry[backend]["voice"] = voice  # the one value changes; the table keeps its place and comments
    else:
        table = tomlkit.table()
        table.add("voice", voice)
        table.add(tomlkit.nl())  # a blank line before whatever table follows, as a person writes it
        entry.add(backend, table)
    new_text = tomlkit.dumps(doc)
    write_atomically(Path(config_path), new_text.encode("utf-8"))
    return new_text
