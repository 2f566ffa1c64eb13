"""Chapters and tags: where a listener can skip to, and what a player shows about the play.

Chapters come from the script's structure and the timeline's times, never from estimates:

- every section (`# Act One` in Fountain, `###`-deep headings in Markdown) and every scene heading
  marks a chapter; material before the first scene heading is an opening chapter named after the
  play when it has anything to hear;
- a mark's chapter starts at its first sound: the earliest line or sound cue on the timeline that
  comes after the mark in the script and before the mark's region ends (a scene's at the next scene
  heading, a section's at the next section of the same or a higher level). A mark with nothing to
  hear in its region has no chapter;
- marks that start at the same instant (`# Act Two` straight above `INT. DECK - NIGHT`) are one
  chapter, titled "Act Two — INT. DECK - NIGHT": players list chapters flat and a zero-length
  chapter is one a listener cannot land on;
- a chapter ends where the next begins; the last at the end of the play.

Tags come from the title page (Fountain) or front matter (Markdown): title, author(s), credit,
copyright and draft date. The title falls back to the plan's title (the file name). A draft date is
tagged as a date only when it reads as one without guessing: ISO `2026-11-26`, `26 November 2026`,
`November 26, 2026`, or a bare year; `1/2/2026` (day or month first?) gives its year alone.

Nothing here reads a clock: the same script and timeline give the same chapters and tags.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass

from compiler.diagnostics import Span
from compiler.nodes import Scene, Script, Section, TitlePage
from compiler.stitch import Timeline

JOIN = " — "  # between the titles of marks that start together


@dataclass(frozen=True)
class Mark:
    """A place in the script where a chapter may begin."""

    kind: str  # "section" | "scene" | "opening"
    title: str
    span: Span
    depth: int = 0  # a section's level (1 for `#`); 0 for scenes and the opening


@dataclass(frozen=True)
class Chapter:
    title: str
    start: float  # seconds: the first sound of its marks
    end: float
    marks: tuple[Mark, ...]


@dataclass(frozen=True)
class Tags:
    title: str
    authors: tuple[str, ...] = ()
    credit: str | None = None
    copyright: str | None = None
    date: str | None = None  # ISO 8601: YYYY, YYYY-MM or YYYY-MM-DD
    draft_date: str | None = None  # as written


# --------------------------------------------------------------------------------------------------
# Chapters


def marks(script: Script, play_title: str) -> list[Mark]:
    """Every mark of the script in source order."""
    found: list[Mark] = []
    for index, scene in enumerate(script.scenes):
        if scene.heading is not None:
            found.append(Mark("scene", _one_line(scene.heading.text), scene.heading.span))
        elif index == 0:
            found.append(Mark("opening", _one_line(play_title), Span.point(script.span.file, 0, 0)))
        found += _sections(scene)
    return [m for m in found if m.title]


def _sections(scene: Scene) -> list[Mark]:
    return [Mark("section", _one_line(el.text), el.span, el.depth) for el in scene.body if isinstance(el, Section)]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _position(span: Span) -> tuple[int, int]:
    return span.line, span.col


def _region_end(found: list[Mark], index: int) -> tuple[int, int] | None:
    """Where the region of found[index] ends: the next mark that closes it (None: the end of the script)."""
    mark = found[index]
    for later in found[index + 1:]:
        if mark.kind in ("scene", "opening") and later.kind == "scene":
            return _position(later.span)
        if mark.kind == "section" and later.kind == "section" and later.depth <= mark.depth:
            return _position(later.span)
    return None


def chapters(script: Script, timeline: Timeline, play_title: str | None = None) -> list[Chapter]:
    """The play's chapters in time order (see the module docstring)."""
    sounds = sorted([(_position(pl.line.span), pl.start) for pl in timeline.lines]
                    + [(_position(ps.cue.span), ps.start) for ps in timeline.sounds])
    where = [position for position, _ in sounds]
    found = marks(script, play_title or timeline.title)
    starts: list[tuple[float, Mark]] = []
    for index, mark in enumerate(found):
        end = _region_end(found, index)
        first = bisect_left(where, _position(mark.span))
        last = len(where) if end is None else bisect_left(where, end)
        if first < last:  # min, not the first: a line may start before an sfx (wait=false) written above it
            starts.append((min(start for _, start in sounds[first:last]), mark))
    grouped: dict[float, list[Mark]] = {}
    for start, mark in sorted(starts, key=lambda pair: pair[0]):  # stable: source order within an instant
        grouped.setdefault(start, []).append(mark)
    times = sorted(grouped)
    return [Chapter(JOIN.join(m.title for m in grouped[t]), t, times[i + 1] if i + 1 < len(times) else timeline.duration,
                    tuple(grouped[t])) for i, t in enumerate(times)]


def stamp(seconds: float) -> str:
    """HH:MM:SS.mmm, the form of Vorbis chapter comments (CHAPTER001=00:01:02.500)."""
    ms = max(0, int(round(seconds * 1000)))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def chapters_json(found: list[Chapter], span_json) -> list[dict]:
    """The manifest's `chapters`; `span_json` turns a Span into the manifest's span object."""
    return [{"index": n, "title": c.title, "start": round(c.start, 6), "end": round(c.end, 6),
             "marks": [{"kind": m.kind, "title": m.title, "depth": m.depth,
                        "span": None if m.kind == "opening" else span_json(m.span)} for m in c.marks]}
            for n, c in enumerate(found, 1)]


# --------------------------------------------------------------------------------------------------
# Tags

_MONTHS = {name: n for n, names in enumerate(
    (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")), 1) for name in names}
_ISO = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?,?\s+(\d{4})")
_MONTH_DAY_YEAR = re.compile(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})")
_MONTH_YEAR = re.compile(r"([a-z]+)\.?,?\s+(\d{4})")
_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|2\d\d\d)(?!\d)")


def iso_date(text: str) -> str | None:
    """`text` as an ISO 8601 date (see the module docstring), or None when it holds no year."""
    plain = " ".join(text.lower().split())
    if match := _ISO.fullmatch(plain):
        year, month, day = match.groups()
        return _iso(year, month, day)
    if match := _DAY_MONTH_YEAR.fullmatch(plain):
        day, month, year = match.groups()
        if month in _MONTHS:
            return _iso(year, _MONTHS[month], day)
    if match := _MONTH_DAY_YEAR.fullmatch(plain):
        month, day, year = match.groups()
        if month in _MONTHS:
            return _iso(year, _MONTHS[month], day)
    if (match := _MONTH_YEAR.fullmatch(plain)) and match.group(1) in _MONTHS:
        return _iso(match.group(2), _MONTHS[match.group(1)], None)
    years = _YEAR.findall(plain)
    return years[0] if len(set(years)) == 1 else None


def _iso(year, month, day) -> str | None:
    import datetime

    if month is None:
        return f"{int(year):04d}"
    if not 1 <= int(month) <= 12:
        return None
    if day is None:
        return f"{int(year):04d}-{int(month):02d}"
    try:
        return datetime.date(int(year), int(month), int(day)).isoformat()
    except ValueError:  # 31 February
        return None


def tags(title_page: TitlePage | None, play_title: str) -> Tags:
    """The play's tags from its title page; the title is `play_title` (the plan's)."""
    if title_page is None:
        return Tags(_one_line(play_title))

    def field(*keys: str) -> str | None:
        for key in keys:
            value = title_page.get(key)
            if value is not None and value.strip():
                return value
        return None

    authors = field("author", "authors")
    names = tuple(_one_line(a) for a in (authors or "").split("\n") if a.strip())
    draft = field("draft date", "draft_date", "date")
    return Tags(
        title=_one_line(field("title") or play_title),
        authors=names,
        credit=_one_line(field("credit") or "") or None,
        copyright=_one_line(field("copyright") or "") or None,
        date=iso_date(draft) if draft else None,
        draft_date=_one_line(draft) if draft else None,
    )
