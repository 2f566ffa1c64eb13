"""Abbreviations: titles (Dr., Mr.), St./Dr. as Saint/Street and Doctor/Drive, suffixes (Jr.,
etc.), Latin (e.g., i.e.), "No. 5" and "w/".

The pass runs twice in the pipeline: before the numbers, and again after them for abbreviations
that only stand alone once a glued number has been spoken ("4Dr.").
"""

from __future__ import annotations

import re


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
