"""The normalize pipeline: the passes of every other module, in order, behind `normalize`."""

from __future__ import annotations

import re

from compiler.normalize.abbreviations import _ABBR_TRIGGER, _abbreviations
from compiler.normalize.capitals import _CAPS, _DOTTED, _ROMAN, _caps, _dotted, _roman
from compiler.normalize.characters import _WS, _clean_chars, _strip_emphasis
from compiler.normalize.dates_times import (
    _CLOCK, _DAY_MONTH, _HOUR_MER, _ISO_DATE, _MONTH_DAY, _US_DATE, _clock, _day_month, _hour_meridiem,
    _month_day, _numeric_date,
)
from compiler.normalize.lexicon import _TOKEN, Lexicon, _protect_lexicon, _token_index
from compiler.normalize.money_units import (
    _FEET_INCHES, _FEET_INCHES_WORDS, _MONEY, _MONEY_AFTER, _PERCENT, _UNIT, _feet_inches, _money,
    _money_after, _unit,
)
from compiler.normalize.number_words import _MAX_CARDINAL_DIGITS, _say_number, ordinal, year
from compiler.normalize.numbers import (
    _DECADE_FULL, _DECADE_SHORT, _FRACTION, _LETTER_DIGIT, _MIXED_FRACTION, _NUMBER, _ORDINAL, _PHONE,
    _RANGE, _SPACED_MINUS, _VERSION, _YEAR, _decade_full, _decade_short, _fraction, _mixed_fraction,
    _number, _phone,
)
from compiler.normalize.punctuation import _UNSPEAKABLE, _punctuation, _symbols


def normalize(text: str, lexicon: Lexicon | None = None) -> str:
    """The spoken form of `text`. Never raises: a line is data, and one odd line must not stop a
    build. Every rule is written not to fail (the test suite fuzzes `_normalize` directly); the
    guard only keeps a future rule's bug from becoming a traceback."""
    try:
        return _normalize(text, lexicon)
    except Exception:  # noqa: BLE001 - last resort, see docstring
        return _WS.sub(" ", _clean_chars(text if isinstance(text, str) else str(text))).strip()


def _normalize(text: str, lexicon: Lexicon | None = None) -> str:
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    s = _clean_chars(text)
    s = _strip_emphasis(s)
    protected: list[str] = []
    if lexicon is not None and lexicon.entries:
        s = _protect_lexicon(s, lexicon, protected)
    for gate, steps in _STEPS:
        if gate.search(s):
            for step in steps:
                s = step(s)
    if protected:
        s = _TOKEN.sub(lambda m: protected[_token_index(m.group(1))], s)
        s = _WS.sub(" ", s).strip()
    return s


# The pipeline, in order. Order matters: dates before ranges (2024-03-05), money and units before
# plain numbers, ordinals and decades before years, Roman numerals before capitals. Each group
# runs only when a cheap test says it can match: most dialogue has no digits, and skipping the
# number passes is what keeps 5,000 lines well under a second.


def _sub(pattern: re.Pattern, repl, needs: str = ""):
    """A pass; with `needs`, skipped unless the text holds one of those characters."""
    if not needs:
        return lambda s: pattern.sub(repl, s)
    return lambda s: pattern.sub(repl, s) if any(c in s for c in needs) else s


_HAS_SYMBOL = re.compile(r"[&#@+=%°×]|[0-9]\s?x")

_HAS_DIGIT = re.compile(r"[0-9]")
_HAS_CAPS = re.compile(r"[A-Z][.']?[A-Z]")
_HAS_ROMAN = re.compile(r"[a-z]\s+[IVX]")
_ALWAYS = re.compile(r"")


_NUMBER_STEPS = (  # (characters one of which the pass needs, pattern, replacement)
    _sub(_ISO_DATE, _numeric_date, "-"),
    _sub(_US_DATE, _numeric_date, "/"),
    _sub(_MONTH_DAY, _month_day),
    _sub(_DAY_MONTH, _day_month),
    _sub(_PHONE, _phone, "-"),
    _sub(_SPACED_MINUS, " minus ", "-"),
    _sub(_RANGE, " to ", "-\u2013"),
    _sub(_CLOCK, _clock, ":"),
    _sub(_HOUR_MER, _hour_meridiem, "mM"),
    _sub(_MONEY, _money, "$£€¥₹"),
    _sub(_MONEY_AFTER, _money_after, "€£¢"),
    _sub(_PERCENT, lambda m: _say_number(m.group("num")) + " percent", "%"),
    _sub(_DECADE_FULL, _decade_full, "s"),
    _sub(_DECADE_SHORT, _decade_short, "s"),
    _sub(_FEET_INCHES_WORDS, lambda m: f"{_say_number(m['ft'])} feet {_say_number(m['inch'])} "
         + ("inch" if m["inch"] == "1" else "inches"), "f"),
    _sub(_FEET_INCHES, _feet_inches, "'"),
    _sub(_UNIT, _unit),
    _sub(_ORDINAL, lambda m: ordinal(int(m.group("num").replace(",", "")))
         if len(m.group("num")) <= _MAX_CARDINAL_DIGITS else _say_number(m.group("num")), "snrtSNRT"),
    _sub(_MIXED_FRACTION, _mixed_fraction, "/"),
    _sub(_FRACTION, _fraction, "/"),
)


_STEPS = (
    (_ABBR_TRIGGER, (_abbreviations,)),
    (_HAS_DIGIT, _NUMBER_STEPS),
    (_HAS_SYMBOL, (_symbols,)),
    (_HAS_DIGIT, (
        _sub(_LETTER_DIGIT, " "),
        _sub(_VERSION, lambda m: " point ".join(_say_number(p) for p in m.group().split(".")), "."),
        _sub(_YEAR, lambda m: year(int(m.group("y")))),
        _sub(_NUMBER, _number),
    )),
    # Symbols nobody can say go before the word-level passes, so "Henry$ VIII" is a name again;
    # then abbreviations once more, for those glued to a number until it was spoken ("4Dr.").
    (_ALWAYS, (_sub(_UNSPEAKABLE, " "),)),
    (_ABBR_TRIGGER, (_abbreviations,)),
    (_HAS_ROMAN, (_sub(_ROMAN, _roman),)),
    (_HAS_CAPS, (_sub(_DOTTED, _dotted), _sub(_CAPS, _caps))),
    (_ALWAYS, (_punctuation,)),
)
