"""What a script says about a character's likely gender, so automatic casting can pick a voice of it.

Five kinds of evidence, strongest first:
  - the settings: `[cast.NAME] gender = "female" | "male" | "neutral"` decides, nothing else counts;
  - an honorific in the cue (`MRS. DALLOWAY`, `FATHER BROWN`, `QUEEN`); ranks and professions
    (`SGT.`, `DR.`, `CAPT.`) say nothing;
  - the first name, looked up in the name dictionary of the `gender-guesser` package (offline, from
    Jörg Michael's list of about 48,000 names by country);
  - a relationship noun in apposition right after the name where the action introduces it in
    capitals (`CHRIS, her son,`): as strong as an honorific;
  - pronouns and gendered nouns in the action right after the character is introduced in capitals
    (`ELENA (40s) checks her watch.`), except a possessive that owns a relationship noun
    (`her son`): both describe someone else.
Each piece of evidence has a weight and a reason a writer can read. When the evidence is weak or
split, `dramac cast` says so: a guess is never shown as more than it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from compiler.nodes import Action, Script

FEMALE, MALE, NEUTRAL = "female", "male", "neutral"
GENDERS = (FEMALE, MALE, NEUTRAL)

# Honorifics and kinship words that name a gender; the cue's words are compared without their dots.
_HONORIFICS = {
    FEMALE: frozenset("""MRS MS MISS LADY DAME QUEEN PRINCESS DUCHESS COUNTESS BARONESS EMPRESS MADAM MADAME
        MME MLLE MOTHER MOM MUM MOMMY MUMMY MAMA GRANDMA GRANDMOTHER GRANNY NANA SISTER AUNT AUNTIE NIECE
        DAUGHTER WIFE WIDOW BRIDE GIRL WOMAN ABBESS NUN SENORA SEÑORA SIGNORA FRAU FRÄULEIN GRANDDAUGHTER
        STEPMOTHER STEPDAUGHTER STEPSISTER GODMOTHER GIRLFRIEND""".split()),
    MALE: frozenset("""MR SIR LORD KING PRINCE DUKE COUNT BARON EMPEROR MONSIEUR FATHER DAD DADDY PAPA GRANDPA
        GRANDFATHER BROTHER UNCLE NEPHEW SON HUSBAND WIDOWER GROOM BOY MAN MASTER FRIAR MONK ABBOT SENOR
        SEÑOR SIGNOR HERR GRANDSON GRANDDAD GRANDAD STEPFATHER STEPSON STEPBROTHER GODFATHER BOYFRIEND""".split()),
}
# Titles that say nothing about gender; the word after one may be a first name (`DR. ELENA VOSS`).
_TITLES = frozenset("""DR DOCTOR PROF PROFESSOR SGT SERGEANT CAPT CAPTAIN LT LIEUTENANT COL COLONEL MAJ MAJOR
    GEN GENERAL ADM ADMIRAL CPL CORPORAL PVT PRIVATE CMDR COMMANDER OFFICER DET DETECTIVE INSPECTOR AGENT
    JUDGE NURSE REV REVEREND PASTOR CHIEF COACH PRESIDENT SENATOR MAYOR MINISTER""".split())
# Words that describe a character before its name (OLD TOM, LITTLE JOHN): the next word is still a
# first name, not a surname as after a title.
_DESCRIPTORS = frozenset("OLD YOUNG LITTLE BIG TALL SHORT FAT THIN".split())

# Kinship and relationship nouns: after a possessive (`her son`) they describe someone else; right
# after the name (`CHRIS, her son,`) they describe the character introduced. NEUTRAL ones say no gender.
_KIN = {
    FEMALE: frozenset("""mother wife daughter sister grandmother granddaughter niece aunt auntie girlfriend widow
        mom mum mommy mummy mama grandma granny nana stepmother stepdaughter stepsister godmother goddaughter
        queen princess fiancee fiancée""".split()),
    MALE: frozenset("""father husband son brother grandfather grandson nephew uncle boyfriend widower dad daddy
        papa grandpa granddad grandad stepfather stepson stepbrother godfather godson king prince fiance
        fiancé""".split()),
    NEUTRAL: frozenset("""partner child cousin friend spouse sibling parent grandparent grandchild stepchild godchild
        twin kid baby lover ex boss colleague roommate neighbor neighbour""".split()),
}
# Pronouns and gendered nouns counted anywhere in an introduction not owned by a possessive. Titles
# (king) and what a child calls a parent (mom, dad: often a line, `"Mom!"`) are left to the apposition.
_PRONOUNS = {
    FEMALE: frozenset("""she her hers herself woman girl lady mother wife daughter sister grandmother granddaughter
        niece aunt girlfriend widow stepmother stepdaughter stepsister""".split()),
    MALE: frozenset("""he him his himself man boy gentleman father husband son brother grandfather grandson nephew
        uncle boyfriend widower stepfather stepson stepbrother""".split()),
}
_POSSESSIVE = r"(?:her|his|their)"
_LETTERS = r"[a-zà-ÿ]+"
# A relationship noun as a writer spells it: `son`, `ex-wife`, `half-brother`, `son-in-law`.
_KIN_NOUN = (rf"(?:{_LETTERS}-)?("
             + "|".join(sorted(set().union(*_KIN.values()), key=len, reverse=True)) + r")(?:-in-law)?\b")
# A possessive and the relationship noun it owns, perhaps with one word between (`her teenage son`,
# `whose son`, `Linda's son`): both describe another person (`MARK, her husband`: "her" is his wife),
# so neither counts as a pronoun for the character introduced.
_OWNED_KIN = re.compile(rf"\b(?:{_POSSESSIVE}|whose|its|our|my|your|{_LETTERS}['’]s)\s+(?:{_LETTERS}\s+)?{_KIN_NOUN}",
                        re.IGNORECASE)
# The apposition right after the name: `CHRIS, her son,`, `MARGARET (70s), his grandmother`,
# `ALEX, Linda's nephew`, `MARK, a widower`. Only this place counts: a relationship noun elsewhere
# may be anyone's. A word between needs a determiner before it (`LINDA, whose son` is no apposition),
# and the noun must not own something itself (`her son's` begins a longer description).
_APPOSITION = re.compile(
    rf"\s*(?:\([^)\n]*\)\s*)*(?:,|—|–|--)\s*((?:(?:{_POSSESSIVE}|the|an?|{_LETTERS}['’]s)\s+"
    rf"(?:{_LETTERS}(?:['’]s)?\s+)?)?{_KIN_NOUN})(?!['’])", re.IGNORECASE)
# Only the start of the introduction is read: the sentence or two that describe the character.
_INTRODUCTION_CHARS = 300
_WORDS = re.compile(r"[A-Za-zÀ-ÿ]+")


@dataclass(frozen=True)
class Evidence:
    gender: str  # FEMALE or MALE
    weight: int  # 1 weak, 2 clear, 3 decisive
    reason: str


@dataclass(frozen=True)
class Guess:
    gender: str | None  # FEMALE, MALE, NEUTRAL, or None when nothing can be said
    certainty: str  # "set" (in the settings), "clear", "weak", "split", "none"
    reasons: tuple[str, ...]
    # The name dictionary's answer for the first name ("" when none was asked): dramac.lock keeps it,
    # so a build of a locked cast never loads the dictionary (0.3 s).
    name_says: str = ""

    @property
    def summary(self) -> str:
        """One line for `dramac cast`: the guess and why."""
        head = {"set": "set in the settings", "clear": "", "weak": "weak evidence", "split": "evidence is split",
                "none": "no evidence"}[self.certainty]
        parts = [p for p in (head, "; ".join(self.reasons)) if p]
        return ": ".join(parts) if len(parts) == 2 else (parts[0] if parts else "")


# What the name dictionary answers (gender-guesser's words).
NAME_ANSWERS = ("female", "male", "mostly_female", "mostly_male", "andy", "unknown")


def guess(name: str, introduction: tuple[str, int] | None = None, setting: str | None = None,
          others: frozenset[str] = frozenset(), name_says: str = "") -> Guess:
    """The likely gender of the character `name` (its normalised cue name). `introduction` is the
    text after its name where the action first writes it in capitals, and that line (`introductions`);
    `others` the first words of the characters' names (its own is skipped), where the introduction ends; `name_says`
    the dictionary's answer for the name when it is known already (from dramac.lock)."""
    if setting is not None:
        return Guess(setting, "set", (f'gender = "{setting}"',))
    first = _first_name(name)
    if first is not None and name_says not in NAME_ANSWERS:
        name_says = _detector().get_gender(first.capitalize()) if first.isalpha() else "unknown"
    evidence = cue_evidence(name, name_says) + introduction_evidence(name, introduction, others)
    return replace(combine(evidence), name_says=name_says if first is not None else "")


def combine(evidence: list[Evidence]) -> Guess:
    # Each reason once: the pronouns of both genders share one reason ("1 female pronoun and 1 male pronoun").
    reasons = tuple(dict.fromkeys(e.reason for e in evidence))
    totals = {g: sum(e.weight for e in evidence if e.gender == g) for g in (FEMALE, MALE)}
    if not any(totals.values()):
        return Guess(None, "none", reasons or ("nothing in the name or the script",))
    leader = max(totals, key=totals.get)
    other = totals[FEMALE if leader == MALE else MALE]
    if other:
        # Both genders have support: follow a clear majority, else say nothing.
        return Guess(leader if totals[leader] >= other + 2 else None, "split", reasons)
    return Guess(leader, "clear" if totals[leader] >= 2 else "weak", reasons)


def _cue_words(name: str) -> list[str]:
    return [w for w in (w.strip(".,'’") for w in name.upper().split()) if w]


def _honorific(words: list[str]) -> tuple[str, str] | None:
    for gender, table in _HONORIFICS.items():
        for word in words:
            if word in table:
                return gender, word
    return None


def _first_name(name: str) -> str | None:
    """The word of the cue to look up in the name dictionary: None after an honorific (it decides,
    and the word after it is usually a surname: MRS. THOMAS) or for a title and a surname (DR. AMES)."""
    words = list(_cue_words(name))
    if _honorific(words) is not None:
        return None
    while len(words) > 1 and words[0] in _DESCRIPTORS:
        words.pop(0)
    rest = list(words)
    while rest and rest[0] in _TITLES:
        rest.pop(0)
    if not rest or (len(rest) == 1 and len(rest) < len(words)):
        return None
    return rest[0]


def cue_evidence(name: str, name_says: str = "") -> list[Evidence]:
    """Honorifics in the cue, then the first name with the dictionary's answer for it."""
    words = _cue_words(name)
    honorific = _honorific(words)
    if honorific is not None:
        return [Evidence(honorific[0], 3, f"{honorific[1].title()} in the cue")]
    first = _first_name(name)
    if first is None:
        return [Evidence("", 0, f"{' '.join(words)}: a title and a surname say nothing")]
    label = first.capitalize()
    return {
        "andy": [Evidence("", 0, f"{label} is a first name of either gender")],
        "female": [Evidence(FEMALE, 2, f"{label} is a female first name")],
        "male": [Evidence(MALE, 2, f"{label} is a male first name")],
        "mostly_female": [Evidence(FEMALE, 1, f"{label} is mostly a female first name")],
        "mostly_male": [Evidence(MALE, 1, f"{label} is mostly a male first name")],
    }.get(name_says, [Evidence("", 0, f"{label} is not in the name dictionary")])


def first_word(name: str) -> str:
    """A name's first word as the introductions compare it: capitals, no punctuation at its edges."""
    words = name.split()
    return words[0].strip(_EDGE).upper() if words else ""


@lru_cache(maxsize=1)
def _detector():
    # Imported on first use: the dictionary takes about 0.2 s to load, and a locked cast never needs it.
    import gender_guesser.detector

    return gender_guesser.detector.Detector(case_sensitive=False)


def introduction_evidence(name: str, introduction: tuple[str, int] | None, others: frozenset[str]) -> list[Evidence]:
    """A relationship noun in apposition right after the name (`CHRIS, her son,`), and the pronouns
    in the action that introduces `name`, counted from the name up to the next word that begins
    another character's name; a possessive that owns a relationship noun (`her son`) is not counted."""
    if not introduction:
        return []
    text, line = introduction
    text = _own_part(text[:_INTRODUCTION_CHARS], first_word(name), others)
    apposition = _APPOSITION.match(text)
    evidence = _apposition_evidence(apposition, line) if apposition else []
    counts = {g: 0 for g in _PRONOUNS}
    rest = text[apposition.end():] if apposition else text  # its noun is counted once, above
    for word in _WORDS.findall(_OWNED_KIN.sub(" ", rest)):
        for gender, words in _PRONOUNS.items():
            counts[gender] += word.lower() in words
    found = [(g, n) for g, n in counts.items() if n]
    said = " and ".join(f"{n} {g} pronoun{'s' if n > 1 else ''}" for g, n in found)
    # One reason for the pronouns of both genders: combine() prints each reason once.
    return evidence + [Evidence(g, 2 if n >= 2 else 1, f"{said} after the introduction at line {line}")
                       for g, n in found]


def _own_part(text: str, own: str, others: frozenset[str]) -> str:
    """`text` up to the first word in capitals that begins another character's name."""
    for match in _WORDS.finditer(text):
        word = match.group()
        if word.isupper() and word in others and word != own:
            return text[:match.start()]
    return text


def _apposition_evidence(match: re.Match, line: int) -> list[Evidence]:
    """The relationship noun that directly follows the name, as decisive as an honorific in the cue."""
    phrase, noun = " ".join(match.group(1).split()), match.group(2).lower()
    gender = next((g for g in (FEMALE, MALE) if noun in _KIN[g]), None)
    if gender is None:
        return [Evidence("", 0, f'"{phrase}" right after the name at line {line} says no gender')]
    return [Evidence(gender, 3, f'"{phrase}" right after the name at line {line}')]


_TOKEN = re.compile(r"\S+")
_EDGE = "\"'’,;:!?()[]{}."


# Names longer than this are not looked for in the action (a cue of seven words is not a name a writer
# introduces in capitals); the bound keeps the search linear in the script's length.
_MAX_NAME_WORDS = 6


def introductions(names: list[str], script: Script) -> dict[str, tuple[str, int]]:
    """For each name, the text after it in the first action that writes it in capitals (with the
    actions that directly follow, up to _INTRODUCTION_CHARS), and that action's line. One pass over
    the actions; at each word, one lookup per name length."""
    by_words = {}
    for name in names:
        words = tuple(w.strip(_EDGE).upper() for w in name.split())
        if words and all(words) and len(words) <= _MAX_NAME_WORDS:
            by_words.setdefault(words, name)
    lengths = sorted({len(w) for w in by_words})
    found: dict[str, tuple[str, int]] = {}
    for scene in script.scenes:
        for i, element in enumerate(scene.body):
            if not isinstance(element, Action) or len(found) == len(by_words):
                continue
            tokens = list(_TOKEN.finditer(element.text))
            words = [t.group().strip(_EDGE) for t in tokens]
            for t in range(len(tokens)):
                for n in lengths:
                    name = by_words.get(tuple(words[t:t + n]))
                    if name is not None and name not in found:
                        # From the end of the name itself: the comma of `CHRIS, her son` opens the apposition.
                        last = tokens[t + n - 1]
                        end = last.start() + len(last.group().rstrip(_EDGE))
                        found[name] = (_following(element.text[end:], scene.body[i + 1:]), element.span.line)
    return found


def _following(text: str, rest: list) -> str:
    for element in rest:
        if len(text) >= _INTRODUCTION_CHARS or not isinstance(element, Action):
            break
        text += "\n" + element.text
    return text[:_INTRODUCTION_CHARS]
