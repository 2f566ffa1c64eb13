"""Takes: another rendering of one line, and the one the writer keeps, locked in dramac.lock.

A line's take n (n ≥ 2) is rendered with the backend's noise drawn from another seed (the embedded
backend salts Piper's and Praat's seeds with n; Dia2 mixes the takes of a clip's lines into its
seed), so it says the same words with other timing and voicing. Take 1 is what a line always was:
its cache entry and audio are those of a build without takes.

The take is part of the planned line (PlannedLine.take), hence of the clip's key and so of its cache
entry: every take of a line has its own entry, and stepping back to an earlier take renders nothing.

What the writer chose is kept in dramac.lock, per script and backend, under the line's identity (a
digest of its speaker and text, so it survives edits elsewhere and moves; an edit of the line itself
makes it a new line, at take 1):

    [scripts."play.fountain".embedded.takes."3f2a9c0d1e4b"]
    count = 3        # takes rendered so far (take 2 of 3)
    line = 16        # where the line was when last built (for people reading the lock)
    speaker = "ROSA"
    take = 2         # the take builds render
    text = "Evening, Miles. We leave the harbour…"

Two identical lines of one speaker (two "Yes." of ROSA) share one identity, as they share one
cache entry: a take chosen for one is heard at both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from compiler.plan_types import Clip, Plan, PlannedLine

MAX_TAKES = 99  # a line with more takes than this is a loop gone wrong, not a writer choosing
_TEXT_SHOWN = 60  # characters of a line's text kept in the lock for people reading it


def line_id(speaker: str, original: str) -> str:
    """A line's identity in the lock: its speaker and what the writer wrote, not where it is."""
    return hashlib.sha256(f"{speaker}\x1f{original}".encode()).hexdigest()[:12]


def take_seed(base: int, takes: list[int]) -> int:
    """The seed of a generation that renders several lines at once (Dia2): `base` while every line
    is at take 1, else a seed drawn from `base` and the takes."""
    if all(t == 1 for t in takes):
        return base
    digest = hashlib.sha256(f"{base}|{','.join(map(str, takes))}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % 2**63


@dataclass(frozen=True)
class Take:
    take: int  # the take builds render
    count: int  # takes rendered so far
    line: int = 0
    speaker: str = ""
    text: str = ""

    def record(self) -> dict:
        return {"count": self.count, "line": self.line, "speaker": self.speaker, "take": self.take, "text": self.text}


def checked(table) -> str | None:
    """None when a lock's `takes` table is well formed, else what is wrong (for the lock's diagnostic)."""
    if not isinstance(table, dict):
        return "takes must be a table"
    for ident, entry in table.items():
        if not isinstance(entry, dict):
            return f"take {ident} must be a table"
        take, count = entry.get("take"), entry.get("count")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (take, count)):
            return f"take {ident} needs whole numbers take and count"
        if not 1 <= take <= count <= MAX_TAKES:
            return f"take {ident}: take must be from 1 to count (at most {MAX_TAKES}), not {take} of {count}"
        if not all(isinstance(entry.get(k, ""), str) for k in ("speaker", "text")) or isinstance(entry.get("line", 0), bool) \
                or not isinstance(entry.get("line", 0), int):
            return f"take {ident}: line must be a whole number, speaker and text text"
    return None


def from_table(table: dict) -> dict[str, Take]:
    return {ident: Take(e["take"], e["count"], e.get("line", 0), e.get("speaker", ""), e.get("text", ""))
            for ident, e in (table or {}).items()}


def apply(plan: Plan, chosen: dict[str, Take]) -> Plan:
    """The plan with every line the lock names set to its chosen take (its clip's key changes with it)."""
    if not chosen:
        return plan

    def line_at_take(line: PlannedLine) -> PlannedLine:
        found = chosen.get(line_id(line.speaker, line.original))
        return replace(line, take=found.take) if found is not None and found.take != line.take else line

    steps = []
    for step in plan.steps:
        if isinstance(step, Clip):
            lines = tuple(line_at_take(line) for line in step.lines)
            step = replace(step, lines=lines) if lines != step.lines else step
        steps.append(step)
    return replace(plan, steps=tuple(steps))


def kept(chosen: dict[str, Take], plan: Plan) -> dict[str, dict]:
    """The takes table to record after a build: the takes of lines the script still has, each with
    the line's current position; takes of lines gone or rewritten leave the lock (git keeps them)."""
    out = {}
    for clip in plan.clips:
        for line in clip.lines:
            ident = line_id(line.speaker, line.original)
            if ident in chosen and ident not in out:
                take = chosen[ident]
                out[ident] = replace(take, line=line.span.line, speaker=line.speaker,
                                     text=shown_text(line.original)).record()
    return out


def shown_text(text: str) -> str:
    """The first characters of a line, one line long, as the lock and `dramac take` show it."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _TEXT_SHOWN else flat[:_TEXT_SHOWN - 1] + "…"


def find_line(plan: Plan, number: int) -> tuple[Clip, PlannedLine] | None:
    """The spoken line at script line `number`: the line itself, or the cue or parenthetical just
    above it (at most two lines above, with no other spoken line between)."""
    best = None
    for clip in plan.clips:
        for line in clip.lines:
            if line.span.line <= number <= max(line.span.end_line, line.span.line):
                return clip, line
            if 0 < line.span.line - number <= 2 and (best is None or line.span.line < best[1].span.line):
                best = (clip, line)
    return best


def lines_of(plan: Plan) -> list[tuple[Clip, PlannedLine]]:
    return [(clip, line) for clip in plan.clips for line in clip.lines]


def with_take(clip: Clip, target: PlannedLine, take: int) -> Clip:
    """`clip` with the line `target` (and the same line again, if the clip says it twice) at `take`."""
    ident = line_id(target.speaker, target.original)
    lines = tuple(replace(line, take=take) if line_id(line.speaker, line.original) == ident else line for line in clip.lines)
    return replace(clip, lines=lines)


def describe(take: Take | None) -> str:
    if take is None:
        return "take 1 of 1"
    return f"take {take.take} of {take.count}"


def chosen_for(lock, script: str, backend: str) -> dict[str, Take]:
    """The takes dramac.lock holds for one script and backend."""
    return from_table(lock.entry(script, backend).get("takes", {}))


def set_take(lock, script: str, backend: str, line: PlannedLine, take: int, count: int) -> dict:
    """The lock's tables with one line's take set (its other tables as they are); for lock.save."""
    scripts = {s: {b: dict(e) for b, e in backends.items()} for s, backends in lock.scripts.items()}
    entry = scripts.setdefault(script, {}).setdefault(backend, {})
    entry.setdefault("voices", {})
    entry.setdefault("clips", [])
    table = dict(entry.get("takes", {}))
    table[line_id(line.speaker, line.original)] = Take(take, count, line.span.line, line.speaker, shown_text(line.original)).record()
    entry["takes"] = table
    return scripts


# ---- operations: `dramac take` and the studio --------------------------------------------------


class TakeError(ValueError):
    """A take request that cannot be met (no spoken line there, a take that does not exist)."""


@dataclass
class Heard:
    """One take of one line, rendered (or read from the cache)."""

    line: PlannedLine
    take: int
    chosen: Take  # what the lock holds for the line now
    audio: object  # float32 numpy array of the line alone
    sample_rate: int
    clip_key: str


def state(prepared, number: int) -> tuple[Clip, PlannedLine, Take]:
    """The clip and line at script line `number`, and the take the lock holds for it (1 of 1 if none)."""
    found = find_line(prepared.plan, number)
    if found is None:
        raise TakeError(f"no spoken line at line {number}")
    clip, line = found
    return clip, line, _chosen_now(prepared, line)


def _chosen_now(prepared, line: PlannedLine) -> Take:
    from compiler import lock as lockfile

    current = lockfile.load(prepared.parsed.project)  # read again: the studio or another command may have changed it
    prepared.lock = current
    table = chosen_for(current, lockfile.script_key(prepared.parsed.project, prepared.parsed.source.path), prepared.backend_name)
    return table.get(line_id(line.speaker, line.original), Take(1, 1))


def hear(prepared, cache_root, number: int, take: int) -> Heard:
    """Take `take` of the line at `number`, from the cache or rendered into it; the lock is not changed."""
    from compiler import render

    clip, line, chosen = state(prepared, number)
    if not 1 <= take <= max(chosen.count, 1) + 1 or take > MAX_TAKES:
        raise TakeError(f"line {line.span.line} has {chosen.count} take(s); take {take} does not exist (use --new)")
    variant = with_take(clip, line, take)
    result = render.render_plan([variant], prepared.backend_name, prepared.backend_options, render.ClipCache(cache_root), 1)
    index = next(i for i, l in enumerate(variant.lines) if line_id(l.speaker, l.original) == line_id(line.speaker, line.original))
    return Heard(line, take, chosen, result.takes[variant.key][index], result.sample_rate, variant.key)


def new(prepared, cache_root, number: int) -> Heard:
    """Render another take of the line at `number` and lock it: builds render it from now on."""
    _, line, chosen = state(prepared, number)
    if chosen.count >= MAX_TAKES:
        raise TakeError(f"line {line.span.line} already has {chosen.count} takes, the most dramac keeps")
    heard = hear(prepared, cache_root, number, chosen.count + 1)
    heard.chosen = _save(prepared, line, chosen.count + 1, chosen.count + 1)
    return heard


def use(prepared, number: int, take: int) -> Take:
    """Lock take `take` (already rendered: 1..count) of the line at `number`."""
    _, line, chosen = state(prepared, number)
    if not 1 <= take <= chosen.count:
        raise TakeError(f"line {line.span.line} has {chosen.count} take(s); take {take} does not exist")
    return _save(prepared, line, take, chosen.count)


def _save(prepared, line: PlannedLine, take: int, count: int) -> Take:
    from compiler import lock as lockfile

    current = lockfile.load(prepared.parsed.project)
    script = lockfile.script_key(prepared.parsed.project, prepared.parsed.source.path)
    lockfile.save(current, set_take(current, script, prepared.backend_name, line, take, count))
    prepared.lock = current
    return Take(take, count, line.span.line, line.speaker, shown_text(line.original))


def listing(prepared) -> list[tuple[PlannedLine, Take]]:
    """Every spoken line with the take the lock holds for it (1 of 1 where it holds none)."""
    from compiler import lock as lockfile

    table = chosen_for(prepared.lock, lockfile.script_key(prepared.parsed.project, prepared.parsed.source.path),
                       prepared.backend_name)
    return [(line, table.get(line_id(line.speaker, line.original), Take(1, 1))) for _, line in lines_of(prepared.plan)]
