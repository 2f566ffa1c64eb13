"""Subtitles from the timeline: cues built to broadcast rules, written as SRT and WebVTT.

The rules are those of Netflix's Timed Text Style Guide (General Requirements, and the English
and English SDH guides), the most widely published set for streamed drama:

- at most 42 characters per line, spaces and punctuation included, and at most 2 lines per cue;
- a cue lasts at least 5/6 s (20 frames at 24 fps) and at most 7 s;
- two frames (at 24 fps, 1/12 s) at least between one cue's end and the next one's start;
- two speakers in one cue only as a dual-speaker cue: one speaker per line, each line starting with
  a hyphen and no space ("-Are you coming?" / "-In a minute.").

An audio drama has no picture, so every speaker is off screen; the cue where the speaker changes
names the new speaker in capitals before the words, "ROSA: Evening, Miles." (the label form of the
English SDH guide and of the BBC Subtitle Guidelines). The narrator is never labelled. A dual-speaker
cue labels both lines ("-ROSA: No." / "-MILES: Yes.").

How cues are made (`cues`):
1. Each placed line becomes one cue if its words fit in two lines and it lasts at most 7 s; otherwise
   it is split into several cues, preferably after a sentence, then after a clause (a comma, colon,
   dash, or before a conjunction), never inside a word. A split cue starts when its first word is
   spoken: the backend's word time where it gave one, else the line's time divided in proportion to
   characters. The first cue of a line starts where its take starts, i.e. at the speech onset.
2. Cue ends keep the two-frame gap to the next cue, and no cue lasts over 7 s.
3. A cue shorter than 5/6 s is extended into the silence after it, as far as the gap to the next cue
   allows; when that is not enough it is merged with the next cue (or the previous one): into one cue
   when both have the same speaker, into a dual-speaker cue when they do not, whenever the result
   still obeys the line, length and duration rules. When nothing else can, it runs on into the
   two-frame gap, and the next cue may start up to two frames later: the minimum duration outranks
   the gap.

WebVTT cues carry the speaker as a voice span (`<v ROSA>`) and, wherever the backend gave word times,
a timestamp tag before each word (`<00:00:01.250>`), after WebVTT's karaoke-style cue timestamps.
The timeline (compiler.stitch) is the only source of timing.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from compiler.atomic import write_atomically
from compiler.cast import NARRATOR
from compiler.emit import atomic_open
from compiler.stitch import PlacedLine, Timeline
from compiler.words import Word


@dataclass(frozen=True)
class Rules:
    max_chars: int = 42  # characters per line, spaces and punctuation included
    max_lines: int = 2
    max_seconds: float = 7.0
    min_seconds: float = 5 / 6  # 20 frames at 24 fps
    min_gap: float = 2 / 24  # two frames between cues


RULES = Rules()


@dataclass(frozen=True)
class Token:
    text: str
    time: float | None = None  # when the word is spoken, where the backend said (absolute seconds)
    at: float = 0.0  # when the word is spoken: `time` where known, else the line's time shared by characters


@dataclass(frozen=True)
class Part:
    """One speaker's words in a cue."""

    speaker: str
    tokens: tuple[Token, ...]
    labelled: bool  # the cue names this speaker (the speaker changed here)


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    parts: tuple[Part, ...]  # one, or two for a dual-speaker cue

    @functools.cached_property  # the SRT and the WebVTT both read it
    def rows(self) -> list[list[Token]]:
        """The cue's lines of text as tokens (labels and hyphens included)."""
        rows = layout(self.parts)
        return rows if rows is not None else _forced(self.parts)

    @property
    def lines(self) -> list[str]:
        return [" ".join(t.text for t in row) for row in self.rows]


# --------------------------------------------------------------------------------------------------
# Lines of a cue

_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*$")
_CLAUSE_END = re.compile(r"([,;:]|--|[—–])[\"'”’)\]]*$")
# Netflix's line-break advice: break before a conjunction or preposition, not after an article.
_CONJUNCTIONS = frozenset("and but or nor so yet because although though while whereas whether if unless until "
                          "when whenever where which who whom whose that than".split())
_PREPOSITIONS = frozenset("about above across after against along among around at before behind below beneath "
                          "beside between beyond by down during for from in inside into near of off on onto out "
                          "over past since through to toward towards under up upon with within without".split())
_DETERMINERS = frozenset("a an the my your his her its our their this that these those".split())


_NOT_WORD = re.compile(r"[^\w']")


@functools.lru_cache(maxsize=1 << 16)
def _bare(word: str) -> str:
    return _NOT_WORD.sub("", word.lower())


def _label(part: Part) -> list[Token]:
    return [Token(f"{part.speaker.upper()}:")] if part.labelled and part.speaker != NARRATOR else []


def _width(tokens) -> int:
    return sum(len(t.text) for t in tokens) + max(0, len(tokens) - 1)


def layout(parts: tuple[Part, ...], rules: Rules = RULES) -> list[list[Token]] | None:
    """The lines of a cue, or None when its words do not fit the line rules. One speaker: one line if
    it fits, else two lines broken at the best point. Two speakers: one hyphenated line each."""
    if len(parts) == 2:
        rows = []
        for part in parts:
            row = _label(part) + list(part.tokens)
            row = [replace(row[0], text="-" + row[0].text)] + row[1:] if row else [Token("-")]
            if _width(row) > rules.max_chars:
                return None
            rows.append(row)
        return rows
    if len(parts) != 1:
        return None
    label = _label(parts[0])
    tokens = label + list(parts[0].tokens)
    if not tokens:
        return [[Token("…")]]
    if _width(tokens) <= rules.max_chars:
        return [tokens]
    if rules.max_lines < 2:
        return None
    best, best_cost = None, None
    # Widths from running sums: trying every break point stays linear in the cue's words (an
    # hour-long play tries hundreds of thousands of cues).
    before = list(itertools.accumulate((len(t.text) for t in tokens), initial=0))
    total = _width(tokens)
    for i in range(1, len(tokens)):
        a = before[i] + i - 1
        b = total - a - 1
        if a > rules.max_chars or b > rules.max_chars:
            continue
        cost = max(a, b) + _line_break_cost(tokens[i - 1].text, tokens[i].text, label_only=i == len(label))
        if best_cost is None or cost < best_cost:
            best, best_cost = i, cost
    return None if best is None else [tokens[:best], tokens[best:]]


def _line_break_cost(before: str, after: str, label_only: bool) -> int:
    """Characters of imbalance a break point is worth: good breaks win over a few characters."""
    if label_only:
        return 12  # a line holding only the name reads badly, but is allowed
    if _SENTENCE_END.search(before):
        return -12
    if _CLAUSE_END.search(before):
        return -8
    if _bare(before) in _DETERMINERS or _bare(before) in _CONJUNCTIONS or _bare(before) in _PREPOSITIONS:
        return 8  # a line ending in "the", "and" or "of" leaves its word hanging
    if _bare(after) in _CONJUNCTIONS or _bare(after) in _PREPOSITIONS:
        return -4
    return 0


def _forced(parts: tuple[Part, ...]) -> list[list[Token]]:
    """Rows for a cue `layout` refuses (never made by `cues`; a safety net): the words as they come."""
    return [_label(p) + list(p.tokens) for p in parts]


# --------------------------------------------------------------------------------------------------
# Splitting a line into cues


def _tokens(text: str, rules: Rules) -> list[str]:
    """The words of `text`; a word longer than a line (a URL) is cut into line-long pieces."""
    out = []
    for word in text.split():
        while len(word) > rules.max_chars:
            out.append(word[: rules.max_chars])
            word = word[rules.max_chars:]
        out.append(word)
    return out


def word_times(original: list[str], spoken: tuple[Word, ...]) -> list[float | None]:
    """The start time of each word the writer wrote, from the backend's spoken words: a word matched
    to a spoken word (same letters) gets its time, and the first written word of a stretch that was
    respoken ("9:45" said as "nine forty-five") gets the time of the first spoken word of that stretch.
    Every other word gets None: a time is taken from the backend or not given at all."""
    times: list[float | None] = [None] * len(original)
    if not spoken:
        return times
    a = [_bare(w) for w in original]
    b = [_bare(w.text) for w in spoken]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for k in range(i2 - i1):
                times[i1 + k] = spoken[j1 + k].start
        elif op == "replace":
            times[i1] = spoken[j1].start
    return times


def _onsets(words: list[str], times: list[float | None], start: float, end: float) -> list[float]:
    """When each word begins (and, last, when the line ends): the backend's time where given, else the
    time between the known neighbours shared in proportion to characters (the whole line when none is
    known). Never before the line's start, never going back."""
    weights = [len(w) + 1 for w in words]
    known = {0: start, len(words): end}
    for k, t in enumerate(times):
        if t is not None and start <= t <= end and k > 0:
            known[k] = t
    anchors = sorted(known)
    onsets = [start] * (len(words) + 1)
    for lo, hi in zip(anchors, anchors[1:]):
        span = sum(weights[lo:hi]) or 1
        t0, t1 = known[lo], max(known[hi], known[lo])
        acc = 0
        for k in range(lo, hi + 1):
            onsets[k] = t0 + (t1 - t0) * acc / span
            if k < hi:
                acc += weights[k]
    for k in range(1, len(onsets)):
        onsets[k] = max(onsets[k], onsets[k - 1])
    return onsets


def _split_cost(before: str, after: str) -> float:
    if _SENTENCE_END.search(before):
        return 0.0
    if _CLAUSE_END.search(before):
        return 1.0
    if _bare(before) in _DETERMINERS or _bare(before) in _CONJUNCTIONS or _bare(before) in _PREPOSITIONS:
        return 8.0
    if _bare(after) in _CONJUNCTIONS or _bare(after) in _PREPOSITIONS:
        return 2.0
    return 4.0


def line_cues(pl: PlacedLine, labelled: bool, rules: Rules = RULES, memo: CueMemo | None = None) -> list[Cue]:
    """The cues of one placed line: as few as the rules allow, split at the best points. The split is
    worked out relative to the line's start (so a line that only moved keeps it: `memo` holds it from
    the last build) and then placed at it."""
    start, end = pl.start, max(pl.end, pl.start + 0.001)
    # Rounded to the nanosecond: a take placed elsewhere gives the same relative times, not ones a
    # rounding error apart.
    duration = round(end - start, 9)
    spoken = tuple((w.text, round(w.start - start, 9)) for w in pl.words)
    words = _tokens(pl.line.original, rules)
    key = _line_key(pl.line.original, pl.line.speaker, labelled, duration, spoken, rules) if memo is not None else ""
    split = memo.get(key, len(words)) if memo is not None else None
    if split is None:
        split = _split_line(words, pl.line.speaker, labelled, duration, spoken, rules)
        if memo is not None:
            memo.put(key, split)
    bounds, times, onsets = split
    if not words:
        return [Cue(start, start + duration, (Part(pl.line.speaker, (), labelled),))]
    placed = [start + t for t in onsets]
    return [Cue(placed[i], placed[j], (Part(pl.line.speaker, tuple(
        Token(words[k], None if k == i or times[k] is None else start + times[k], placed[k]) for k in range(i, j)),
        labelled and i == 0),)) for i, j in zip(bounds, bounds[1:])]


# How a line is split into cues, relative to its start: the cues' first words (and, last, the number
# of words), when each word was spoken where the backend said (else None), and each word's onset
# (and, last, the line's end).
LineSplit = tuple[list[int], list[float | None], list[float]]


def _split_line(words: list[str], speaker: str, labelled: bool, duration: float, spoken: tuple[tuple[str, float], ...],
                rules: Rules) -> LineSplit:
    """The split of a line that starts at 0 and lasts `duration` into cues (dynamic programming over
    the break points between words); `spoken`: the backend's words and their start times, where it
    gave them."""
    if not words:
        return [0], [], [0.0, duration]
    times = word_times(words, tuple(Word(text, at, at) for text, at in spoken))
    onsets = _onsets(words, times, 0.0, duration)
    n = len(words)
    label = len(speaker.upper()) + 1 if labelled and speaker != NARRATOR else 0  # "NAME:"
    chars = list(itertools.accumulate((len(w) for w in words), initial=0))

    def fits(i: int, j: int) -> bool:
        """Whether words[i:j] (after the label, in the first cue) fit the line rules: what
        `layout` decides, from widths alone (the search tries a few hundred pieces per line)."""
        lead = label if i == 0 else 0
        widths = [lead] if lead else []
        widths += [chars[k + 1] - chars[k] for k in range(i, j)]
        total = sum(widths) + len(widths) - 1
        if total <= rules.max_chars:
            return True
        if rules.max_lines < 2:
            return False
        first = -1
        for w in widths[:-1]:
            first += w + 1
            if first <= rules.max_chars and total - first - 1 <= rules.max_chars:
                return True
        return False

    split_costs = [0.0] + [_split_cost(words[i - 1], words[i]) for i in range(1, n)]  # splitting before word i
    best: list[tuple[float, int] | None] = [None] * (n + 1)  # best[j]: (cost, i) of the best cover of words[:j]
    best[0] = (0.0, -1)
    longest = 2 * rules.max_chars  # no cue holds more characters than two full lines
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):
            if best[i] is None:
                continue
            if chars[j] - chars[i] + (j - i - 1) > longest:  # the width of words[i:j] on one line
                break
            seconds = onsets[j] - onsets[i]
            single = j - i == 1
            if seconds > rules.max_seconds and not single:
                continue
            if not single and not fits(i, j):
                continue
            cost = best[i][0] + 3.0 + split_costs[i]  # every cue costs: as few cues as the rules allow
            if seconds < rules.min_seconds and not (i == 0 and j == n):
                cost += 20.0  # a split that leaves a too-short piece, only when nothing else fits
            if best[j] is None or cost < best[j][0]:
                best[j] = (cost, i)
    bounds, j = [n], n
    while j > 0:
        j = best[j][1]
        bounds.append(j)
    bounds.reverse()
    # The first cue starts with the line (its take's start), the last ends with it.
    return bounds, times, [0.0] + onsets[1:n] + [duration]


def _line_key(original: str, speaker: str, labelled: bool, duration: float, spoken: tuple[tuple[str, float], ...],
              rules: Rules) -> str:
    """Everything a line's split is a function of, as a short digest."""
    text = repr((original, speaker, labelled, duration, spoken, _rules_text(rules)))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


_rules_text = functools.lru_cache(maxsize=8)(repr)  # a dataclass's repr costs more than the rest of a key


class CueMemo:
    """Each line's split into cues from the last build of a script (one JSON file per output folder
    and script, in the cache folder), so that an edit works out the cues of the lines it changed and
    not those of the whole play. The file is written only when this build's lines differ from it,
    and holds only this build's lines; one written by other code (another version of this module)
    or damaged is ignored. A hit gives exactly what computing the split again would: the entries
    are keyed by everything `_split_line` reads, and JSON keeps every float exactly."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self._stored: dict[str, list] = {}
        self._used: dict[str, list] = {}
        self._loaded = False
        self._computed = False  # a line was worked out anew: the file no longer holds this build's lines

    def _load(self) -> None:
        self._loaded = True
        if self.path is None:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("code") == _code_digest() and isinstance(data.get("lines"), dict):
            self._stored = data["lines"]

    def get(self, key: str, words: int) -> LineSplit | None:
        """The split stored under `key` (of a line of `words` words), or None."""
        if not self._loaded:
            self._load()
        found = self._stored.get(key)
        if not _well_formed(found, words):
            return None
        self._used[key] = found
        return found

    def put(self, key: str, split: LineSplit) -> None:
        self._used[key] = split
        self._computed = True

    def save(self) -> bool:
        """Write this build's lines if they are not what the file holds; True when written."""
        if self.path is None or (not self._computed and self._used.keys() == self._stored.keys()):
            return False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, json.dumps({"code": _code_digest(), "lines": self._used}).encode(), durable=False)
        except OSError:  # a cache that cannot be written only costs the next build time
            return False
        return True


def _well_formed(split, words: int) -> bool:
    """Whether an entry read from the file is a LineSplit of a line of `words` words (a damaged or
    edited file must not reach the writers)."""
    if not (isinstance(split, list) and len(split) == 3 and all(isinstance(part, list) for part in split)):
        return False
    bounds, times, onsets = split
    return (len(times) == words and len(onsets) == words + 1 and len(bounds) >= 1 + (words > 0)
            and bounds[0] == 0 and bounds[-1] == words and all(type(i) is int for i in bounds)
            and all(i < j for i, j in zip(bounds, bounds[1:]))
            and all(t is None or type(t) is float for t in times) and all(type(t) is float for t in onsets))


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """The code that splits lines: this module and the word times it reads."""
    from compiler import words as words_module

    h = hashlib.sha256()
    for module in (__file__, words_module.__file__):
        h.update(Path(module).read_bytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# The play's cues


def cues(timeline: Timeline, rules: Rules = RULES, memo: CueMemo | None = None) -> list[Cue]:
    """Every cue of the play, in order, to the rules above. `memo`: the lines' cues from the last build."""
    out: list[Cue] = []
    previous: str | None = None
    for pl in timeline.lines:
        speaker = pl.line.speaker
        out += line_cues(pl, speaker != previous and speaker != NARRATOR, rules, memo)
        previous = speaker
    out = _keep_gaps(out, rules)
    return _lengthen_short(out, rules)


def _keep_gaps(cs: list[Cue], rules: Rules) -> list[Cue]:
    fixed = []
    for k, cue in enumerate(cs):
        end = min(cue.end, cue.start + rules.max_seconds)
        if k + 1 < len(cs):
            end = min(end, cs[k + 1].start - rules.min_gap)
        fixed.append(replace(cue, end=max(end, cue.start + 0.001)))
    return fixed


def _room(cs: list[Cue], k: int, rules: Rules) -> float:
    """The latest end cue k may have: the gap before the next cue, and the longest duration."""
    limit = cs[k].start + rules.max_seconds
    if k + 1 < len(cs):
        limit = min(limit, cs[k + 1].start - rules.min_gap)
    return limit


def _stamped(tokens: tuple[Token, ...], start: float) -> tuple[Token, ...]:
    """Tokens that begin a cue and now follow others in a merged one: the first is stamped with the
    time its cue began (a take's start or the backend's word time: when it is heard)."""
    return tuple(replace(t, time=start) if k == 0 and t.time is None else t for k, t in enumerate(tokens))


def _joined(a: tuple[Part, ...], b: Part, b_start: float) -> tuple[Part, ...] | None:
    """The parts of a cue made of a's parts and then b: one part when the speaker continues, two (a
    dual-speaker cue, both labelled) when it changes; None for a third speaker."""
    later = _stamped(b.tokens, b_start)
    if len(a) == 1 and a[0].speaker == b.speaker:
        return (Part(b.speaker, a[0].tokens + later, a[0].labelled),)
    if len(a) == 1:
        return (replace(a[0], labelled=True), Part(b.speaker, later, True))
    return None


def _fits(parts: tuple[Part, ...] | None, start: float, end: float, rules: Rules) -> bool:
    return parts is not None and end - start <= rules.max_seconds and layout(parts, rules) is not None


def _merged(a: Cue, b: Cue, rules: Rules) -> Cue | None:
    """a and b as one cue, if the result obeys the rules."""
    if len(b.parts) != 1:
        return None
    parts = _joined(a.parts, b.parts[0], b.start)
    return Cue(a.start, b.end, parts) if _fits(parts, a.start, b.end, rules) else None


def _share_forward(a: Cue, b: Cue, rules: Rules) -> list[Cue] | None:
    """A short cue a and the first words of the next cue b as one cue (dual-speaker when b's speaker is
    another), the rest of b after it, when b is too long to join whole: the most of b's words that fit."""
    if len(a.parts) != 1 or len(b.parts) != 1:
        return None
    tokens = b.parts[0].tokens
    for m in range(len(tokens) - 1, 0, -1):
        rest_start = tokens[m].at
        head = replace(b.parts[0], tokens=tokens[:m])
        parts = _joined(a.parts, head, b.start)
        end = rest_start - rules.min_gap
        if end - a.start < rules.min_seconds or b.end - rest_start < rules.min_seconds:
            continue
        rest = Cue(rest_start, b.end, (Part(head.speaker, tokens[m:], False),))
        if _fits(parts, a.start, end, rules) and layout(rest.parts, rules) is not None:
            return [Cue(a.start, end, parts), rest]
    return None


def _share_back(p: Cue, a: Cue, room: float, rules: Rules) -> list[Cue] | None:
    """The last words of the previous cue p and a short cue a as one cue (dual-speaker when p's speaker
    is another), the rest of p before it: the fewest of p's words that make a long enough cue."""
    if len(p.parts) != 1 or len(a.parts) != 1:
        return None
    tokens = p.parts[0].tokens
    for m in range(len(tokens) - 1, 0, -1):
        tail_start = tokens[m].at
        head = Cue(p.start, tail_start - rules.min_gap, (replace(p.parts[0], tokens=tokens[:m]),))
        tail = Part(p.parts[0].speaker, tokens[m:], p.parts[0].speaker != a.parts[0].speaker)
        parts = _joined((tail,), a.parts[0], a.start)
        end = max(a.end, min(tail_start + rules.min_seconds, room))
        if head.end - head.start < rules.min_seconds or end - tail_start < rules.min_seconds:
            continue
        if _fits(parts, tail_start, end, rules) and layout(head.parts, rules) is not None:
            return [head, Cue(tail_start, end, parts)]
    return None


def _lengthen_short(cs: list[Cue], rules: Rules) -> list[Cue]:
    cs = list(cs)
    k = 0
    while k < len(cs):
        cue = cs[k]
        if cue.end - cue.start >= rules.min_seconds - 1e-9:
            k += 1
            continue
        end = min(cue.start + rules.min_seconds, _room(cs, k, rules))
        cs[k] = cue = replace(cue, end=max(cue.end, end))
        if cue.end - cue.start >= rules.min_seconds - 1e-9:
            k += 1
            continue
        if k + 1 < len(cs):
            merged = _merged(cue, cs[k + 1], rules)
            if merged is not None:
                cs[k: k + 2] = [merged]
                continue  # look at the merged cue again: it may still be short
        if k > 0:
            merged = _merged(cs[k - 1], cue, rules)
            if merged is not None:
                cs[k - 1: k + 1] = [merged]
                k -= 1
                continue
        if k + 1 < len(cs):
            shared = _share_forward(cue, cs[k + 1], rules)
            if shared is not None:
                cs[k: k + 2] = shared
                k += 1
                continue
        if k > 0:
            shared = _share_back(cs[k - 1], cue, _room(cs, k, rules), rules)
            if shared is not None:
                cs[k - 1: k + 1] = shared
                k += 1
                continue
        if k + 1 < len(cs):
            cs[k: k + 2] = _touching(cue, cs[k + 1], rules)
        k += 1
    return cs


def _touching(cue: Cue, after: Cue, rules: Rules) -> list[Cue]:
    """The last resort for a short cue: the minimum duration outranks the two-frame gap (a cue too
    short to read is worse than two that touch), so it runs on up to the next cue, whose start may
    wait up to the gap's length (two frames, well inside the 0.1 s a cue may trail its speech) when
    the next one keeps its own minimum. Never an overlap; short still only where even that fails."""
    end = min(cue.start + rules.min_seconds, after.start + rules.min_gap)
    if end > after.start and after.end - end < rules.min_seconds:
        end = after.start
    end = max(cue.end, end)
    return [replace(cue, end=end), replace(after, start=max(after.start, end))]


# --------------------------------------------------------------------------------------------------
# Writing


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def srt_text(timeline: Timeline, rules: Rules = RULES, play_cues: list[Cue] | None = None) -> str:
    """`play_cues`: cues(timeline) when the caller has them already (the SRT and WebVTT share them)."""
    blocks = []
    for n, cue in enumerate(play_cues if play_cues is not None else cues(timeline, rules), 1):
        blocks.append(f"{n}\n{_stamp(cue.start, ',')} --> {_stamp(cue.end, ',')}\n" + "\n".join(cue.lines) + "\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _vtt_row(row: list[Token], cue: Cue, last: list[int]) -> str:
    """A line of a WebVTT cue, with a timestamp tag before each word the backend timed. Tags only go
    where WebVTT allows them: after the cue's start, before its end, each later than the one before
    (`last` holds the latest, in milliseconds)."""
    start_ms, end_ms = round(cue.start * 1000), round(cue.end * 1000)
    out = []
    for token in row:
        text = _vtt_escape(token.text)
        if token.time is not None:
            ms = round(token.time * 1000)
            if max(start_ms, last[0]) < ms < end_ms:
                text = f"<{_stamp(ms / 1000, '.')}>{text}"
                last[0] = ms
        out.append(text)
    return " ".join(out)


def vtt_text(timeline: Timeline, rules: Rules = RULES, play_cues: list[Cue] | None = None) -> str:
    out = ["WEBVTT", ""]
    for n, cue in enumerate(play_cues if play_cues is not None else cues(timeline, rules), 1):
        rows = cue.rows
        last = [0]
        if len(cue.parts) == 1:
            body = "\n".join(_vtt_row(row, cue, last) for row in rows)
            text = f"<v {_vtt_escape(cue.parts[0].speaker)}>{body}</v>"
        else:
            text = "\n".join(f"<v {_vtt_escape(p.speaker)}>{_vtt_row(row, cue, last)}</v>" for p, row in zip(cue.parts, rows))
        out += [str(n), f"{_stamp(cue.start, '.')} --> {_stamp(cue.end, '.')}", text, ""]
    return "\n".join(out)


def write_srt(path: str | Path, timeline: Timeline, play_cues: list[Cue] | None = None) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(srt_text(timeline, play_cues=play_cues))


def write_vtt(path: str | Path, timeline: Timeline, play_cues: list[Cue] | None = None) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(vtt_text(timeline, play_cues=play_cues))
