"""Inline emphasis shared by the Fountain and Markdown front ends.

    *italic*   **bold**   ***bold italic***   _underline_   \\* (a literal star)

`plain_text(raw)` gives the text with the markers removed and escapes resolved (what a voice
says); `parse_inline(raw)` gives the same text as styled runs.

Rules (a small subset of CommonMark's delimiter algorithm, enough for screenplays):
  * emphasis never crosses a line break;
  * a run of `*` or `_` opens when the next character is not white space and closes when the
    previous one is not; `_` must also not touch a letter or digit on the outer side, so
    snake_case_words stay as written;
  * a closer pairs with the nearest open run of the same character; `***` with `***` is bold
    italic, otherwise two stars make bold and one star italic; markers left unpaired stay text;
  * a backslash before ASCII punctuation makes that character literal; any other backslash is
    kept.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field



@dataclass(frozen=True)
class Run:
    text: str
    bold: bool = False
    italic: bool = False
    underline: bool = False


def plain_text(raw: str) -> str:
    """`raw` without emphasis markers, escapes resolved; line breaks kept."""
    if "*" not in raw and "_" not in raw and "\\" not in raw:
        return raw  # the common case: nothing to resolve
    out = []
    for line in raw.split("\n"):
        tokens = _tokenize(line)
        _match(tokens)
        out.append("".join(t if isinstance(t, str) else t.char * t.remaining for t in tokens))
    return "\n".join(out)


def parse_inline(raw: str) -> list[Run]:
    """`raw` as runs of equally styled text (adjacent runs differ in style)."""
    runs: list[Run] = []
    for i, line in enumerate(raw.split("\n")):
        if i:
            _append(runs, "\n", (False, False, False))
        for text, style in _line_runs(line):
            _append(runs, text, style)
    return runs


@dataclass
class _Delim:
    char: str
    remaining: int
    can_open: bool
    can_close: bool
    opens: list[str] = field(default_factory=list)  # styles this run opens
    closes: list[str] = field(default_factory=list)  # styles this run closes


# One token per match: an escape, a run of one marker character, or plain text up to the next
# marker or backslash.
_TOKEN = re.compile(r"\\([%s])|(\*+|_+)|([^*_\\]+|\\)" % re.escape(string.punctuation))


def _tokenize(line: str) -> list[str | _Delim]:
    tokens: list[str | _Delim] = []
    for m in _TOKEN.finditer(line):
        escaped, run, text = m.groups()
        if run is None:
            tokens.append(text if escaped is None else escaped)
            continue
        i, j = m.span()
        before = line[i - 1] if i else " "
        after = line[j] if j < len(line) else " "
        can_open, can_close = not after.isspace(), not before.isspace()
        if run[0] == "_":
            can_open = can_open and not before.isalnum()
            can_close = can_close and not after.isalnum()
        tokens.append(_Delim(run[0], len(run), can_open, can_close))
    return tokens


def _match(tokens: list[str | _Delim]) -> None:
    """Pair closers with openers in place (fills `opens`/`closes`, lowers `remaining`).

    `stack` holds the open runs in order; `where[char]` the stack indexes of the runs of that
    character, so a closer finds its opener without walking past runs of the other character
    (a line of ` *a` openers and ` a_` closers would otherwise take quadratic time)."""
    stack: list[_Delim] = []
    where: dict[str, list[int]] = {"*": [], "_": []}
    for tok in tokens:
        if isinstance(tok, str):
            continue
        if tok.can_close:
            mine = where[tok.char]
            while tok.remaining and mine:
                k = mine[-1]
                opener = stack[k]
                use = min(opener.remaining, tok.remaining, 3)
                style = _style(tok.char, use)
                opener.remaining -= use
                tok.remaining -= use
                opener.opens.append(style)
                tok.closes.append(style)
                # Openers between the pair can no longer be closed (no overlapping emphasis).
                _truncate(stack, where, k + 1)
                if not opener.remaining:
                    _truncate(stack, where, k)
        if tok.can_open and tok.remaining:
            where[tok.char].append(len(stack))
            stack.append(tok)


def _truncate(stack: list[_Delim], where: dict[str, list[int]], size: int) -> None:
    """Drop the open runs from stack index `size` up; each run is dropped once, so linear overall."""
    del stack[size:]
    for indexes in where.values():
        while indexes and indexes[-1] >= size:
            indexes.pop()


def _style(char: str, count: int) -> str:
    if char == "_":
        return "u"
    return {1: "i", 2: "b", 3: "bi"}[count]


def _line_runs(line: str):
    tokens = _tokenize(line)
    _match(tokens)
    active = {"b": 0, "i": 0, "u": 0}

    def current() -> tuple[bool, bool, bool]:
        return active["b"] > 0, active["i"] > 0, active["u"] > 0

    for tok in tokens:
        if isinstance(tok, str):
            yield tok, current()
            continue
        for style in tok.closes:
            for s in style:
                active[s] -= 1
        if tok.remaining:
            yield tok.char * tok.remaining, current()
        for style in tok.opens:
            for s in style:
                active[s] += 1


def _append(runs: list[Run], text: str, style: tuple[bool, bool, bool]) -> None:
    if not text:
        return
    if runs and (runs[-1].bold, runs[-1].italic, runs[-1].underline) == style:
        runs[-1] = Run(runs[-1].text + text, *style)
    else:
        runs.append(Run(text, *style))
