"""Where each key of a settings document is written, from parsers that report positions.

tomllib and yaml.safe_load give values without positions. Values still come from them (tomllib is
the reference TOML reader); the positions come from a second parse of the same text: tree-sitter's
TOML grammar for dramac.toml and `+++` front matter, PyYAML's node tree (`compose`, which carries
each node's line and column) for `---` front matter. A key's position is a path of keys:
("cast", "MOM", "pitch") → the Span of `pitch` in `[cast.MOM]`. A table header maps to the whole
`[header]`. Both parsers accept every document its value reader accepted; where one does not (a
TOML feature newer than the grammar), keys just lack positions and a diagnostic falls back to the
nearest enclosing key that has one. Given a `values` dict, a reader also fills it with where each
key's value is written (a diagnostic about the value itself, like an unknown voice name, points there).
"""

from __future__ import annotations

import re
import tomllib

import yaml

from compiler import plain_yaml
from compiler.diagnostics import Span

Positions = dict[tuple[str, ...], Span]


def toml_positions(text: str, path: str, first_line: int = 1, values: Positions | None = None) -> Positions:
    """The key paths of a TOML document; `first_line` is the file line the text starts on; `values`
    (when given) receives the span of each key's value."""
    try:
        import tree_sitter
        import tree_sitter_toml
    except ImportError:  # a broken install: diagnostics point at the file's first line
        return {}
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_toml.language()))
    data = text.encode("utf-8")
    found: Positions = {}
    lines = data.split(b"\n")

    def span(node, end_node=None) -> Span:
        (row, col), (end_row, end_col) = node.start_point, (end_node or node).end_point
        line = first_line + row
        start = len(lines[row][:col].decode("utf-8", "replace")) + 1
        end = len(lines[end_row][:end_col].decode("utf-8", "replace")) + 1 if end_row == row else start + 1
        return Span(path, line, start, line, end)

    def pairs(node, prefix: tuple[str, ...]) -> None:
        for child in node.named_children:
            if child.type != "pair" or not child.named_children:
                continue
            key_node, value = child.named_children[0], child.named_children[-1]
            named = _key_nodes(key_node)
            if named is None:
                continue
            parts = tuple(part for part, _ in named)
            for i, (_, part_node) in enumerate(named, 1):  # `a.b.c = 1` defines a and a.b where it is written
                found.setdefault(prefix + parts[:i], span(part_node))
            if values is not None:
                values.setdefault(prefix + parts, span(value))
            if value.type == "inline_table":
                pairs(value, prefix + parts)

    root = parser.parse(data).root_node
    pairs(root, ())
    for node in root.named_children:
        if node.type not in ("table", "table_array_element"):
            continue
        header = next((c for c in node.named_children if c.type in ("bare_key", "quoted_key", "dotted_key")), None)
        named = _key_nodes(header) if header is not None else None
        if named is None:
            continue
        parts = tuple(part for part, _ in named)
        closing = next((c for c in node.children if c.type in ("]", "]]")), header)
        for i in range(1, len(parts) + 1):
            found.setdefault(parts[:i], span(node, closing))
        pairs(node, parts)
    return found


def _key_nodes(node) -> list[tuple[str, object]] | None:
    """A key's parts with the node of each: `a."b c"` → [("a", node), ("b c", node)]."""
    if node.type == "bare_key":
        return [(node.text.decode("utf-8"), node)]
    if node.type == "quoted_key":
        try:
            return [(tomllib.loads("k = " + node.text.decode("utf-8"))["k"], node)]
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            return None
    if node.type == "dotted_key":
        parts: list[tuple[str, object]] = []
        for child in node.named_children:
            sub = _key_nodes(child)
            if sub is None:
                return None
            parts += sub
        return parts
    return None


def yaml_positions(text: str, path: str, first_line: int = 1, values: Positions | None = None) -> Positions:
    """The key paths of a YAML document (a name listed in a sequence counts as a key); `values` (when
    given) receives the span of each scalar value."""
    loader = plain_yaml._PlainLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError:
        return {}
    finally:
        loader.dispose()
    found: Positions = {}

    def span(node) -> Span:
        start, end = node.start_mark, node.end_mark
        line = first_line + start.line
        width = end.column - start.column if end.line == start.line else 1
        return Span(path, line, start.column + 1, line, start.column + 1 + max(width, 1))

    def walk(node, prefix: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    found.setdefault(prefix + (key.value,), span(key))
                    if values is not None and isinstance(value, yaml.ScalarNode):
                        values.setdefault(prefix + (key.value,), span(value))
                    walk(value, prefix + (key.value,))
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                if isinstance(item, yaml.ScalarNode):
                    found.setdefault(prefix + (item.value,), span(item))

    if root is not None:
        walk(root, ())
    return found


def front_matter_positions(script_text: str, path: str, values: Positions | None = None) -> Positions:
    """The key paths of a Markdown script's front matter: YAML between `---` lines, TOML between `+++`."""
    delimiter = script_text[:3]
    if delimiter not in ("---", "+++"):
        return {}
    body_start = script_text.find("\n") + 1
    if body_start == 0:
        return {}
    end = _closing_line(script_text, delimiter, body_start)
    body = script_text[body_start:end]
    reader = yaml_positions if delimiter == "---" else toml_positions
    return reader(body, path, first_line=2, values=values)


def _closing_line(text: str, delimiter: str, start: int) -> int:
    at = start
    while at < len(text):
        stop = text.find("\n", at)
        line = text[at:] if stop < 0 else text[at:stop]
        if line.rstrip(" \t\r") == delimiter:
            return at
        if stop < 0:
            break
        at = stop + 1
    return len(text)


def nearest(positions: Positions, path: tuple[str, ...]) -> Span | None:
    """The span of `path`, or of its nearest enclosing key that has one."""
    for cut in range(len(path), 0, -1):
        if path[:cut] in positions:
            return positions[path[:cut]]
    return None


def toml_error_at(path: str, text: str, exc: tomllib.TOMLDecodeError) -> tuple[Span, str]:
    """Where tomllib's error is, and its message without the position: "(at line L, column C)", or
    for an error at the end of the document (a file cut short: the likeliest damage to a lock) the
    end of its last line, not the top of the file."""
    said = str(exc)
    found = re.search(r"\(at line (\d+), column (\d+)\)", said)
    if found:
        line, col = int(found.group(1)), int(found.group(2))
    elif "(at end of document)" in said:
        lines = text.removesuffix("\n").split("\n")
        line, col = len(lines), len(lines[-1]) + 1
    else:
        line, col = 1, 1
    message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", said) or "invalid TOML"
    return Span(path, line, col, line, col + 1), message
