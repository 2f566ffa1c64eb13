"""The documents derived from the settings declarations (compiler/settings_schema.py):
docs/settings.md for people and docs/dramac.schema.json (JSON Schema) for editors and CI checks.

    python -m compiler.settings_doc --write   # rewrite both (docs/ of this checkout, or a folder given)
    python -m compiler.settings_doc --check   # exit 1 when either differs from the declarations
    dramac settings [--markdown | --json-schema]   # print them
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from compiler.settings_schema import CORE, VOICE_TABLE, Setting, Who, all_settings, backend_names, backend_settings, table_names, voice_settings

def table_title(s: Setting) -> str:
    if s.table == VOICE_TABLE:
        return f"[cast.NAME.{s.backend}]" if s.backend else "[cast.NAME]"
    return f"[{s.table}]"


def default_text(s: Setting) -> str:
    if s.default is None:
        return "—"
    if isinstance(s.default, bool):
        return "true" if s.default else "false"
    if isinstance(s.default, str):
        return f'"{s.default}"'
    if isinstance(s.default, tuple):
        return "[" + ", ".join(f"{v:g}" for v in s.default) + "]"
    return f"{s.default:g}" if isinstance(s.default, float) else str(s.default)


_WHO_TEXT = {Who.SCRIPT: "script, dramac.toml", Who.MACHINE: "dramac.toml only", Who.DRIVER: "nobody (set by dramac)"}


def markdown() -> str:
    """docs/settings.md."""
    out = [
        "# Settings",
        "",
        "<!-- Generated from compiler/settings_schema.py by `python -m compiler.settings_doc --write`;",
        "     tests/test_settings_schema.py fails when this file and the declarations differ. -->",
        "",
        "Settings live in `dramac.toml` at the project root; a script's front matter (YAML `---` or TOML `+++`,",
        "in Markdown scripts) may set those marked *script*, with the same tables and keys. Settings that",
        "decide what runs on the building machine (backend, model, device, workers) come only from",
        "`dramac.toml` or the command line. Every error points at the key that holds the bad value",
        "(`dramac.toml:3:1: error: …`), except a name the backend does not know (`voice = \"no-such-voice\"`),",
        "which points at the name itself and lists the palette's voices in alphabetical order;",
        "`docs/dramac.schema.json` describes the file for editors.",
        "",
        "Voice settings (`[cast.NAME]`) apply to every backend; in a sub-table `[cast.NAME.<backend>]` they",
        "apply to that backend only. `[narrator]` takes the same voice settings as a cast entry, besides",
        "`enabled`. `dramac settings` prints this list.",
        "",
    ]
    groups: dict[str, list[Setting]] = {}
    for s in all_settings():
        if s.kind != "driver":
            groups.setdefault(table_title(s), []).append(s)
    for title, rows in groups.items():
        out += [f"## {title}", "", "| key | type | default | allowed | who may set it | meaning |",
                "|---|---|---|---|---|---|"]
        for s in rows:
            who = _WHO_TEXT[s.who] + (f", `{s.flag}`" if s.flag else "")
            key = "*word*" if s.key == "*" else f"`{s.key}`"
            out.append(f"| {key} | {s.kind} | {default_text(s)} | {s.expected()} | {who} | {s.help} |")
        out.append("")
    driver = sorted({s.key for s in all_settings() if s.kind == "driver"})
    out += [f"Not settings anywhere: {', '.join(f'`{k}`' for k in driver)} in a backend table (dramac passes the "
            "project's root and cache folder itself; `--cache-dir` chooses the cache).", ""]
    return "\n".join(out)


def _value_schema(s: Setting) -> dict:
    schema: dict = {"description": s.help} if s.help else {}
    if s.kind in ("number", "integer"):
        schema["type"] = "number" if s.kind == "number" else "integer"
        if s.low is not None:
            schema["exclusiveMinimum" if s.low_open else "minimum"] = s.low
        if s.high is not None:
            schema["maximum"] = s.high
        if s.or_zero:  # 0, or a value in the range
            bounds = {k: schema.pop(k) for k in ("minimum", "exclusiveMinimum", "maximum") if k in schema}
            schema["anyOf"] = [{"const": 0}, bounds]
    elif s.kind == "boolean":
        schema["type"] = "boolean"
    elif s.kind in ("string", "text"):
        schema["type"] = "string"
        if s.kind == "text":
            schema["pattern"] = r"\S"
    elif s.kind == "choice":  # case-blind, as dramac reads it
        schema.update(type="string", pattern="^(" + "|".join(map(_any_case, s.choices)) + ")$")
    elif s.kind == "formats":
        item = "(" + "|".join(map(_any_case, s.choices)) + ")"
        schema.update(type="string", pattern=rf"^[\s,]*{item}([\s,]*,[\s,]*{item})*[\s,]*$")
    elif s.kind == "pair":
        bound = {"type": "number", "minimum": s.low, "maximum": s.high}
        schema.update(type="array", items=bound, minItems=2, maxItems=2)
    if s.default is not None:
        schema["default"] = list(s.default) if isinstance(s.default, tuple) else s.default
    return schema


def _any_case(word: str) -> str:
    """A case-blind pattern in the regular expressions every JSON Schema validator reads (ECMA 262
    has no inline flags): "wav" → "[wW][aA][vV]"."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


def _object(settings: list[Setting], extra: dict | None = None) -> dict:
    properties = {s.key: _value_schema(s) for s in settings if s.key != "*" and s.kind != "driver"}
    wild = [s for s in settings if s.key == "*"]
    schema: dict = {"type": "object", "properties": properties}
    schema["additionalProperties"] = _value_schema(wild[0]) if wild else False
    if extra:
        schema["properties"].update(extra)
    return schema


def json_schema() -> dict:
    """docs/dramac.schema.json: a JSON Schema (draft 2020-12) of dramac.toml, read as JSON."""
    backends_ = backend_names()
    common = [s for s in CORE if s.table == VOICE_TABLE]
    every_voice = list(voice_settings().values())
    per_backend = {name: _object(common + [s for s in backend_settings(name) if s.table == VOICE_TABLE]) for name in backends_}
    entry = _object(every_voice, per_backend)
    # Every table the declarations name (a dotted one, `rooms.locations`, nests in its parent), so a
    # table declared later is in the schema without being listed here too.
    in_table = lambda name: [s for s in CORE if s.table == name]  # noqa: E731
    names = [t for t in table_names() if "." not in t and t != VOICE_TABLE]
    nested = lambda name: {t.split(".", 1)[1]: _object(in_table(t)) for t in table_names()  # noqa: E731
                           if t.startswith(name + ".")}
    tables = {name: _object(in_table(name), nested(name) or None) for name in names}
    tables["narrator"] = _object(in_table("narrator") + every_voice, per_backend)
    tables["cast"] = {"type": "object", "description": "One entry per character: a table of voice settings, or a voice name.",
                      "additionalProperties": {"anyOf": [{"type": "string"}, entry]}}
    for name in backends_:
        tables[name] = _object([s for s in backend_settings(name) if s.table == name])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://dramac.invalid/dramac.schema.json",
        "title": "dramac.toml",
        "description": "Generated from compiler/settings_schema.py; docs/settings.md explains each key.",
        "type": "object",
        "properties": tables,
        "additionalProperties": False,
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


DOCS = {"settings.md": markdown, "dramac.schema.json": schema_text}


def main(argv: list[str]) -> int:
    """`python -m compiler.settings_doc --write [DOCS_DIR]` writes both documents; `--check` fails
    (exit 1) when they differ from the declarations."""
    from compiler.atomic import write_atomically

    docs = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "docs"
    stale = [name for name, make in DOCS.items()
             if not (docs / name).is_file() or (docs / name).read_text(encoding="utf-8") != make()]
    if argv and argv[0] == "--write":
        for name in stale:
            write_atomically(docs / name, DOCS[name]().encode("utf-8"))
            print(f"wrote {docs / name}")
        return 0
    for name in stale:
        print(f"{docs / name} is out of date: run python -m compiler.settings_doc --write", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
