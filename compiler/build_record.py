"""What the last build of a script wrote, so that a build whose inputs did not change does nothing.

A build's outputs are a function of its inputs: the plan (every line, voice, clip key, pause, cue and
source position), the backend's identity, the stitch and master settings, the formats, the bytes of
every sound file, the code that stitches, masters and writes, and the libraries it calls. A digest of
all of them is recorded beside what each output file was when the build wrote it. The next build
with the same digest, whose outputs are all still there exactly as written, reads no clip, mixes and
masters nothing and rewrites nothing: a no-op build of an hour-long play costs its parse.

"Exactly as written" is the file's size, modification time, change time and inode: a file rewritten,
replaced or touched since (even to the same size and mtime) has a new change time, which no program
can set back, so it is built again.

Records live in the clip cache folder, one file `build-<hash>.json` per (output folder, script name),
beside the shard folders (a folder of their own would be taken for a shard by tools that count them).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import astuple, dataclass, field
from importlib import metadata
from pathlib import Path

from compiler.atomic import write_atomically
from compiler.encode import Measured

RECORD_FORMAT = "dramac-build-1"
# The modules whose code turns takes into output bytes; a change to any of them builds again.
_OUTPUT_CODE = ("build.py", "build_record.py", "chapters.py", "effects.py", "emit.py", "encode.py", "master.py",
                "master_segments.py", "mix_cache.py", "pieces.py", "segments.py", "sounds.py", "stitch.py", "subtitles.py",
                "tagging.py", "wav_link.py", "words.py")
_LIBRARIES = ("numpy", "scipy", "soundfile", "pyloudnorm", "mutagen")


@dataclass(frozen=True)
class Recorded:
    """What the recorded build reported: its outputs (in order), duration and loudness figures."""

    outputs: list[Path]
    duration: float
    loudness: dict  # compiler.master.MasterReport's fields
    clips: int  # distinct clips of the plan
    measured: dict = field(default_factory=dict)  # lossy output path -> compiler.encode.Measured, as written


def inputs_digest(prepared, formats: list[str]) -> str | None:
    """sha256 over everything the outputs are made from; None when a sound file cannot be read (the
    build proper then reports it)."""
    h = hashlib.sha256(RECORD_FORMAT.encode())

    def add(label: str, value: str | bytes) -> None:
        data = value.encode() if isinstance(value, str) else value
        h.update(f"\n{label} {len(data)}\n".encode())
        h.update(data)

    plan = prepared.plan
    add("backend", f"{prepared.backend_name}\n{prepared.backend.identity()}\n{prepared.backend.sample_rate}")
    add("plan", repr(plan))  # frozen dataclasses and tuples all the way down: a stable text
    add("stitch", repr(prepared.stitch))
    add("master", repr(prepared.master))
    add("rooms", repr(getattr(prepared, "rooms", None)))  # the manifest lists every scene's room
    add("stage", f"{prepared.stage!r} {sorted(prepared.pans.items())!r}")
    add("formats", ",".join(formats))
    add("root", str(prepared.parsed.project.root))  # the manifest names sound files relative to it
    add("cast", repr([(m.name, m.voice.name, m.voice.key) for m in prepared.cast.members]))
    # Chapters and tags come from the script's sections, headings and title page, which the plan omits.
    from compiler import chapters

    script = prepared.parsed.script
    add("chapters", repr(chapters.marks(script, plan.title)))
    add("tags", repr(chapters.tags(script.title_page, plan.title)))
    if "m4b" in formats:  # written by whichever ffmpeg is on the PATH, or not at all
        from compiler.encode import aac_encoder

        add("aac", repr(aac_encoder()))
    from compiler import plugins

    # Cue files, and files a directive reads otherwise (a [[take]]'s recording).
    for path in sorted({step.path for step in plan.steps if getattr(step, "path", None)} | set(plugins.input_files(plan))):
        try:
            add(f"sound {path}", Path(path).read_bytes())
        except OSError:
            return None
    add("code", code_digest())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 over the code that turns takes into output bytes and the versions of the libraries it
    calls: the mix cache (compiler.segments) keys its entries with it too. Worked out once a process
    (a build asks twice, `watch` on every save): the code that runs is the code that was imported."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    plugin_code = sorted(str(p.relative_to(here)) for p in (here / "plugins").glob("*.py"))  # every directive's placing and mixing
    for name in (*_OUTPUT_CODE, *plugin_code):
        try:
            data = (here / name).read_bytes()
        except OSError:
            data = b""
        h.update(f"\ncode {name} {len(data)}\n".encode() + data)
    for library in _LIBRARIES:
        try:
            version = metadata.version(library)
        except metadata.PackageNotFoundError:
            version = ""
        h.update(f"\nlibrary {library} {version}".encode())
    return h.hexdigest()


def record_name(out_dir: Path, stem: str) -> str:
    """A short name for an (output folder, script name) pair: the files of its last build are named by it."""
    return hashlib.sha256(f"{os.path.realpath(out_dir)}\n{stem}".encode()).hexdigest()[:32]


def record_path(cache_root: Path, out_dir: Path, stem: str) -> Path:
    return Path(cache_root) / f"build-{record_name(out_dir, stem)}.json"


def _signature(path: Path) -> list[int] | None:
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def unchanged(cache_root: Path, out_dir: Path, stem: str, digest: str | None) -> Recorded | None:
    """The recorded build when its digest is `digest` and every output it wrote is still as written."""
    if digest is None:
        return None
    try:
        document = json.loads(record_path(cache_root, out_dir, stem).read_text(encoding="utf-8"))
        if document.get("format") != RECORD_FORMAT or document.get("inputs") != digest:
            return None
        outputs = [Path(out_dir) / entry["name"] for entry in document["outputs"]]
        signatures = [entry["signature"] for entry in document["outputs"]]
        measured = {str(path): Measured(*map(float, entry["measured"]))
                    for path, entry in zip(outputs, document["outputs"]) if "measured" in entry}
        recorded = Recorded(outputs, float(document["duration"]), dict(document["loudness"]), int(document["clips"]),
                            measured)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # no record, or one this version cannot read: build
    if any(_signature(path) != signature for path, signature in zip(outputs, signatures)):
        return None
    return recorded


def remember(cache_root: Path, out_dir: Path, stem: str, digest: str | None, outputs: list[Path], duration: float,
             loudness: dict, clips: int, measured: dict | None = None) -> None:
    """Record a finished build (with the figures of its lossy files, `measured`: compiler.encode.Measured
    by path); a cache folder that cannot be written only costs the next build its shortcut."""
    if digest is None:
        return
    document = {
        "format": RECORD_FORMAT,
        "inputs": digest,
        "outputs": [{"name": path.name, "signature": _signature(path),
                     **({"measured": list(astuple(measured[str(path)]))} if str(path) in (measured or {}) else {})}
                    for path in outputs],
        "duration": duration,
        "loudness": {key: (value if value == value and abs(value) != float("inf") else str(value))
                     for key, value in loudness.items()},
        "clips": clips,
    }
    path = record_path(cache_root, out_dir, stem)
    try:
        write_atomically(path, (json.dumps(document, indent=1) + "\n").encode())
    except OSError:
        pass


def forget(cache_root: Path, out_dir: Path, stem: str) -> None:
    """Drop the record before outputs are rewritten: a build stopped half-way leaves none behind."""
    try:
        record_path(cache_root, out_dir, stem).unlink()
    except OSError:
        pass
