"""The studio's session: one script, rebuilt on every save by `dramac watch`'s loop (in a thread), and
on every take or voice the writer chooses; what the page shows of the last build; and the events
that tell open pages a build finished.

Every build, take and audition holds the project's build lock (compiler/buildlock.py), the same one
`dramac build`, `watch` and `take` take, so the studio never writes the cache or dramac.lock while
another build of the project does.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

from compiler import takes
from compiler.buildlock import for_build
from compiler.diagnostics import CompileError, Diagnostic
from compiler.project import find_project


class StudioError(ValueError):
    """A request the session cannot meet (no such line, character or voice); the message says why."""


class Session:
    def __init__(self, script: Path, out_dir: Path | None = None, cache_dir: Path | None = None,
                 backend: str | None = None, jobs: int = 0, debounce: float = 0.3, use_os: bool = True):
        self.script = Path(script).absolute()
        self.project = find_project(self.script)
        self.root = Path(self.project.root).resolve()
        self.out_dir = Path(out_dir).absolute() if out_dir is not None else self.root / "outputs"
        self.cache_dir = Path(cache_dir).resolve() if cache_dir is not None else None
        self.cache_root = self.cache_dir or Path(self.project.cache_dir)
        self.backend = backend
        self.jobs = jobs
        self.debounce = debounce
        self.use_os = use_os
        self.stop = threading.Event()
        self._state_lock = threading.Lock()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self.version = 0
        self.building = False
        self.last: dict = {"ok": False, "diagnostics": [], "message": "building…"}
        self._peaks: tuple[int, dict] | None = None
        self._last_cast: dict = {}  # the cast, palette and takes of the last script that prepared
        self._watcher: threading.Thread | None = None

    # ---- where things are --------------------------------------------------------------------

    @property
    def stem(self) -> str:
        return self.script.stem

    def wav_path(self) -> Path:
        return self.out_dir / f"{self.stem}.wav"

    def manifest_path(self) -> Path:
        return self.out_dir / f"{self.stem}.json"

    # ---- builds ------------------------------------------------------------------------------

    def start(self) -> None:
        """Build now, then on every save of the script, its settings or its sounds (watch's loop)."""
        from compiler.report import LiteralConsole
        from compiler.watch import watch_loop

        console = LiteralConsole(stderr=True)
        self._watcher = threading.Thread(
            target=watch_loop, args=([self.script], self._build_for_watch, console, self.debounce, False, self.stop, self.use_os),
            name="dramac-studio-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self.stop.set()

    def _build_for_watch(self, script: Path, before_publish):
        import typer

        result = self.build_now(before_publish, reason="save")
        if result is None:
            raise typer.Exit(1)  # watch prints "errors: watching for changes" and goes on
        return result

    def build_now(self, before_publish=None, reason: str = "build"):
        """Prepare and build the script; the outcome becomes the page's state and an event. Returns
        the BuildResult, or None when the build failed (its diagnostics are in the state)."""
        from compiler.build import build, prepare
        from compiler.watch import SourceChanged

        self._set_building(True, reason)
        diagnostics: list[Diagnostic] = []
        result, failure = None, None
        started = time.perf_counter()
        try:
            prepared = prepare(self.script, self.backend, cache_dir=self.cache_dir)
            diagnostics += prepared.diagnostics
            with for_build(prepared.parsed.project, self.out_dir, self.cache_dir):
                result = build(prepared, self.out_dir, ["wav"], self.jobs, self.cache_dir, before_publish=before_publish)
        except SourceChanged:
            self._set_building(False, reason)
            raise
        except CompileError as exc:
            diagnostics += exc.diagnostics
        except Exception as exc:  # noqa: BLE001  (the page says so; the studio keeps serving)
            from compiler.report import describe_failure

            failure = f"internal compiler error: {describe_failure(exc)}"
        self._finish(result, diagnostics, failure, reason, time.perf_counter() - started)
        return result

    def _cache_lock(self):
        """The build lock, for a take or an audition that renders into the cache without building;
        a cache folder a build would refuse is refused here too (a CompileError: the page says why)."""
        return for_build(self.project, self.out_dir, self.cache_dir, strict=True)

    def kick(self, reason: str) -> None:
        """Build in the background (after a take or a voice was chosen); the page hears of it by event."""
        threading.Thread(target=self._quiet_build, args=(reason,), name="dramac-studio-build", daemon=True).start()

    def _quiet_build(self, reason: str) -> None:
        try:
            self.build_now(reason=reason)
        except Exception:  # noqa: BLE001  (SourceChanged cannot happen without before_publish)
            pass

    def _set_building(self, building: bool, reason: str) -> None:
        with self._state_lock:
            self.building = building
        self.broadcast("building" if building else "idle", {"reason": reason})

    def _finish(self, result, diagnostics: list[Diagnostic], failure: str | None, reason: str, seconds: float) -> None:
        ok = result is not None
        state = {
            "ok": ok,
            "reason": reason,
            "seconds": round(seconds, 3),
            "diagnostics": [self._diagnostic(d) for d in diagnostics],
            "message": failure or (f"built in {seconds:.1f}s: {result.rendered} clips rendered, {result.cached} cached"
                                   if ok else "the build failed; the last good audio is still playing"),
            "rendered_lines": [line.span.line for clip in (result.fresh_clips if ok else []) for line in clip.lines],
        }
        with self._state_lock:
            self.version += 1
            self.building = False
            self.last = state
            version = self.version
        self.broadcast("build", {"version": version, "ok": ok, "message": state["message"]})

    def _diagnostic(self, d: Diagnostic) -> dict:
        span = d.span
        in_script = bool(span.file) and Path(span.file).resolve() == self.script.resolve()
        shown = span.file
        try:  # project files by their path in the project, as a writer names them
            shown = str(Path(span.file).resolve().relative_to(self.root)) if span.file else span.file
        except (ValueError, OSError):
            pass
        return {"severity": d.severity.value, "message": d.message, "file": shown, "line": span.line, "col": span.col,
                "in_script": in_script, "notes": list(d.notes)}

    # ---- what the page shows -----------------------------------------------------------------

    def state(self) -> dict:
        """Everything the page draws: the screenplay, the last build's timings, diagnostics and
        takes, the cast and palette for auditions."""
        from compiler.build import prepare
        from compiler.parser import parse_file
        from compiler.studio import screenplay

        with self._state_lock:
            version, building, last = self.version, self.building, dict(self.last)
        parsed = parse_file(self.script)
        manifest = self._manifest()
        out = {"version": version, "building": building, "build": last, "file": self.script.name,
               "blocks": screenplay.blocks(parsed.script) if parsed.script is not None else [],
               "lines": [], "scenes": [], "duration": 0.0, "takes": {}, "cast": [], "palette": [], "backend": None}
        if manifest is not None:
            out["duration"] = manifest.get("duration", 0.0)
            out["lines"] = [{"line": m["span"]["line"], "start": m["start"], "end": m["end"], "speaker": m["speaker"],
                             "original": m["original"], "clip": m["clip"]} for m in manifest.get("lines", []) if m.get("span")]
        if parsed.script is not None:
            out["scenes"] = screenplay.scene_marks(parsed.script, manifest)
        try:
            prepared = prepare(self.script, self.backend, cache_dir=self.cache_dir)
        except CompileError:  # a script that does not build: the last good build's cast and takes stay on the page
            return {**out, **self._last_cast}
        cast = {
            "backend": prepared.backend_name,
            "takes": {str(line.span.line): {"take": t.take, "count": t.count} for line, t in takes.listing(prepared)},
            "cast": [{"name": m.name, "voice": m.voice.name, "first_line": m.first_span.line if m.first_span else None}
                     for m in prepared.cast.members],
            "palette": [{"name": v.name, "description": v.description, "gender": v.gender} for v in prepared.backend.palette()],
        }
        self._last_cast = cast
        return {**out, **cast}

    def _manifest(self) -> dict | None:
        try:
            return json.loads(_read_inside(self.manifest_path(), self.out_dir))
        except (OSError, ValueError):
            return None

    def peaks(self) -> dict:
        from compiler.studio import screenplay

        with self._state_lock:
            version = self.version
        if self._peaks is None or self._peaks[0] != version:
            checked_file(self.wav_path(), self.out_dir)
            self._peaks = (version, screenplay.peaks(self.wav_path()))
        return self._peaks[1]

    # ---- takes -------------------------------------------------------------------------------

    def take(self, line: int, action: str, number: int | None) -> dict:
        """`new`: render another take of the line and lock it; `lock`: lock take `number`. Either
        way the play is built again (in the background)."""
        from compiler.build import prepare

        try:
            with self._cache_lock():
                prepared = prepare(self.script, self.backend, cache_dir=self.cache_dir)
                if action == "new":
                    chosen = takes.new(prepared, self.cache_root, line).chosen
                elif action == "lock":
                    if number is None:
                        raise StudioError("lock needs the take's number")
                    chosen = takes.use(prepared, line, number)
                else:
                    raise StudioError(f"unknown take action '{action}'")
        except takes.TakeError as exc:
            raise StudioError(str(exc)) from None
        self.kick(f"take {chosen.take} of line {chosen.line}")
        return {"line": chosen.line, "take": chosen.take, "count": chosen.count}

    def take_audio(self, line: int, number: int) -> bytes:
        """One take of one line alone, as WAV (rendered into the cache if it is not there); locks nothing."""
        from compiler.build import prepare

        try:
            with self._cache_lock():
                prepared = prepare(self.script, self.backend, cache_dir=self.cache_dir)
                _, _, chosen = takes.state(prepared, line)
                if not 1 <= number <= chosen.count:
                    raise StudioError(f"line {line} has {chosen.count} take(s); take {number} does not exist")
                heard = takes.hear(prepared, self.cache_root, line, number)
        except takes.TakeError as exc:
            raise StudioError(str(exc)) from None
        return wav_bytes(heard.audio, heard.sample_rate)

    # ---- voice audition ----------------------------------------------------------------------

    def audition(self, character: str, voice_name: str) -> bytes:
        """The character's first line said by one palette voice, as WAV (cached like any clip)."""
        from compiler import render
        from compiler.build import prepare
        from compiler.plan_types import Clip

        with self._cache_lock():
            prepared = prepare(self.script, self.backend, cache_dir=self.cache_dir)
            member = _member(prepared, character)
            voice = next((v for v in prepared.backend.palette() if v.name == voice_name), None)
            if voice is None:
                raise StudioError(f"the {prepared.backend_name} palette has no voice '{voice_name}'")
            first = next((line for clip in prepared.plan.clips for line in clip.lines if line.speaker == member.name), None)
            if first is None:
                raise StudioError(f"{member.name} has no spoken line to audition")
            line = replace(first, take=1, pause_before=0.0)
            clip = Clip(0, (member.name,), (voice,), (line,), 0.0)
            result = render.render_plan([clip], prepared.backend_name, prepared.backend_options,
                                        render.ClipCache(self.cache_root), 1)
            return wav_bytes(result.takes[clip.key][0], result.sample_rate)

    def choose_voice(self, character: str, voice_name: str) -> dict:
        """Write the voice into dramac.toml; the watch loop sees the save and builds again."""
        from compiler.build import prepare
        from compiler.studio.castfile import CastFileError, set_voice

        prepared = prepare(self.script, self.backend, cache_dir=self.cache_dir)
        member = _member(prepared, character)
        if voice_name not in {v.name for v in prepared.backend.palette()}:
            raise StudioError(f"the {prepared.backend_name} palette has no voice '{voice_name}'")
        try:
            set_voice(Path(prepared.parsed.project.config_path), member.name, prepared.backend_name, voice_name)
        except (CastFileError, CompileError, OSError) as exc:
            message = exc.diagnostics[0].message if isinstance(exc, CompileError) else str(exc)
            raise StudioError(f"cannot write dramac.toml: {message}") from None
        return {"character": member.name, "voice": voice_name, "backend": prepared.backend_name}

    # ---- events ------------------------------------------------------------------------------

    def subscribe(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        with self._state_lock:
            self._subscribers.add((loop, queue))

    def unsubscribe(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        with self._state_lock:
            self._subscribers.discard((loop, queue))

    def broadcast(self, event: str, data: dict) -> None:
        message = f"event: {event}\ndata: {json.dumps(data)}\n\n"
        with self._state_lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, message)
            except RuntimeError:  # that page's loop has closed
                self.unsubscribe(loop, queue)


def _member(prepared, character: str):
    member = next((m for m in prepared.cast.members if m.name.upper() == character.upper()), None)
    if member is None:
        raise StudioError(f"no character named {character} speaks in this script")
    return member


def wav_bytes(audio, sample_rate: int) -> bytes:
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, audio, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def checked_file(path: Path, folder: Path) -> Path:
    """`path` if it is a regular file (not a link) inside `folder` (itself resolved); else OSError.
    The studio serves no file named by a request: only its own outputs, checked by this."""
    import os
    import stat

    real_folder = os.path.realpath(folder)
    real = os.path.realpath(path)
    if os.path.commonpath([real_folder, real]) != real_folder or os.path.islink(path):
        raise PermissionError(f"{path} leaves {folder}")
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise FileNotFoundError(f"{path} is not a regular file")
    return Path(real)


def _read_inside(path: Path, folder: Path, limit: int = 256 * 1024 * 1024) -> bytes:
    import os

    real = checked_file(path, folder)
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        return fh.read(limit)

