"""Character clean-up, the first thing every line goes through: Unicode folding (NFKC, curly
quotes, primes, control and private-use characters) and emphasis markers (`*`, `_`, `~`).

The lexicon runs its keys through the same clean-up, so `O’Brien` in the text matches `O'Brien`.
"""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s{2,}|[^\S ]")  # only runs that need changing: single spaces are left alone
_CHAR_MAP = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"',
    "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2012": "\u2014", "\u2015": "\u2014",
    "\u2044": "/",
})
_VULGAR = re.compile(r"[\u00bc-\u00be\u2150-\u215e]")


_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _clean_chars(s: str) -> str:
    if s.isascii():  # the common case: NFKC and the category checks cannot change anything else
        return s if s.isprintable() else _ASCII_CONTROL.sub(" ", s)
    # Vulgar fractions first: NFKC would glue "1½" into "11⁄2".
    s = _VULGAR.sub(lambda m: " " + unicodedata.normalize("NFKC", m.group()) + " ", s)
    s = unicodedata.normalize("NFKC", s).translate(_CHAR_MAP)
    if s.isprintable():
        return s
    out = []
    for ch in s:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Zl", "Zp"):
            out.append(" ")  # tabs, newlines, control characters
        elif cat in ("Cs", "Co", "Cn", "Cf"):
            continue  # surrogates cannot be encoded; private use is ours (placeholders)
        else:
            out.append(ch)
    return "".join(out)


_EMPH_INNER = re.compile(r"(?<=\w)[_*~]+(?=\w)")
_EMPH = re.compile(r"[_*~]+")


def _strip_emphasis(s: str) -> str:
    if "_" not in s and "*" not in s and "~" not in s:
        return s
    return _EMPH.sub("", _EMPH_INNER.sub(" ", s))
