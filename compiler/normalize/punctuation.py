"""Symbols said as words (&, #, @, %, °, x), then the punctuation that drives prosody: quotes,
dashes, parentheses and ellipses become pauses, and spacing around punctuation is tidied.
"""

from __future__ import annotations

import re

from compiler.normalize.capitals import _spell
from compiler.normalize.characters import _WS

# Symbols

_SYMBOLS = [  # (cheap trigger, pattern, replacement)
    (re.compile("&"), re.compile(r"\b([A-Z]{1,3})&([A-Z]{1,3})\b"),
     lambda m: f"{_spell(m[1])} and {_spell(m[2])}"),  # AT&T, R&D
    (re.compile("#"), re.compile(r"#(?=[^\W\d_])"), " hashtag "),
    (re.compile("#"), re.compile(r"#"), " number "),
    (re.compile("&"), re.compile(r"&"), " and "),
    (re.compile("@"), re.compile(r"@"), " at "),
    (re.compile(r"\+"), re.compile(r"\+"), " plus "),
    (re.compile("="), re.compile(r"="), " equals "),
    (re.compile("%"), re.compile(r"%"), " percent "),
    (re.compile("°"), re.compile(r"°"), " degrees "),
    (re.compile(r"[0-9]\s?[x×]|×"), re.compile(r"(?<=[0-9])\s?[x×]\s?(?=[0-9])|×"), " by "),
    (re.compile("[0-9]x"), re.compile(r"(?<=[0-9])x\b"), " times"),
]


def _symbols(s: str) -> str:
    for trigger, pattern, repl in _SYMBOLS:
        if trigger.search(s):
            s = pattern.sub(repl, s)
    return s


# Pauses and prosody

_ELLIPSIS = re.compile(r"\.{2,}")
_DASHES = re.compile(r"--+|[\u2013()]|(?<=\s)-(?=\s)|(?<=\w)-(?=\s|$)")
_LEAD_PAUSE = re.compile(r"^[\s\u2026\u2014,]+")
_TRAIL_ELLIPSIS = re.compile(r"[\s,\u2014]*\u2026[\s\u2026\u2014,]*$")
_TRAIL_DASH = re.compile(r"[\s,]*\u2014[\s\u2014,]*$")
_PAUSE_BEFORE_PUNCT = re.compile(r"[\s,]*[\u2026\u2014][\s\u2026\u2014,]*(?=[.!?;:])")
_PAUSE_AFTER_PUNCT = re.compile(r"(?<=[.!?;:])(?<![ap]\.m\.)[\s,]*[\u2026\u2014][\s\u2026\u2014,]*")
_PAUSE = re.compile(r"[\s,]*[\u2026\u2014][\s\u2026\u2014,]*")
# Everything a voice cannot say: quotes, brackets, slashes, leftover symbols, emoji.
_UNSPEAKABLE = re.compile(r"[^\w\s.,!?;:'()\-\u00a1\u00bf\u2013\u2014\ue000-\ue0ff]|_")
_LONE_APOSTROPHE = re.compile(r"(?<!\w)'(?!\w)")
_LONE_HYPHEN = re.compile(r"(?<!\w)-+|-+(?!\w)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+(?=[.,!?;:])")
_SPACE_AFTER_PUNCT = re.compile(r"([,;:!?])(?=[^\W_])")
_COMMA_RUN = re.compile(r",(?:\s*,)+")
_COMMA_BEFORE_STOP = re.compile(r",\s*(?=[.!?;:])")
_STOP_BEFORE_COMMA = re.compile(r"([!?;:.]),")
_NEEDS_SPACING = re.compile(r"\s[.,!?;:]|[,;:!?][^\W_]|,\s*[,.!?;:]|[!?;:.],|\.\.")
_STOP_RUN = re.compile(r"\.{2,}")  # real ellipses are gone by now; what is left are artefacts
_LEAD_PUNCT = re.compile(r"^[\s,;:.]+(?=\S)")


def _punctuation(s: str) -> str:
    if ".." in s:
        s = _ELLIPSIS.sub("\u2026", s)
    if "-" in s or "(" in s or ")" in s or "\u2013" in s:
        s = _DASHES.sub("\u2014", s)
    if "'" in s:
        s = _LONE_APOSTROPHE.sub(" ", s)
    if "-" in s:
        s = _LONE_HYPHEN.sub(" ", s)
    if "\u2026" in s or "\u2014" in s:
        s = _LEAD_PAUSE.sub("", s)
        # espeak-ng drops "..." without a pause (measured), so an ellipsis becomes a comma inside
        # a line and a full stop at its end; an interrupting dash at the end keeps a comma.
        s = _TRAIL_ELLIPSIS.sub(".", s)
        s = _TRAIL_DASH.sub(",", s)
        s = _PAUSE_BEFORE_PUNCT.sub("", s)
        s = _PAUSE_AFTER_PUNCT.sub(" ", s)
        s = _PAUSE.sub(", ", s)
    if _NEEDS_SPACING.search(s):
        s = _SPACE_BEFORE_PUNCT.sub("", s)
        s = _COMMA_RUN.sub(",", s)
        s = _COMMA_BEFORE_STOP.sub("", s)
        s = _STOP_BEFORE_COMMA.sub(_stop_before_comma, s)
        s = _SPACE_AFTER_PUNCT.sub(r"\1 ", s)
        s = _STOP_RUN.sub(".", s)
    s = _WS.sub(" ", s).strip()
    return _LEAD_PUNCT.sub("", s) if s.strip(" ,;:.") else ""


def _stop_before_comma(m: re.Match) -> str:
    # "Wait!, no" -> "Wait! no", but "at 7 p.m., then" keeps its comma.
    before = m.string[max(0, m.start() - 3):m.start()]
    return m.group() if m.group(1) == "." and before in ("a.m", "p.m") else m.group(1)
