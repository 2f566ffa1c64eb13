"""dramac.lock: the voice each character was given and what each clip was rendered from.

The lock lives beside dramac.toml (the project root), is TOML, and is meant to be committed, as
Cargo.lock is. Builds honour it: a locked character keeps its voice whatever automatic casting would
pick today, so adding, removing or reordering characters never re-casts anyone behind the writer's
back. The settings still win — a `[cast.NAME] voice` (or a `gender` its locked voice does not have)
is a change the writer made, and it updates the lock, as a changed manifest updates Cargo.lock. Only
`dramac lock --update [NAME]` re-resolves a locked automatic voice.

    version = 1
    [scripts."play.fountain".embedded.voices."ELENA"]
    voice = "warm-female"     key = "…"     gender = "female"     source = "auto" | "settings"
    [[scripts."play.fountain".embedded.clips]]
    line = 12  speakers = ["ELENA"]  voices = ["…"]  text = "…"  spoken = "…"  identity = "…"  key = "…"
    [scripts."play.fountain".embedded.takes."3f2a9c0d1e4b"]
    take = 2  count = 3  line = 12  speaker = "ELENA"  text = "…"     (compiler/takes.py)

One table per script (its path from the project root) and backend: each play has its own cast, and a
preview backend's voices never disturb the final one's. A character who stops speaking keeps its entry,
and its voice stays reserved for it (compiler/cast.py), so a scene cut and pasted back gives the same
voices; only `dramac lock --update` drops such entries. Clip records let `dramac build --frozen` say why each line
would be rendered again: its text, how it is spoken, a voice, or the backend changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from compiler import takes
from compiler.cast import Cast, Locked
from compiler.diagnostics import CompileError, Diagnostic, Span, error
from compiler.plan_types import Clip
from compiler.project import Project

LOCK_NAME = "dramac.lock"
VERSION = 1
# A lock of an hour-long play with two backends is a few hundred KiB; anything near this is not one.
MAX_LOCK_BYTES = 16 * 1024 * 1024
_HEADER = ("# dramac.lock: each character's voice and what each clip was rendered from.\n"
           "# Written by dramac; commit it. `dramac lock --update [NAME]` casts again.\n")


@dataclass
class LockFile:
    path: Path
    display: str  # the path as diagnostics show it
    text: str = ""  # as read; "" when there is none
    exists: bool = False
    scripts: dict = field(default_factory=dict)  # script → backend → {"voices": {...}, "clips": [...]}

    def entry(self, script: str, backend: str) -> dict:
        return self.scripts.get(script, {}).get(backend, {})

    def voices(self, script: str, backend: str, relock: set[str] | bool = False) -> dict[str, Locked]:
        """The locked voices of one script and backend, less those `relock` names (all when True).
        A character this script has not locked yet takes the voice another script of the project
        locked for it (the first in path order): the episodes of a series share a cast."""
        found = {}
        others = sorted(other for other in self.scripts if other != script)
        for source in [script, *others]:
            for name, v in self.entry(source, backend).get("voices", {}).items():
                if name in found or relock is True or name.upper() in (relock or set()):
                    continue
                if source != script and v.get("source", "auto") != "auto":
                    continue  # a voice from the settings is the settings' to give, in this script too
                found[name] = Locked(v["voice"], v["key"], v.get("gender", ""), v.get("source", "auto"),
                                     v.get("name_says", ""), "" if source == script else source)
        return found

    def span_of(self, needle: str) -> Span:
        """Where `needle` first appears in the lock (its line), for diagnostics; 1:1 if nowhere."""
        at = self.text.find(needle) if needle else -1
        if at < 0:
            return Span.point(self.display, 1, 1)
        line = self.text.count("\n", 0, at) + 1
        col = at - (self.text.rfind("\n", 0, at) + 1) + 1
        return Span(self.display, line, col, line, col + len(needle))


def lock_path(project: Project) -> Path:
    return project.root / LOCK_NAME


def script_key(project: Project, script_path: str | Path) -> str:
    """A script's name in the lock: its path from the project root, with forward slashes."""
    try:
        rel = os.path.relpath(os.path.realpath(script_path), os.path.realpath(project.root))
    except ValueError:  # another drive on Windows
        rel = os.path.basename(script_path)
    return rel.replace(os.sep, "/")


def load(project: Project) -> LockFile:
    """The project's lock, checked; an empty one when there is none. A damaged lock is a diagnostic
    in dramac.lock (never a traceback): delete it, or fix the line, and build again."""
    from compiler.source import read_regular_file

    path = lock_path(project)
    lock = LockFile(path, _display(path))
    if not os.path.lexists(path):
        return lock
    try:
        raw = read_regular_file(path, MAX_LOCK_BYTES, "lock file")
    except CompileError as exc:
        raise CompileError(error(exc.diagnostics[0].message, Span.point(lock.display, 1, 1))) from None
    try:
        lock.text = raw.decode("utf-8")
        data = parse(lock.text)
    except UnicodeDecodeError:
        raise CompileError(error("lock file is not valid UTF-8", Span.point(lock.display, 1, 1),
                                 "delete dramac.lock and build again to write a new one")) from None
    except tomllib.TOMLDecodeError as exc:
        from compiler.key_positions import toml_error_at

        at, message = toml_error_at(lock.display, lock.text, exc)
        raise CompileError(error(f"invalid lock file: {message}", at,
                                 "delete dramac.lock and build again to write a new one")) from None
    lock.exists = True
    lock.scripts = _checked(data, lock)
    return lock


def parse(text: str) -> dict:
    """tomllib.loads(text). A lock exactly as `render` writes it (an hour-long play's is 140 KB,
    which tomllib takes tens of milliseconds to read) is read by a reader of that layout alone, and
    taken only if rendering what it read gives the text back: then it is what tomllib reads, since
    tomllib reads `render`'s text as the tables it was rendered from. Anything else (a hand edit, a
    comment, an error to report) goes to tomllib."""
    quick = _read_rendered(text)
    try:
        if quick is not None and quick.get("version") == VERSION and render(quick.get("scripts", {})) == text:
            return quick
    except (AttributeError, TypeError, KeyError, ValueError):  # tables of a shape `render` never writes
        pass
    return tomllib.loads(text)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_KEY_PART = re.compile(r'"(?:[^"\\]|\\.)*"|[A-Za-z0-9_-]+')


def _read_rendered(text: str) -> dict | None:
    """The tables of a text laid out as `render` lays them out (headers, `key = value` lines whose
    values are JSON: TOML's basic strings, integers and arrays are), or None where it is not."""
    data: dict = {}
    table = data
    try:
        for line in text.split("\n"):
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                many = line.startswith("[[")
                if not line.endswith("]]" if many else "]"):
                    return None
                keys = _dotted(line[2:-2] if many else line[1:-1])
                parent = data
                for key in keys[:-1]:
                    parent = parent.setdefault(key, {})
                if many:
                    table = {}
                    parent.setdefault(keys[-1], []).append(table)
                else:
                    table = parent.setdefault(keys[-1], {})
                continue
            key, equals, value = line.partition(" = ")
            if not equals or not _BARE_KEY.fullmatch(key):
                return None
            table[key] = json.loads(value)
    except (ValueError, TypeError, AttributeError):  # not this layout (a list where a table was, bad JSON)
        return None
    return data


def _dotted(header: str) -> list[str]:
    """The keys of a dotted key of bare and quoted parts; ValueError if it is not one."""
    keys, at = [], 0
    while True:
        found = _KEY_PART.match(header, at)
        if found is None:
            raise ValueError(header)
        part = found.group()
        keys.append(json.loads(part) if part.startswith('"') else part)
        at = found.end()
        if at == len(header):
            return keys
        if header[at] != ".":
            raise ValueError(header)
        at += 1


def _checked(data: dict, lock: LockFile) -> dict:
    """The lock's tables, every value of the type the builds rely on; else a diagnostic at it."""
    def bad(what: str, needle: str) -> CompileError:
        return CompileError(error(f"invalid lock file: {what}", lock.span_of(needle),
                                  "delete dramac.lock and build again to write a new one"))

    if data.get("version") != VERSION:
        raise bad(f"version must be {VERSION}, not {data.get('version')!r}", "version")
    scripts = data.get("scripts", {})
    if not isinstance(scripts, dict):
        raise bad("[scripts] must be a table", "scripts")
    for script, backends in scripts.items():
        if not isinstance(backends, dict):
            raise bad(f"script '{script}' must be a table", script)
        for backend, entry in backends.items():
            if not isinstance(entry, dict):
                raise bad(f"'{script}' {backend} must be a table", backend)
            voices = entry.setdefault("voices", {})
            if not isinstance(voices, dict):
                raise bad(f"'{script}' {backend} voices must be a table", "voices")
            for name, voice in voices.items():
                if not (isinstance(voice, dict) and all(isinstance(voice.get(k), str) for k in ("voice", "key"))
                        and all(isinstance(voice.get(k, ""), str) for k in ("gender", "source", "name_says"))):
                    raise bad(f"the voice of {name} needs text values voice, key, gender and source", name)
            problem = takes.checked(entry.get("takes", {}))
            if problem is not None:  # the writer's chosen takes (compiler/takes.py)
                raise bad(f"'{script}' {backend} {problem}", "takes")
            clips = entry.setdefault("clips", [])
            if not isinstance(clips, list) or not all(_clip_record_ok(c) for c in clips):
                bad_one = next((c for c in clips if not _clip_record_ok(c)), {}) if isinstance(clips, list) else {}
                raise bad(f"'{script}' {backend} clips must be records of line, speakers, voices, text, spoken, identity, key",
                          str(bad_one.get("key", "clips")) if isinstance(bad_one, dict) else "clips")
    return scripts


_CLIP_TEXT_FIELDS = ("text", "spoken", "identity", "key")
_CLIP_FIELDS = ("line", "lines", "speakers", "voices", "text", "spoken", "identity", "key", "takes")


def _clip_record_ok(record) -> bool:
    return (isinstance(record, dict) and isinstance(record.get("line"), int) and not isinstance(record.get("line"), bool)
            and all(isinstance(record.get(k), str) for k in _CLIP_TEXT_FIELDS)
            and all(isinstance(record.get(k), list) and all(isinstance(x, str) for x in record[k]) for k in ("speakers", "voices"))
            and isinstance(record.get("lines", []), list) and all(isinstance(x, str) for x in record.get("lines", []))
            and isinstance(record.get("takes", []), list)
            and all(isinstance(x, int) and not isinstance(x, bool) for x in record.get("takes", [])))


def voice_table(cast: Cast) -> dict[str, dict]:
    """The voices the lock records for a cast: every character's, and the narrator's when it speaks."""
    members = list(cast.members) + ([cast.narrator] if cast.narrator else [])
    return {m.name: {"voice": m.voice.name, "key": m.voice.key, "gender": m.voice.gender,
                     "source": "settings" if m.explicit else "auto",
                     **({"name_says": m.guess.name_says} if m.guess and m.guess.name_says else {})} for m in members}


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def clip_record(clip: Clip, identity: str, cache_key: str) -> dict:
    """What one clip was rendered from: enough to say later which of its inputs changed."""
    return {
        "line": clip.lines[0].span.line,
        "speakers": list(clip.speakers),
        "voices": [v.key for v in clip.voices],
        "text": _digest([f"{line.speaker}:{line.original}" for line in clip.lines]),
        "lines": [_digest([line.speaker, line.original])[:12] for line in clip.lines],
        "spoken": _digest([f"{line.speaker}:{line.spoken}" for line in clip.lines]),
        "identity": identity,
        "key": cache_key,
        # Only where a line is not at take 1 (compiler/takes.py): older locks and plain clips stay as they were.
        **({"takes": [line.take for line in clip.lines]} if any(line.take != 1 for line in clip.lines) else {}),
    }


def updated(lock: LockFile, script: str, backend: str, cast: Cast, clips: list[dict] | None,
            drop: set[str] | bool = False) -> dict:
    """The lock's tables with one script's voices (and clip records, unless None: kept) replaced.
    Characters the cast lacks keep their entries (a character cut for a build comes back with its
    voice), except those `drop` names (upper case; True: all of them), as `dramac lock --update` asks."""
    scripts = {s: {b: dict(e) for b, e in backends.items()} for s, backends in lock.scripts.items()}
    entry = scripts.setdefault(script, {}).setdefault(backend, {})
    entry["voices"] = {**absent_voices(lock, script, backend, cast, drop), **voice_table(cast)}
    entry["clips"] = clips if clips is not None else entry.get("clips", [])
    return scripts


def absent_voices(lock: LockFile, script: str, backend: str, cast: Cast, drop: set[str] | bool = False) -> dict[str, dict]:
    """The voices this script's lock keeps for characters not in `cast` (who stopped speaking, or the
    narrator while it is off), less those `drop` names (upper case; True: all)."""
    present = set(voice_table(cast))
    return {name: voice for name, voice in lock.entry(script, backend).get("voices", {}).items()
            if name not in present and not (drop is True or name.upper() in (drop or set()))}


CACHE_KEY_PREFIX = "dramac-clips-"


def cache_key(entries: list[tuple[str, str, str, dict]]) -> str:
    """The key a CI job stores the clip cache under (`dramac cache-key`): a digest of what the locks
    record for the scripts built (their voices and each clip's sources) and the identity of the
    backend that renders them, from entries (script from the project root, backend, identity, the
    lock's entry). Paths are the lock's own, relative to the project root, and the digest is of sorted
    JSON, so the key is the same from any directory, in any process. It changes exactly when the
    lock or the backend does: a build that renders new clips records them, and the key after it
    names the cache that holds them. "dramac-clips-<backend>-" is a stable prefix, for restore-keys."""
    rows = sorted({json.dumps([script, backend, identity, entry], sort_keys=True, separators=(",", ":"))
                   for script, backend, identity, entry in entries})
    digest = hashlib.sha256(("\n".join(["dramac cache key 1", *rows])).encode("utf-8")).hexdigest()[:32]
    names = "+".join(sorted({backend for _, backend, _, _ in entries}))
    return f"{CACHE_KEY_PREFIX}{names}-{digest}"


def write(lock: LockFile, scripts: dict) -> bool:
    """Write the lock atomically if its text changes; True when it did."""
    from compiler.atomic import write_atomically

    text = render(scripts)
    if lock.exists and text == lock.text:
        return False
    write_atomically(lock.path, text.encode("utf-8"))
    lock.text, lock.exists, lock.scripts = text, True, scripts
    return True


def render(scripts: dict) -> str:
    """TOML text of the lock, sorted so that the same cast and plan always give the same bytes."""
    out = [_HEADER, f"version = {VERSION}\n"]
    for script in sorted(scripts):
        for backend in sorted(scripts[script]):
            entry = scripts[script][backend]
            prefix = f"scripts.{_key(script)}.{_key(backend)}"
            for name in sorted(entry.get("voices", {})):
                out.append(f"\n[{prefix}.voices.{_key(name)}]\n")
                out += [f"{k} = {toml_value(v)}\n" for k, v in sorted(entry["voices"][name].items())]
            for ident in sorted(entry.get("takes", {})):
                out.append(f"\n[{prefix}.takes.{_key(ident)}]\n")
                out += [f"{k} = {toml_value(v)}\n" for k, v in sorted(entry["takes"][ident].items())]
            for record in entry.get("clips", []):
                out.append(f"\n[[{prefix}.clips]]\n")
                out += [f"{k} = {toml_value(record[k])}\n" for k in _CLIP_FIELDS if k in record]
    return "".join(out)


def _key(text: str) -> str:
    return toml_value(str(text))


def toml_value(value) -> str:
    """A TOML value: a basic string with every control character escaped, an integer, or an array."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + _ESCAPED.sub(_escape, str(value)) + '"'


_ESCAPED = re.compile(r'["\\\x00-\x1f\x7f]')  # what a TOML basic string cannot hold as it is


def _escape(match: re.Match) -> str:
    ch = match.group()
    return "\\" + ch if ch in '"\\' else f"\\u{ord(ch):04x}"


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ---- --frozen: fail before rendering when a clip would be rendered or the lock would change ----


def frozen_problems(lock: LockFile, script: str, backend: str, cast: Cast, clips: list[Clip], identity: str,
                    cache_key, is_cached, source: str) -> list[Diagnostic]:
    """Every reason a frozen build must stop, at the script line it concerns. `cache_key(clip)` is
    its cache key, `is_cached(clip)` whether the cache holds it (verified)."""
    if not lock.exists:
        return [error(f"--frozen needs {LOCK_NAME} beside dramac.toml, and there is none", Span.point(source, 1, 1),
                      "run `dramac lock` or a build without --frozen, and commit dramac.lock")]
    entry = lock.entry(script, backend)
    problems = _voice_problems(entry.get("voices", {}), cast, source, backend)
    records = entry.get("clips", [])
    recorded_keys = {r["key"] for r in records}
    by_text = {(r["text"], tuple(r["speakers"])): r for r in records}
    by_line = {r["line"]: r for r in records}
    accounted = set()  # recorded clips still in the script, or matched to a clip that changed
    for clip in clips:
        key = cache_key(clip)
        accounted.add(key)
        cached = is_cached(clip)
        if cached and key in recorded_keys:
            continue
        record = clip_record(clip, identity, key)
        old = by_text.get((record["text"], tuple(record["speakers"]))) or by_line.get(record["line"])
        if old is not None:
            accounted.add(old["key"])
        what = "would be rendered" if not cached else f"is not recorded in {LOCK_NAME}"
        for span, reason in _changed_lines(clip, record, old):
            problems.append(error(f"--frozen: this line {what}: {reason}", span))
    for record in records:
        if record["key"] not in accounted:
            problems.append(error(f"--frozen: {LOCK_NAME} records a clip (script line {record['line']}) this script no "
                                  "longer has; the lock would change", lock.span_of(record["key"])))
    return problems


def _voice_problems(locked: dict, cast: Cast, source: str, backend: str) -> list[Diagnostic]:
    problems = []
    now = voice_table(cast)
    spans = {m.name: m.first_span for m in cast.members}
    for name, voice in now.items():
        at = spans.get(name) or Span.point(source, 1, 1)
        old = locked.get(name)
        if old is None:
            problems.append(error(f"--frozen: {name} has no voice in {LOCK_NAME} for the {backend} backend; the lock would change", at))
        elif (old["voice"], old["key"]) != (voice["voice"], voice["key"]):
            problems.append(error(f"--frozen: {name}'s voice would change from '{old['voice']}' to '{voice['voice']}'"
                                  f"{' (set in the settings)' if voice['source'] == 'settings' else ''}; the lock would change", at))
    # A voice locked for a character who no longer speaks is no problem: a build keeps it (only
    # `dramac lock --update` drops it), so the lock would not change, as Cargo's --locked asks.
    return problems


def _changed_lines(clip: Clip, record: dict, old: dict | None) -> list[tuple[Span, str]]:
    """The lines of a clip to blame, each with the reason: the lines whose text the lock does not
    know when the text changed, else the clip's first line."""
    reason = _why(record, old)
    if old is None or reason != "its text changed" or "lines" not in old:
        return [(clip.lines[0].span, reason)]
    known = set(old["lines"])
    changed = [line.span for line, digest in zip(clip.lines, record["lines"]) if digest not in known]
    return [(span, reason) for span in changed] or [(clip.lines[0].span, "its lines were regrouped")]


def _why(record: dict, old: dict | None) -> str:
    """Which input of a clip differs from what the lock says it was rendered from."""
    if old is None:
        return f"new text (no clip of {LOCK_NAME} has this line)"
    if old["text"] != record["text"] or old["speakers"] != record["speakers"]:
        return "its text changed"
    if old["spoken"] != record["spoken"]:
        return "how it is spoken changed ([lexicon] or text normalisation)"
    if old["voices"] != record["voices"]:
        changed = [s for s, a, b in zip(record["speakers"], old["voices"], record["voices"]) if a != b]
        return f"the voice of {', '.join(changed) or 'a speaker'} changed"
    if old.get("takes", [1] * len(record["lines"])) != record.get("takes", [1] * len(record["lines"])):
        return "its take changed (dramac take, or the studio)"
    if old["identity"] != record["identity"]:
        return f"the backend changed ({old['identity']} -> {record['identity']})"
    if old["key"] != record["key"]:
        return "its settings changed (pauses or how lines are grouped into clips)"
    return "its audio is not in the clip cache (cleared, or rendered on another machine)"


def check_frozen(prepared, cache) -> None:
    """`dramac build --frozen`: CompileError listing every line that would be rendered, and every
    change the lock would take, before anything is rendered."""
    identity = prepared.backend.identity()
    rate = prepared.backend.sample_rate
    problems = frozen_problems(prepared.lock, _script_of(prepared), prepared.backend_name, prepared.cast,
                               prepared.plan.clips, identity, lambda clip: cache.key(identity, clip),
                               lambda clip: cache.get(identity, clip, rate) is not None, prepared.parsed.source.path)
    if problems:
        raise CompileError(problems)


def record(prepared, cache) -> bool:
    """After a build: the lock holds the cast's voices and what each clip was rendered from."""
    identity = prepared.backend.identity()
    clips = [clip_record(c, identity, cache.key(identity, c)) for c in prepared.plan.clips]
    # Read again: another script of the project may have been built since this one was prepared, and
    # its table must not be lost (parsed again only if its text changed: an hour-long play's is 140 KB).
    current = _reread(prepared.parsed.project, prepared.lock)
    prepared.lock = current
    scripts = updated(current, _script_of(prepared), prepared.backend_name, prepared.cast, clips)
    entry = scripts[_script_of(prepared)][prepared.backend_name]
    # Chosen takes of lines the script still has (read again too: the studio may have set one meanwhile).
    entry["takes"] = takes.kept(takes.chosen_for(current, _script_of(prepared), prepared.backend_name), prepared.plan)
    if not entry["takes"]:
        del entry["takes"]
    return save(current, scripts)


def _reread(project: Project, before: LockFile | None) -> LockFile:
    """The project's lock as `load` reads it; `before` itself when the file still holds its text."""
    from compiler.source import read_regular_file

    if before is not None and before.exists and before.path == lock_path(project):
        try:
            if read_regular_file(before.path, MAX_LOCK_BYTES, "lock file") == before.text.encode("utf-8"):
                return before
        except CompileError:
            pass  # `load` says what is wrong with it
    return load(project)


def save(lock: LockFile, scripts: dict) -> bool:
    """`write`, with a failure to write as a diagnostic at the lock."""
    try:
        return write(lock, scripts)
    except OSError as exc:  # a read-only project, a full disk
        raise CompileError(error(f"cannot write {LOCK_NAME}: {exc.strerror or exc}", Span.point(lock.display, 1, 1),
                                 "the voices are not locked; make the project folder writable")) from None


def _script_of(prepared) -> str:
    return script_key(prepared.parsed.project, prepared.parsed.source.path)
