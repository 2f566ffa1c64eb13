"""The number passes that are not dates, times, money or units: phone numbers, ranges, decades,
ordinals (1st), fractions, version numbers, letter/digit splitting, years and plain numbers.
"""

from __future__ import annotations

import re

from compiler.normalize.number_words import (
    _LEFT, _NUM, _digits, _plural_word, _say_number, _under_100, cardinal, ordinal, year,
)

# Phone numbers and ranges

_PHONE = re.compile(r"(?<![\w-])(?:1-)?(?:[0-9]{3}-)?[0-9]{3}-[0-9]{4}(?![\w-])")
_RANGE = re.compile(r"(?<=[0-9])\s?[\u2013-]\s?(?=[0-9])")
_SPACED_MINUS = re.compile(r"(?<=[0-9]) - (?=[0-9])")


def _phone(m: re.Match) -> str:
    return ", ".join(_digits(group, zero="oh") for group in m.group().split("-"))


# Decades and version numbers

_DECADE_FULL = re.compile(r"(?<![\w'])(?P<y>1[0-9][0-9]0|20[0-9]0)'?s\b")
_DECADE_SHORT = re.compile(r"(?:(?<=^)|(?<=[^\w]))(?P<apos>')?(?P<d>[0-9]0)'?s\b")
_VERSION = re.compile(_LEFT + r"[0-9]+(?:\.[0-9]+){2,}(?![0-9])")


def _decade_full(m: re.Match) -> str:
    return _plural_word(year(int(m.group("y"))))


def _decade_short(m: re.Match) -> str:
    d = int(m.group("d"))
    return _plural_word(_under_100(d) if d else "two thousand")


# Ordinals and fractions

_ORDINAL = re.compile(_LEFT + r"(?P<num>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:st|nd|rd|th|ST|ND|RD|TH)\b")
_MIXED_FRACTION = re.compile(_LEFT + r"(?P<whole>[0-9]+)\s(?P<n>[0-9])/(?P<d>[0-9]{1,2})(?![\w/])")
_FRACTION = re.compile(r"(?<![\w/.,])(?P<n>[0-9]+)/(?P<d>[0-9]+)(?![\w/])")


def _fraction_words(n: int, d: int) -> str | None:
    """Proper fractions with small denominators; "24/7" and "50/50" are not fractions."""
    if not (0 < n < d <= 10):
        return None
    if d == 2:
        name = "half" if n == 1 else "halves"
    elif d == 4:
        name = "quarter" if n == 1 else "quarters"
    else:
        name = ordinal(d) + ("" if n == 1 else "s")
    return f"{cardinal(n)} {name}"


def _mixed_fraction(m: re.Match) -> str:
    n, d = int(m.group("n")), int(m.group("d"))
    words = _fraction_words(n, d)
    if words is None:
        return m.group()
    words = "a half" if (n, d) == (1, 2) else words
    return f"{_say_number(m.group('whole'))} and {words}"


def _fraction(m: re.Match) -> str:
    n, d = m.group("n"), m.group("d")
    words = _fraction_words(int(n), int(d)) if len(n) < 4 and len(d) < 4 else None
    return words if words else f"{_say_number(n)} {_say_number(d)}"


# Letters glued to digits, years, plain numbers

_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])-?(?=[0-9])|(?<=[0-9])-?(?=[^\W\d_])")
_YEAR = re.compile(r"(?<![\w.,$£€¥\-])(?P<y>1[1-9][0-9]{2}|20[0-9]{2})(?![0-9]|[.,][0-9])")
_NEGATIVE = r"(?:(?<=^)|(?<=[\s(\"'/]))-"
_NUMBER = re.compile(
    r"(?P<num>(?:" + _NEGATIVE + r")?(?<![0-9])" + _NUM + r")|(?<![\w.])\.(?P<frac>[0-9]+)"
)


def _number(m: re.Match) -> str:
    if m.group("frac"):
        return "point " + _digits(m.group("frac"))
    return _say_number(m.group("num"))
