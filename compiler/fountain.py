"""Fountain 1.1 front end: `Source` -> `nodes.Script`.

Three steps:
  1. pre-lexing (`_prelex`, plain Python): cut boneyard `/* */` and notes `[[ ]]` out of the text,
     remembering where each note was, and turn the rest into lexer lines with a map back to
     source offsets (a line made only of notes becomes a NUL mark line, one made only of boneyard
     disappears). This is the only text scanning done outside the grammar.
  2. the LALR grammar grammars/fountain.lark classifies whole lines and groups them into
     paragraphs (title page, dialogue, transition, action flow with or without a scene heading);
  3. `_Builder` turns each paragraph into AST nodes with spans as the parser reduces it (lark
     calls it in place of building a parse tree), resolving emphasis through compiler.inline and
     handing every note body to compiler.directives.

Choices where the spec is silent are listed in docs/fountain.md.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from operator import attrgetter

from lark import Lark, Token
from lark.exceptions import LarkError, UnexpectedInput

from compiler import nodes
from compiler.grammars import grammar_path
from compiler.diagnostics import Sink, Span
from compiler.directives import is_directive, parse_directive, unclosed_directive
from compiler.inline import plain_text
from compiler.project import Project
from compiler.source import NextMarker, Source

GRAMMAR = grammar_path("fountain.lark")

# The lexer line that stands for a line made only of notes (see the grammar's NOTE_LINE).
NOTE_MARK = "\x00"
_NO_NOTES: tuple = ()  # shared by every line without notes
_WS = " \t"

@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark.open(str(GRAMMAR), parser="lalr", lexer="contextual", transformer=_Paragraphs())


def parse_fountain(source: Source, project: Project, sink: Sink) -> nodes.Script:
    lines = _prelex(source, sink)
    _warn_front_matter(source, lines, sink)
    whole = lines.span_of_offsets(0, len(source.text))
    try:
        paragraphs = _parser().parse(lines.lexer_input())
    except UnexpectedInput as exc:
        # The grammar has a catch-all line in every state, so this means a grammar bug; report
        # it at the line it happened on instead of crashing.
        span = lines.line_span(max(getattr(exc, "line", 2), 2) - 2)
        sink.error(f"cannot parse this line as Fountain ({type(exc).__name__})", span)
        return nodes.Script(whole, "fountain", None, [], {})
    except LarkError as exc:
        sink.error(f"cannot parse this file as Fountain: {exc}", Span.point(source.path, 1, 1))
        return nodes.Script(whole, "fountain", None, [], {})
    title_page, elements = _Builder(lines, project, sink).build(paragraphs)
    return nodes.Script(whole, "fountain", title_page, _scenes(elements), {})


# ---------------------------------------------------------------------------------------------
# 1. Pre-lexing


@dataclass
class _NoteRef:
    anchor: int  # index in the lexer line where the note stood
    body: str  # text between [[ and ]]
    span: Span  # the whole [[...]]
    offset: int  # source offset of its "[["


@dataclass
class _Lines:
    """The lexer's view of the file: line i of the lexer input is `texts[i]`.

    Character k of `texts[i]` came from source offset `base[i] + k`, or `offs[i][k]` when the
    pre-lexer cut something out of the line (then `offs[i]` has one extra entry, one past the
    end). `notes[i]` lists the notes that were cut out of line i, by position. `row[i]`/`col0[i]`
    are the source line and column of `base[i]`, so most positions need no search.
    """

    source: Source
    line_starts: list[int]  # source offsets where source lines start
    texts: list[str] = field(default_factory=list)
    base: list[int] = field(default_factory=list)
    offs: list[list[int] | None] = field(default_factory=list)
    notes: list[list[_NoteRef]] = field(default_factory=list)
    row: list[int] = field(default_factory=list)
    col0: list[int] = field(default_factory=list)

    def lexer_input(self) -> str:
        # A blank line in front, so the first line opens a paragraph like any other; every line
        # ends with "\n", plus one extra blank line so the text ends in blank lines (see the
        # grammar). Line i of `texts` is thus lexer line i + 2 (1-based).
        return "\n" + "\n".join(self.texts) + "\n\n"

    def add_whole(self, texts: list[str], start: int) -> None:
        """Whole source lines, unchanged, the first starting at offset `start`."""
        r = bisect.bisect_right(self.line_starts, start) - 1
        n = len(texts)
        self.texts.extend(texts)
        self.base.extend(self.line_starts[r:r + n])
        self.offs.extend([None] * n)
        self.notes.extend([_NO_NOTES] * n)
        self.row.extend(range(r + 1, r + n + 1))
        self.col0.extend([1] * n)

    def add(self, text: str, base: int, offs: list[int] | None, notes: list[_NoteRef]) -> None:
        line, col = self._position(base)
        self.texts.append(text)
        self.base.append(base)
        self.offs.append(offs)
        self.notes.append(notes)
        self.row.append(line)
        self.col0.append(col)

    def pos(self, i: int, k: int) -> tuple[int, int]:
        """Source (line, column) of character k of lexer line i."""
        offs = self.offs[i]
        if offs is None:
            return self.row[i], self.col0[i] + k
        return self._position(offs[min(k, len(offs) - 1)])

    def span(self, i0: int, c0: int, i1: int, c1: int) -> Span:
        """Span of lexer text from (i0, c0) to (i1, c1), end exclusive."""
        offs = self.offs
        if offs[i0] is None and offs[i1] is None and (c1 >= c0 or i1 != i0):
            # The usual case, lines nothing was cut out of: no position search.
            row, col0 = self.row, self.col0
            return Span(self.source.path, row[i0], col0[i0] + c0, row[i1], col0[i1] + c1)
        l0, k0 = self.pos(i0, c0)
        if c1 > c0 or i1 != i0:
            l1, k1 = self.pos(i1, max(c1 - 1, 0))
            k1 += c1 > 0
        else:
            l1, k1 = l0, k0
        return Span(self.source.path, l0, k0, l1, k1)

    def line_span(self, i: int) -> Span:
        if not 0 <= i < len(self.texts):
            return Span.point(self.source.path, len(self.line_starts), 1)
        lo, hi = _bounds(self.texts[i])
        return self.span(i, lo, i, hi)

    def span_of_offsets(self, start: int, end: int) -> Span:
        l0, c0 = self._position(start)
        l1, c1 = self._position(end)
        return Span(self.source.path, l0, c0, l1, c1)

    def _position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, offset) - 1
        return line + 1, offset - self.line_starts[line] + 1


def _bounds(text: str) -> tuple[int, int]:
    """Start and end of `text` without its surrounding spaces and tabs."""
    return len(text) - len(text.lstrip(_WS)), len(text.rstrip(_WS))


_PLUS_ONE = (1).__add__
_EMPTY_LINE = re.compile(r"\n[ \t]*\n")  # a line with nothing (or only spaces and tabs) on it


def _warn_front_matter(source: Source, lines: _Lines, sink: Sink) -> None:
    """Fountain has no front matter: a `---` (or `+++`) header, as Markdown scripts have, would be
    read as action and spoken by the narrator; say where its contents belong instead."""
    first = source.text.split("\n", 1)[0].strip()
    if first in ("---", "+++") and f"\n{first}" in source.text[len(first):]:
        sink.warning(f"a Fountain script has no front matter: this '{first}' header is read as action",
                     lines.span_of_offsets(0, len(first)),
                     "write the title page as 'Title: …' lines and settings in dramac.toml; front matter "
                     "belongs to Markdown scripts (.md)")


def _prelex(source: Source, sink: Sink) -> _Lines:
    text = source.text
    # Where each source line starts: running sums of the line lengths plus their "\n", all in C.
    starts = list(accumulate(map(_PLUS_ONE, map(len, text.split("\n"))), initial=0))
    starts.pop()  # the sum past the last line
    lines = _Lines(source, starts)
    # NUL is the note-line mark; a real NUL cannot come from decode(), but never let one pose as it.
    lexable = text.replace(NOTE_MARK, "\ufffd")
    if "/*" not in text and "[[" not in text:
        # Fast path, the usual case: nothing to cut out, one lexer line per source line.
        lines.add_whole(lexable.split("\n"), 0)
        return lines
    _LineCutter(lexable, lines).run(_find_cuts(text, lines, sink))
    return lines


@dataclass
class _Cut:
    start: int
    end: int  # exclusive
    note: _NoteRef | None  # None for boneyard


def _find_cuts(text: str, lines: _Lines, sink: Sink) -> list[_Cut]:
    """Boneyard and notes, left to right; whichever opens first wins, so `[[` inside boneyard
    and `/*` inside a note are plain content. An opener without its closer is plain text, with
    one warning (not one per opener: every later opener up to the same point is unclosed too),
    except an opener whose first word is a directive keyword: that is an error of its own."""
    cuts: list[_Cut] = []
    n = len(text)
    bone_open, bone_close = NextMarker(text, "/*"), NextMarker(text, "*/")
    note_open, note_close, empty_line = NextMarker(text, "[["), NextMarker(text, "]]"), NextMarker(text, "\n\n")
    pos = 0
    bones_closed = True  # False once a `/*` had no `*/`: none after it has one either
    notes_open_until = -1  # offset of the empty line that the last unclosed `[[` ran into
    while True:
        b = bone_open.at(pos) if bones_closed else n
        m = note_open.at(pos)
        if b == n and m == n:
            return cuts
        if b < m:
            close = bone_close.at(b + 2)
            if close == n:
                sink.warning("unclosed boneyard '/*' is read as text; close it with '*/'", lines.span_of_offsets(b, b + 2))
                bones_closed = False
                continue
            cuts.append(_Cut(b, close + 2, None))
            pos = close + 2
            continue
        close = note_close.at(m + 2)
        # A note may span lines but not an empty line (the spec asks for two spaces there).
        gap = empty_line.at(m + 2)
        if close == n or gap < close:
            directive = unclosed_directive(text, m + 2)
            if directive is not None:
                # Not a note to skip: its words would be read aloud, as `[[pause 1s` and all.
                sink.error(directive[0], lines.span_of_offsets(m, m + 2), directive[1])
                notes_open_until = gap
            elif gap != notes_open_until:
                sink.warning("unclosed note '[[' is read as text; close it with ']]' before the next empty line",
                             lines.span_of_offsets(m, m + 2))
                notes_open_until = gap
            pos = m + 1
            continue
        note = _NoteRef(0, text[m + 2:close], lines.span_of_offsets(m, close + 2), m)
        cuts.append(_Cut(m, close + 2, note))
        pos = close + 2


class _LineCutter:
    """Builds the lexer lines from the text with the cuts taken out.

    A note removes its characters, line breaks included, so `a [[x\ny]] b` is the one line
    `a b` (a note sits inside the element it is written in). A boneyard never joins lines: the
    text before it and the text after it stay on lines of their own (`a /* x\ny */ b` is `a`
    then `b`), and a boneyard that hides an empty line leaves one, so the paragraphs around it
    stay apart (the spec's example: `CUT TO:` then `/*` ... `*/` then a heading). A line that
    was only cuts disappears, unless a note starts on it: then it becomes a note line
    (NOTE_MARK). Lines no cut touches are taken whole.
    """

    def __init__(self, text: str, lines: _Lines):
        self.text = text
        self.lines = lines
        self.chars: list[str] = []
        self.offs: list[int] = []
        self.notes: list[_NoteRef] = []
        self.touched = False

    def run(self, cuts: list[_Cut]) -> None:
        pos = 0
        for cut in cuts:
            self._take(pos, cut.start)
            self.touched = True
            if cut.note is not None:
                cut.note.anchor = len(self.chars)
                self.notes.append(cut.note)
            elif self.text.find("\n", cut.start, cut.end) != -1:
                self._break_at_boneyard(cut)
            pos = cut.end
            # "a [[x]] b" must not become "a  b", nor "/* x */ b" an indented " b".
            if not self.chars or self.chars[-1] in _WS:
                while pos < len(self.text) and self.text[pos] in _WS:
                    pos += 1
        self._take(pos, len(self.text))
        self._emit(None)

    def _break_at_boneyard(self, cut: _Cut) -> None:
        """End the line before a boneyard that spans lines; the text after it starts a new one."""
        self._emit(cut.start)
        blank = _EMPTY_LINE.search(self.text, cut.start, cut.end)
        if blank is not None:
            self.lines.add("", blank.start() + 1, [blank.start() + 1], _NO_NOTES)
        self.touched = True  # what is left of the line `*/` is on vanishes if empty

    def _take(self, a: int, b: int) -> None:
        """Add text[a:b] (no cut inside it) to the lexer lines."""
        text = self.text
        nl = text.find("\n", a, b)
        if nl == -1:
            self.chars.extend(text[a:b])
            self.offs.extend(range(a, b))
            return
        if self.chars or self.touched:  # finish the line a cut is on
            self.chars.extend(text[a:nl])
            self.offs.extend(range(a, nl))
            self._emit(nl)
            a = nl + 1
        last = text.rfind("\n", a, b)
        if last != -1:  # whole lines no cut touches: taken in bulk
            self.lines.add_whole(text[a:last].split("\n"), a)
            a = last + 1
        self.chars.extend(text[a:b])
        self.offs.extend(range(a, b))

    def _emit(self, newline: int | None) -> None:
        lines = self.lines
        text = "".join(self.chars)
        offs = self.offs
        if not self.touched:
            # Only the last line of the file can arrive here untouched (the others are taken whole by _take).
            end = len(self.text) if newline is None else newline
            lines.add(text, end - len(text), None, _NO_NOTES)
        elif text.strip(_WS) or self.notes:
            if not text.strip(_WS):
                text, offs = NOTE_MARK, [self.notes[0].offset]
            offs = list(offs)
            offs.append(offs[-1] + 1 if offs else (newline if newline is not None else len(self.text)))
            lines.add(text, offs[0], offs, self.notes)
        # else: a line of boneyard or note continuation: gone
        self.chars, self.offs, self.notes, self.touched = [], [], [], False


# ---------------------------------------------------------------------------------------------
# 2. Parsing: the parser's callbacks only record each paragraph's tokens
#
# Tokens are whole lines (a paragraph's first line with the blank lines before it); `_index`
# gives a token's line in the `_Lines` table.


class _Paragraphs:
    """Lark calls the method named after a rule with its children as it reduces the rule, in
    place of building a parse tree. Building the AST nodes right there is slower than recording
    the paragraphs and building them afterwards (about 0.015 s on a feature script, measured:
    lexing, parsing and building interleaved keep evicting each other from the CPU caches). No
    state, so the one cached parser serves every parse."""

    def start(self, paragraphs):
        return paragraphs

    def title_page(self, toks):
        return _Builder.title_page, toks

    def dialogue(self, toks):
        return _Builder.dialogue, toks

    def transition(self, toks):
        return _Builder.transition, toks

    def flow(self, toks):
        return _Builder.flow, toks


def _index(tok: Token) -> int:
    # end_line is the lexer line after the token's final "\n"; texts[i] is lexer line i + 2.
    return tok.end_line - 3


# ---------------------------------------------------------------------------------------------
# 3. Paragraphs -> AST
#
# The methods below are written for speed (a feature script is ~5,000 lines): positions are
# (line index, char index) pairs until a node is made.

# A line that opens a paragraph means the same as one inside it: token type -> line kind.
_LINE_KINDS = ("NOTE_LINE", "PAGE_BREAK", "SYNOPSIS", "SECTION", "CENTERED", "FORCED_TRANSITION", "LYRIC",
               "FORCED_ACTION", "TEXT")
_KIND = {"KEEP_BLANK": "KEEP_BLANK", **{k: k for k in _LINE_KINDS}, **{"OPEN_" + k: k for k in _LINE_KINDS}}
_ACTION_KINDS = frozenset(("TEXT", "FORCED_ACTION", "NOTE_LINE", "KEEP_BLANK"))
_HEADINGS = frozenset(("HEADING", "FORCED_HEADING"))


class _Builder:
    def __init__(self, lines: _Lines, project: Project, sink: Sink):
        self.lines = lines
        self.project = project
        self.sink = sink
        self.dual_marks: set[int] = set()  # id() of dialogues whose cue ends in "^"

    # ---- notes -------------------------------------------------------------------------------

    def _note(self, note: _NoteRef):
        """A note -> a directive node, a Note, or None for a broken directive (already reported)."""
        directive = parse_directive(note.body, note.span, self.project, self.sink)
        if directive is not None:
            return directive
        if is_directive(note.body):
            return None
        return nodes.Note(note.span, note.body.strip())

    def _notes_of(self, i: int) -> list:
        notes = self.lines.notes[i]
        return [el for el in map(self._note, notes) if el is not None] if notes else []

    def _single(self, i: int) -> tuple[str, Span]:
        """A one-line element's text without surrounding white space, and its span."""
        text = self.lines.texts[i]
        lo, hi = _bounds(text)
        return text[lo:hi], self.lines.span(i, lo, i, hi)

    # ---- document ----------------------------------------------------------------------------

    def build(self, paragraphs: list) -> tuple[nodes.TitlePage | None, list]:
        """(title page, elements in source order) from `_Paragraphs`' records."""
        title_page = None
        elements: list = []
        for method, toks in paragraphs:
            if method is _Builder.title_page:
                title_page, notes = self.title_page(toks)
                elements.extend(notes)
            else:
                elements.extend(method(self, toks))
        return title_page, _pair_dual(elements, self.dual_marks, self.sink)

    def title_page(self, toks):
        fields: list[nodes.TitleField] = []
        notes: list = []
        key, values, first, last = "", [], None, None
        for tok in toks:
            i = _index(tok)
            notes.extend(self._notes_of(i))
            if tok.type == "NOTE_LINE":
                continue
            text, span = self._single(i)
            if tok.type in ("TITLE_FIRST", "TITLE_KEY"):
                if first is not None:
                    fields.append(self._field(key, values, first, last))
                key, _, value = text.partition(":")
                key, values, first = key.strip(_WS), [value.strip(_WS)] if value.strip(_WS) else [], span
            else:
                if tok.type == "TITLE_OTHER":
                    self.sink.warning(
                        "title page line is not 'Key: value' nor indented by three spaces or a tab; "
                        "read as part of the field above",
                        span,
                        "the title page ends at the first blank line",
                    )
                values.append(text)
            last = span
        fields.append(self._field(key, values, first, last))
        return nodes.TitlePage(_join(fields[0].span, fields[-1].span), fields), notes

    def _field(self, key: str, values: list[str], first: Span, last: Span) -> nodes.TitleField:
        return nodes.TitleField(_join(first, last), key, plain_text("\n".join(values)))

    # ---- one-line elements -------------------------------------------------------------------

    def _heading(self, tok: Token) -> list:
        i = _index(tok)
        forced = tok.type == "FORCED_HEADING"
        body, span = self._single(i)
        if forced:
            body = body[1:]
        number = None
        # A scene number closes the heading: "INT. HOUSE - DAY #1A#".
        if body.endswith("#") and len(body) > 1:
            opener = body.rfind("#", 0, len(body) - 1)
            candidate = body[opener + 1:-1]
            if opener != -1 and candidate and all(ch.isalnum() or ch in "-." for ch in candidate):
                number = candidate
                body = body[:opener].rstrip(_WS)
        heading = nodes.SceneHeading(span, plain_text(body), number, forced)
        return [heading, *self._notes_of(i)] if self.lines.notes[i] else [heading]

    def transition(self, toks):
        i = _index(toks[0])
        text, span = self._single(i)
        return [nodes.Transition(span, plain_text(text), False), *self._notes_of(i)]

    def flow(self, toks):
        """A paragraph of action and marked lines, maybe under a scene heading. Consecutive
        action lines make one action; consecutive lyric or centered lines one node."""
        out: list = []
        n = len(toks)
        k = 0
        if toks[0].type in _HEADINGS:
            out.extend(self._heading(toks[0]))
            k = 1
        while k < n:
            kind = _KIND[toks[k].type]
            j = k + 1
            if kind in _ACTION_KINDS:
                while j < n and _KIND[toks[j].type] in _ACTION_KINDS:
                    j += 1
                out.extend(self._action(toks[k:j]))
            elif kind == "LYRIC" or kind == "CENTERED":
                while j < n and _KIND[toks[j].type] == kind:
                    j += 1
                out.extend(self._grouped(toks[k:j], kind))
            else:
                out.extend(self._special(toks[k], kind))
            k = j
        return out

    def _grouped(self, toks: list[Token], kind: str) -> list:
        texts, notes, spans = [], [], []
        for tok in toks:
            i = _index(tok)
            body, span = self._single(i)
            body = body[1:] if kind == "LYRIC" else body[1:-1]  # "~text", "> text <"
            texts.append(plain_text(body.strip(_WS)))
            spans.append(span)
            notes.extend(self._notes_of(i))
        cls = nodes.Lyrics if kind == "LYRIC" else nodes.Centered
        return [cls(_join(spans[0], spans[-1]), "\n".join(texts)), *notes]

    def _special(self, tok: Token, kind: str) -> list:
        i = _index(tok)
        body, span = self._single(i)
        if kind == "PAGE_BREAK":
            node = nodes.PageBreak(span)
        elif kind == "SECTION":
            depth = len(body) - len(body.lstrip("#"))
            node = nodes.Section(span, plain_text(body[depth:].strip(_WS)), depth)
        elif kind == "SYNOPSIS":
            node = nodes.Synopsis(span, plain_text(body[1:].strip(_WS)))
        else:  # FORCED_TRANSITION
            node = nodes.Transition(span, plain_text(body[1:].strip(_WS)), True)
        return [node, *self._notes_of(i)]

    # ---- action ------------------------------------------------------------------------------

    def _action(self, toks: list[Token]) -> list:
        """Action lines, indentation kept. A directive splits the action where it stands;
        ordinary notes follow the piece of action they were in."""
        texts, table = self.lines.texts, self.lines.notes
        out: list = []
        pending: list = []
        rows: list[tuple[int, int, int]] = []  # (line, lo, hi) of the current piece
        forced = split = False

        def flush():
            nonlocal forced, split
            node = self._action_node(rows, forced, split)
            if node is not None:
                out.append(node)
            out.extend(pending)
            pending.clear()
            rows.clear()
            forced = split = False

        for tok in toks:
            i = _index(tok)
            kind = _KIND[tok.type]
            if kind == "KEEP_BLANK":
                rows.append((i, 0, 0))
                continue
            text = texts[i] if kind != "NOTE_LINE" else ""
            lo = 0
            if kind == "FORCED_ACTION":
                lo = 1
                forced = forced or not rows
            for note in table[i]:
                element = self._note(note)
                if element is None:
                    continue
                if isinstance(element, nodes.Note):
                    # Notes before any action text stay in front of it.
                    before_text = not rows and _skip_ws(text, lo, len(text)) >= note.anchor
                    (out if before_text else pending).append(element)
                    continue
                anchor = max(lo, min(note.anchor, len(text)))
                rows.append((i, lo, anchor))
                flush()
                out.append(element)
                split, lo = True, anchor
            if kind != "NOTE_LINE":  # a line of notes leaves no line behind
                rows.append((i, lo, len(text.rstrip(_WS))))
        flush()
        return out

    def _action_node(self, rows: list[tuple[int, int, int]], forced: bool, split: bool):
        texts = self.lines.texts
        a, b = 0, len(rows)
        while a < b and not texts[rows[a][0]][rows[a][1]:rows[a][2]].strip(_WS):
            a, split = a + 1, False
        while b > a and not texts[rows[b - 1][0]][rows[b - 1][1]:rows[b - 1][2]].strip(_WS):
            b -= 1
        if a == b:
            return None
        i0, lo0, _ = rows[a]
        i1, lo1, hi1 = rows[b - 1]
        if split:  # after a directive in mid-line, the rest is not indentation
            lo0 += len(texts[i0][lo0:]) - len(texts[i0][lo0:].lstrip(_WS))
            rows[a] = (i0, lo0, rows[a][2])
        hi1 = lo1 + len(texts[i1][lo1:hi1].rstrip(_WS))
        rows[b - 1] = (i1, rows[b - 1][1], hi1)
        raw = "\n".join(texts[i][lo:hi] for i, lo, hi in rows[a:b])
        # The spec: "Tabs are converted to four spaces" (in the text; `raw` stays as written).
        text = plain_text(raw).replace("\t", "    ")
        return nodes.Action(self.lines.span(i0, lo0, i1, hi1), text, raw, forced)

    # ---- dialogue ----------------------------------------------------------------------------

    def dialogue(self, toks):
        lines = self.lines
        texts, table = lines.texts, lines.notes
        i = _index(toks[0])
        text = texts[i]
        lo, hi = _cue_bounds(text)
        cue, cue_span = text[lo:hi], lines.span(i, lo, i, hi)
        character, extension, dual = _split_cue(cue)
        if _HEADING_START.match(cue):
            self.sink.warning(f"'{cue}' is read as a character cue, not a scene heading", cue_span,
                              "a scene heading needs an empty line after it")
        parts: list = []  # speech, parentheticals and directives in source order
        after: list = []  # ordinary notes, emitted after the dialogue
        rows: list[tuple[int, int, int]] = []  # speech lines since the last part: (line, lo, hi)
        lyric = False

        def place(note: _NoteRef) -> bool:
            """Directives go into `parts` here, ordinary notes after the dialogue."""
            element = self._note(note)
            if element is None or isinstance(element, nodes.Note):
                if element is not None:
                    after.append(element)
                return False
            self._speech(rows, parts)
            parts.append(element)
            return True

        for note in table[i]:
            place(note)
        for k in range(1, len(toks)):
            tok = toks[k]
            i = tok.end_line - 3  # _index, inlined: this loop runs for most lines of a script
            kind = tok.type
            text = texts[i]
            if kind == "TEXT" and not table[i]:  # the usual line
                rows.append((i, len(text) - len(text.lstrip(_WS)), len(text.rstrip(_WS))))
                continue
            if kind == "KEEP_BLANK":
                rows.append((i, 0, 0))
                continue
            if kind == "NOTE_LINE":
                for note in table[i]:
                    place(note)
                continue
            lo, hi = _bounds(text)
            if kind == "PAREN":
                self._speech(rows, parts)
                parts.append(nodes.Parenthetical(lines.span(i, lo, i, hi), plain_text(text[lo:hi])))
                for note in table[i]:
                    place(note)
                continue
            if kind == "LYRIC":
                lyric = True
                lo += 1 + len(text[lo + 1:]) - len(text[lo + 1:].lstrip(_WS))
            for note in table[i]:
                anchor = max(lo, min(note.anchor, hi))
                rows.append((i, lo, _back_ws(text, lo, anchor)))
                if place(note):
                    lo = _skip_ws(text, anchor, hi)
                else:
                    rows.pop()  # an ordinary note does not split the line
            rows.append((i, min(lo, hi), hi))
        self._speech(rows, parts)
        speech = " ".join([p.text for p in parts if type(p) is nodes.Speech])
        end = parts[-1].span if parts else cue_span  # parts are in source order
        node = nodes.Dialogue(
            Span(cue_span.file, cue_span.line, cue_span.col, end.end_line, end.end_col), character, extension,
            [p for p in parts if type(p) is nodes.Parenthetical],
            speech, False, cue, cue_span, parts, lyric,
        )
        if not speech.strip():
            self.sink.warning(f"character cue '{cue}' has no dialogue", cue_span)
        if dual:
            self.dual_marks.add(id(node))
        return [node, *after] if after else [node]

    def _speech(self, rows: list[tuple[int, int, int]], parts: list) -> None:
        """The speech lines in `rows`, less empty ones at either end, as one Speech in `parts`."""
        a, b = 0, len(rows)
        while a < b and rows[a][1] == rows[a][2]:
            a += 1
        while b > a and rows[b - 1][1] == rows[b - 1][2]:
            b -= 1
        if a < b:
            texts = self.lines.texts
            i0, lo0, hi0 = rows[a]
            i1, _, hi1 = rows[b - 1]
            if b - a == 1:
                raw = texts[i0][lo0:hi0]
            else:
                raw = "\n".join([texts[i][lo:hi] for i, lo, hi in rows[a:b]])
            parts.append(nodes.Speech(self.lines.span(i0, lo0, i1, hi1), plain_text(raw), raw))
        rows.clear()


def _skip_ws(text: str, at: int, end: int) -> int:
    """First index from `at` (at most `end`) that is not a space or tab."""
    while at < end and text[at] in _WS:
        at += 1
    return at


def _back_ws(text: str, start: int, at: int) -> int:
    """`at` moved back over spaces and tabs, not before `start` (no slice: a line holding many
    notes would copy itself once per note)."""
    while at > start and text[at - 1] in _WS:
        at -= 1
    return at


# White space around a cue name: all of Unicode's, and the invisible zero-width characters, so
# `WILL` followed by a no-break space is the same character as `WILL`.
_INVISIBLE = "\u200b\u2060\ufeff"
_HEADING_START = re.compile(r"(?i:int\./ext|int/ext|int|ext|est|i/e)[. ]")


def _cue_bounds(text: str) -> tuple[int, int]:
    """Start and end of `text` without that white space at either end."""
    lo, hi = 0, len(text)
    while lo < hi and (text[lo].isspace() or text[lo] in _INVISIBLE):
        lo += 1
    while hi > lo and (text[hi - 1].isspace() or text[hi - 1] in _INVISIBLE):
        hi -= 1
    return lo, hi


def _cue_strip(text: str) -> str:
    lo, hi = _cue_bounds(text)
    return text[lo:hi]


def _join(first: Span, last: Span) -> Span:
    return Span(first.file, first.line, first.col, last.end_line, last.end_col)


# ---------------------------------------------------------------------------------------------
# Cues, dual dialogue, scenes

_CONTINUED = {"CONTD", "CONT", "CONTINUED", "CONTINUING"}


@lru_cache(maxsize=4096)  # a script repeats the same few cues hundreds of times
def _split_cue(cue: str) -> tuple[str, str | None, bool]:
    """'@McCLANE (V.O.) (CONT'D) ^' -> ('McCLANE', 'V.O.', True). The grammar's CUE terminal has
    already checked the shape, so plain string operations suffice. Runs of white space inside the
    name become one space, so a no-break space does not make a second character."""
    body = _cue_strip(cue)
    dual = body.endswith("^")
    if dual:
        body = _cue_strip(body[:-1])
    if body.startswith("@"):
        body = body[1:]
    name, _, rest = body.partition("(")
    extensions = []
    for chunk in ("(" + rest).split("(")[1:] if rest else []:
        ext = " ".join(chunk.split(")")[0].split())
        letters = "".join(ch for ch in ext.upper() if ch.isalpha())
        if ext and letters not in _CONTINUED:
            extensions.append(ext)
    return " ".join(_cue_strip(name).split()), (", ".join(extensions) or None), dual


def _pair_dual(elements: list, marks: set, sink: Sink) -> list:
    """`^` on a cue makes it and the dialogue right before it (notes aside) a dual pair."""
    for k, el in enumerate(elements):
        if id(el) not in marks:
            continue
        j = k - 1
        while j >= 0 and isinstance(elements[j], nodes.Note):
            j -= 1
        prev = elements[j] if j >= 0 else None
        if isinstance(prev, nodes.Dialogue) and not prev.dual:
            prev.dual = el.dual = True
        else:
            sink.warning(
                f"dual dialogue marker '^' on '{el.cue}', but no single dialogue comes right before it",
                el.cue_span or el.span,
                "'^' goes on the second of two consecutive cues",
            )
    return elements


_START = attrgetter("line", "col")
_END = attrgetter("end_line", "end_col")


def _scenes(elements: list) -> list[nodes.Scene]:
    scenes: list[nodes.Scene] = []
    current: nodes.Scene | None = None
    for el in elements:
        if isinstance(el, nodes.SceneHeading):
            current = nodes.Scene(el.span, el, [])
            scenes.append(current)
            continue
        if current is None:
            current = nodes.Scene(el.span, None, [])
            scenes.append(current)
        current.body.append(el)
    for scene in scenes:
        # Notes that follow their element can start before it: take the extremes.
        spans = [el.span for el in scene.body]
        if scene.heading:
            spans.append(scene.heading.span)
        first = min(spans, key=_START)
        last = max(spans, key=_END)
        scene.span = _join(first, last)
    return scenes
