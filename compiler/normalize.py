"""Text normalisation: a line of dialogue as written -> the words a TTS voice should say.

The original text is kept elsewhere for subtitles; this module only produces the spoken form.
`normalize` is a fixed sequence of regex passes (all compiled at import time), each turning one
kind of written token into words: pronunciation lexicon first, then abbreviations, dates, times,
money, percentages, units, ordinals, years, plain numbers, Roman numerals, capitals, and finally
the punctuation that drives prosody. The rules and the choices behind them are in
docs/normalize.md.

Lexicon outputs are swapped for private-use placeholder tokens while the other passes run, so no
rule can rewrite them (the lexicon wins over everything else).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# ---------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class Lexicon:
    """Whole-word pronunciation overrides, e.g. ("Nguyen", "Win"); matched case-insensitively."""

    entries: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_mapping(cls, mapping: dict[str, str]) -> "Lexicon":
        return cls(tuple((str(k), str(v)) for k, v in mapping.items()))


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


# ---------------------------------------------------------------------------------------------
# Number words

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ("", "thousand", "million", "billion", "trillion", "quadrillion")
_MAX_CARDINAL_DIGITS = 18  # beyond quadrillions, read digit by digit (also avoids int() limits)
_IRREGULAR_ORDINALS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth",
    "eight": "eighth", "nine": "ninth", "twelve": "twelfth",
}


def _under_100(n: int) -> str:
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")


def _under_1000(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    words = [f"{_ONES[hundreds]} hundred"] if hundreds else []
    if rest:
        words.append(_under_100(rest))
    return " ".join(words)


def cardinal(n: int) -> str:
    """American style, no "and": 1205 -> "one thousand two hundred five"."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n == 0:
        return "zero"
    if n >= 10 ** _MAX_CARDINAL_DIGITS:
        return _digits(str(n))
    groups = []
    scale = 0
    while n:
        n, group = divmod(n, 1000)
        if group:
            groups.append(_under_1000(group) + (f" {_SCALES[scale]}" if scale else ""))
        scale += 1
    return " ".join(reversed(groups))


def ordinal(n: int) -> str:
    words = cardinal(n)
    head, sep, last = words.rpartition(" ")
    pre, hyphen, tail = last.rpartition("-")
    if tail in _IRREGULAR_ORDINALS:
        tail = _IRREGULAR_ORDINALS[tail]
    elif tail.endswith("y"):
        tail = tail[:-1] + "ieth"
    else:
        tail += "th"
    return head + sep + pre + hyphen + tail


def year(n: int) -> str:
    """1984 -> nineteen eighty-four, 1905 -> nineteen oh five, 2005 -> two thousand five,
    2010 -> twenty ten, 1900 -> nineteen hundred."""
    if n % 1000 == 0 or 2000 <= n <= 2009 or not 1000 <= n <= 9999:
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{_under_100(high)} hundred"
    if low < 10:
        return f"{_under_100(high)} oh {_ONES[low]}"
    return f"{_under_100(high)} {_under_100(low)}"


def _digits(s: str, zero: str = "zero") -> str:
    return " ".join(zero if c == "0" else _ONES[int(c)] for c in s if c.isdigit() and c.isascii())


def _plural_word(words: str) -> str:
    """Pluralise the last number word: nineteen nineties, two thousands, sixes."""
    if words.endswith("y"):
        return words[:-1] + "ies"
    if words.endswith(("x", "s")):
        return words + "es"
    return words + "s"


def _say_number(num: str) -> str:
    """A numeric string as written ("-1,200.50", "007", "3.14") -> words."""
    neg = num.startswith("-")
    num = num.lstrip("-")
    whole, _, frac = num.partition(".")
    whole = whole.replace(",", "")
    if not whole:
        words = "zero"
    elif len(whole) > 1 and whole.startswith("0"):
        words = _digits(whole, zero="oh")  # codes and agent numbers: "oh oh seven"
    elif len(whole) > _MAX_CARDINAL_DIGITS:
        words = _digits(whole)
    else:
        words = cardinal(int(whole))
    if frac:
        words += " point " + _digits(frac)
    return ("minus " + words) if neg else words


# A number as written: thousands groups only when every group has three digits.
_NUM = r"(?:[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+)(?:\.[0-9]+)?"
# "Not glued to a word or another number" on the left.
_LEFT = r"(?<![\w.,])"


def _is_one(num: str) -> bool:
    return num.lstrip("-") == "1"


# ---------------------------------------------------------------------------------------------
# Characters, emphasis, lexicon

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


# ---------------------------------------------------------------------------------------------
# Abbreviations


def _sentence_ends_after(s: str, end: int) -> bool:
    """Whether an abbreviation's period at s[end-1] also ends the sentence."""
    rest = s[end:]
    return not rest.strip() or bool(re.match(r"\s+[\"']?[A-Z]", rest))


_TITLES = {
    "mr": "Mister", "mrs": "Missus", "ms": "Miz", "mx": "Mix", "prof": "Professor",
    "capt": "Captain", "sgt": "Sergeant", "lt": "Lieutenant", "col": "Colonel", "gen": "General",
    "rev": "Reverend", "det": "Detective", "cpl": "Corporal", "pvt": "Private", "adm": "Admiral",
    "gov": "Governor", "sen": "Senator", "mt": "Mount",
}
_NAME_AFTER = r"(?=\s+(?:[A-Z]|\ue000))"
_TITLE_DOT = re.compile(r"\b(" + "|".join(_TITLES) + r")\.(?=\s)", re.IGNORECASE)
# Without the period only before a capitalised word ("Mr Smith"): "gen" or "col" alone are words.
_TITLE_BARE = re.compile(r"\b(Mr|Mrs|Ms|Mx|Prof|Capt|Sgt|Lt|Mt|MR|MRS|MS|PROF|CAPT|SGT)" + _NAME_AFTER)
# St./Dr.: Saint/Doctor before a name, Street/Drive after one ("Baker St.", "5th St.").
_ST_DR = re.compile(r"(?:\b(?P<prev>[A-Za-z0-9]+) )?\b(?P<abbr>St|Dr|ST|DR)(?P<dot>\.)?(?!\w)")
_SUFFIXES = {
    "jr": "Junior", "sr": "Senior", "etc": "et cetera", "vs": "versus", "inc": "Incorporated",
    "ltd": "Limited", "corp": "Corporation", "approx": "approximately", "dept": "department",
    "ave": "Avenue", "blvd": "Boulevard", "est": "established",
}
_SUFFIX_DOT = re.compile(r"\b(" + "|".join(_SUFFIXES) + r")\.", re.IGNORECASE)
_VS_BARE = re.compile(r"(?<=\s)(?:vs|v\.)(?=\s)")
_LATIN = re.compile(r"(?<![\w])(e\.\s?g|i\.\s?e|a\.\s?k\.\s?a)\.?(?![\w])", re.IGNORECASE)
_LATIN_WORDS = {"eg": "for example", "ie": "that is", "aka": "also known as"}
_NUMBER_SIGN = re.compile(r"\b[Nn][Oo]\.\s?(?=[0-9])|#\s?(?=[0-9])")
_WITH = re.compile(r"(?<![\w/])w/(?=\s)")


_ALWAYS_TITLES = {"mr", "mrs", "ms", "mx", "prof"}


def _expand_title(m: re.Match) -> str:
    key = m.group(1).lower()
    if re.match(r"\s+(?:[A-Z]|\ue000)", m.string[m.end():]):
        return _TITLES[key]
    if key not in _ALWAYS_TITLES:
        return m.group()  # "the gen. pop." is no general
    return _TITLES[key] + ("." if _sentence_ends_after(m.string, m.end()) else "")


def _expand_st_dr(m: re.Match) -> str:
    s, abbr, dot = m.string, m.group("abbr").lower(), m.group("dot")
    after_name = bool(re.match(r"\s+(?:[A-Z]|\ue000)", s[m.end():]))
    prev = m.group("prev") or ""
    before = s[: m.start("prev")].rstrip() if prev else ""
    # A capitalised word that starts a sentence is no street name ("Bless St. Patrick").
    starts_sentence = not before or before[-1] in ".!?"
    prev_is_name = bool(prev) and (prev[0].isdigit() or (prev[0].isupper() and not starts_sentence))
    prefix = prev + " " if prev else ""
    if prev_is_name and not after_name:
        word = "Street" if abbr == "st" else "Drive"
    elif after_name or dot:
        word = "Saint" if abbr == "st" else "Doctor"
    else:
        return m.group()  # bare "St"/"Dr" with no context: leave it
    if dot and not after_name and _sentence_ends_after(s, m.end()):
        word += "."
    return prefix + word


def _expand_suffix(m: re.Match) -> str:
    word = _SUFFIXES[m.group(1).lower()]
    return word + "." if _sentence_ends_after(m.string, m.end()) else word


def _expand_latin(m: re.Match) -> str:
    key = re.sub(r"[.\s]", "", m.group(1)).lower()
    word = _LATIN_WORDS[key]
    return word + "." if m.group().endswith(".") and not m.string[m.end():].strip() else word


_ABBR_TRIGGER = re.compile(
    r"\b(?:" + "|".join([*_TITLES, *_SUFFIXES, "st", "dr", "no", "vs", "v", "w"]) + r")\b|[eia]\.\s?[gek]|#",
    re.IGNORECASE,
)


def _abbreviations(s: str) -> str:
    s = _LATIN.sub(_expand_latin, s)
    s = _NUMBER_SIGN.sub("number ", s)
    s = _WITH.sub("with", s)
    s = _ST_DR.sub(_expand_st_dr, s)
    s = _TITLE_DOT.sub(_expand_title, s)
    s = _TITLE_BARE.sub(_expand_title, s)
    s = _SUFFIX_DOT.sub(_expand_suffix, s)
    return _VS_BARE.sub("versus", s)


# ---------------------------------------------------------------------------------------------
# Dates and times

_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_MONTH_ABBR = {m[:3].lower(): m for m in _MONTHS} | {"sept": "September"}
_MONTH_NAME = r"(?P<month>" + "|".join(_MONTHS + [a.capitalize() for a in _MONTH_ABBR]) + r")"
_DAY = r"(?P<day>[0-9]{1,2})(?:st|nd|rd|th)?"
_YEAR_TAIL = r"(?:,?\s(?P<year>[0-9]{4})(?![0-9]))?"
_MONTH_DAY = re.compile(
    r"\b" + _MONTH_NAME + r"\.?\s" + _DAY + r"(?![\w:]|[.,][0-9])" + _YEAR_TAIL
)
_DAY_MONTH = re.compile(
    r"(?P<the>\bthe\s)?" + _LEFT + _DAY + r"\s" + _MONTH_NAME + r"\b(?P<dot>\.)?" + _YEAR_TAIL
)
_ISO_DATE = re.compile(r"(?<![\w-])(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})(?![\w-])")
_US_DATE = re.compile(
    r"(?<![\w/])(?P<month>[0-9]{1,2})/(?P<day>[0-9]{1,2})/(?P<year>[0-9]{4}|[0-9]{2})(?![\w/])"
)


def _month(name: str) -> str:
    return _MONTH_ABBR.get(name.lower()[:3], name)


def _year_suffix(y: str | None) -> str:
    if not y:
        return ""
    if len(y) == 2:
        return ", " + (f"oh {_ONES[int(y)]}" if y.startswith("0") else _under_100(int(y)))
    return ", " + year(int(y))


def _month_day(m: re.Match) -> str:
    day = int(m.group("day"))
    if not 1 <= day <= 31:
        return m.group()
    return f"{_month(m.group('month'))} {ordinal(day)}{_year_suffix(m.group('year'))}"


def _day_month(m: re.Match) -> str:
    day = int(m.group("day"))
    if not 1 <= day <= 31:
        return m.group()
    the = m.group("the") or "the "
    # "Mar." loses its period; after a full name ("3 March.") the period ends the sentence.
    stop = "." if m.group("dot") and m.group("month") in _MONTHS and not m.group("year") else ""
    return f"{the}{ordinal(day)} of {_month(m.group('month'))}{_year_suffix(m.group('year'))}{stop}"


def _numeric_date(m: re.Match) -> str:
    month, day = int(m.group("month")), int(m.group("day"))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group()
    return f"{_MONTHS[month - 1]} {ordinal(day)}{_year_suffix(m.group('year'))}"


_MERIDIEM = r"(?:\s?(?P<mer>[AaPp])\.?\s?[Mm]\b\.?)"
_CLOCK = re.compile(_LEFT + r"(?P<h>[0-9]{1,2}):(?P<m>[0-5][0-9])(?![0-9]|:[0-9])" + _MERIDIEM + "?")
_HOUR_MER = re.compile(_LEFT + r"(?P<h>[0-9]{1,2})" + _MERIDIEM)


def _meridiem(m: re.Match) -> str:
    mer = m.group("mer")
    # "a.m." is read as the letters by espeak-ng and by neural voices; bare "a m" reads "uh m".
    return f" {mer.lower()}.m." if mer else ""


def _clock(m: re.Match) -> str:
    h, mins, mer = int(m.group("h")), int(m.group("m")), m.group("mer")
    if h > 24 or (mer and not 1 <= h <= 12):
        return m.group()
    if mins == 0:
        tail = "" if mer else (" hundred" if h > 12 or h == 0 else " o'clock")
    elif mins < 10:
        tail = f" oh {_ONES[mins]}"
    else:
        tail = " " + _under_100(mins)
    return cardinal(h) + tail + _meridiem(m)


def _hour_meridiem(m: re.Match) -> str:
    h = int(m.group("h"))
    return cardinal(h) + _meridiem(m) if 1 <= h <= 12 else m.group()


# ---------------------------------------------------------------------------------------------
# Ranges, phone numbers, money, percentages, units

_PHONE = re.compile(r"(?<![\w-])(?:1-)?(?:[0-9]{3}-)?[0-9]{3}-[0-9]{4}(?![\w-])")
_RANGE = re.compile(r"(?<=[0-9])\s?[\u2013-]\s?(?=[0-9])")
_SPACED_MINUS = re.compile(r"(?<=[0-9]) - (?=[0-9])")


def _phone(m: re.Match) -> str:
    return ", ".join(_digits(group, zero="oh") for group in m.group().split("-"))


_CURRENCIES = {  # symbol: (one, many, minor one, minor many)
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", None, None),
    "₹": ("rupee", "rupees", None, None),
}
_SCALE_ABBR = {"k": "thousand", "m": "million", "mn": "million", "bn": "billion", "b": "billion",
               "tn": "trillion"}
_MONEY = re.compile(
    r"(?:(?<=^)|(?<=[\s(\"'\-/]))(?P<neg>-)?(?P<sym>[$£€¥₹])\s?(?P<num>" + _NUM + r")"
    r"(?:\s(?P<scale>thousand|million|billion|trillion)\b|(?P<abbr>[kKmM]|bn|tn|[bB]|mn)(?![\w]))?"
)
_MONEY_AFTER = re.compile(_LEFT + r"(?P<num>" + _NUM + r")\s?(?P<sym>[€£¢])")


def _money_words(sym: str, num: str, scale: str | None) -> str:
    one, many, minor_one, minor_many = _CURRENCIES[sym]
    if scale:
        return f"{_say_number(num)} {scale} {many}"
    whole, _, frac = num.partition(".")
    major = int(whole.replace(",", "")) if len(whole) <= _MAX_CARDINAL_DIGITS + 4 else None
    if major is None or minor_one is None or len(frac) > 2:
        return f"{_say_number(num)} {one if _is_one(num) else many}"
    cents = int(frac.ljust(2, "0")) if frac else 0
    major_words = f"{cardinal(major)} {one if major == 1 else many}"
    if not cents:
        return major_words
    minor_words = f"{cardinal(cents)} {minor_one if cents == 1 else minor_many}"
    return minor_words if major == 0 else f"{major_words} and {minor_words}"


def _money(m: re.Match) -> str:
    scale = m.group("scale") or _SCALE_ABBR.get((m.group("abbr") or "").lower())
    words = _money_words(m.group("sym"), m.group("num"), scale)
    return ("minus " + words) if m.group("neg") else words


def _money_after(m: re.Match) -> str:
    sym, num = m.group("sym"), m.group("num")
    if sym == "¢":
        return f"{_say_number(num)} {'cent' if _is_one(num) else 'cents'}"
    return _money_words(sym, num, None)


_PERCENT = re.compile(r"(?:(?<=^)|(?<=[^\w.,]))(?P<num>-?" + _NUM + r")\s?%")

# unit: (singular, plural). Single letters only when glued to the number ("5m", not "5 m").
_UNITS = {
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "mi": ("mile", "miles"), "ft": ("foot", "feet"),
    "yd": ("yard", "yards"), "yds": ("yard", "yards"),
    "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"), "mL": ("milliliter", "milliliters"),
    "l": ("liter", "liters"), "L": ("liter", "liters"),
    "mph": ("mile per hour", "miles per hour"), "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "hr": ("hour", "hours"), "hrs": ("hour", "hours"), "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"), "sec": ("second", "seconds"), "secs": ("second", "seconds"),
    "ms": ("millisecond", "milliseconds"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "KB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"), "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"),
    "W": ("watt", "watts"), "kW": ("kilowatt", "kilowatts"), "V": ("volt", "volts"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"), "°C": ("degree Celsius", "degrees Celsius"),
    "°": ("degree", "degrees"),
}
_GLUED_ONLY = {"l", "L", "W", "V"}  # "5 V" could be a letter, "5 l" a typo
_UNIT = re.compile(
    r"(?:(?<=^)|(?<=[^\w.,]))(?P<num>-?" + _NUM + r")(?P<sp>\s?)"
    r"(?P<unit>" + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True)) + r")"
    r"(?P<dot>\.(?=\s+[a-z]))?(?![\w/])"
)
_FEET_INCHES_WORDS = re.compile(
    _LEFT + r"(?P<ft>[0-9]{1,2})\s?ft\.?\s(?P<inch>1[01]|[0-9])\s?in\b(?P<dot>\.(?=\s+[a-z]))?"
)
_VERSION = re.compile(_LEFT + r"[0-9]+(?:\.[0-9]+){2,}(?![0-9])")
_FEET_INCHES = re.compile(r"(?<![\w'])(?P<ft>[0-9]{1,2})\s?'\s?(?P<inch>1[01]|[0-9])\s?(?:\"|'')?(?![\w'])")
_DECADE_FULL = re.compile(r"(?<![\w'])(?P<y>1[0-9][0-9]0|20[0-9]0)'?s\b")
_DECADE_SHORT = re.compile(r"(?:(?<=^)|(?<=[^\w]))(?P<apos>')?(?P<d>[0-9]0)'?s\b")


def _unit(m: re.Match) -> str:
    unit, num = m.group("unit"), m.group("num")
    if m.group("sp") and unit in _GLUED_ONLY:
        return m.group()
    one, many = _UNITS[unit]
    return f"{_say_number(num)} {one if _is_one(num) else many}"


def _feet_inches(m: re.Match) -> str:
    return f"{cardinal(int(m.group('ft')))} foot {cardinal(int(m.group('inch')))}"


def _decade_full(m: re.Match) -> str:
    return _plural_word(year(int(m.group("y"))))


def _decade_short(m: re.Match) -> str:
    d = int(m.group("d"))
    return _plural_word(_under_100(d) if d else "two thousand")


# ---------------------------------------------------------------------------------------------
# Ordinals, fractions, symbols, years, plain numbers

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


# ---------------------------------------------------------------------------------------------
# Roman numerals after a name

_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10}
# Words after which a numeral is a plain number: "World War II" -> "World War Two".
_COUNTING_WORDS = {
    "War", "Part", "Chapter", "Act", "Scene", "Volume", "Vol", "Book", "Phase", "Type", "Class",
    "Level", "Stage", "Round", "Episode", "Season", "Section", "Article", "Grade", "Mark", "Rocky",
    "Apollo", "Gemini", "Title", "Psalm", "Appendix", "Figure", "Version",
}
_ROMAN = re.compile(
    r"\b(?P<name>[A-Z][a-z]+)\s+(?=[IVX])(?P<num>X{0,3}(?:IX|IV|V?I{0,3}))\b(?P<poss>'s\b)?(?!['\-]\w)"
    r"(?P<after>\s*[.,;:!?]|\s*$)?"
)


def _roman_value(s: str) -> int:
    total = 0
    for a, b in zip(s, s[1:] + " "):
        v = _ROMAN_VALUES[a]
        total += -v if b != " " and _ROMAN_VALUES[b] > v else v
    return total


def _roman(m: re.Match) -> str:
    name, num = m.group("name"), m.group("num")
    if not num:
        return m.group()
    counting = name in _COUNTING_WORDS
    # A lone "I" is the pronoun unless it ends the phrase ("Elizabeth I."); a lone "X" is a letter
    # ("Malcolm X", "Press X").
    if not counting and (num == "X" or (num == "I" and m.group("after") is None)):
        return m.group()
    value = _roman_value(num)
    words = cardinal(value) if counting else ordinal(value)
    spoken = re.sub(r"(?:^|(?<=[ -]))[a-z]", lambda c: c.group().upper(), words)  # Twenty-First
    spoken = spoken if counting else "the " + spoken
    return f"{name} {spoken}{m.group('poss') or ''}{m.group('after') or ''}"


# ---------------------------------------------------------------------------------------------
# Capitals: shouting -> lower case; acronyms -> letters; pronounceable acronyms -> a word

_SPELLED = set(
    "FBI CIA USA UK EU UN TV DNA RNA OK ID IQ AI ATM CEO CFO IBM BBC CNN NBA NFL NHL EPA FDA FAA "
    "IRS NSA KGB LA NY NYC DC DA ER ICU EMT IOU USB PDF CPU GPU URL PC VIP AKA ASAP PTA AA "
    "POW MIA DOA DUI GPS SUV BMW AC BC AD CD DVD OJ PE UV VHS IRA ETA EMS CPR DOJ DOD MIT UCLA "
    "NYPD LAPD FYI BFF DIY RIP UFO ABC CBS NBC ESPN HBO MTV SOS TBA TBD EOD PR HR IT AV AI".split()
)
_PRONOUNCED = set(
    "NASA NATO UNESCO UNICEF LASER RADAR SCUBA AIDS OPEC FIFA NAFTA SWAT AWOL FEMA NASDAQ SARS "
    "ASCII GIF JPEG SIM PIN ZIP NASCAR".split()
)
_AMBIGUOUS = {"US", "IT", "OR", "ER", "AM", "PM", "RIP", "ID", "AD", "PR"}  # also ordinary words
_INTERJECTION = re.compile(r"(?:H+M+|M+|S+H+|B+R+|G+R+|Z+|P+S+T+|T+S+K+|P+F+T+|H+|C+H+)")
_VOWELS = set("AEIOUY")
_CAPS = re.compile(r"(?<![\w'])(?P<word>[A-Z]+(?:'[A-Z]+)*)(?P<suffix>'?s)?(?![\w])")
_DOTTED = re.compile(r"(?<![\w.])(?P<letters>(?:[A-Z]\.){2,})")


def _spell(word: str) -> str:
    # espeak-ng reads a lone capital "A" before another letter as the article "uh";
    # "A-T M" keeps it a letter name while the rest stays space separated.
    out = ""
    for i, ch in enumerate(word):
        out += ch
        if i + 1 < len(word):
            out += "-" if ch == "A" else " "
    return out


def _is_caps_word(w: str) -> bool:
    letters = w.replace("'", "")
    return len(letters) >= 2 and letters.isalpha() and letters.isupper()


def _neighbour_shouts(s: str, start: int, end: int) -> bool:
    before = re.search(r"([A-Za-z']+)[^A-Za-z']*$", s[max(0, start - 40):start])
    after = re.match(r"[^A-Za-z']*([A-Za-z']+)", s[end:end + 40])
    return any(m is not None and _is_caps_word(m.group(1)) for m in (before, after))


def _caps(m: re.Match) -> str:
    word, suffix = m.group("word"), m.group("suffix") or ""
    letters = word.replace("'", "")
    if len(letters) < 2:
        return m.group()
    plural = "'s" if suffix else ""
    if word in _PRONOUNCED:
        return word.capitalize() + suffix
    if word in _AMBIGUOUS and _neighbour_shouts(m.string, m.start(), m.end()):
        return _lower(word) + suffix.lower()
    if word in _SPELLED or word in _AMBIGUOUS:
        return _spell(word) + plural
    if len(word) <= 4 and not (_VOWELS & set(word)) and not _INTERJECTION.fullmatch(word):
        return _spell(word) + plural
    return _lower(word) + suffix.lower()


def _lower(word: str) -> str:
    low = word.lower()
    return "I" + low[1:] if low.startswith("i'") else low


def _dotted(m: re.Match) -> str:
    letters = m.group("letters").replace(".", "")
    spoken = _spell(letters)
    return spoken + "." if not m.string[m.end():].strip() else spoken


# ---------------------------------------------------------------------------------------------
# Punctuation: pauses and prosody

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


# ---------------------------------------------------------------------------------------------
# The pipeline, in order. Order matters: dates before ranges (2024-03-05), money and units before
# plain numbers, ordinals and decades before years, Roman numerals before capitals. Each group
# runs only when a cheap test says it can match: most dialogue has no digits, and skipping the
# number passes is what keeps 5,000 lines well under a second.


def _sub(pattern: re.Pattern, repl, needs: str = ""):
    """A pass; with `needs`, skipped unless the text holds one of those characters."""
    if not needs:
        return lambda s: pattern.sub(repl, s)
    return lambda s: pattern.sub(repl, s) if any(c in s for c in needs) else s


def _symbols(s: str) -> str:
    for trigger, pattern, repl in _SYMBOLS:
        if trigger.search(s):
            s = pattern.sub(repl, s)
    return s


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
    _sub(_ISO_DATE, _numeric_date),
    _sub(_US_DATE, _numeric_date),
    _sub(_MONTH_DAY, _month_day),
    _sub(_DAY_MONTH, _day_month),
    _sub(_PHONE, _phone),
    _sub(_SPACED_MINUS, " minus "),
    _sub(_RANGE, " to "),
    _sub(_CLOCK, _clock),
    _sub(_HOUR_MER, _hour_meridiem),
    _sub(_MONEY, _money),
    _sub(_MONEY_AFTER, _money_after),
    _sub(_PERCENT, lambda m: _say_number(m.group("num")) + " percent"),
    _sub(_DECADE_FULL, _decade_full),
    _sub(_DECADE_SHORT, _decade_short),
    _sub(_FEET_INCHES_WORDS, lambda m: f"{_say_number(m['ft'])} feet {_say_number(m['inch'])} "
         + ("inch" if m["inch"] == "1" else "inches")),
    _sub(_FEET_INCHES, _feet_inches),
    _sub(_UNIT, _unit),
    _sub(_ORDINAL, lambda m: ordinal(int(m.group("num").replace(",", "")))
         if len(m.group("num")) <= _MAX_CARDINAL_DIGITS else _say_number(m.group("num"))),
    _sub(_MIXED_FRACTION, _mixed_fraction),
    _sub(_FRACTION, _fraction),
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
