"""Casting: every character gets exactly one voice, fixed for the whole script.

Characters are identified by their normalised cue name (extensions never matter: `MOM (O.S.)` is
MOM). Voices named in the settings (`[cast.NAME]` in dramac.toml or the script's front matter) win.
Next come the voices recorded in `dramac.lock` (compiler/lock.py): a locked character keeps its
voice whoever else joins or leaves the play, and a locked character who does not speak now keeps its
voice reserved for its return. Every other character gets a palette voice of its likely
gender (compiler/gender.py), chosen by a stable hash of its name among those voices; characters are
served in order of name, so reordering a script changes nothing. A newcomer whose hashed voice is
taken moves to the next free one: only the lock keeps a newcomer from displacing someone who was
cast before it. When a gender's voices run out, further characters get a variant of one of them
(pitch moved a step), still distinct.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, replace
from typing import Callable

from compiler import gender, settings_schema
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
    guess: gender.Guess | None = None  # the likely gender and why
    locked: bool = False  # voice kept from dramac.lock


@dataclass(frozen=True)
class Locked:
    """One character's voice as dramac.lock records it."""

    voice: str  # palette voice name, a variant `name~+1`, or a settings voice
    key: str  # Voice.key when it was locked
    gender: str = ""
    source: str = "auto"  # "settings" when the voice was set in [cast.NAME]
    name_says: str = ""  # the name dictionary's answer when it was locked (compiler/gender.py)
    shared_from: str = ""  # another script of the project that locked it (this one has not yet)


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
    settings_span: Callable[..., Span],
    backend: str = "",
    locked: dict[str, Locked] | None = None,
) -> Cast:
    """Assign voices. `resolve(settings, palette)` turns one `[cast.NAME]` table into a Voice (backend
    specific; raises ValueError with a message). `settings_span(key)` locates a key for diagnostics.
    `locked` holds the voices dramac.lock records for this script and backend."""
    cast_settings = {name: for_backend(entry, backend) for name, entry in cast_settings.items()}
    narrator_settings = for_backend(narrator_settings, backend)
    locked = locked or {}
    appearances = characters(script)
    explicit, gender_set = _from_settings(cast_settings, [a.name for a in appearances], palette, resolve, sink,
                                          settings_span)
    guesses = _guesses(script, [a.name for a in appearances], gender_set, locked)
    chosen = dict(explicit)
    taken = {v.key for v in explicit.values()}
    holders = {v.key: name for name, v in explicit.items()}  # who took a voice, for a displaced one's warning
    displaced: list[tuple[str, Locked, str, Span | None]] = []
    from_lock = set()
    spans = {a.name: a.first_span for a in appearances}
    for name in sorted(n for n in spans if n not in chosen and n in locked):
        voice = _honour_lock(name, locked[name], palette, guesses[name], taken, sink, spans[name], displaced)
        if voice is not None:
            chosen[name] = voice
            taken.add(voice.key)
            holders.setdefault(voice.key, name)
            from_lock.add(name)
    taken |= _reserved(locked, spans, palette, bool(narrator_settings.get("enabled")))
    tried: dict[str, int] = {}  # variant steps known taken, per base voice: casting stays linear
    for name in sorted(n for n in spans if n not in chosen):
        chosen[name] = _auto_voice(name, _voices_of(palette, guesses[name].gender), taken, tried)
        taken.add(chosen[name].key)
        holders.setdefault(chosen[name].key, name)  # the narrator is cast last: one of these may hold its voice
    members = tuple(CastMember(a.name, chosen[a.name], a.lines, a.words, a.first_span, a.name in explicit,
                               guesses[a.name], a.name in from_lock) for a in appearances)
    narrator = _narrator(script, cast_settings, narrator_settings, palette, resolve, settings_span, taken,
                         locked.get(NARRATOR), sink, displaced)
    if narrator is not None:
        chosen[NARRATOR] = narrator.voice
    _say_displaced(displaced, chosen, holders, explicit, script.span.file, sink)
    return Cast(members, narrator)


def _reserved(locked: dict[str, Locked], present: dict, palette: list[Voice], narrating: bool) -> set[str]:
    """The voices this script's lock keeps for characters who do not speak in it now (and for the
    narrator while it is off): no newcomer takes them, as none takes a present character's, so a
    scene cut and pasted back (a `dramac watch` build in between) gives everyone their voice again.
    Another script's voices are offered, not reserved: a series' episodes need not share every cast."""
    keys = set()
    for name, entry in locked.items():
        if name in present or entry.shared_from or (name == NARRATOR and narrating):
            continue
        voice = _named_voice(entry.voice, palette)
        if voice is not None:
            keys.add(voice.key)
    return keys


def _say_displaced(displaced: list, chosen: dict[str, Voice], holders: dict[str, str], explicit: dict[str, Voice],
                   script_file: str, sink: Sink) -> None:
    """Warn of each locked voice another character took, with the voice cast instead (as `dramac lock
    --update` prints a change) and how to keep the old one."""
    for name, entry, key, where in displaced:
        holder = holders.get(key, "another character")
        new = chosen[name].name
        setting = "[narrator]" if name == NARRATOR else f"[cast.{toml_key(name)}]"
        if holder in explicit:
            keep = (f"give {holder} another voice ([cast.{toml_key(holder)}] in dramac.toml) and set "
                    f"{setting} voice = {_quoted(entry.voice)}")
        elif key in holders:  # a voice locked twice (a hand-edited lock): the other is cast again
            keep = (f"set {setting} voice = {_quoted(entry.voice)} in dramac.toml, then "
                    f"{relock_command(script_file, holder)}")
        else:
            keep = f"set {setting} voice = {_quoted(entry.voice)} in dramac.toml"
        sink.warning(f"{name}'s locked voice '{entry.voice}' is now {holder}'s; {name} is cast again: "
                     f"{name}: {entry.voice} -> {new}", where or Span.point("dramac.lock", 1, 1),
                     f"to keep '{entry.voice}' for {name}: {keep}; otherwise the next build locks {name} to '{new}'")


def _quoted(text: str) -> str:
    from compiler.lock import toml_value

    return toml_value(text)


def _from_settings(cast_settings: dict[str, dict], names: list[str], palette: list[Voice], resolve, sink: Sink,
                   settings_span: Callable[..., Span]) -> tuple[dict[str, Voice], dict[str, str]]:
    """The voices and the genders `[cast.NAME]` tables set, by character name."""
    by_fold = {n.upper(): n for n in names}
    explicit: dict[str, Voice] = {}
    gender_set: dict[str, str] = {}
    for name, entry in cast_settings.items():
        if name.upper() == NARRATOR:
            continue
        entry = dict(entry)
        entry.pop("pan", None)  # where the character stands, not how it sounds (compiler/stage.py)
        said_gender = _gender_setting(name, entry.pop("gender"), settings_span) if "gender" in entry else None
        # Checked even for a character who does not speak now (a scene cut for a while): a mistake
        # there would otherwise surface only when the scene comes back.
        voice = None
        if entry:  # else only a gender, or only other backends' settings: cast automatically
            try:
                voice = resolve(entry, palette)
            except ValueError as exc:  # at the key it names (a SettingError's), else at the entry
                raise CompileError(error(f"cast entry '{name}': {exc}", _refused_at(settings_span, name, exc))) from None
        target = by_fold.get(name.upper())
        if target is None:
            close = difflib.get_close_matches(name.upper(), list(by_fold), n=1)
            hint = (f"did you mean {by_fold[close[0]]}?",) if close else ()
            sink.warning(f"cast entry '{name}' names no character who speaks in this script", settings_span(name), *hint)
            continue
        if said_gender is not None:
            gender_set[target] = said_gender
        if voice is not None:
            explicit[target] = voice
    return explicit, gender_set


def _refused_at(settings_span: Callable[..., Span], table: str, exc: ValueError) -> Span:
    """Where a table's voice error points: the value it refuses (SettingError.at_value: an unknown
    voice name), else the key it names, else the table."""
    key = getattr(exc, "key", None)
    return settings_span(table, key, "value") if getattr(exc, "at_value", False) else settings_span(table, key)


def _gender_setting(name: str, value, settings_span: Callable[..., Span]) -> str:
    try:  # checked when the settings were read; a caller of cast_script may pass any table
        return settings_schema.check(settings_schema.voice_settings()["gender"], value, f"cast entry '{name}': gender")
    except settings_schema.SettingError as exc:
        raise CompileError(error(str(exc), settings_span(name, "gender"))) from None


def _guesses(script: Script, names: list[str], gender_set: dict[str, str], locked: dict[str, Locked]) -> dict[str, gender.Guess]:
    intros = gender.introductions([n for n in names if n not in gender_set], script)
    firsts = frozenset(gender.first_word(n) for n in names)
    return {n: gender.guess(n, intros.get(n), gender_set.get(n), firsts,
                            locked[n].name_says if n in locked else "")
            for n in names}


def _voices_of(palette: list[Voice], likely: str | None) -> list[Voice]:
    """The palette voices of a gender; the whole palette for "neutral", an unknown gender, or a
    backend whose voices have none (Dia2)."""
    if likely in (gender.FEMALE, gender.MALE):
        same = [v for v in palette if v.gender == likely]
        if same:
            return same
    return palette


def _honour_lock(name: str, entry: Locked, palette: list[Voice], likely: gender.Guess, taken: set[str], sink: Sink,
                 span: Span | None, displaced: list) -> Voice | None:
    """The voice dramac.lock keeps for `name`, or None when it cannot be kept (then it is cast again,
    and the lock records the new voice). A change the lock prevents is a warning saying how to accept it.
    A voice another character took goes to `displaced`: its warning names the new voice, known later."""
    where = span or Span.point("dramac.lock", 1, 1)
    voice = _named_voice(entry.voice, palette)
    if entry.shared_from and (voice is None or voice.key in taken or voice.key != entry.key
                              or (likely.gender in (gender.FEMALE, gender.MALE) and likely.certainty in ("set", "clear")
                                  and voice.gender and voice.gender != likely.gender)):
        return None  # another episode's voice is offered, not kept: if it does not fit here, cast as usual
    if voice is None and entry.source == "settings":
        return None  # the writer removed the voice setting: cast automatically, as a manifest change would
    if voice is None:
        sink.warning(f"{name}'s locked voice '{entry.voice}' is not a voice of this backend; {name} is cast again", where)
        return None
    if voice.key in taken:
        displaced.append((name, entry, voice.key, span))
        return None
    if likely.certainty == "set" and likely.gender in (gender.FEMALE, gender.MALE) and voice.gender \
            and voice.gender != likely.gender:
        return None  # the writer set the gender: an explicit change re-resolves, as a manifest change does
    if voice.key != entry.key:
        sink.warning(f"{name}'s locked voice '{entry.voice}' has changed since it was locked (a newer dramac or "
                     "backend); its clips will be rendered again", where,
                     f"to record the new voice: {relock_command(where.file, name)}")
    if likely.certainty == "clear" and voice.gender and likely.gender and voice.gender != likely.gender:
        sink.warning(f"{name} keeps the {voice.gender} voice '{voice.name}' locked in dramac.lock, though the script "
                     f"now suggests {likely.gender} ({'; '.join(likely.reasons)})", where,
                     f"to accept the change: {relock_command(where.file, name)}; to keep it: set [cast.{toml_key(name)}] "
                     f"gender = \"{voice.gender}\" in dramac.toml")
    return voice


def relock_command(script: str, name: str) -> str:
    """The command that casts `name` again, quoted for a shell."""
    import shlex

    return f"dramac lock --update {shlex.quote(script)} {shlex.quote(name)}"


def toml_key(name: str) -> str:
    """`name` as a TOML key: bare when it can be, else a quoted string (`[cast."DR. AMES"]`)."""
    from compiler.lock import toml_value

    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else toml_value(name)


def _named_voice(voice_name: str, palette: list[Voice]) -> Voice | None:
    """A palette voice or one of its variants (`warm-female~+1`) by name."""
    base_name, _, offset = voice_name.partition("~")
    base = next((v for v in palette if v.name == base_name), None)
    if base is None or not offset:
        return base if not offset else None
    try:
        step = int(offset)
    except ValueError:
        return None
    return _variant(base, step) if step and abs(step) <= len(palette) + 64 else None


def _narrator(script, cast_settings, narrator_settings, palette, resolve, settings_span, taken, locked_entry, sink,
              displaced):
    if not narrator_settings.get("enabled"):
        return None
    narr_entry = dict(cast_settings.get(NARRATOR) or cast_settings.get(NARRATOR.lower()) or {})
    narr_entry.pop("gender", None)  # the narrator's voice is chosen from the whole palette
    narr_entry.update({k: v for k, v in narrator_settings.items() if k != "enabled"})
    narr_entry.pop("pan", None)  # a place on the stage, not a voice (compiler/stage.py)
    voice = None
    try:
        if narr_entry:
            voice = resolve(narr_entry, palette)
        elif locked_entry is not None:
            voice = _honour_lock(NARRATOR, locked_entry, palette, gender.Guess(None, "none", ()), taken, sink, None,
                                 displaced)
        voice = voice or _auto_voice(NARRATOR, palette, taken)
    except ValueError as exc:
        raise CompileError(error(f"narrator: {exc}", _refused_at(settings_span, "narrator", exc))) from None
    lines, words = narrator_words(script)
    return CastMember(NARRATOR, voice, lines, words, None, bool(narr_entry), None,
                      not narr_entry and locked_entry is not None and voice.name == locked_entry.voice)


def _auto_voice(name: str, palette: list[Voice], taken: set[str], tried: dict[str, int] | None = None) -> Voice:
    """The first free voice from the name's hashed slot on; when all are taken, the first free
    variant of the slot's voice. `tried` remembers, per base voice, the variant steps found taken
    in this casting (`taken` only grows), so a thousand characters do not each search from step 1."""
    start = stable_index(name, len(palette))
    for i in range(len(palette)):
        voice = palette[(start + i) % len(palette)]
        if voice.key not in taken:
            return voice
    # Voices exhausted: a variant with the pitch moved a step (≥ 8 %, audible) keeps voices distinct.
    base = palette[start]
    tried = {} if tried is None else tried
    step = tried.get(base.key, 1)
    while True:
        for sign in (1, -1):
            variant = _variant(base, sign * step)
            if variant.key not in taken:
                tried[base.key] = step
                return variant
        step += 1


def _variant(base: Voice, offset: int) -> Voice:
    """`base` with its pitch moved `offset` steps of 8 %, named `base~+offset`."""
    pitch = base.param("pitch_hz")
    variant = base.with_params(variant=offset, **({"pitch_hz": round(pitch * (1 + 0.08 * offset), 1)} if pitch else {}))
    return replace(variant, name=f"{base.name}~{offset:+d}")
