"""The Markdown dialogue front end: a script as a writer would type it in any text editor.

    ---
    title: The Lighthouse
    cast:
      MARA: {voice: warm-female}
    ---
    # The lamp room
    MARA: (whispers) Did you hear that?
    **Tom:** Only the sea. [[pause 1s]] Only the sea.

The format is documented in docs/markdown.md. The work happens in four steps:

1. `_prepare` splits off the front matter and blanks comments, keeping every character offset, so
   spans computed on the prepared text are spans in the file. Lines that held only comment (or
   front matter) become "void" lines of NUL characters, which the grammar ignores without ending a
   paragraph.
2. The Lark grammar (grammars/markdown.lark, LALR, contextual lexer) classifies lines and splits
   them into inline pieces (text, parenthesis, `[[...]]`); `_Lines` turns the tree into `Line`s.
3. Cue candidates (`Name:` at the start of a line) are accepted or rejected with the cast, which
   only the front matter knows; see `_Cues`.
4. `_Assembler` groups lines into paragraphs, scenes and nodes.
"""

from __future__ import annotations

import datetime
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache

import yaml
from lark import Lark, Token, Transformer
from lark.exceptions import LarkError

from compiler import nodes, plain_yaml
from compiler.grammars import grammar_path
from compiler.diagnostics import Sink, Span
from compiler.directives import is_directive, parse_directive, unclosed_directive
from compiler.inline import plain_text
from compiler.project import Project
from compiler.source import LineTable, NextMarker, Source

GRAMMAR = grammar_path("markdown.lark")

# Front-matter keys that also go on the title page (the rest is metadata only).
TITLE_KEYS = ("title", "subtitle", "credit", "author", "authors", "source", "draft date", "draft_date",
              "date", "contact", "copyright", "notes", "revision")

VOID = "\x00"
_COMMENTS = (("<!--", "-->"), ("%%", "%%"))
_NAME_RE = re.compile(r"[^\W\d_][\w.'’&-]*(?:[^\S\n]+[\w.'’&-]+){0,3}")  # any white space between words
_EXTENSIONS_RE = re.compile(r"^(.*?)\s*((?:\([^()]*\)\s*)+)$")
_CONTD_RE = re.compile(r"cont['’]?d\.?|continued|cont\.?|more", re.IGNORECASE)
_ITALIC_LINE_RE = re.compile(r"(\*|_)(?!\1)(?=\S)([^*_\n]+?)(?<=\S)\1")
_MARKERS_RE = re.compile(r"\s*([*_]{1,3})\s*")


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="contextual")


# ---------------------------------------------------------------------------------------------
# Step 1: front matter and comments


@dataclass
class _FrontMatter:
    kind: str  # "yaml" | "toml"
    start: int  # offset of the opening delimiter
    end: int  # offset just past the closing delimiter line
    body_start: int  # offset of the first line inside
    body: str
    first_line: int  # line number of the first line inside
    end_newline: bool  # whether a newline ends the closing delimiter line


def _prepare(text: str, pos: LineTable, sink: Sink) -> tuple[str, _FrontMatter | None]:
    chars = list(text.replace(VOID, "\ufffd"))  # a stray NUL must not pass for a void line
    front = _split_front_matter(text, pos, sink)
    if front:
        _void(chars, front.start, front.end)
    _blank_comments(text, chars, front.end if front else 0, pos, sink)
    prepared = "".join(chars)
    # A line that held something but is blank now (only a comment) must not end a paragraph.
    out = []
    for original, line in zip(text.split("\n"), prepared.split("\n")):
        out.append(VOID * len(line) if original.strip() and not line.strip() else line)
    prepared = "\n".join(out)
    prepared = prepared if prepared.endswith("\n") else prepared + "\n"
    return prepared, front


def _void(chars: list[str], start: int, end: int) -> None:
    for i in range(start, min(end, len(chars))):
        if chars[i] != "\n":
            chars[i] = " "


def _split_front_matter(text: str, pos: LineTable, sink: Sink) -> _FrontMatter | None:
    first, _, _ = text.partition("\n")
    delimiter = first.rstrip()
    if delimiter not in ("---", "+++"):
        return None
    closers = ("---", "...") if delimiter == "---" else ("+++",)
    offset = len(first) + 1
    while offset <= len(text):
        nl = text.find("\n", offset)
        line_end = len(text) if nl == -1 else nl
        if text[offset:line_end].rstrip() in closers:
            end = line_end + 1 if nl != -1 else line_end
            return _FrontMatter("yaml" if delimiter == "---" else "toml", 0, end, len(first) + 1,
                                text[len(first) + 1:offset], 2, nl != -1)
        if nl == -1:
            break
        offset = nl + 1
    if delimiter == "---" and not text[len(first) + 1:].strip():
        return None
    sink.error(f"front matter opened with '{delimiter}' is never closed; end it with a '{closers[0]}' line",
               pos.span(0, len(delimiter)))
    return None


def _blank_comments(text: str, chars: list[str], start: int, pos: LineTable, sink: Sink) -> None:
    openers = {opener: NextMarker(text, opener) for opener, _ in _COMMENTS}
    closers = {closer: NextMarker(text, closer) for _, closer in _COMMENTS}
    i = start
    while True:
        at, opener, closer = min((openers[o].at(i), o, c) for o, c in _COMMENTS)
        if at == len(text):
            return
        close = closers[closer].at(at + len(opener))
        if close == len(text):
            sink.warning(f"comment '{opener}' is never closed with '{closer}'; it is read as text",
                         pos.span(at, at + len(opener)))
            i = at + len(opener)
            continue
        end = close + len(closer)
        _void(chars, at, end)
        i = end


# A `[[` that no `]]` closes before the next blank line can never start a directive. The grammar's
# DIRECTIVE regex would still look for that `]]` from every such `[[`, to the end of the paragraph:
# quadratic (84 s for an 80 KB line of `[[`). So the lexer reads a copy of the text in which the
# first `[` of each of them is UNCLOSED, which DIRECTIVE cannot start with and TEXT reads as plain
# text; token values are taken from the unmarked text (same offsets).
UNCLOSED = "\x02"
_BLANK_LINE = re.compile(r"\n[ \t]*(?=\n)")


def _mark_unclosed(text: str) -> str:
    if "[[" not in text:
        return text
    text = text.replace(UNCLOSED, "\ufffd")  # a real \x02 must not pass for a mark
    closes = NextMarker(text, "]]")
    blanks = [m.start() for m in _BLANK_LINE.finditer(text)] + [len(text)]
    marks: list[int] = []
    b = 0
    at = text.find("[[")
    while at != -1:
        while blanks[b] < at:
            b += 1
        # The closer must start past this `[[` and before the blank line (len(text): none at all).
        if closes.at(at + 2) >= blanks[b]:
            marks.append(at)
        at = text.find("[[", at + 1)
    if not marks:
        return text
    chars = list(text)
    for at in marks:
        chars[at] = UNCLOSED
    return "".join(chars)


# ---------------------------------------------------------------------------------------------
# Step 2: lines from the parse tree


@dataclass
class Piece:
    kind: str  # "text" | "paren" | "directive"
    value: str
    start: int
    end: int


@dataclass
class Line:
    kind: str  # "heading" | "rule" | "blank" | "quote" | "cue" | "text"
    start: int  # first character of the line's content
    pieces: list[Piece] = field(default_factory=list)
    head: Token | None = None  # the HEADING, RULE, QUOTE or CUE token


_KINDS = {"TEXT": "text", "PAREN": "paren", "DIRECTIVE": "directive"}


class _Lines(Transformer):
    """Parse tree -> `Line`s. Token values come from `text`, the prepared text without the marks
    of `_mark_unclosed` (the grammar parsed the marked copy; offsets are the same)."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def start(self, children):
        return children

    def _value(self, tok: Token) -> Token:
        value = self.text[tok.start_pos:tok.end_pos]
        return tok if value == tok.value else Token.new_borrow_pos(tok.type, value, tok)

    def _line(self, kind, children, head=True):
        tokens = [self._value(c) for c in children if isinstance(c, Token)]
        first = tokens[0] if head else None
        rest = tokens[1:] if head else tokens
        pieces = [Piece(_KINDS[t.type], t.value, t.start_pos, t.end_pos) for t in rest]
        return Line(kind, tokens[0].start_pos, pieces, first)

    def heading(self, c):
        return self._line("heading", c)

    def rule(self, c):
        return self._line("rule", c)

    def blank(self, c):
        return self._line("blank", c)

    def quote(self, c):
        return self._line("quote", c)

    def cue_line(self, c):
        return self._line("cue", c)

    def text_line(self, c):
        return self._line("text", c, head=False)


# ---------------------------------------------------------------------------------------------
# Step 3: which cue candidates are speakers


@dataclass
class Cue:
    written: str  # "MOM (O.S.)"
    character: str  # "MOM"
    extension: str | None
    bold: bool
    start: int  # the cue as written, markers excluded
    end: int
    token_start: int  # first non-blank character of the cue token (`**` included)


def read_cue(tok: Token) -> Cue | None:
    """Split a CUE token into name and extension; None if the name has no speaker's shape."""
    raw = tok.value
    lead = len(raw) - len(raw.lstrip())
    body = raw.strip()
    bold = body.startswith("**")
    if bold:
        inner = body[2:]
        name = inner[:-3] if inner.endswith(":**") else inner[: inner.rindex("**")]
        name_at = lead + 2
    else:
        name, name_at = body[:-1], lead
    name_at += len(name) - len(name.lstrip())
    written = name.strip()
    base, extension = written, None
    m = _EXTENSIONS_RE.match(written)
    if m:
        base = m.group(1)
        for ext in re.findall(r"\(([^()]*)\)", m.group(2)):
            ext = " ".join(ext.split())
            if ext and not _CONTD_RE.fullmatch(ext) and extension is None:
                extension = ext
    if not _NAME_RE.fullmatch(base):
        return None
    start = tok.start_pos + name_at
    return Cue(written, " ".join(base.split()), extension, bold, start, start + len(written), tok.start_pos + lead)


class _Cues:
    """Decides whether `Name:` at the start of a line is a speaker (docs/markdown.md, "Who speaks").

    A candidate with a speaker's shape (1-4 words, starting with a letter) is a cue when the name is
    in bold, written in capitals, listed in the front-matter cast, or used as a cue on at least two
    lines of the script. So `Note: call Sam` once in prose stays prose.
    """

    def __init__(self, lines: list[Line], cast: dict):
        self.cast = {" ".join(str(k).split()).casefold() for k in cast}
        self.counts: dict[str, int] = {}
        for line in lines:
            if line.kind == "cue":
                cue = read_cue(line.head)
                if cue:
                    key = cue.character.casefold()
                    self.counts[key] = self.counts.get(key, 0) + 1

    def accept(self, line: Line) -> Cue | None:
        if line.kind != "cue":
            return None
        cue = read_cue(line.head)
        if cue is None:
            return None
        name = cue.character
        key = name.casefold()
        shouting = any(ch.isalpha() for ch in name) and name == name.upper()
        if cue.bold or shouting or key in self.cast or self.counts.get(key, 0) >= 2:
            return cue
        return None


# ---------------------------------------------------------------------------------------------
# Step 4: nodes


class _Dialogue:
    """A speech being collected; it may go on over lines and indented paragraphs."""

    def __init__(self, cue: Cue, cue_span: Span):
        self.cue = cue
        self.cue_span = cue_span
        self.parts: list[nodes.DialoguePart] = []
        self.run: list[Piece] = []  # speech pieces not yet closed into a Speech part
        self.end = cue.end
        self.notes: list[nodes.Note] = []


class _Assembler:
    def __init__(self, prepared: str, pos: LineTable, project: Project, sink: Sink, cues: _Cues):
        self.text = prepared
        self.pos = pos
        self.project = project
        self.sink = sink
        self.cues = cues
        self.scenes: list[nodes.Scene] = []
        self.heading: nodes.SceneHeading | None = None
        self.body: list[nodes.Element] = []
        self.speech: _Dialogue | None = None  # open dialogue, kept past a blank line for indented continuation

    # -- scene level -------------------------------------------------------------------------

    def run(self, lines: list[Line]) -> list[nodes.Scene]:
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.kind in ("cue", "text"):
                j = i
                while j < len(lines) and lines[j].kind in ("cue", "text"):
                    j += 1
                self.paragraph(lines[i:j])
                i = j
                continue
            if line.kind == "quote":
                j = i
                while j < len(lines) and lines[j].kind == "quote":
                    j += 1
                self.quote(lines[i:j])
                i = j
                continue
            if line.kind != "blank":
                self.close_speech()
            if line.kind == "heading":
                self.heading_line(line)
            elif line.kind == "rule":
                value = line.head.value.strip()
                start = line.head.start_pos + line.head.value.index(value[0])
                self.body.append(nodes.PageBreak(self.pos.span(start, start + len(value))))
            i += 1
        self.close_speech()
        self.close_scene()
        return self.scenes

    def heading_line(self, line: Line) -> None:
        raw = line.head.value
        stripped = raw.lstrip()
        start = line.head.start_pos + len(raw) - len(stripped)
        level = len(stripped) - len(stripped.lstrip("#"))
        content = stripped[level:].strip()
        # An optional closing run of #s (`## Title ##`) is not part of the title.
        content = _without_closing_hashes(content)
        span = self.pos.span(start, start + len(stripped.rstrip()))
        text = plain_text(content)
        if level > 2:
            self.body.append(nodes.Section(span, text, level))
            return
        if not text:
            self.sink.warning("empty heading: a scene needs a name after the '#'", span)
        self.close_scene()
        self.heading = nodes.SceneHeading(span, text)

    def close_scene(self) -> None:
        if self.heading is None and not self.body:
            return
        first = self.heading.span if self.heading else self.body[0].span
        last = self.body[-1].span if self.body else first
        span = Span(first.file, first.line, first.col, last.end_line, last.end_col)
        self.scenes.append(nodes.Scene(span, self.heading, self.body))
        self.heading, self.body = None, []

    # -- paragraphs --------------------------------------------------------------------------

    def paragraph(self, lines: list[Line]) -> None:
        first = lines[0]
        indented = self.text[first.start:first.start + 1] in (" ", "\t")
        if self.speech is not None and indented and self.cues.accept(first) is None:
            self.close_run(self.speech)  # a new paragraph of the same speech starts a new Speech part
        else:
            self.close_speech()
        action: list[Line] = []
        for line in lines:
            cue = self.cues.accept(line)
            if cue is not None:
                self.flush_action(action)
                action = []
                self.close_speech()
                self.speech = _Dialogue(cue, self.pos.span(cue.start, cue.end))
                self.speech_line(line.pieces)
            elif self.speech is not None:
                self.speech_line(self.as_text(line))
            else:
                action.append(line)
        self.flush_action(action)

    def as_text(self, line: Line) -> list[Piece]:
        """A rejected cue candidate is ordinary text again."""
        if line.kind == "cue":
            head = line.head
            return [Piece("text", head.value, head.start_pos, head.end_pos), *line.pieces]
        return line.pieces

    def quote(self, lines: list[Line]) -> None:
        self.close_speech()
        group: list[Line] = []
        for line in lines:
            if not "".join(p.value for p in line.pieces).strip():
                self.flush_action(group)  # a bare `>` separates two directions
                group = []
            else:
                group.append(line)
        self.flush_action(group)

    # -- action ------------------------------------------------------------------------------

    def flush_action(self, lines: list[Line]) -> None:
        """Lines of stage direction become Actions, split where a directive stands between them."""
        rows: list[list[Piece]] = []  # pieces per line of the action being collected
        notes: list[nodes.Note] = []
        for line in lines:
            rows.append([])
            for piece in self.as_text(line):
                if piece.kind == "directive":
                    node = self.directive(piece)
                    if isinstance(node, nodes.Note):
                        notes.append(node)
                        continue
                    self.emit_action(rows)
                    rows = [[]]
                    if node is not None:
                        self.body.append(node)
                else:
                    rows[-1].append(piece)
        self.emit_action(rows)
        self.body.extend(notes)

    def emit_action(self, rows: list[list[Piece]]) -> None:
        texts = ["".join(p.value for p in row) for row in rows]
        raw = "\n".join(t.strip() for t in texts if t.strip())
        if not raw:
            return
        pieces = [p for row in rows for p in row if p.value.strip()]
        start = pieces[0].start + len(pieces[0].value) - len(pieces[0].value.lstrip())
        end = pieces[-1].end - (len(pieces[-1].value) - len(pieces[-1].value.rstrip()))
        text = "\n".join(plain_text(line) for line in raw.split("\n"))
        self.body.append(nodes.Action(self.pos.span(start, end), text, raw))

    # -- dialogue ----------------------------------------------------------------------------

    def speech_line(self, pieces: list[Piece]) -> None:
        d = self.speech
        pieces = _unwrap_marked_parens(pieces)
        words = "".join(p.value for p in pieces).strip()
        if pieces and all(p.kind == "text" for p in pieces) and _ITALIC_LINE_RE.fullmatch(words):
            # A whole line in italics inside a speech is an acting note, not words to say.
            self.close_run(d)
            start = pieces[0].start + len(pieces[0].value) - len(pieces[0].value.lstrip())
            self.add_part(d, nodes.Parenthetical(self.pos.span(start, start + len(words)),
                                                 "(" + plain_text(words[1:-1]).strip() + ")"), start + len(words))
            return
        if d.run:
            d.run.append(Piece("text", "\n", pieces[0].start if pieces else d.end, pieces[0].start if pieces else d.end))
        leading = True
        for piece in pieces:
            if piece.kind == "directive":
                node = self.directive(piece)
                if isinstance(node, nodes.Note):
                    d.notes.append(node)
                elif node is not None:
                    self.close_run(d)
                    self.add_part(d, node, piece.end)
            elif piece.kind == "paren" and leading:
                self.close_run(d)
                text = "(" + " ".join(piece.value[1:-1].split()) + ")"
                self.add_part(d, nodes.Parenthetical(self.pos.span(piece.start, piece.end), text), piece.end)
            else:
                if piece.value.strip():
                    leading = False
                d.run.append(piece)

    def close_run(self, d: _Dialogue) -> None:
        pieces = [p for p in d.run if p.value.strip()]
        if not pieces:
            d.run = []
            return
        start = pieces[0].start + len(pieces[0].value) - len(pieces[0].value.lstrip())
        end = pieces[-1].end - (len(pieces[-1].value) - len(pieces[-1].value.rstrip()))
        # Built from the pieces, not sliced from the file: notes inside the run are not speech.
        raw = "".join(p.value for p in d.run[d.run.index(pieces[0]):d.run.index(pieces[-1]) + 1]).strip()
        text = plain_text(" ".join(raw.split()))
        d.run = []
        if not text.strip():
            return
        self.add_part(d, nodes.Speech(self.pos.span(start, end), text.strip(), raw), end)

    def add_part(self, d: _Dialogue, part, end: int) -> None:
        d.parts.append(part)
        d.end = max(d.end, end)

    def close_speech(self) -> None:
        d = self.speech
        if d is None:
            return
        self.speech = None
        self.close_run(d)
        if not d.parts:
            self.sink.warning(f"cue '{d.cue.written}' has no line to speak; write the speech after the colon",
                              d.cue_span)
        else:
            speech = [p.text for p in d.parts if isinstance(p, nodes.Speech)]
            self.body.append(nodes.Dialogue(
                span=self.pos.span(d.cue.token_start, d.end),
                character=d.cue.character,
                extension=d.cue.extension,
                parentheticals=[p for p in d.parts if isinstance(p, nodes.Parenthetical)],
                text=" ".join(speech),
                dual=False,
                cue=d.cue.written,
                cue_span=d.cue_span,
                parts=d.parts,
            ))
        self.body.extend(d.notes)

    # -- directives --------------------------------------------------------------------------

    def directive(self, piece: Piece) -> nodes.Directive | nodes.Note | None:
        span = self.pos.span(piece.start, piece.end)
        body = piece.value[2:-2]
        if not is_directive(body):
            # Keywords in other case get their warning from parse_directive.
            parse_directive(body, span, self.project, self.sink)
            return nodes.Note(span, " ".join(body.split()))
        return parse_directive(body, span, self.project, self.sink)


def _without_closing_hashes(content: str) -> str:
    """`Title ##` -> `Title`; `C#` stays. (A regex `\\s+#+$` backtracks over every run of spaces:
    quadratic on a heading full of them.)"""
    bare = content.rstrip("#")
    if bare != content and (not bare or bare[-1].isspace()):
        return bare.strip()
    return content


def _unwrap_marked_parens(pieces: list[Piece]) -> list[Piece]:
    """`*(laughing)* Hello` -> `(laughing) Hello`: emphasis around a leading parenthetical is dropped,
    so the parenthetical is still seen as leading and no stray `*` reaches the speech."""
    out = list(pieces)
    for k in range(1, len(out) - 1):
        before, paren, after = out[k - 1], out[k], out[k + 1]
        if k >= 2 and out[k - 2].kind != "paren" and out[k - 2].value.strip():
            break  # words came before: no parenthetical after them is leading
        if paren.kind != "paren" or before.kind != "text" or after.kind != "text":
            continue
        m = _MARKERS_RE.fullmatch(before.value)
        if not m or not after.value.startswith(m.group(1)):
            continue
        marks = m.group(1)
        out[k - 1] = Piece("text", before.value.replace(marks, ""), before.start, before.end)
        out[k + 1] = Piece("text", after.value[len(marks):], after.start + len(marks), after.end)
    return out


# ---------------------------------------------------------------------------------------------
# Front matter


def _read_front_matter(front: _FrontMatter, pos: LineTable, sink: Sink) -> tuple[dict, nodes.TitlePage | None]:
    data = _load_front_matter(front, pos, sink)
    if data is None:
        return {}, None
    metadata = {str(k): _plain(v) for k, v in data.items()}
    if "cast" in metadata:
        cast = _read_cast(metadata["cast"], front, pos, sink)
        if cast is None:
            del metadata["cast"]
        else:
            metadata["cast"] = cast
    _warn_near_misses(metadata, front, pos, sink)
    fields = []
    for key, value in metadata.items():
        if key.lower() not in TITLE_KEYS or isinstance(value, dict) or value is None:
            continue
        text = "\n".join(str(v) for v in value) if isinstance(value, list) else str(value)
        fields.append(nodes.TitleField(_key_span(front, key, pos), key, text))
    end = front.end - 1 if front.end_newline else front.end  # the closing delimiter, not its newline
    page = nodes.TitlePage(pos.span(front.start, end), fields) if fields else None
    return metadata, page


def _warn_near_misses(metadata: dict, front: _FrontMatter, pos: LineTable, sink: Sink) -> None:
    """A key that is neither a title-page field nor a settings table is the writer's own metadata,
    unless it is one letter from one (`titel`, `sttich`): then it is a typo that silently drops
    the title or the settings, and says so."""
    import difflib

    from compiler.config import known_tables

    known = [*TITLE_KEYS, *known_tables()]
    for key in metadata:
        if key.lower() in known:
            continue
        close = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.75)
        if close:
            sink.warning(f"front-matter key '{key}' is neither a title-page field nor a settings table, so dramac "
                         f"ignores it", _key_span(front, key, pos), f"did you mean '{close[0]}'?")


def _load_front_matter(front: _FrontMatter, pos: LineTable, sink: Sink) -> dict | None:
    whole = pos.span(0, 3)
    try:
        # No aliases: a few hundred bytes of nested ones expand to gigabytes (compiler.plain_yaml).
        data = plain_yaml.load(front.body) if front.kind == "yaml" else tomllib.loads(front.body)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        if mark is None:
            sink.error(f"front matter is not valid YAML: {problem}", whole)
        else:
            # By character index, not YAML's line/column: YAML also breaks lines at U+2028,
            # U+0085 and CR, which the script's own line count may not.
            at = front.body_start + min(mark.index, len(front.body))
            sink.error(f"front matter is not valid YAML: {problem}", pos.span(at, at + 1))
        return None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)) or "invalid TOML"
        if m:
            line, col = front.first_line + int(m.group(1)) - 1, int(m.group(2))
            sink.error(f"front matter is not valid TOML: {message}", Span(pos.path, line, col, line, col + 1))
        else:
            sink.error(f"front matter is not valid TOML: {message}", whole)
        return None
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        # PyYAML builds dates and numbers itself; `date: 2024-13-45` fails there, not in the parser.
        sink.error(f"front matter cannot be read: {exc}", whole)
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        sink.error("front matter must be 'key: value' lines (title, author, cast, ...)", whole)
        return None
    return data


def _read_cast(cast, front: _FrontMatter, pos: LineTable, sink: Sink) -> dict | None:
    """The cast table as written; a plain list of names is accepted as names with no settings."""
    if isinstance(cast, list) and all(isinstance(n, (str, int, float)) for n in cast):
        return {str(name): {} for name in cast}
    if isinstance(cast, dict):
        return {name: ({} if entry is None else entry) for name, entry in cast.items()}
    sink.error("cast must list the characters, e.g. 'cast:' then '  MARA: {voice: warm-female}' lines",
               _key_span(front, "cast", pos))
    return None


def _key_span(front: _FrontMatter, key: str, pos: LineTable) -> Span:
    """Where a top-level key is written (neither parser gives positions for values)."""
    pattern = re.compile(r"^[ \t]*[\"']?" + re.escape(key) + r"[\"']?[ \t]*[:=]", re.MULTILINE)
    m = pattern.search(front.body)
    if not m:
        return pos.span(front.start, front.start + 3)
    start = front.body_start + m.start() + len(m.group(0)) - len(m.group(0).lstrip())
    line_end = front.body.find("\n", m.start())
    end = front.body_start + (len(front.body) if line_end == -1 else line_end)
    return pos.span(start, max(start, end))


def _plain(value):
    """Front-matter values made JSON-safe (YAML gives dates, sets, bytes), otherwise as written."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# ---------------------------------------------------------------------------------------------
# Entry point


def parse_markdown(source: Source, project: Project, sink: Sink) -> nodes.Script:
    """Parse a Markdown dialogue script. Problems go to `sink`; this never raises for bad input."""
    text = source.text
    pos = LineTable(source.path, text)
    prepared, front = _prepare(text, pos, sink)
    metadata, title_page = _read_front_matter(front, pos, sink) if front else ({}, None)
    try:
        lines = _Lines(prepared).transform(_parser().parse(_mark_unclosed(prepared)))
    except LarkError as exc:  # the grammar accepts every text; this guards against a bug, not the writer
        sink.error(f"internal error: the Markdown grammar rejected this file ({type(exc).__name__})", pos.span(0, 0))
        lines = []
    _warn_unclosed_directives(lines, prepared, pos, sink)
    cues = _Cues(lines, metadata.get("cast") or {})
    scenes = _Assembler(prepared, pos, project, sink, cues).run(lines)
    end_line, end_col = pos.position(len(text))
    return nodes.Script(Span(source.path, 1, 1, end_line, end_col), "markdown", title_page, scenes, metadata)


def _warn_unclosed_directives(lines: list[Line], text: str, pos: LineTable, sink: Sink) -> None:
    """A warning at the start of every run of `[` in text that holds a `[[` (a closed one became a
    directive piece); `\\[` is an escaped bracket, not an opener. A run whose first word is a
    directive keyword (`[[pause 1s Really?`) is an error at its last `[[`: the writer forgot ']]'."""
    for line in lines:
        for piece in line.pieces:
            if piece.kind != "text":
                continue
            # An unclosed `[[` ends a TEXT piece and its second `[` is the next one: look one further.
            at = text.find("[[", piece.start, piece.end + 1)
            while at != -1:
                if text[at - 1:at] != "[" and not _escaped(text, at):
                    _report_unclosed(text, at, pos, sink)
                at = text.find("[[", at + 1, piece.end + 1)


def _report_unclosed(text: str, at: int, pos: LineTable, sink: Sink) -> None:
    end = at + 2
    while text[end:end + 1] == "[":
        end += 1
    directive = unclosed_directive(text, end)
    if directive is not None:
        sink.error(directive[0], pos.span(end - 2, end), directive[1])
    else:
        sink.warning("'[[' is not closed by ']]' in this paragraph; it is read as text", pos.span(at, at + 2))


def _escaped(text: str, at: int) -> bool:
    """True when an odd run of backslashes ends right before `at` (the grammar's `\\x` escape)."""
    k = at
    while k > 0 and text[k - 1] == "\\":
        k -= 1
    return (at - k) % 2 == 1
