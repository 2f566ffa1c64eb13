"""Capitals: Roman numerals after a name (Henry VIII, World War II), then all-caps words:
shouting -> lower case, acronyms -> letters (F B I), pronounceable acronyms -> a word (Nasa).
"""

from __future__ import annotations

import re

from compiler.normalize.number_words import cardinal, ordinal

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


# Shouting, acronyms and dotted acronyms

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
