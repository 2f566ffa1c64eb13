"""Money ($1.50, £5, $5 million, 20¢), percentages and units (5 km, 72°F, 5'11", 5 ft 3 in)."""

from __future__ import annotations

import re

from compiler.normalize.number_words import _LEFT, _MAX_CARDINAL_DIGITS, _NUM, _is_one, _say_number, cardinal

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
_FEET_INCHES = re.compile(r"(?<![\w'])(?P<ft>[0-9]{1,2})\s?'\s?(?P<inch>1[01]|[0-9])\s?(?:\"|'')?(?![\w'])")


def _unit(m: re.Match) -> str:
    unit, num = m.group("unit"), m.group("num")
    if m.group("sp") and unit in _GLUED_ONLY:
        return m.group()
    one, many = _UNITS[unit]
    return f"{_say_number(num)} {one if _is_one(num) else many}"


def _feet_inches(m: re.Match) -> str:
    return f"{cardinal(int(m.group('ft')))} foot {cardinal(int(m.group('inch')))}"
