"""Casting: every character gets exactly one voice, fixed for the whole script.

Characters are identified by their normalised cue name (extensions never matter: `MOM (O.S.)` is
MOM). Voices named in the settings (`[cast.NAME]` in dramac.toml or the script's front matter) win;
every other character gets a palette voice chosen by a stable hash of the name, collisions resolved
in order of first appearance, so a character keeps its voice from build to build. When the palette
runs out, further characters get a variant of a palette voice (pitch moved a step), still distinct.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, replace
from typing import Callable

from compiler.diagnostics import CompileError, Sink, Span, error
from compiler.nodes import Action, Script, SceneHeading
from compiler.voices import Voice

NARRATOR = "NARRATOR"
_WORD = re.compile(r"\w+(?:['’]\w+)*")


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


@dataclass(frozen=True)
class CastMember:
    name: str
    voice: Voice
    lines: int
    words: int
    first_span: Span | None
    explicit: bool  # voice chosen in the settings rather than automatically


@dataclass(frozen=True)
class Cast:
    members: tuple[CastMember, ...]  # in order of first appearance
    narrator: CastMember | None  # set when the narrator option reads action and headings

    def voice_for(self, name: str) -> Voice:
        if self.narrator and name == self.narrator.name:
            return self.narrator.voice
        for m in self.members:
            if m.name == name:
                return m.voice
        raise KeyError(name)


@dataclass(frozen=True)
class Appearance:
    name: str
    lines: int
    words: int
    first_span: Span


def characters(script: Script) -> list[Appearance]:
    """Speaking characters in order of first appearance, with line and word counts."""
    seen: dict[str, list] = {}
    for d in script.dialogues():
        entry = seen.setdefault(d.character, [0, 0, d.cue_span or d.span])
        entry[0] += 1
        entry[1] += count_words(d.text)
    return [Appearance(name, n, w, span) for name, (n, w, span) in seen.items()]


def narrator_words(script: Script) -> tuple[int, int]:
    lines = words = 0
    for scene in script.scenes:
        items = ([scene.heading] if scene.heading else []) + [e for e in scene.body if isinstance(e, Action)]
        for item in items:
            if isinstance(item, (Action, SceneHeading)) and item.text.strip():
                lines += 1
                words += count_words(item.text)
    return lines, words


def stable_index(name: str, size: int) -> int:
    digest = hashlib.sha256(name.strip().upper().encode()).digest()
    return int.from_bytes(digest[:8], "big") % size


def for_backend(entry: dict, backend: str) -> dict:
    """One character's settings for one backend: the plain keys of `[cast.NAME]`, overlaid by its
    `[cast.NAME.<backend>]` sub-table; other backends' sub-tables are ignored. This lets one project
    name a preview voice and a final voice: `[cast.ROSA.embedded] voice = "low-female"`,
    `[cast.ROSA.dia2] reference = "voices/rosa.wav"`."""
    merged = {k: v for k, v in entry.items() if not isinstance(v, dict)}
    sub = entry.get(backend)
    if isinstance(sub, dict):
        merged.update(sub)
    return merged


def cast_script(
    script: Script,
    palette: list[Voice],
    cast_settings: dict[str, dict],
    resolve: Callable[[dict, list[Voice]], Voice],
    narrator_settings: dict,
    sink: Sink,
    settings_span: Callable[[str], Span],
    backend: str = "",
) -> Cast:
    """Assign voices. `resolve(settings, palette)` turns one `[cast.NAME]` table into a Voice (backend
    specific; raises ValueError with a message). `settings_span(key)` locates a key for diagnostics."""
    cast_settings = {name: for_backend(entry, backend) for name, entry in cast_settings.items()}
    narrator_settings = for_backend(narrator_settings, backend)
    appearances = characters(script)
    by_fold = {a.name.upper(): a for a in appearances}
    explicit: dict[str, Voice] = {}
    for name, entry in cast_settings.items():
        if name.upper() == NARRATOR:
            continue
        target = by_fold.get(name.upper())
        if target is None:
            close = difflib.get_close_matches(name.upper(), list(by_fold), n=1)
            hint = (f"did you mean {by_fold[close[0]].name}?",) if close else ()
            sink.warning(f"cast entry '{name}' names no character who speaks in this script", settings_span(name), *hint)
            continue
        if not entry:  # only other backends' settings: cast automatically
            continue
        try:
            explicit[target.name] = resolve(dict(entry), palette)
        except ValueError as exc:
            raise CompileError(error(f"cast entry '{name}': {exc}", settings_span(name))) from None

    taken = {v.key for v in explicit.values()}
    members = []
    for a in appearances:
        voice = explicit.get(a.name) or _auto_voice(a.name, palette, taken)
        taken.add(voice.key)
        members.append(CastMember(a.name, voice, a.lines, a.words, a.first_span, a.name in explicit))

    narrator = None
    narr_entry = dict(cast_settings.get(NARRATOR) or cast_settings.get(NARRATOR.lower()) or {})
    narr_entry.update({k: v for k, v in narrator_settings.items() if k != "enabled"})
    if narrator_settings.get("enabled"):
        try:
            voice = resolve(narr_entry, palette) if narr_entry else _auto_voice(NARRATOR, palette, taken)
        except ValueError as exc:
            raise CompileError(error(f"narrator: {exc}", settings_span("narrator"))) from None
        lines, words = narrator_words(script)
        narrator = CastMember(NARRATOR, voice, lines, words, None, bool(narr_entry))
    return Cast(tuple(members), narrator)


def _auto_voice(name: str, palette: list[Voice], taken: set[str]) -> Voice:
    start = stable_index(name, len(palette))
    for i in range(len(palette)):
        voice = palette[(start + i) % len(palette)]
        if voice.key not in taken:
            return voice
    # Palette exhausted: a variant with the pitch moved a step (≥ 8 %, audible) keeps voices distinct.
    base = palette[start]
    step = 1
    while True:
        for sign in (1, -1):
            pitch = base.param("pitch_hz")
            variant = base.with_params(variant=sign * step, **({"pitch_hz": round(pitch * (1 + sign * 0.08 * step), 1)} if pitch else {}))
            variant = replace(variant, name=f"{base.name}~{sign * step:+d}")
            if variant.key not in taken:
                return variant
        step += 1
