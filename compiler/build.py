"""The driver: source → AST → settings → cast → plan → render → stitch → master → outputs.

Each stage is a module of its own; this file only wires them together and reports progress.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from compiler import backends, build_record, settings_schema
from compiler.cast import Cast, cast_script
from compiler.config import Settings, load_settings
from compiler.diagnostics import CompileError, Diagnostic, Span, error
from compiler.normalize import Lexicon, normalize
from compiler.parser import Parsed, parse_file
from compiler.plan import plan_script
from compiler.plan_types import Clip, Plan
from compiler.project import FolderRefused, build_folders
from compiler.settings_schema import SettingError


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
    rooms: object = None  # compiler.rooms.RoomSettings ([rooms]); the plan's lines carry the rooms chosen
    stage: object = None  # compiler.stage.StageSettings
    pans: dict = field(default_factory=dict)  # character → the pan its settings fix (compiler.stage.fixed_pans)


@dataclass
class BuildResult:
    prepared: Prepared
    outputs: list[Path]
    duration: float
    loudness: object  # compiler.master.MasterReport
    rendered: int
    cached: int
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage: parse, plan, setup, render, stitch, master, write
    fresh_clips: list[Clip] = field(default_factory=list)  # the clips this build rendered (not from the cache)
    diagnostics: list[Diagnostic] = field(default_factory=list)  # warnings about the outputs (M4B with no AAC encoder)
    encoders: dict[str, str] = field(default_factory=dict)  # audio output path -> the encoder that wrote it
    segments: dict | None = None  # {"total", "mixed", "limited"}: the mix work done (compiler/master_segments.py)
    cluster: object | None = None  # compiler.cluster.ClusterReport: the workers and their clips, on a Ray cluster
    measured: dict[str, object] = field(default_factory=dict)  # lossy output path -> compiler.encode.Measured


def _typed(cls, table: str, settings: Settings):
    """A table's checked values as the dataclass the stage takes (defaults and ranges are the table's
    declarations, compiler/settings_schema.py); a refusal is a diagnostic at the key."""
    try:
        return cls(**getattr(settings, table))
    except SettingError as exc:
        raise CompileError(error(str(exc), settings.span_at(table, *filter(None, [exc.key])))) from None


def prepare(path: str | Path, backend_name: str | None = None, narrator: bool | None = None, backend_options: dict | None = None,
            relock: set[str] | bool = False, cache_dir: str | Path | None = None, ready: bool = True) -> Prepared:
    """Front end, settings, cast and plan; raises CompileError with all diagnostics on failure.
    `relock` names characters (upper case; True: all) whose voices dramac.lock no longer keeps.
    `cache_dir` (the command line's --cache-dir) replaces the project's cache folder for the
    backend's artefacts too (Dia2's calibrated voices), not only for clips. `ready=False` (`dramac
    check`) does not ask the backend whether it can render here: a script checks on any machine."""
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
        if ready:
            backend.check()
    except backends.BackendUnavailable as exc:
        raise CompileError(error(str(exc), Span.point(str(path), 1, 1))) from None
    except SettingError as exc:  # a bad option given in code (dramac.toml's were checked when read)
        raise CompileError(error(f"[{name}] {exc}", settings.span_at(name, *filter(None, [exc.key])))) from None
    except TypeError:  # an option the backend does not declare
        declared = settings_schema.table_settings(name)
        bad = next((k for k in options if k not in declared), name)
        raise CompileError(error(f"[{name}] unknown option '{bad}' for the {name} backend", settings.span_at(name, bad))) from None
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
    from compiler.rooms import RoomSettings

    room_settings = _typed(RoomSettings, "rooms", settings)
    plan = plan_script(script, cast, backend.capabilities, lambda text: normalize(text, lexicon),
                       room_settings=room_settings)
    from compiler import takes

    # The takes the writer chose (dramac.lock): each such line renders, and is cached, as that take.
    plan = takes.apply(plan, takes.chosen_for(locks, lockfile.script_key(parsed.project, parsed.source.path), name))
    if not plan.title:
        plan = Plan(plan.source, Path(path).stem, plan.steps)
    from compiler import master, stage, stitch

    # Every settings error is reported before any audio is rendered.
    stitch_settings = _typed(stitch.StitchSettings, "stitch", settings)
    master_settings = _typed(master.MasterSettings, "master", settings)
    stage_settings = _typed(stage.StageSettings, "stage", settings)
    stages = {"parse": parsed_at - started, "plan": time.perf_counter() - parsed_at}
    return Prepared(parsed, settings, backend, name, options, cast, plan, stitch_settings, master_settings,
                    parsed.diagnostics + sink.items, stages, lock=locks, rooms=room_settings, stage=stage_settings,
                    pans=stage.fixed_pans(settings.cast, settings.narrator))


def refuse_unstorable_rate(prepared: Prepared, formats: list[str]) -> None:
    """MP3 stores only some rates: a [stage] sample_rate it cannot store is known from the settings
    alone, so it is an error at that key before anything renders, not after the mix."""
    from compiler.emit import MP3_RATES

    rate = prepared.stage.mix_rate(prepared.backend.sample_rate)
    if "mp3" in formats and rate not in MP3_RATES:
        raise CompileError(error(f"mp3 cannot store {rate} Hz audio; set [stage] sample_rate to one of "
                                 f"{', '.join(map(str, sorted(MP3_RATES)))}, or write another format",
                                 prepared.settings.span_at("stage", "sample_rate")))


def nothing_to_render(prepared: Prepared) -> Diagnostic | None:
    """The error of a plan that speaks no line and plays no sound, else None. Building it would
    publish seconds of silence over the play's outputs: an emptied script under `dramac watch`, a
    scene cut with the narrator off. `build`, `watch` and `check` refuse it, at the file."""
    from compiler import checks
    from compiler.plan_types import SoundCue

    if any(isinstance(s, Clip) or (isinstance(s, SoundCue) and s.path) for s in prepared.plan.steps):
        return None
    at = Span.point(prepared.parsed.source.path, 1, 1)
    if any(d.message == checks.EMPTY for d in prepared.diagnostics):
        return error(checks.EMPTY, at, "a build leaves the outputs as they were")
    return error("nothing to render: no line is spoken and no sound is played", at,
                 "add dialogue, or read the action aloud with --narrator ([narrator] enabled = true in dramac.toml); "
                 "a build leaves the outputs as they were")


def refusal(prepared: Prepared) -> list[Diagnostic] | None:
    """`nothing_to_render`'s error with the script's other diagnostics (less the front end's warnings
    it replaces), for a command to report; None when there is something to render."""
    from compiler import checks

    problem = nothing_to_render(prepared)
    if problem is None:
        return None
    return [d for d in prepared.diagnostics if d.message not in (checks.EMPTY, checks.NO_DIALOGUE)] + [problem]


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
    cluster: str | None = None,
    on_complete: Callable[[str, Path], None] | None = None,
) -> BuildResult:
    """`cluster`: a Ray address; the render stage then runs there (compiler/cluster.py). `on_complete`
    is called with each audio output's temporary file and its final path once its bytes are final,
    before it is flushed to disk and moved into place (`build --json` starts hashing it then)."""
    from compiler import emit, render, stitch

    started = time.perf_counter()
    plan = prepared.plan
    empty = nothing_to_render(prepared)
    if empty is not None:  # before any folder, render or output: the last build's outputs stay
        raise CompileError(empty)
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
    sample_rate = prepared.stage.mix_rate(prepared.backend.sample_rate)
    sounds, sound_lengths = stitch.load_sounds(plan, sample_rate, prepared.stage.n_channels)
    cache = render.ClipCache(cache_root)
    cache.open()  # markers where missing; temporary files of killed builds removed, here and in the outputs
    from compiler.mix_cache import MixCache

    MixCache(cache_root).sweep()
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
        result = _unchanged_build(prepared, unchanged, cache, before_publish, frozen, on_clip, started)
        # The format left out last time for want of an encoder is still left out: say so again.
        result.diagnostics = [d for d in (emit.missing_encoder(out_dir / f"{stem}.{fmt}", fmt) for fmt in formats) if d]
        return result
    build_record.forget(cache_root, out_dir, stem)
    record = f"{Path(out_dir).resolve()}\n{stem}"
    from compiler import chapters, tagging

    for lazy in (True, False):
        try:
            mixed = _render_and_master(prepared, cache, MixCache(cache_root, record), sounds, sound_lengths, jobs,
                                       clip_ready, lazy, cluster)
            result, timeline, mixer, report, audio, rendered_at, stitched_at, render_seconds = mixed
            if before_publish is not None:  # `watch`: may refuse outputs of a script that changed meanwhile
                before_publish(prepared)
            mixed_at = time.perf_counter()
            # Chapters and tags go into each audio file before it is moved into place (compiler/tagging.py).
            script = prepared.parsed.script
            play_chapters = chapters.chapters(script, timeline, plan.title)
            play_tags = chapters.tags(script.title_page, plan.title)

            def finish(tmp: str, container: str, subtype: str) -> None:
                tagging.tag_file(tmp, container, subtype, play_tags, play_chapters)

            measured: dict = {}  # lossy files are decoded and kept under the ceiling (compiler/encode.py)

            def write_audio() -> tuple[list[Path], list]:
                # A format that fails does not stop the others, the subtitles or the manifest; the build fails after.
                return emit.write_audio_files(out_dir, stem, audio, timeline.sample_rate, formats, finish,
                                              prepared.master.true_peak_db, measured, on_complete)

            # The audio is written by a thread while this one writes the subtitles, the manifest and the
            # lock: its time goes mostly to the kernel (the bytes of unchanged segments copied, the file
            # flushed to disk before it is renamed into place), theirs to Python, and a flush of the
            # lock waits on the same disk as the audio's.
            with ThreadPoolExecutor(1, thread_name_prefix="dramac-write-audio") as pool:
                writing = pool.submit(write_audio)
                cue_memo = _write_subtitles_and_manifest(prepared, out_dir, stem, cache_root, timeline, report,
                                                         play_chapters, play_tags)
                if prepared.lock is not None and not frozen:  # voices and clip sources, for the next build
                    from compiler import lock as lockfile

                    lockfile.record(prepared, cache)
                outputs, audio_failures = writing.result()
            break
        except render.TakesChanged:  # an entry changed under its unchanged signature: build reading every one
            if not lazy:
                raise
    encoders = {str(path): emit.encoder_of(path) for path in outputs}
    outputs += [out_dir / f"{stem}.srt", out_dir / f"{stem}.vtt", out_dir / f"{stem}.json"]
    if any(d.is_error for d in audio_failures):
        raise CompileError(audio_failures)
    result.takes.clear()
    mixer.cache.save()
    cue_memo.save()
    build_record.remember(cache_root, out_dir, stem, digest, outputs, timeline.duration, asdict(report),
                          result.rendered + result.cached, measured)
    from compiler import atomic

    atomic.wait_freed()  # the outputs replaced, freed meanwhile: nothing of them is left in the folder
    finished = time.perf_counter()
    # "render" is the render stage itself (a cached clip costs it nothing); "setup" the rest up to the
    # timeline: folders, sound files, the caches' bookkeeping, the speaking rates learnt.
    stages = {**prepared.stages, "setup": rendered_at - started - render_seconds, "render": render_seconds,
              "stitch": stitched_at - rendered_at, "master": mixed_at - stitched_at, "write": finished - mixed_at}
    work = {"total": len(mixer.segments), "mixed": mixer.computed, "limited": mixer.limited_computed}
    return BuildResult(prepared, outputs, timeline.duration, report, result.rendered, result.cached, finished - started, stages,
                       fresh, audio_failures, encoders, work, result.cluster, measured)


def _write_subtitles_and_manifest(prepared: Prepared, out_dir: Path, stem: str, cache_root: Path, timeline, report,
                                  play_chapters, play_tags):
    """NAME.srt, NAME.vtt and NAME.json; returns the cue memo, saved once the build succeeds."""
    from compiler import emit, rooms, subtitles

    plan = prepared.plan
    cue_memo = subtitles.CueMemo(cache_root / "subtitles" / f"cues-{build_record.record_name(out_dir, stem)}.json")
    play_cues = subtitles.cues(timeline, memo=cue_memo)
    subtitles.write_srt(out_dir / f"{stem}.srt", timeline, play_cues)
    subtitles.write_vtt(out_dir / f"{stem}.vtt", timeline, play_cues)
    extra = {
        "title": plan.title,
        "source": plan.source,
        "backend": prepared.backend_name,
        "backend_identity": prepared.backend.identity(),
        "loudness": {"integrated_lufs": report.output_lufs, "true_peak_db": report.true_peak_db, "gain_db": report.gain_db},
        "cast": {m.name: {"voice": m.voice.name, "voice_key": m.voice.key} for m in prepared.cast.members},
        "rooms": rooms.scene_rooms(prepared.parsed.script, prepared.rooms or rooms.RoomSettings()),
    }
    emit.write_manifest(out_dir / f"{stem}.json", timeline, extra, prepared.parsed.project.root, play_chapters, play_tags)
    return cue_memo


def _render_and_master(prepared: Prepared, cache, mix_cache, sounds: dict, sound_lengths: dict, jobs: int, clip_ready,
                       lazy: bool, cluster: str | None = None):
    """Render (or find) every clip, place the takes and master the play. `lazy`: a clip whose cache
    entry is unchanged since the last build verified it is read only if a segment must be mixed
    anew; render.TakesChanged if one turns out not to be what it was."""
    from compiler import estimate, render, stitch

    plan = prepared.plan
    _import_meters_meanwhile()
    render_started = time.perf_counter()
    try:
        result = render.render_plan(plan.clips, prepared.backend_name, prepared.backend_options, cache, jobs, clip_ready,
                                    known=mix_cache.known_takes() if lazy else None, cluster=cluster)
    except OSError as exc:  # a full disk or a read-only cache
        raise CompileError(error(f"cannot write the clip cache: {exc.strerror or exc}",
                                 Span.point(str(cache.directory), 1, 1))) from None
    render_seconds = time.perf_counter() - render_started
    lengths = result.takes.stand_ins()  # the timeline needs only each take's length
    # What each voice took to say its lines: `dramac plan` times plays by it (compiler/estimate.py).
    estimate.learn(cache.directory, plan.clips, lengths, result.sample_rate)
    # At another mix rate ([stage] sample_rate) every take is resampled where it enters the mix.
    from compiler.stage import ResampledTakes

    rate = prepared.stage.mix_rate(result.sample_rate)
    takes = result.takes if rate == result.sample_rate else ResampledTakes(result.takes, result.sample_rate, rate)
    if takes is not result.takes:
        lengths = takes.stand_ins(lengths)
    # Recorded lines ([[take: PATH]]) are matched to their synthetic takes and placed at their own length.
    import numpy as np

    from compiler.plugins import take as recorded_takes

    recordings = recorded_takes.prepare(plan, takes, rate)
    for (clip_key, index), recorded in recordings.items():
        lengths[clip_key] = list(lengths[clip_key])
        lengths[clip_key][index] = np.broadcast_to(np.float32(0), (len(recorded.samples),))
    rendered_at = time.perf_counter()
    timeline = stitch.build_timeline(plan, lengths, rate, prepared.stitch, sound_lengths, result.takes.words)
    timeline.channels = prepared.stage.n_channels
    if timeline.channels == 2:  # where each line stands (compiler/stage.py)
        from compiler import stage

        timeline.pans = stage.stage_pans(timeline, prepared.stage, prepared.pans)
    sounds = {**sounds, **{r.source: r.samples for r in recordings.values()}}
    mixer = _segment_master(prepared, timeline, takes, sounds, mix_cache, recordings)
    stitched_at = time.perf_counter()
    try:
        report, audio = mixer.master()
    except ValueError as exc:  # e.g. a backend returned NaN samples
        raise CompileError(error(f"cannot master the mix: {exc}", Span.point(plan.source, 1, 1))) from None
    identity = prepared.backend.identity()
    for clip in {c.key: c for c in plan.clips}.values():  # for the next build's lazy reading
        known = result.takes.known(clip.key)
        if known is not None:
            mix_cache.takes_now[cache.key(identity, clip)] = known
    return result, timeline, mixer, report, audio, rendered_at, stitched_at, render_seconds


def _import_meters_meanwhile() -> None:
    """scipy.signal takes a second or two to import and the meters of any segment mixed anew need
    it; a voice model renders with the interpreter lock released, so the import is done meanwhile
    in a thread (an edit's one clip renders for longer than that)."""
    import threading

    def load() -> None:
        import pyloudnorm  # noqa: F401
        import scipy.ndimage  # noqa: F401
        import scipy.signal  # noqa: F401

    threading.Thread(target=load, name="dramac-import-meters", daemon=True).start()


def _segment_master(prepared: Prepared, timeline, takes, sounds: dict, mix_cache, recordings: dict | None = None):
    """The play as segments (compiler.segments), mastered with the mix cache (compiler.master_segments)."""
    from compiler import pieces, segments
    from compiler.master_segments import SegmentMaster

    sr, channels = timeline.sample_rate, prepared.stage.n_channels
    ids = {path: pieces.sound_identity(samples) for path, samples in sounds.items()}
    laid = pieces.play_pieces(timeline, prepared.stitch, ids, takes.digest, recordings, timeline.pans)
    spans = [(int(round(pl.start * sr)), int(round(pl.end * sr))) for pl in timeline.lines]
    # The stage (channels, rate, spread) is in the context; each take's pan is in its piece's identity.
    context = "\n".join((build_record.code_digest(), prepared.backend.identity(), str(sr), repr(prepared.stitch),
                         repr(prepared.master), repr(prepared.stage)))
    cut = segments.segments(laid, spans, timeline.n_samples, sr, context)
    sources = pieces.MappedSources(takes, sounds)
    loop = pieces.room_tone_loop(sr, prepared.stitch, channels) if prepared.stitch.room_tone else None

    def mix_window(segment):
        return pieces.mix(laid, segment.window_start, segment.window_end, sources, prepared.stitch, sr, loop, channels)

    return SegmentMaster(cut, mix_window, mix_cache, sr, prepared.master, channels)


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
    stages = {**prepared.stages, "setup": seconds, "render": 0.0, "stitch": 0.0, "master": 0.0, "write": 0.0}
    from compiler import emit

    encoders = {str(path): emit.encoder_of(path) for path in recorded.outputs if emit.encoder_of(path)}
    return BuildResult(prepared, list(recorded.outputs), recorded.duration, report, 0, recorded.clips, seconds, stages,
                       encoders=encoders, measured=recorded.measured)
