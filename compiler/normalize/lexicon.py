"""The pronunciation lexicon: whole-word overrides that win over every other rule.

A matched word's replacement is swapped for a private-use placeholder token while the other
passes run, so no rule can rewrite it; the pipeline puts the replacements back at the end.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from compiler.normalize.characters import _WS, _clean_chars, _strip_emphasis


@dataclass(frozen=True)
class Lexicon:
    """Whole-word pronunciation overrides, e.g. ("Nguyen", "Win"); matched case-insensitively."""

    entries: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_mapping(cls, mapping: dict[str, str]) -> "Lexicon":
        return cls(tuple((str(k), str(v)) for k, v in mapping.items()))


_TOKEN_OPEN, _TOKEN_CLOSE, _TOKEN_DIGIT0 = "\ue000", "\ue001", 0xE010
_TOKEN = re.compile("\ue000([\ue010-\ue019]+)\ue001")


def _token(i: int) -> str:
    return _TOKEN_OPEN + "".join(chr(_TOKEN_DIGIT0 + int(d)) for d in str(i)) + _TOKEN_CLOSE


def _token_index(code: str) -> int:
    return int("".join(str(ord(c) - _TOKEN_DIGIT0) for c in code))


def _lexicon_key(s: str) -> str:
    return _WS.sub(" ", s).strip().casefold()


@functools.lru_cache(maxsize=32)
def _lexicon_pattern(entries: tuple[tuple[str, str], ...]):
    table: dict[str, str] = {}
    for word, spoken in entries:
        key = _lexicon_key(_strip_emphasis(_clean_chars(str(word))))
        if key:
            table[key] = str(spoken)  # a later entry overrides an earlier one
    if not table:
        return None, table
    # Longest first, so "New York" wins over "New".
    alts = [r"\s+".join(re.escape(p) for p in k.split(" ")) for k in sorted(table, key=len, reverse=True)]
    return re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)", re.IGNORECASE), table


def _protect_lexicon(s: str, lexicon: Lexicon, protected: list[str]) -> str:
    pattern, table = _lexicon_pattern(lexicon.entries)
    if pattern is None:
        return s

    def swap(m: re.Match) -> str:
        spoken = table.get(_lexicon_key(m.group()))
        if spoken is None:  # casefold edge cases (e.g. "ß"): leave the word to the other rules
            return m.group()
        protected.append(spoken)
        return _token(len(protected) - 1) if spoken else " "

    return pattern.sub(swap, s)
