"""Reading directives: `[[pause 1.5s]]`, `[[sfx: path opts]]`, `[[music: ...]]`, `[[take: ...]]` ...

Both front ends hand the text between `[[` and `]]` to `parse_directive`. Which directives exist is
the plugin registry's business (compiler/plugins/: one module per directive, holding its rule,
options and checks); this module is the machinery they share. The Lark grammar (grammars/directive.lark
plus each plugin's rule) fixes the shape; the checks here and in the plugins test the values so a diagnostic can point at
the one option that is wrong. A body that does not start with a directive keyword is a writer's note
and comes back as None with no diagnostic; `is_directive` tells the two cases apart for callers that
must not turn a broken directive into a note. The format is documented in docs/directives.md.

`options` holds only what the writer wrote, checked and converted: durations as float seconds,
levels as float dB, switches as bool. Defaults belong to the mixer (compiler/stitch.py), where a
project's settings can change them.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from compiler import nodes, plugins
from compiler.plugins import OptionSpec
from compiler.grammars import grammar_path
from compiler.diagnostics import Sink, Span
from compiler.source import LineTable
from compiler.project import PathEscapes, Project, resolve_inside

GRAMMAR = grammar_path("directive.lark")  # what every directive shares; each plugin adds its rule

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")

_DURATION_RE = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(ms|s|sec|secs|seconds?|min|m)?", re.IGNORECASE)
_DB_RE = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(db)?", re.IGNORECASE)
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@lru_cache(maxsize=1)
def _keyword_re() -> re.Pattern:
    words = "|".join(map(re.escape, plugins.keywords()))
    return re.compile(rf"\s*({words})(?=[\s:]|$)", re.IGNORECASE)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    text = GRAMMAR.read_text(encoding="utf-8") + "\n" + plugins.grammar_rules()
    return Lark(text, parser="lalr", lexer="contextual", propagate_positions=False)


def is_directive(body: str) -> bool:
    """True when `body` starts with a directive keyword (lowercase), i.e. it is not a plain note."""
    m = _keyword_re().match(body)
    return bool(m) and m.group(1) in plugins.keywords()


def parse_directive(body: str, span: Span, project: Project, sink: Sink) -> nodes.Directive | None:
    """Parse and check one directive. `span` covers the whole `[[...]]` text.

    Returns None for a plain note (no diagnostic) and for a broken directive (errors in `sink`).
    """
    at = _Locator(body, span)
    m = _keyword_re().match(body)
    if not m:
        _warn_near_miss(body, at, sink)
        return None
    if m.group(1) not in plugins.keywords():
        # `[[Pause 2s]]` reads like a directive but keywords are lowercase; say so only if it would be
        # a complete, valid one, so prose such as `[[Music swells]]` stays a quiet note.
        lowered = body[: m.start(1)] + m.group(1).lower() + body[m.end(1):]
        trial = Sink()
        if parse_directive(lowered, span, project, trial) is not None and not trial.has_errors:
            sink.warning(
                f"'{m.group(1)}' is read as a note; directive keywords are lowercase: [[{m.group(1).lower()} ...]]",
                at.span(m.start(1), m.end(1)),
            )
        return None
    try:
        tree = _parser().parse(body)
    except UnexpectedInput as exc:
        _syntax_error(exc, body, m.group(1), at, sink)
        return None
    except LarkError as exc:  # any other grammar failure is still a diagnostic, never a traceback
        sink.error(f"cannot read directive: {exc}", span)
        return None
    rule = tree.children[0]
    return plugins.by_rule(rule.data).build(rule, Checker(at, span, project, sink))


_LABEL_RE = re.compile(r"\s*([A-Za-z][\w-]*)\s*:")


def unclosed_directive(text: str, start: int) -> tuple[str, str] | None:
    """The error and its hint for an unclosed `[[` ending at `start` that opens a directive; None
    when it opens a note.

    `[[pause 1s Really?` (no `]]`) is a directive the writer forgot to close, whose words would be
    read aloud; `[[Check this` is an unclosed note. Near misses count as well: a `word:` whose word
    is a typo of a keyword (`[[ambiance: rain.wav`). Only the whitespace and the one word after
    `start` are read, never as far as a closer, so calling this at every opener stays linear."""
    m = _keyword_re().match(text, start)
    if m and m.group(1) in plugins.keywords():
        word = keyword = m.group(1)
    else:
        m = _LABEL_RE.match(text, start)
        close = difflib.get_close_matches(m.group(1).lower(), plugins.keywords(), n=1, cutoff=0.7) if m else None
        if not close:
            return None
        word, keyword = m.group(1), close[0]
    hint = f"add ']]' where the directive ends, e.g. {_example(keyword)}"
    if word != keyword:
        hint += f" (did you mean '{keyword}'?)"
    return f"directive '[[{word}' is not closed, so its text would be read aloud", hint


_LABELLED_RE = re.compile(r"\s*([A-Za-z][\w-]*)\s*:\s*(\S.*)?$", re.DOTALL)
_SOUND_FILE_RE = re.compile(r"\.(wav|flac|ogg|oga|opus|mp3|m4a|aiff?)\b", re.IGNORECASE)


def _warn_near_miss(body: str, at: _Locator, sink: Sink) -> None:
    """`[[ambiance: rain.wav]]` is a note (notes are not heard), but the writer meant a directive: a
    `word:` note whose word is a typo of a keyword, or that names a sound file, gets a warning.
    Other notes (`[[Check: is this too long?]]`) stay quiet."""
    m = _LABELLED_RE.match(body)
    if not m:
        return
    word = m.group(1)
    close = difflib.get_close_matches(word.lower(), plugins.keywords(), n=1, cutoff=0.7)
    names_a_sound = bool(m.group(2) and _SOUND_FILE_RE.search(m.group(2)))
    if not close and not names_a_sound:
        return
    hint = f"did you mean '{close[0]}'?" if close else f"directives are {', '.join(plugins.keywords())}"
    sink.warning(f"'{word}' is not a directive, so this note is not heard", at.span(m.start(1), m.end(1)), hint)


class _Locator(LineTable):
    """Maps offsets in the body to source spans (the body starts 2 columns after `[[`)."""

    def __init__(self, body: str, span: Span):
        super().__init__(span.file, body, span.line, span.col + 2)

    def token(self, tok: Token) -> Span:
        return self.span(tok.start_pos, tok.end_pos)


class Checker:
    """What a plugin's `build` reports through: the directive's span, its project, and the checks
    every directive shares (options, paths), each diagnostic at the exact token."""

    def __init__(self, at: _Locator, span: Span, project: Project, sink: Sink):
        self.at, self.span, self.project, self.sink = at, span, project, sink

    def token(self, tok: Token) -> Span:
        return self.at.token(tok)

    def error(self, message: str, where: Span) -> None:
        self.sink.error(message, where)

    def options(self, tree: Tree, specs: dict[str, OptionSpec], label: str) -> dict[str, float | bool | str] | None:
        trees = [c for c in tree.children if isinstance(c, Tree) and c.data == "option"]
        return _options(trees, specs, label, self.at, self.sink)

    def path(self, tok: Token, extensions: tuple[str, ...] = AUDIO_EXTENSIONS) -> tuple[str, str | None]:
        return _path(tok, self.at, self.project, self.sink, extensions)


def _example(keyword: str) -> str:
    return " or ".join(p.example for p in plugins.for_keyword(keyword))


def _syntax_error(exc: UnexpectedInput, body: str, keyword: str, at: _Locator, sink: Sink) -> None:
    example = _example(keyword)
    first = plugins.for_keyword(keyword)[0]
    expected = set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        end = len(body.rstrip())
        missing = first.missing_argument(example)
        if missing:
            sink.error(missing, at.span(end, end))
        elif "PATH" in expected:
            sink.error(f"{keyword} needs a file path, e.g. {example}", at.span(end, end))
        elif "EQUAL" in expected:
            start = end - len(body[:end].split()[-1])
            sink.error(f"malformed option '{body[start:end]}'; options are written name=value", at.span(start, end))
        else:
            sink.error(f"{keyword} needs a value after '=', e.g. volume=-6dB", at.span(end, end))
        return
    if isinstance(exc, UnexpectedToken):
        start = exc.token.start_pos
    elif isinstance(exc, UnexpectedCharacters):
        start = exc.pos_in_stream
    else:
        start = 0
    # Report the whole word the problem sits in (`door.wav` of an unquoted `big door.wav`, not `.wav`).
    while start > 0 and not body[start - 1].isspace() and body[start - 1] not in "=\"'":
        start -= 1
    end = start + 1
    while end < len(body) and not body[end].isspace():
        end += 1
    end = min(end, len(body))
    word = body[start:end]
    message = first.unexpected(word, example) or _unexpected(body, word, start, end, keyword, example, expected)
    sink.error(message, at.span(start, end))


def _unexpected(body: str, word: str, start: int, end: int, keyword: str, example: str, expected: set) -> str:
    if "=" not in word and _follows_bare_path(body, start):
        return (f"unexpected '{word}'; options are written name=value, "
                f"and a path with spaces must be quoted: \"sounds/big door.wav\"")
    if "=" in word or body[end:end + 1] == "=" or "EQUAL" in expected:
        return f"malformed option '{word}'; options are written name=value with no spaces"
    return f"unexpected '{word}' in {keyword}; expected e.g. {example}"


def _follows_bare_path(body: str, start: int) -> bool:
    """True when the word before `start` is an unquoted path, so `word` is probably its second half."""
    before = body[:start].split()
    if len(before) < 2 and not (before and ":" in before[0].rstrip(":")):
        return False
    prev = before[-1]
    bare = {w for p in plugins.plugins() for w in p.bare_words}
    return ("=" not in prev and prev.rstrip(":") not in plugins.keywords() and prev not in bare
            and not prev.endswith(('"', "'")))


def _path(tok: Token, at: _Locator, project: Project, sink: Sink,
          extensions: tuple[str, ...] = AUDIO_EXTENSIONS) -> tuple[str, str | None]:
    written = tok.value[1:-1] if tok.type == "QUOTED" else tok.value
    where = at.token(tok)
    try:
        resolved = resolve_inside(project, written)
    except PathEscapes as exc:
        sink.error(str(exc), where)
        return written, None
    if resolved.suffix.lower() not in extensions:
        sink.error(f"'{written}' is not an audio file; use one of {', '.join(extensions)}", where)
        return written, None
    if resolved.is_dir():
        sink.error(f"'{written}' is a directory, not a sound file", where)
        return written, None
    if not resolved.is_file():
        sink.error(f"no such file: '{written}' (looked for {resolved})", where)
        return written, None
    return written, str(resolved)


def _options(trees: list[Tree], specs: dict[str, OptionSpec], label: str, at: _Locator,
             sink: Sink) -> dict[str, float | bool | str] | None:
    """Checked option values, as written; None if any value was bad."""
    values: dict[str, float | bool | str] = {}
    seen: set[str] = set()
    ok = True
    for tree in trees:
        name_tok, value_tok = tree.children
        name = name_tok.value
        where = at.span(name_tok.start_pos, value_tok.end_pos)
        if name not in specs:
            valid = ", ".join(sorted(specs))
            close = difflib.get_close_matches(name.lower(), list(specs), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]}? " if close else ""
            sink.warning(f"unknown {label} option '{name}' is ignored; {hint}(valid options: {valid})", at.token(name_tok))
            continue
        if name in seen:
            sink.warning(f"option '{name}' is given twice; the last value counts", where)
        seen.add(name)
        raw = value_tok.value[1:-1] if value_tok.type == "QUOTED" else value_tok.value
        value, problem = _check_value(raw, specs[name])
        if problem:
            sink.error(f"{label} option {name}: {problem}", where)
            ok = False
            continue
        values[name] = value
    return values if ok else None


def _check_value(raw: str, spec: OptionSpec) -> tuple[float | bool | None, str | None]:
    if spec.kind == "bool":
        low = raw.strip().lower()
        if low in _TRUE:
            return True, None
        if low in _FALSE:
            return False, None
        return None, f"'{raw}' is not true or false"
    if spec.kind == "db":
        number = parse_db(raw)
        unit, example = "dB", "-6dB"
    elif spec.kind == "number":
        number = parse_number(raw)
        unit, example = "", "-0.5"
    else:
        number = parse_duration(raw)
        unit, example = "s", "1.5s or 500ms"
    if number is None:
        what = {"db": "a level in dB", "number": "a number"}.get(spec.kind, "a duration")
        return None, f"'{raw}' is not {what}; write e.g. {example}"
    if spec.positive and number <= 0:
        return None, f"must be longer than zero (got '{raw}')"
    if spec.low is not None and number < spec.low:
        return None, f"{number:g}{' ' + unit if unit else ''} is below the minimum of {spec.low:g}{' ' + unit if unit else ''}"
    if spec.high is not None and number > spec.high:
        return None, f"{number:g}{' ' + unit if unit else ''} is above the maximum of {spec.high:g}{' ' + unit if unit else ''}"
    return number, None


def parse_duration(text: str) -> float | None:
    """`1.5s`, `500ms`, `2` (seconds), `1min` -> seconds; None if not a duration."""
    m = _DURATION_RE.fullmatch(text.strip())
    if not m:
        return None
    number = float(m.group(1))
    unit = (m.group(2) or "s").lower()
    if unit == "ms":
        return number / 1000.0
    if unit in ("min", "m"):
        return number * 60.0
    return number


def parse_number(text: str) -> float | None:
    """`-0.4`, `.5`, `1` -> a float; None if not a plain number."""
    m = _NUMBER_RE.fullmatch(text.strip())
    return float(m.group(0)) if m else None


def parse_db(text: str) -> float | None:
    """`-6dB`, `-6`, `+3 dB` -> decibels; None if not a level."""
    m = _DB_RE.fullmatch(text.strip())
    return float(m.group(1)) if m else None
