"""Dates (March 3, 3 March 2024, 2024-03-05, 3/5/2024) and clock times (6:30, 10:00 pm, 7 a.m.)."""

from __future__ import annotations

import re

from compiler.normalize.number_words import _LEFT, _ONES, _under_100, cardinal, ordinal, year

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
