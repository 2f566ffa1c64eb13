"""`dramac`: check, ast, cast, plan, build and watch scripts.

Every command prints diagnostics as `file:line:col: error: message` with the source line and a caret
and exits 1 on errors. No input reaches the user as a Python traceback: an unexpected failure is
reported as an internal compiler error with a one-line reason.
"""

from __future__ import annotations

import inspect
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import typer

from compiler.cluster import ClusterUnavailable, require_ray  # Ray itself is imported only for a cluster build
from compiler.diagnostics import CompileError, Diagnostic, Span
from compiler.report import LiteralConsole, describe_failure, dump_json, print_diagnostics, styled, summary_line, visible

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="dramac: compile screenplays to audio drama.")
# User text (script lines, names, file names) goes through these consoles: never markup, never emoji.
err = LiteralConsole(stderr=True)
out = LiteralConsole()
# The file a diagnostic about the command line itself names (line 0, column 0), e.g. in the build record.
COMMAND_LINE = "<command line>"


def _lines_for(diags: list[Diagnostic], sources: dict[str, list[str]]) -> dict[str, list[str] | None]:
    """Source lines for every file a diagnostic names. A file the front end did not read (dramac.toml,
    a folder named in an error) is read here only if it is a regular file within the script size limit
    and decodes: a diagnostic about a FIFO or /dev/zero must not hang reading it."""
    from compiler.source import MAX_SOURCE_BYTES, decode, read_regular_file

    lines = dict(sources)
    for d in diags:
        f = d.span.file
        if f not in lines:
            try:
                lines[f] = decode(read_regular_file(f, MAX_SOURCE_BYTES, "source file"), f).lines
            except CompileError:
                lines[f] = None
    return lines


def _report(diags: list[Diagnostic], sources: dict[str, list[str]] | None = None) -> None:
    print_diagnostics(diags, _lines_for(diags, sources or {}), err)


def _report_new(diags: list[Diagnostic], sources: dict[str, list[str]], said: Optional[set]) -> None:
    """Report the diagnostics not in `said` (all when None); `watch` keeps one set per script, so a
    warning that stays (a locked voice the settings no longer give) is printed once, not on every save."""
    if said is None:
        _report(diags, sources)
        return
    keys = [(d.severity, d.message, d.span.file, d.span.line, d.span.col) for d in diags]
    new = [d for d, key in zip(diags, keys) if key not in said]
    _report(new, sources)
    if len(new) < len(diags):
        err.print(styled((f"    {len(diags) - len(new)} warning(s) as in the last build, not repeated", "dim")))
    said.clear()
    said.update(keys)


def _fail(exc: CompileError, sources: dict[str, list[str]] | None = None) -> None:
    _report(exc.diagnostics, sources)
    # `dramac cast` does not fail a build (typer runs commands outside a click context: argv says which)
    command = next((a for a in sys.argv[1:2] if a.isidentifier()), "build")
    command = "build" if command in ("watch", "serve") else command  # they go on; the build failed
    err.print(styled(("error", "bold red"), f": {command} failed ({summary_line(exc.diagnostics)})"))
    raise typer.Exit(1)


@app.command()
def check(files: List[Path] = typer.Argument(..., help="Script files (.fountain, .md)"),
          json: bool = typer.Option(False, "--json", help="Diagnostics as JSON on stdout")) -> None:
    """Parse scripts, check their settings, cast and plan them; report errors and warnings. Renders
    nothing and loads no voice: what a build would refuse before rendering, `check` refuses."""
    from compiler.build import prepare, refusal, refuse_unstorable_rate
    from compiler.parser import parse_file
    from compiler.sounds import sound_problems

    all_diags: list[Diagnostic] = []
    sources: dict[str, list[str]] = {}
    for f in files:
        parsed = parse_file(f)
        if parsed.source:
            sources[parsed.source.path] = parsed.source.lines
        if not parsed.ok or parsed.script is None:
            all_diags += parsed.diagnostics
            continue
        try:  # settings, cast (unknown voices, cast entries naming no one) and plan, as a build does them
            prepared = prepare(f, ready=False)
        except CompileError as exc:  # the front end's warnings still count
            all_diags += parsed.diagnostics + exc.diagnostics
            continue
        refused = refusal(prepared)  # what a build refuses: nothing to render
        if refused is not None:
            all_diags += refused
            continue
        all_diags += prepared.diagnostics + sound_problems(prepared.plan)  # a missing or broken sound file too
        try:
            refuse_unstorable_rate(prepared, _check_formats(prepared.settings.build.get("format", "wav")))
        except CompileError as exc:
            all_diags += exc.diagnostics
    errors = any(d.is_error for d in all_diags)
    if json:
        dump_json({"ok": not errors, "diagnostics": [d.to_json() for d in all_diags]})
    else:
        _report(all_diags, sources)
        if all_diags:
            err.print(summary_line(all_diags))
        else:  # said, so a writer can tell a clean script from a check that did nothing
            err.print(styled(("ok", "bold green"), f": {len(files)} script{'' if len(files) == 1 else 's'} checked, "
                             "no problems found"), soft_wrap=True)
    raise typer.Exit(1 if errors else 0)


@app.command()
def ast(file: Path = typer.Argument(..., help="Script file"),
        json: bool = typer.Option(True, "--json/--no-json", help="The AST as JSON on stdout (docs/ast.md)")) -> None:
    """Print the syntax tree."""
    from compiler.parser import parse_file

    parsed = parse_file(file)
    if parsed.script is None or not parsed.ok:
        _fail(CompileError(parsed.diagnostics), {parsed.source.path: parsed.source.lines} if parsed.source else {})
    if parsed.diagnostics:
        _report(parsed.diagnostics, {parsed.source.path: parsed.source.lines})
    data = parsed.script.to_json()
    if json:
        dump_json(data)
    else:
        out.print(data)


def _prepare(file: Path, backend: str | None, narrator: bool | None, refuse_empty: bool = False):
    """`refuse_empty`: a plan with nothing to render is an error, as `build` and `check` make it."""
    from compiler.build import prepare, refusal

    try:
        prepared = prepare(file, backend, narrator)
    except CompileError as exc:
        _fail(exc)
    refused = refusal(prepared) if refuse_empty else None
    if refused is not None:
        _fail(CompileError(refused))
    if prepared.diagnostics:
        _report(prepared.diagnostics, {prepared.parsed.source.path: prepared.parsed.source.lines})
    return prepared


@app.command()
def cast(file: Path = typer.Argument(..., help="Script file"),
         backend: Optional[str] = typer.Option(None, help="Backend whose voices to show"),
         narrator: Optional[bool] = typer.Option(None, "--narrator/--no-narrator", help="Read action lines aloud"),
         json: bool = typer.Option(False, "--json")) -> None:
    """List the characters with their line and word counts, their voices, the gender each voice was
    chosen for and why, and which voices dramac.lock keeps."""
    prepared = _prepare(file, backend, narrator)
    members = list(prepared.cast.members) + ([prepared.cast.narrator] if prepared.cast.narrator else [])
    rows = [_cast_row(m) for m in members]
    lock = prepared.lock
    absent = _absent_rows(prepared)
    if json:
        dump_json({"characters": rows, "locked_not_in_script": absent,
                   "lock": str(lock.path) if lock is not None and lock.exists else None})
        return
    from rich.table import Table

    table = Table(title=styled(f"Cast of {file}"))
    for col in ("character", "lines", "words", "voice", "gender", "why"):
        table.add_column(col, justify="right" if col in ("lines", "words") else "left")
    for r in rows:
        table.add_row(styled(r["character"]), str(r["lines"]), str(r["words"]), styled(f"{r['voice']} ({r['source']})"),
                      styled(r["voice_gender"] or "-"), styled(r["gender_why"]))
    for r in absent:  # kept for when they speak again: the writer sees whose voice is reserved
        table.add_row(styled(r["character"]), "-", "-", styled(f"{r['voice']} (locked, not in the script)"),
                      styled(r["voice_gender"] or "-"), "")
    out.print(table)
    _print_cast_notes(rows, prepared)


def _absent_rows(prepared) -> list[dict]:
    """The characters dramac.lock keeps a voice for who do not speak in the script now."""
    from compiler import lock as lockfile

    if prepared.lock is None:
        return []
    script = lockfile.script_key(prepared.parsed.project, prepared.parsed.source.path)
    absent = lockfile.absent_voices(prepared.lock, script, prepared.backend_name, prepared.cast)
    return [{"character": name, "voice": v["voice"], "voice_gender": v.get("gender") or None, "source": v.get("source", "auto")}
            for name, v in sorted(absent.items())]


def _cast_row(member) -> dict:
    guess = member.guess
    source = "set" if member.explicit else "locked" if member.locked else "auto"
    return {"character": member.name, "lines": member.lines, "words": member.words, "voice": member.voice.name,
            "description": member.voice.description, "explicit": member.explicit, "locked": member.locked,
            "source": source, "voice_gender": member.voice.gender or None,
            "gender": guess.gender if guess else None, "gender_certainty": guess.certainty if guess else None,
            "gender_reasons": list(guess.reasons) if guess else [], "gender_why": _cast_why(member),
            "first_line": member.first_span.line if member.first_span else None}


def _cast_why(member) -> str:
    """Why the character has its voice: a voice set in the settings says so first, since the script's
    evidence chose nothing (`Peter is a male first name` beside a female voice would read as a mistake)."""
    guess = member.guess
    why = guess.summary if guess else ""
    if not member.explicit:
        return why
    if guess and guess.gender in ("female", "male") and member.voice.gender and member.voice.gender != guess.gender:
        return f"voice set in the settings; it overrides the script's evidence: {why}"
    return f"voice set in the settings; {why}" if why else "voice set in the settings"


def _print_cast_notes(rows: list[dict], prepared) -> None:
    """Say where a voice's gender rests on weak, split or no evidence, and how to decide it; and what is locked."""
    gendered = any(v.gender for v in prepared.backend.palette())
    for r in rows:
        if r["explicit"] or r["gender_certainty"] in (None, "set", "clear"):
            continue
        if not gendered:
            break
        from compiler.cast import toml_key

        # A locked voice was not chosen now: it is kept from dramac.lock, whatever the evidence says today.
        chosen = (f"the voice '{r['voice']}' is locked in dramac.lock" if r["locked"] else
                  f"the voice was chosen {'for ' + r['gender'] if r['gender'] else 'from every palette voice'}")
        out.print(f"{r['character']}: {r['gender_why']}; {chosen}. To decide: "
                  f"[cast.{toml_key(r['character'])}] gender = \"female\" | \"male\" | \"neutral\" in dramac.toml", soft_wrap=True)
    if not gendered:
        out.print(f"The {prepared.backend_name} palette has no gendered voices: gender does not choose its voices.", soft_wrap=True)
    lock = prepared.lock
    locked = sum(r["locked"] for r in rows)
    if lock is None or not lock.exists:
        out.print("No dramac.lock yet: the first build (or `dramac lock`) writes it, and later builds keep these voices.",
                  soft_wrap=True)
    else:
        out.print(f"{lock.display}: {locked} of {len(rows)} voices locked; `dramac lock --update [NAME]` casts again.",
                  soft_wrap=True)
        absent = _absent_rows(prepared)
        if absent:
            import shlex

            names = ", ".join(r["character"] for r in absent)
            out.print(f"{lock.display} also keeps the voices of {names}, not in the script: kept for when they speak "
                      f"again; `dramac lock --update {shlex.quote(prepared.parsed.source.path)}` drops them.", soft_wrap=True)


@app.command("settings")
def settings_command(markdown: bool = typer.Option(False, "--markdown", help="Print docs/settings.md"),
                     json_schema: bool = typer.Option(False, "--json-schema", help="Print docs/dramac.schema.json")) -> None:
    """List every setting of dramac.toml (and of a script's front matter): type, default, range, who may set it."""
    from compiler import settings_doc
    from compiler.settings_schema import all_settings

    if markdown or json_schema:
        sys.stdout.write(settings_doc.markdown() if markdown else settings_doc.schema_text())
        return
    for s in all_settings():
        if s.kind == "driver":
            continue
        where = settings_doc.table_title(s)
        out.print(f"{where} {s.key}: {s.expected()}"
                  + (f" (default {settings_doc.default_text(s)})" if s.default is not None else "")
                  + ("" if s.who.value == "script" else " — dramac.toml or the command line only"), soft_wrap=True, markup=False)


@app.command("lock")
def lock_command(file: Path = typer.Argument(..., help="Script file"),
                 names: Optional[List[str]] = typer.Argument(None, help="With --update: the characters to cast again (default: all)"),
                 update: bool = typer.Option(False, "--update", help="Cast again instead of keeping the locked voices"),
                 backend: Optional[str] = typer.Option(None, help="Backend whose voices to lock"),
                 narrator: Optional[bool] = typer.Option(None, "--narrator/--no-narrator")) -> None:
    """Write dramac.lock beside dramac.toml: each character's voice, which later builds keep.
    `dramac lock --update` casts every character again; `dramac lock --update FILE NAME…` only those."""
    from compiler import lock as lockfile
    from compiler.build import prepare
    from compiler.diagnostics import error

    if names and not update:
        _fail(CompileError(error("character names are given with --update (dramac lock --update FILE NAME)",
                                 Span.point(str(file), 1, 1))))
    relock = ({n.strip().upper() for n in names} if names else True) if update else False
    try:
        prepared = prepare(file, backend, narrator, relock=relock)
    except CompileError as exc:
        _fail(exc)
    if prepared.diagnostics:
        _report(prepared.diagnostics, {prepared.parsed.source.path: prepared.parsed.source.lines})
    script = lockfile.script_key(prepared.parsed.project, prepared.parsed.source.path)
    # `--update` drops the entries of characters who no longer speak (builds keep them); `--update NAME` only NAME's.
    absent = lockfile.absent_voices(prepared.lock, script, prepared.backend_name, prepared.cast)
    speaking = {m.name.upper() for m in prepared.cast.members} | ({prepared.cast.narrator.name} if prepared.cast.narrator else set())
    unknown = sorted(set(relock) - speaking - {n.upper() for n in absent}) if isinstance(relock, set) else []
    if unknown:
        _fail(CompileError(error(f"no character named {', '.join(unknown)} speaks in this script", Span.point(str(file), 1, 1))))
    dropped = sorted(n for n in absent if relock is True or (relock and n.upper() in relock))
    before = prepared.lock.voices(script, prepared.backend_name)
    try:
        lockfile.save(prepared.lock, lockfile.updated(prepared.lock, script, prepared.backend_name, prepared.cast, None,
                                                      relock))
    except CompileError as exc:
        _fail(exc)
    for name in dropped:
        out.print(f"{name}: {absent[name]['voice']} dropped (not in the script)", soft_wrap=True)
    members = list(prepared.cast.members) + ([prepared.cast.narrator] if prepared.cast.narrator else [])
    for m in members:
        old = before.get(m.name)
        if old is None or old.key != m.voice.key:
            out.print(f"{m.name}: {old.voice + ' -> ' if old else ''}{m.voice.name}", soft_wrap=True)
    out.print(f"{prepared.lock.display}: {len(members)} voices locked for {script} ({prepared.backend_name})", soft_wrap=True)
    kept = sorted(set(absent) - set(dropped))
    if kept:
        out.print(f"  and kept for {', '.join(kept)}, not in the script (`dramac lock --update FILE` drops them)", soft_wrap=True)


@app.command("cache-key")
def cache_key_command(files: List[Path] = typer.Argument(..., help="Script files; a series (season1/*.fountain)"),
                      backend: Optional[str] = typer.Option(None, help="Backend that renders them (default: \\[build] backend)")) -> None:
    """Print the key to store the clip cache under in CI: a digest of what dramac.lock records for these
    scripts (voices, clip sources) and the backend's identity; the same from any directory. Nothing
    is rendered, loaded or written (docs/ci.md)."""
    from compiler import backends
    from compiler import lock as lockfile
    from compiler.config import load_settings
    from compiler.diagnostics import error
    from compiler.parser import parse_file

    entries = []
    for file in files:
        parsed = parse_file(file)
        if not parsed.ok:
            _fail(CompileError(parsed.diagnostics), {parsed.source.path: parsed.source.lines} if parsed.source else None)
        try:  # the front matter may set a backend's options that are part of its identity ([dia2] seed)
            settings = load_settings(parsed.project, parsed.script.metadata, parsed.source.path, parsed.source.text)
            name = backend or settings.build.get("backend", "embedded")
            workspace = backends.Workspace(str(parsed.project.root), str(parsed.project.cache_dir))
            identity = backends.shared(name, workspace, **settings.backends.get(name, {})).identity()
            lock = lockfile.load(parsed.project)
        except CompileError as exc:
            _fail(exc, {parsed.source.path: parsed.source.lines})
        except (backends.BackendUnavailable, ValueError) as exc:
            _fail(CompileError(error(str(exc), Span.point(str(file), 1, 1))))
        script = lockfile.script_key(parsed.project, parsed.source.path)
        entries.append((script, name, identity, lock.entry(script, name)))
    sys.stdout.write(lockfile.cache_key(entries) + "\n")


@app.command()
def take(file: Path = typer.Argument(..., help="Script file"),
         line: Optional[int] = typer.Argument(None, min=1, help="Script line of the spoken line (or its cue)"),
         new: bool = typer.Option(False, "--new", help="Render another take of the line and lock it"),
         use: Optional[int] = typer.Option(None, "--use", min=1, help="Lock take N (one already rendered)"),
         list_: bool = typer.Option(False, "--list", help="Show the line's takes (every line with takes, without LINE)"),
         wav: Optional[Path] = typer.Option(None, "--wav", help="Also write the line's take to this WAV file, to listen"),
         backend: Optional[str] = typer.Option(None, help="Backend whose takes to change"),
         output: Path = typer.Option(Path("outputs"), "-o", "--output", help="The builds' output folder (the cache may not be in it)"),
         cache_dir: Optional[Path] = typer.Option(None, "--cache-dir")) -> None:
    """Takes of one line: render another (--new), lock one (--use N), or list them (--list).

    The locked take is kept in dramac.lock, so every build (and CI) renders exactly that take."""
    from compiler import takes
    from compiler.buildlock import for_build
    from compiler.diagnostics import error

    if sum((new, use is not None, list_)) != 1 or (line is None and not list_):
        _fail(CompileError(error("give LINE and one of --new, --use N, --list (--list alone lists every line with takes)",
                                 Span.point(COMMAND_LINE, 0, 0))))
    prepared = _prepare(file, backend, None)
    try:
        # The cache folder is checked as a build checks it (never a symlinked one), and locked.
        with for_build(prepared.parsed.project, Path(output), cache_dir, strict=True,
                       on_wait=lambda: err.print("waiting for another build of this project to finish", soft_wrap=True)) \
                as cache_root:
            if list_:
                rows = takes.listing(prepared)
                for planned, chosen in rows:
                    if (chosen.count > 1) if line is None else planned is (takes.find_line(prepared.plan, line) or (None, None))[1]:
                        out.print(f"{planned.span.file}:{planned.span.line}  {planned.speaker}: {takes.shown_text(planned.original)}  "
                                  f"{takes.describe(chosen)}", soft_wrap=True)
                return
            if new:
                heard = takes.new(prepared, cache_root, line)
                chosen = heard.chosen
            else:
                chosen = takes.use(prepared, line, use)
                heard = takes.hear(prepared, cache_root, line, use) if wav is not None else None
            if wav is not None and heard is not None:
                from compiler.emit import write_audio

                write_audio(wav, heard.audio, heard.sample_rate)
    except takes.TakeError as exc:
        _fail(CompileError(error(str(exc), Span.point(str(file), line or 1, 1))))
    except CompileError as exc:
        _fail(exc)
    out.print(f"{file}:{chosen.line}  {chosen.speaker}: {chosen.text}  {takes.describe(chosen)} locked in dramac.lock; "
              "the next build renders it", soft_wrap=True)


@app.command()
def plan(file: Path = typer.Argument(..., help="Script file"),
         backend: Optional[str] = typer.Option(None, help="Backend to plan for"),
         narrator: Optional[bool] = typer.Option(None, "--narrator/--no-narrator"),
         json: bool = typer.Option(False, "--json")) -> None:
    """Print the render clips, their speakers and estimated lengths, without rendering."""
    from compiler import estimate
    from compiler.plan_types import Clip, PauseStep, SceneBreak, SoundCue

    prepared = _prepare(file, backend, narrator, refuse_empty=True)
    # Lengths at the voices' rates learned by earlier builds (the planner's own sizing rate is fixed).
    rates = estimate.load_rates(prepared.parsed.project.cache_dir)
    steps = []
    for step in prepared.plan.steps:
        if isinstance(step, Clip):
            steps.append({"type": "clip", "key": step.key, "scene": step.scene, "speakers": list(step.speakers),
                          "voices": [v.name for v in step.voices], "lines": len(step.lines),
                          "est_seconds": round(estimate.clip_seconds(step, rates), 2),
                          "spoken": [line.spoken for line in step.lines], "first_line": step.lines[0].span.line,
                          "rooms": [line.room.size if line.room else "dry" for line in step.lines]})
        elif isinstance(step, PauseStep):
            steps.append({"type": "pause", "seconds": step.seconds})
        elif isinstance(step, SceneBreak):
            heading = prepared.parsed.script.scenes[step.scene].heading
            steps.append({"type": "scene", "scene": step.scene, "heading": heading.text if heading else None})
        elif isinstance(step, SoundCue):
            steps.append({"type": step.kind, "path": step.path, "options": dict(step.options), "line": step.span.line})
    voices = {v.key for c in prepared.plan.clips for v in c.voices}
    learned = sum(rates.known(key) for key in voices)
    length = estimate.play_seconds(prepared.plan, rates, prepared.backend.sample_rate, prepared.stitch)
    if json:
        dump_json({"title": prepared.plan.title, "backend": prepared.backend_name, "estimated_seconds": round(length, 1),
                   "voices_with_learned_rates": learned, "voices": len(voices), "steps": steps})
        return
    _print_plan(steps, prepared)
    n = sum(1 for s in steps if s["type"] == "clip")
    minutes, seconds = divmod(round(length), 60)
    source = (f"speaking rates learned for {learned} of {len(voices)} voices" if learned
              else "default speaking rate: build once to learn the voices' own")
    out.print(f"{n} clip{'' if n == 1 else 's'}, about {minutes}:{seconds:02d} long ({source})", soft_wrap=True)


def _print_plan(steps: list[dict], prepared) -> None:
    """One row per step, never wrapped (a pipe gets whole rows); a scene's heading before its first
    row, the first scene's too."""
    from compiler import plugins

    root = prepared.parsed.project.root
    shown = None

    def heading(scene: int) -> None:
        nonlocal shown
        if scene != shown:
            found = prepared.parsed.script.scenes[scene].heading
            if found is not None or shown is not None:
                out.print(styled((f"── {found.text if found else 'scene ' + str(scene + 1)} ──", "bold")), soft_wrap=True)
            shown = scene

    scenes = prepared.parsed.script.scenes
    first_line = next((s["first_line"] for s in steps if s["type"] == "clip"), None)
    # The planner breaks scenes only between spoken ones: the first heading is that of the scene
    # holding the first line (material before it has none, or the title page's note).
    heading(next((i for i, sc in enumerate(scenes) if first_line is not None and sc.span.line <= first_line <= sc.span.end_line), 0))
    for s in steps:
        if s["type"] == "clip":
            who = " + ".join(f"[S{i + 1}] {n}" for i, n in enumerate(s["speakers"]))
            rooms = "/".join(dict.fromkeys(s["rooms"]))
            out.print(styled(f"clip {s['key'][:8]}  line {s['first_line']:>4}  {s['est_seconds']:5.1f}s  "
                             f"{s['lines']:>2} {'line ' if s['lines'] == 1 else 'lines'}  {rooms:<8}  {who}"), soft_wrap=True)
        elif s["type"] == "scene":
            heading(s["scene"])
        elif s["type"] == "pause":
            out.print(styled((f"pause {s['seconds']:g}s", "dim")), soft_wrap=True)
        else:
            path = s.get("path") or ""
            if path and Path(path).is_absolute() and Path(path).is_relative_to(root):
                path = str(Path(path).relative_to(root))
            options = " ".join(f"{k}={v}" for k, v in s["options"].items())
            row = " ".join(x for x in (plugins.by_rule(s["type"]).label, path, options) if x)
            out.print(styled((f"{row}  (line {s['line']})", "cyan")), soft_wrap=True)


def _check_formats(value: str) -> list[str]:
    """Comma-separated audio formats; ValueError naming the unknown ones."""
    from compiler.settings_schema import AUDIO_FORMATS

    formats = [f.strip().lower() for f in value.split(",") if f.strip()]
    bad = [f for f in formats if f not in AUDIO_FORMATS]
    if bad or not formats:
        raise ValueError(f"unknown audio format {', '.join(bad) or repr(value)}; choose from {', '.join(AUDIO_FORMATS)}")
    return formats


def _format_option(value: Optional[str]) -> Optional[str]:
    if value is not None:
        try:
            _check_formats(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def _build_one(file: Path, out_dir: Path, backend, formats: Optional[str], jobs: int, narrator, cache_dir, as_json: bool,
               quiet: bool = False, before_publish=None, said: Optional[set] = None):
    """Build one script (`watch`), or print its diagnostics and exit 1. `said`: the warnings the last
    build of this script printed, not printed again (and replaced by this build's)."""
    from compiler.record import ScriptRecord

    try:
        return _render_script(file, out_dir, backend, formats, jobs, narrator, cache_dir, not (as_json or quiet),
                              before_publish, ScriptRecord(str(file)), said=said)
    except CompileError as exc:
        _fail(exc)


def _render_script(file: Path, out_dir: Path, backend, formats: Optional[str], jobs: int, narrator, cache_dir,
                   show_progress: bool, before_publish, entry, frozen: bool = False, said: Optional[set] = None,
                   cluster: Optional[str] = None, hash_outputs: bool = False):
    """Prepare and build one script; flags win over the project's [build] settings, which win over
    defaults. Warnings are printed and kept in `entry` (a compiler.record.ScriptRecord) with the
    result; a failure raises CompileError."""
    from compiler.build import build, prepare, refusal, refuse_unstorable_rate
    from compiler.diagnostics import error
    from compiler.record import hash_soon

    started = time.perf_counter()
    prepared = prepare(file, backend, narrator, cache_dir=cache_dir)
    refused = refusal(prepared)  # nothing to render: an error, and the outputs stay as they were
    if refused is not None:
        raise CompileError(refused)
    entry.seconds.update(getattr(prepared, "stages", None) or {"prepare": time.perf_counter() - started})
    entry.backend = {"name": prepared.backend_name, "identity": prepared.backend.identity()}
    if prepared.diagnostics:
        _report_new(prepared.diagnostics, {prepared.parsed.source.path: prepared.parsed.source.lines}, said)
        entry.add(prepared.diagnostics)
    defaults = prepared.settings.build
    try:
        formats = _check_formats(formats or defaults.get("format", "wav"))
    except ValueError as exc:
        raise CompileError(error(str(exc), prepared.settings.span_at("build", "format"))) from None
    refuse_unstorable_rate(prepared, formats)
    address = cluster or prepared.settings.render.get("cluster") or None
    # On a cluster a worker is a GPU or a core of some node: this machine's cores do not bound them.
    jobs = (jobs or defaults.get("jobs", 0)) if address else _worker_count(jobs, prepared.settings, entry)
    from compiler.buildlock import for_build

    # One build of a project at a time (`build`, `watch`, `take`, `serve`): compiler/buildlock.py.
    with for_build(prepared.parsed.project, out_dir, cache_dir,
                   lambda: err.print("waiting for another build of this project to finish", soft_wrap=True)
                   if show_progress else None), \
            _progress(file, show_progress) as (on_start, on_clip):
        try:
            result = build(prepared, out_dir, formats, jobs, cache_dir, on_start, on_clip, before_publish, frozen, address,
                           on_complete=hash_soon if hash_outputs else None)
        except ClusterUnavailable as exc:
            where = Span.point(COMMAND_LINE, 0, 0) if cluster else prepared.settings.span_at("render", "cluster")
            raise CompileError(error(str(exc), where)) from None
    if result.diagnostics:  # warnings about the outputs (an M4B that could not be encoded)
        _report(result.diagnostics)
        entry.add(result.diagnostics)
    entry.result = result
    entry.seconds.update(result.stages or {"build": result.seconds})
    entry.seconds["total"] = time.perf_counter() - started
    return result


@contextmanager
def _progress(file: Path, show: bool):
    """A progress bar on a terminal's stderr while clips render; yields (on_start, on_clip)."""
    if not (show and err.is_terminal):  # no bar to draw: rich.progress is not even imported
        yield (lambda n: None), (lambda clip, from_cache: None)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    hits = {"cached": 0}
    # The description holds the script's file name: a plain column, not markup.
    progress = Progress(TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[cached]} cached", markup=False), TimeElapsedColumn(), TextColumn("ETA"),
                        TimeRemainingColumn(), console=err, transient=True)
    with progress:
        task = progress.add_task(visible(f"rendering {file.name}"), total=None, cached=0)

        def on_start(n):
            progress.update(task, total=n)

        def on_clip(clip, from_cache):
            hits["cached"] += int(from_cache)
            progress.update(task, advance=1, cached=hits["cached"])

        yield on_start, on_clip


def _worker_count(flag: int, settings, entry=None) -> int:
    """Render workers: --jobs, else [build] jobs, else every usable core. Never more than the usable
    cores: each worker loads a voice model, and more workers than cores only add memory. Asking for
    more is a warning and the count is capped (docs/build.md)."""
    from compiler.config import usable_cores
    from compiler.diagnostics import warning

    cores = usable_cores()
    asked = flag or settings.build.get("jobs", 0)
    if asked <= cores:
        return asked or cores
    message = f"{asked} render workers asked for, but {cores} cores are usable here; using {cores}"
    if flag:
        err.print(styled(("warning", "bold yellow"), f": --jobs: {message}"), soft_wrap=True)
        # Not about a file: the record's convention for the command line (docs/ci.md).
        diagnostic = warning(f"--jobs: {message}", Span.point(COMMAND_LINE, 0, 0))
    else:
        diagnostic = warning(f"[build] jobs: {message}", settings.span_at("build", "jobs"))
        _report([diagnostic])
    if entry is not None:
        entry.add([diagnostic])
    return cores


@app.command()
def build(files: List[Path] = typer.Argument(..., help="Script files; a series (season1/*.fountain) is built in one run"),
          output: Path = typer.Option(Path("outputs"), "-o", "--output", help="Output directory"),
          backend: Optional[str] = typer.Option(None, help="Render backend: embedded (default) or dia2"),
          format: Optional[str] = typer.Option(None, "--format", callback=_format_option,
                                               help="Audio formats, comma-separated: wav,flac,mp3,ogg,opus,m4b (default: \\[build] format, else wav)"),
          jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Parallel render workers (0: \\[build] jobs, else all cores)"),
          narrator: Optional[bool] = typer.Option(None, "--narrator/--no-narrator", help="Read action and scene headings aloud"),
          cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Clip cache (default: <project>/.dramac-cache)"),
          frozen: bool = typer.Option(False, "--frozen", help="Fail, before rendering, if any clip would be rendered or "
                                      "dramac.lock would change; download nothing (docs/lock.md)"),
          cluster: Optional[str] = typer.Option(None, "--cluster", help="Render on a Ray cluster: auto (the one `ray start` "
                                                "made), local, or its address host:port (docs/cluster.md)"),
          json: bool = typer.Option(False, "--json", help="One JSON record of the run on stdout, also on failure (docs/ci.md)")) -> None:
    """Compile scripts to mastered audio with subtitles and a manifest.

    Every script is built even when one fails; the scripts share one backend instance, one clip cache
    and one pool of render workers. Exit status: 0 all built, 1 a script failed (docs/ci.md)."""
    from compiler import __version__, render
    from compiler.record import BuildRecord

    if frozen:  # nothing may be downloaded: a backend that would fetch a model fails instead
        os.environ["HF_HUB_OFFLINE"] = "1"
    started = time.perf_counter()
    record = BuildRecord(__version__)
    clash = _output_clash(files) or _cluster_refused(cluster)
    if clash is not None:
        err.print(styled(("error", "bold red"), f": {clash.message}"), soft_wrap=True)
        record.diagnostics.append(clash)
    try:
        for f in files if clash is None else []:
            entry = record.script(str(f))
            _build_into(entry, f, output, backend, format, jobs, narrator, cache_dir, not json, frozen, cluster)
    finally:
        render.close_pools()
    if json:
        dump_json(record.to_json(time.perf_counter() - started))
    elif len(record.scripts) > 1:
        _print_series(record)
    raise typer.Exit(record.exit_code())


def _build_into(entry, f: Path, output: Path, backend, format, jobs, narrator, cache_dir, for_people: bool,
                frozen: bool = False, cluster: Optional[str] = None) -> None:
    """Build one script of a run into its record; a failure is reported and recorded, and the run goes on."""
    started = time.perf_counter()
    try:
        r = _render_script(f, output, backend, format, jobs, narrator, cache_dir, for_people, None, entry, frozen, cluster,
                           hash_outputs=not for_people)
    except CompileError as exc:
        entry.seconds["total"] = time.perf_counter() - started
        _report(exc.diagnostics)
        entry.add(exc.diagnostics)
        err.print(styled(("error", "bold red"), f": {f}: build failed ({summary_line(exc.diagnostics)})"), soft_wrap=True)
        return
    except (KeyboardInterrupt, typer.Exit):
        raise
    except Exception as exc:  # a bug in dramac: recorded, the other scripts still built, exit status 70
        from compiler.diagnostics import error

        entry.internal_error = True
        entry.seconds["total"] = time.perf_counter() - started
        entry.add([error(f"internal compiler error: {describe_failure(exc)}", Span.point(str(f), 0, 0))])
        _last_words(styled(("internal compiler error", "bold red"), f": {describe_failure(exc)}"),
                    styled("this is a bug in dramac; please report it with the script that triggers it"))
        return
    if for_people:
        m, s = divmod(r.duration, 60)
        own = r.measured.get(str(r.outputs[0]))  # a lossy file's own figures as it decodes (compiler.encode.Measured)
        lufs, peak = (own.integrated_lufs, own.true_peak_db) if own else (r.loudness.output_lufs, r.loudness.true_peak_db)
        out.print(styled(("built", "bold green"), f" {r.outputs[0]}  {int(m)}:{s:04.1f}  {lufs:.1f} LUFS  "
                         f"peak {peak:.1f} dBTP  {r.rendered} rendered, {r.cached} cached  in {r.seconds:.1f}s"),
                  soft_wrap=True)
        from compiler.settings_schema import AUDIO_FORMATS

        for other in r.outputs[1:]:  # the other audio files, each with its own figures where it has them
            own = r.measured.get(str(other))
            if own is not None:
                out.print(styled(f"  and {other}  {own.integrated_lufs:.1f} LUFS  peak {own.true_peak_db:.1f} dBTP"),
                          soft_wrap=True)
            elif other.suffix.lstrip(".") in AUDIO_FORMATS:
                out.print(styled(f"  and {other}"), soft_wrap=True)


def _cluster_refused(address: Optional[str]):
    """--cluster without Ray installed: one error Diagnostic for the run (before any script), else None."""
    if address is None:
        return None
    from compiler.diagnostics import error

    if not address.strip():
        return error("--cluster needs a Ray address: auto, local or host:port", Span.point(COMMAND_LINE, 0, 0))
    try:
        require_ray()
    except ClusterUnavailable as exc:
        return error(str(exc), Span.point(COMMAND_LINE, 0, 0))
    return None


def _print_series(record) -> None:
    """One table for the whole run: each script, whether it was built, its length, loudness and clips."""
    from rich.table import Table

    table = Table(title=styled(f"{sum(s.ok for s in record.scripts)} of {len(record.scripts)} scripts built"))
    for column in ("script", "result", "length", "LUFS", "rendered", "cached", "seconds"):
        table.add_column(column, justify="left" if column in ("script", "result") else "right")
    for entry in record.scripts:
        r = entry.result
        if r is None or not entry.ok:
            table.add_row(styled(entry.file), styled(("failed", "bold red")), "", "", "", "", "")
            continue
        m, s = divmod(r.duration, 60)
        table.add_row(styled(entry.file), styled(("built", "green")), f"{int(m)}:{s:04.1f}", f"{r.loudness.output_lufs:.1f}",
                      str(r.rendered), str(r.cached), f"{r.seconds:.1f}")
    out.print(table)


def _output_clash(files: List[Path]):
    """Two scripts with the same name would overwrite each other's outputs in one folder: an error
    Diagnostic at the second one, else None."""
    from compiler.diagnostics import error

    seen: dict[str, Path] = {}
    for f in files:
        other = seen.setdefault(f.stem, f)
        if other is not f:
            return error(f"{other} and {f} would both write {f.stem}.* to the output folder; "
                         "build them with different -o folders", Span.point(str(f), 0, 0))
    return None


def _distinct_outputs(files: List[Path]) -> None:
    clash = _output_clash(files)
    if clash is not None:
        err.print(styled(("error", "bold red"), f": {clash.message}"), soft_wrap=True)
        raise typer.Exit(1)


@app.command()
def watch(files: List[Path] = typer.Argument(..., help="Script files to rebuild when they change"),
          output: Path = typer.Option(Path("outputs"), "-o", "--output"),
          backend: Optional[str] = typer.Option(None),
          format: Optional[str] = typer.Option(None, "--format", callback=_format_option),
          jobs: int = typer.Option(0, "--jobs", "-j", min=0),
          debounce: float = typer.Option(0.1, min=0.0, max=10.0, help="Seconds of quiet before a rebuild"),
          poll: bool = typer.Option(False, "--poll", help="Check the files every 0.2 s instead of asking the system to "
                                    "report changes (for file systems that do not, such as some network mounts)"),
          once: bool = typer.Option(False, "--once", hidden=True, help="Build once and exit (tests)")) -> None:
    """Rebuild whenever a script, its settings or its sounds change; keeps going after errors.

    The voice stays loaded between saves; each rebuild says which script lines it re-rendered and
    how long each step took."""
    from compiler.watch import StoppedWatching, watch_loop

    _distinct_outputs(files)
    said: dict[Path, set] = {f: set() for f in files}  # warnings printed by each script's last build
    try:
        watch_loop(files, lambda f, before_publish: _build_one(f, output, backend, format, jobs, None, None, False, quiet=True,
                                                            before_publish=before_publish, said=said[f]), out, debounce, once,
                   use_os=not poll)
    except StoppedWatching:
        _last_words(styled("stopped watching"))
        raise _StoppedIdle(130) from None


class _StoppedIdle(SystemExit):
    """Ctrl-C ended an idle `watch`: exit status 130 like any interrupt, without main()'s note about
    cached clips (no build was running). A SystemExit, so typer and click pass it through."""


@app.command()
def serve(file: Path = typer.Argument(..., help="Script file"),
          output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output directory (default: <project>/outputs)"),
          port: int = typer.Option(8737, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)"),
          backend: Optional[str] = typer.Option(None),
          jobs: int = typer.Option(0, "--jobs", "-j", min=0),
          cache_dir: Optional[Path] = typer.Option(None, "--cache-dir"),
          open_browser: bool = typer.Option(False, "--open", help="Open the page in the default browser"),
          poll: bool = typer.Option(False, "--poll", help="Check the files every 0.2 s instead of asking the system")) -> None:
    """The studio: a page beside the script to hear any line, take it again, lock the take, audition
    voices and see diagnostics, rebuilt live as you save (docs/studio.md). Listens on 127.0.0.1 only."""
    from compiler.diagnostics import error

    try:
        from compiler.studio.server import serve as serve_studio
        from compiler.studio.session import Session
    except ImportError as exc:
        _fail(CompileError(error(f"the studio needs its extra: pip install 'dramac[studio]' ({exc.name} is missing)",
                                 Span.point(COMMAND_LINE, 0, 0))))
    if not file.is_file():
        _fail(CompileError(error("no such script file", Span.point(str(file), 1, 1))))
    session = Session(file, output, cache_dir, backend, jobs, use_os=not poll)
    try:
        serve_studio(session, port, open_browser, lambda url: out.print(f"dramac studio: {url}  (Ctrl-C to stop)", soft_wrap=True))
    except OSError as exc:  # the port is taken
        _fail(CompileError(error(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", Span.point(COMMAND_LINE, 0, 0),
                                 "choose another with --port, or --port 0 for any free one")))


def _unwrapped(doc: str) -> str:
    """`doc` with each paragraph on one line: the terminal wraps it to its width."""
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in doc.split("\n\n"))


# typer prints a docstring's line breaks after its first paragraph as they are (and lists each
# command's first paragraph with its breaks): sentences wrapped to fit the source broke mid-line in
# `--help`. Each command's help is its docstring, unwrapped.
for _command in app.registered_commands:
    if _command.help is None and _command.callback.__doc__:
        _command.help = _unwrapped(inspect.cleandoc(_command.callback.__doc__))


def main() -> None:
    if _is_build_process():  # the process ends with the build: what it replaced is freed by another
        from compiler.atomic import Freeing

        Freeing.by_child_process = True
    if _is_program():
        _stop_on_sigterm()
    try:
        app()
    except SystemExit as exc:
        if exc.code == 2 and _wants_build_record(sys.argv[1:]):
            _print_usage_record()
        if exc.code == 130 and not isinstance(exc, _StoppedIdle):  # typer turns Ctrl-C into a silent Exit(130)
            _say_interrupted()
        _end_build_process(exc.code)
        raise
    except KeyboardInterrupt:
        _say_interrupted()
        sys.exit(130)
    except Exception as exc:  # the last line of defence: never show a traceback to a writer
        _last_words(styled(("internal compiler error", "bold red"), f": {describe_failure(exc)}"),
                    styled("this is a bug in dramac; please report it with the script that triggers it"))
        sys.exit(70)


def _say_interrupted() -> None:
    _last_words(styled("interrupted: finished clips are cached; the next build resumes from them"))


def _end_build_process(code) -> None:
    """End a `dramac build` process here, once its outputs, record and summary are out, when main() is
    the program (the console script, `python -m compiler`; not a test calling it). The interpreter's
    teardown frees every object and library one by one — half a second or more after an edit's build,
    which loaded a voice — while the operating system reclaims a process at once. Exit handlers still
    run, and the output is flushed, first. Builds join their render pools before they return."""
    if not _is_build_process():
        return
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe: the exit status still tells
            pass
    if code is None or isinstance(code, int):
        os._exit(code or 0)
    os._exit(1)  # SystemExit with a message: never raised by dramac's commands


def _is_program() -> bool:
    """Whether main() is this process's program (the console script, `python -m compiler`), not a
    function a test calls."""
    return getattr(sys.modules.get("__main__"), "main", None) is main


def _is_build_process() -> bool:
    """Whether this process is `dramac build`, and so ends once its build is done."""
    return _is_program() and sys.argv[1:2] == ["build"]


def _stop_on_sigterm() -> None:
    """SIGTERM (a supervisor stopping `watch`, a CI job's time limit, `docker stop`) stops dramac as
    Ctrl-C does: render workers ended, finished clips kept, the interrupted message, status 130. By
    default it would end this process alone, leaving its workers to notice on their own."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def _wants_build_record(args: list[str]) -> bool:
    return bool(args) and args[0] == "build" and "--json" in args


def _print_usage_record() -> None:
    """`build --json` promises one record per run: a command line refused by the option parser (exit
    status 2, its message already on stderr) gets one too, so a CI job never reads an empty stdout."""
    from compiler import __version__
    from compiler.diagnostics import error
    from compiler.record import BuildRecord

    record = BuildRecord(__version__, usage_error=True)
    record.diagnostics.append(error("the command line was refused (the usage message on stderr says why); nothing was built",
                                    Span.point(COMMAND_LINE, 0, 0)))
    try:
        dump_json(record.to_json(0.0))
    except Exception:  # a closed stdout: the exit status still tells
        pass


def _last_words(*lines) -> None:
    """Print the final lines of a failed run; if rich itself fails, fall back to plain writes, and
    if even those fail (a closed stderr) stay silent: the exit status still tells."""
    try:
        for line in lines:
            err.print(line, soft_wrap=True)
    except Exception:
        try:
            sys.stderr.write("".join(f"{line.plain}\n" for line in lines))
        except Exception:
            pass
