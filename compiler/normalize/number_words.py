"""Numbers as words: cardinals, ordinals, years, digit-by-digit and decimal readings.

These are plain functions of a number (or a numeric string as written); the regex passes that
find numbers in a line live in `numbers`, `dates_times` and `money_units`.
"""

from __future__ import annotations

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
