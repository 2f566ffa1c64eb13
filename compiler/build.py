"""The driver: source → AST → settings → cast → plan → render → stitch → master → outputs.

Each stage is a module of its own; this file only wires them together and reports progress.
"""

from __future__ import annotations

import difflib
import re
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

from compiler import backends, build_record
from compiler.cast import Cast, cast_script
from compiler.config import Settings, load_settings
from compiler.diagnostics import CompileError, Diagnostic, Span, error
from compiler.normalize import Lexicon, normalize
from compiler.parser import Parsed, parse_file
from compiler.plan import plan_script
from compiler.plan_types import Clip, Plan
from compiler.project import FolderRefused, build_folders

AUDIO_FORMATS = ("wav", "flac", "mp3", "ogg")


@dataclass
class Prepared:
    parsed: Parsed
    settings: Settings
    backend: backends.Backend
    backend_name: str
    backend_options: dict
    cast: Cast
    plan: Plan
    stitch: object  # compiler.stitch.StitchSettings
    master: object  # compiler.master.MasterSettings
    diagnostics: list[Diagnostic] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)  # seconds: parse, plan (settings, cast and plan)
    lock: object = None  # compiler.lock.LockFile: dramac.lock as read


@dataclass
class BuildResult:
    prepared: Prepared
    outputs: list[Path]
    duration: float
    loudness: object  # compiler.master.MasterReport
    rendered: int
    cached: int
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage: parse, plan, render, stitch, master, write
    fresh_clips: list[Clip] = field(default_factory=list)  # the clips this build rendered (not from the cache)


def _settings_from(cls, table: dict, settings: Settings, table_name: str):
    """Map a settings table onto a settings dataclass by field name, checking each value's type
    against the field's default; unknown keys and wrong types are diagnostics at the key."""
    defaults = cls()
    names = {f.name for f in fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            raise CompileError(error(f"unknown setting '{key}' in [{table_name}]", settings.span_of_key(key),
                                     f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(names))}"))
        default = getattr(defaults, key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = not isinstance(value, bool) and (isinstance(value, int) or (isinstance(value, float) and value.is_integer()))
            value = int(value) if ok else value
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif isinstance(default, tuple):
            ok = isinstance(value, list) and len(value) == len(default) and all(isinstance(v, (int, float)) for v in value)
            value = tuple(float(v) for v in value) if ok else value
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise CompileError(error(f"[{table_name}] {key} must be {type(default).__name__}, not {value!r}", settings.span_of_key(key)))
        values[key] = value
    try:
        return cls(**values)
    except ValueError as exc:  # the dataclass's own range checks; point at the key they name
        bad = next((k for k in table if re.search(rf"\b{re.escape(k)}\b", str(exc))), table_name)
        raise CompileError(error(str(exc), settings.span_of_key(bad))) from None


def prepare(path: str | Path, backend_name: str | None = None, narrator: bool | None = None, backend_options: dict | None = None,
            relock: set[str] | bool = False, cache_dir: str | Path | None = None) -> Prepared:
    """Front end, settings, cast and plan; raises CompileError with all diagnostics on failure.
    `relock` names characters (upper case; True: all) whose voices dramac.lock no longer keeps.
    `cache_dir` (the command line's --cache-dir) replaces the project's cache folder for the
    backend's artefacts too (Dia2's calibrated voices), not only for clips."""
    started = time.perf_counter()
    parsed = parse_file(path)
    parsed_at = time.perf_counter()
    if not parsed.ok:
        raise CompileError(parsed.diagnostics)
    script = parsed.script
    settings = load_settings(parsed.project, script.metadata, parsed.source.path, parsed.source.text)
    name = backend_name or settings.build.get("backend", "embedded")
    options = {**settings.backends.get(name, {}), **(backend_options or {})}
    # Set by the driver, after the settings: a backend's files stay inside the project.
    cache = Path(cache_dir).resolve() if cache_dir is not None else parsed.project.cache_dir
    options["workspace"] = backends.Workspace(str(parsed.project.root), str(cache))
    try:
        # One instance per backend and options for the whole run: a series loads its voice model once.
        backend = backends.shared(name, **options)
        backend.check()
    except backends.BackendUnavailable as exc:
        raise CompileError(error(str(exc), Span.point(str(path), 1, 1))) from None
    except (TypeError, ValueError) as exc:  # an unknown or bad option in the [<backend>] table
        bad = next((k for k in options if re.search(rf"\b{re.escape(k)}\b", str(exc))), name)
        message = f"unknown option '{bad}' for the {name} backend" if isinstance(exc, TypeError) else str(exc)
        raise CompileError(error(f"[{name}] {message}", settings.span_of_key(bad))) from None
    narrator_settings = dict(settings.narrator)
    if narrator is not None:
        narrator_settings["enabled"] = narrator
    from compiler.diagnostics import Sink

    sink = Sink()
    from compiler import lock as lockfile

    locks = lockfile.load(parsed.project)  # voices kept from earlier builds (dramac.lock)
    cast = cast_script(script, backend.palette(), settings.cast, backend.voice_from_settings, narrator_settings, sink,
                       settings.span_of_key, name, locks.voices(lockfile.script_key(parsed.project, parsed.source.path), name, relock))
    lexicon = Lexicon.from_mapping(settings.lexicon)
    plan = plan_script(script, cast, backend.capabilities, lambda text: normalize(text, lexicon))
    from compiler import takes

    # The takes the writer chose (dramac.lock): each such line renders, and is cached, as that take.
    plan = takes.apply(plan, takes.chosen_for(locks, lockfile.script_key(parsed.project, parsed.source.path), name))
    if not plan.title:
        plan = Plan(plan.source, Path(path).stem, plan.steps)
    from compiler import master, stitch

    # Every settings error is reported before any audio is rendered.
    stitch_settings = _settings_from(stitch.StitchSettings, settings.stitch, settings, "stitch")
    master_settings = _settings_from(master.MasterSettings, settings.master, settings, "master")
    stages = {"parse": parsed_at - started, "plan": time.perf_counter() - parsed_at}
    return Prepared(parsed, settings, backend, name, options, cast, plan, stitch_settings, master_settings,
                    parsed.diagnostics + sink.items, stages, lock=locks)


def build(
    prepared: Prepared,
    out_dir: Path,
    formats: list[str],
    jobs: int,
    cache_dir: Path | None = None,
    on_start: Callable[[int], None] | None = None,
    on_clip: Callable[[Clip, bool], None] | None = None,
    before_publish: Callable[[Prepared], None] | None = None,
    frozen: bool = False,
) -> BuildResult:
    from compiler import emit, estimate, master, render, stitch

    started = time.perf_counter()
    plan = prepared.plan
    stitch_settings, master_settings = prepared.stitch, prepared.master
    try:
        cache_root = build_folders(prepared.parsed.project, out_dir, cache_dir)
    except FolderRefused as exc:
        raise CompileError(error(str(exc), Span.point(str(exc.folder), 1, 1))) from None
    # Everything that can fail without rendering fails first: folders, then the sound files.
    for folder, what in ((out_dir, "output"), (cache_root, "cache")):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CompileError(error(f"cannot create the {what} folder: {exc.strerror or exc}", Span.point(str(folder), 1, 1))) from None
    sample_rate = prepared.backend.sample_rate
    sounds, sound_lengths = stitch.load_sounds(plan, sample_rate)
    cache = render.ClipCache(cache_root)
    cache.open()  # markers where missing; temporary files of killed builds removed, here and in the outputs
    emit.sweep_stale(out_dir)
    clips = plan.clips
    if on_start:
        on_start(len(clips))
    fresh: list[Clip] = []

    def clip_ready(clip: Clip, from_cache: bool) -> None:
        if not from_cache:
            fresh.append(clip)
        if on_clip:
            on_clip(clip, from_cache)

    if frozen:  # `build --frozen`: stop before rendering anything if a clip or the lock would change
        from compiler import lock as lockfile

        lockfile.check_frozen(prepared, cache)
    stem = Path(plan.source).stem
    digest = build_record.inputs_digest(prepared, formats)
    unchanged = build_record.unchanged(cache_root, out_dir, stem, digest)
    if unchanged is not None:  # inputs and outputs as the last build left them: nothing to do
        return _unchanged_build(prepared, unchanged, cache, before_publish, frozen, on_clip, started)
    build_record.forget(cache_root, out_dir, stem)
    try:
        result = render.render_plan(clips, prepared.backend_name, prepared.backend_options, cache, jobs, clip_ready)
    except OSError as exc:  # a full disk or a read-only cache
        raise CompileError(error(f"cannot write the clip cache: {exc.strerror or exc}", Span.point(str(cache_root), 1, 1))) from None
    # What each voice took to say its lines: `dramac plan` times plays by it (compiler/estimate.py).
    estimate.learn(cache_root, clips, result.takes, result.sample_rate)
    rendered_at = time.perf_counter()
    timeline = stitch.build_timeline(plan, result.takes, result.sample_rate, stitch_settings, sound_lengths)
    audio = stitch.assemble(timeline, result.takes, stitch_settings, sounds)
    result.takes.clear()  # placed in the mix: an hour of takes is not held through mastering
    stitched_at = time.perf_counter()
    try:
        audio, report = master.master(audio, result.sample_rate, master_settings, in_place=True)
    except ValueError as exc:  # e.g. a backend returned NaN samples
        raise CompileError(error(f"cannot master the mix: {exc}", Span.point(plan.source, 1, 1))) from None

    if before_publish is not None:  # `watch`: may refuse outputs of a script that changed meanwhile
        before_publish(prepared)
    mixed_at = time.perf_counter()
    # A format that fails does not stop the others, the subtitles or the manifest; the build fails after.
    outputs, audio_failures = emit.write_audio_files(out_dir, stem, audio, result.sample_rate, formats)
    emit.write_srt(out_dir / f"{stem}.srt", timeline)
    emit.write_vtt(out_dir / f"{stem}.vtt", timeline)
    extra = {
        "title": plan.title,
        "source": plan.source,
        "backend": prepared.backend_name,
        "backend_identity": prepared.backend.identity(),
        "loudness": {"integrated_lufs": report.output_lufs, "true_peak_db": report.true_peak_db, "gain_db": report.gain_db},
        "cast": {m.name: {"voice": m.voice.name, "voice_key": m.voice.key} for m in prepared.cast.members},
    }
    emit.write_manifest(out_dir / f"{stem}.json", timeline, extra, prepared.parsed.project.root)
    if prepared.lock is not None and not frozen:  # voices and clip sources, for the next build (compiler/lock.py)
        from compiler import lock as lockfile

        lockfile.record(prepared, cache)
    outputs += [out_dir / f"{stem}.srt", out_dir / f"{stem}.vtt", out_dir / f"{stem}.json"]
    if audio_failures:
        raise CompileError(audio_failures)
    build_record.remember(cache_root, out_dir, stem, digest, outputs, timeline.duration, asdict(report),
                          result.rendered + result.cached)
    finished = time.perf_counter()
    stages = {**prepared.stages, "render": rendered_at - started, "stitch": stitched_at - rendered_at,
              "master": mixed_at - stitched_at, "write": finished - mixed_at}
    return BuildResult(prepared, outputs, timeline.duration, report, result.rendered, result.cached, finished - started, stages,
                       fresh)


def _unchanged_build(prepared: Prepared, recorded: build_record.Recorded, cache, before_publish, frozen: bool,
                     on_clip, started: float) -> BuildResult:
    """The result of a build whose inputs and outputs are those recorded: no clip is read, nothing is
    mixed or written. The progress callbacks still see every clip, from the cache."""
    from compiler.master import MasterReport

    for clip in prepared.plan.clips:
        if on_clip:
            on_clip(clip, True)
    from compiler import estimate

    backend = prepared.backend  # paces not stored yet are measured from the cache, once (estimate.py)
    estimate.learn_missing(cache.directory, prepared.plan.clips,
                           lambda clip: cache.get(backend.identity(), clip, backend.sample_rate), backend.sample_rate)
    if before_publish is not None:
        before_publish(prepared)
    if prepared.lock is not None and not frozen:  # a dramac.lock deleted since is written again
        from compiler import lock as lockfile

        lockfile.record(prepared, cache)
    figures = {key: float(value) for key, value in recorded.loudness.items() if key != "limited"}
    report = MasterReport(**figures, limited=bool(recorded.loudness.get("limited", False)))
    seconds = time.perf_counter() - started
    stages = {**prepared.stages, "render": 0.0, "stitch": 0.0, "master": 0.0, "write": 0.0}
    return BuildResult(prepared, list(recorded.outputs), recorded.duration, report, 0, recorded.clips, seconds, stages)
