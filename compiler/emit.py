"""Writing the build's outputs: audio and the JSON manifest (subtitles: compiler.subtitles).

Every file is written to a temporary file in the destination directory and moved into place with
os.replace, so a reader never sees half a file and a failed write leaves an existing output
untouched. An output whose bytes did not change is not replaced: its file, modification time
included, stays as it was. Subtitles and manifest are produced from the same Timeline as the audio.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator

import numpy as np

from compiler import atomic, wav_link
from compiler.diagnostics import CompileError, Span, error, warning
from compiler.encode import (LOSSY_SUBTYPES, MISSING_AAC, EncodeFailed, Measured, Samples, aac_encoder, encode,
                             encode_under)
from compiler.stitch import Timeline
from compiler.tagging import TaggingFailed

# format name -> (soundfile container, subtype)
AUDIO_FORMATS: dict[str, tuple[str, str]] = {
    "wav": ("WAV", "PCM_16"),
    "wav16": ("WAV", "PCM_16"),
    "wav24": ("WAV", "PCM_24"),
    "flac": ("FLAC", "PCM_16"),
    "flac24": ("FLAC", "PCM_24"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "opus": ("OGG", "OPUS"),  # resampled to 48 kHz unless the play is at an Opus rate (compiler.encode)
    "m4b": ("M4B", "AAC"),  # through ffmpeg, when it has an AAC encoder; else a warning (compiler.encode)
}
MP3_RATES = {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}

# What a build writes into its output folder; a legacy temporary file (no writer pid in its name) is
# recognised only when it was written for one of these.
_OUTPUT_NAME = re.compile(r".+\.(?:wav|flac|mp3|ogg|opus|m4b|srt|vtt|json)")


def sweep_stale(out_dir: str | Path) -> list[str]:
    """Remove the temporary files killed builds left in the output folder (compiler.atomic.is_stale)."""
    return atomic.sweep_stale(out_dir, _OUTPUT_NAME)


def _fail(path: str | Path, message: str) -> CompileError:
    return CompileError(error(message, Span.point(str(path), 1, 1)))


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """compiler.atomic.atomic_open, with a failed write reported as a diagnostic at the output path;
    the file already there is kept when the new bytes are the same."""
    try:
        with atomic.atomic_open(path, mode, keep_if_same=True) as fh:
            yield fh
    except OSError as exc:
        raise _fail(path, f"cannot write output: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------------------------------
# Audio


# Called on an audio output's temporary file, once encoded and before it is moved into place, with the
# soundfile container and subtype: where tags and chapters are written (compiler.tagging).
Finish = Callable[[str, str, str], None]
# Called with an audio output's temporary file, its bytes final, and the path it is about to replace.
Complete = Callable[[str, Path], None]


def write_audio(path: str | Path, audio: Samples, sr: int, format: str = "wav", finish: Finish | None = None,
                ceiling_db: float | None = None, on_complete: Complete | None = None) -> Measured | None:
    """Write mono (n,) or stereo (n, 2) audio (an array, or a function yielding it in parts:
    compiler.encode.Samples) as
    wav/wav16/wav24/flac/flac24/ogg (Vorbis)/opus/mp3 through soundfile, in blocks clipped to [-1, 1],
    or m4b through ffmpeg; lossy codecs in a child process, so a codec crash is a diagnostic
    (compiler.encode). With `ceiling_db`, a lossy file is decoded and measured, and encoded again lower
    while its true peak is over the ceiling (compiler.encode.encode_under): its figures are returned.
    `on_complete(tmp, path)` is called once the temporary file holds its final bytes, before they are
    flushed to disk (which takes an hour of WAV a fifth of a second) and moved into place."""
    fmt = format.lower().lstrip(".")
    if fmt not in AUDIO_FORMATS:
        raise _fail(path, f"unknown audio format '{format}'; choose one of {', '.join(AUDIO_FORMATS)}")
    container, subtype = AUDIO_FORMATS[fmt]
    if fmt == "mp3" and sr not in MP3_RATES:
        raise _fail(path, f"mp3 cannot store {sr} Hz audio; use one of {sorted(MP3_RATES)}")
    linked = fmt in wav_link.FORMATS and hasattr(audio, "parts")  # a mastered play: reuse what the last file holds
    checked = ceiling_db is not None and subtype in LOSSY_SUBTYPES
    measured = None
    try:
        with atomic.atomic_path(path, keep_if_same=True, free_old_later=True) as tmp:  # every try writes the temporary file
            if linked:
                wav_link.write(tmp, audio, sr, Path(path), audio.cache.layouts.get(fmt))
            elif checked:
                measured = encode_under(tmp, audio, sr, container, subtype, ceiling_db)
            else:
                encode(tmp, audio, sr, container, subtype)
            if finish is not None:
                finish(tmp, container, subtype)
            if on_complete is not None:
                on_complete(tmp, Path(path))
            _sync(tmp)
        if linked:
            audio.cache.layouts[fmt] = wav_link.layout_of(Path(path), audio)
    except EncodeFailed as exc:
        raise _fail(path, f"cannot encode {fmt}: {exc}") from None
    except TaggingFailed as exc:
        raise _fail(path, f"cannot tag {fmt}: {exc}") from None
    except OSError as exc:
        raise _fail(path, f"cannot write output: {exc.strerror or exc}") from None
    return measured


def write_audio_files(out_dir: Path, stem: str, audio: Samples, sr: int, formats: list[str],
                      finish: Finish | None = None, ceiling_db: float | None = None,
                      measured: dict[str, Measured] | None = None,
                      on_complete: Complete | None = None) -> tuple[list[Path], list]:
    """`<stem>.<format>` for every format; a format that fails (a codec crash included) is a diagnostic
    returned beside the files that were written, so one codec cannot cost the others, the subtitles or
    the manifest. M4B without an AAC encoder is a warning, and the build goes on without it. With
    `ceiling_db`, lossy files keep the true-peak ceiling as they decode (a warning where the last
    encode allowed still does not), and `measured` gets each one's figures by path (write_audio)."""
    written, failures = [], []
    for fmt in formats:
        target = out_dir / f"{stem}.{fmt}"
        missing = missing_encoder(target, fmt)
        if missing is not None:
            failures.append(missing)
            continue
        try:
            figures = write_audio(target, audio, sr, fmt, finish, ceiling_db, on_complete)
        except CompileError as exc:
            failures += exc.diagnostics
            continue
        written.append(target)
        if figures is not None and measured is not None:
            measured[str(target)] = figures
        if figures is not None and figures.true_peak_db > ceiling_db:  # PEAK_TRIES encodes were not enough
            failures.append(warning(f"{target.name} decodes to {figures.true_peak_db:.1f} dBTP, over the "
                                    f"{ceiling_db:g} dBTP ceiling, after {figures.gain_db:.1f} dB less gain",
                                    Span.point(str(target), 1, 1)))
    return written, failures


def missing_encoder(target: Path, fmt: str):
    """The warning for a format whose encoder is not installed (M4B without an AAC encoder), else None."""
    if AUDIO_FORMATS.get(fmt, ("",))[0] == "M4B" and aac_encoder() is None:
        return warning(f"{target.name} was not written: {MISSING_AAC}", Span.point(str(target), 1, 1))
    return None


def encoder_of(path: str | Path) -> str | None:
    """The encoder an audio output is written with (e.g. "ffmpeg 5.1.9 aac", "libsndfile 1.2.2 vorbis");
    None for a file that is not audio."""
    from compiler.encode import describe

    fmt = Path(path).suffix.lstrip(".")
    if fmt not in AUDIO_FORMATS:
        return None
    return describe(*AUDIO_FORMATS[fmt])


def _sync(path: str) -> None:
    """On disk before the rename, as atomic_open does for the other outputs."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------------
# Manifest


def _jsonable(value):
    """Dataclasses to dicts; inf/nan (silence has -inf LUFS) to null, which JSON can hold."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _span(span: Span | None, relative: Callable[[str | None], str | None]) -> dict | None:
    if span is None:
        return None
    return {"file": relative(span.file), "line": span.line, "col": span.col, "end_line": span.end_line,
            "end_col": span.end_col}


def _relative_to(root: Path | None) -> Callable[[str | None], str | None]:
    """_relative for one root, each path worked out once (an hour-long play names its script a
    thousand times; each costs two system calls)."""
    return functools.lru_cache(maxsize=None)(lambda path: _relative(path, root))


def _relative(path: str | None, root: Path | None) -> str | None:
    """A path relative to the project root, so a manifest is the same on every machine and from every
    working directory (`dramac build play.fountain` in the project, or `dramac build ../x/play.fountain`).
    A path given relative to the working directory is made absolute first; symlinks are followed only
    when the plain absolute path is not inside the root. A path outside the root is kept as given."""
    if path is None or root is None:
        return path
    for candidate in (os.path.abspath(path), os.path.realpath(path)):
        try:
            return Path(candidate).relative_to(root).as_posix()
        except ValueError:
            continue
    return path


def manifest_dict(timeline: Timeline, extra: dict | None = None, root: Path | None = None,
                  chapters: list | None = None, tags=None) -> dict:
    """The manifest; `chapters` and `tags` are compiler.chapters values (None: not listed). A
    stereo timeline's lines say where they stand (Timeline.pans)."""
    relative = _relative_to(root)
    data = {
        "version": 1,
        "title": timeline.title,
        "source": timeline.source,
        "duration": round(timeline.duration, 6),
        "sample_rate": timeline.sample_rate,
        "channels": timeline.channels,
        "loudness": {},
        "lines": [
            {
                "index": n,
                "speaker": pl.line.speaker,
                "original": pl.line.original,
                "spoken": pl.line.spoken,
                "start": round(pl.start, 6),
                "end": round(pl.end, 6),
                "extension": pl.line.extension,
                "span": _span(pl.line.span, relative),
                "clip": pl.clip_key,
                "scene": pl.scene,
                "room": pl.line.room.size if pl.line.room else "dry",
                **(_pan_json(timeline.pans[n - 1]) if timeline.pans is not None else {}),
                **({"recording": relative(pl.line.recording.path)} if pl.line.recording else {}),
            }
            for n, pl in enumerate(timeline.lines, 1)
        ],
        "sounds": [
            {
                "kind": ps.cue.kind,
                "path": relative(ps.cue.path),
                "start": round(ps.start, 6),
                "end": round(ps.end, 6),
                "options": {k: v for k, v in ps.cue.options},
                "span": _span(ps.cue.span, relative),
            }
            for ps in timeline.sounds
        ],
    }
    if chapters is not None:
        from compiler.chapters import chapters_json

        data["chapters"] = chapters_json(chapters, lambda span: _span(span, relative))
    if tags is not None:
        data["tags"] = dataclasses.asdict(tags)
    data.update(extra or {})
    data["source"] = relative(data["source"])
    return _jsonable(data)


def _pan_json(line_pan) -> dict:
    """Where a line stands: `pan` at its start, and `pan_end` where a move carries it elsewhere."""
    end = line_pan.path[-1][1] if line_pan.path else line_pan.pan
    return {"pan": line_pan.pan, **({"pan_end": end} if end != line_pan.pan else {})}


def write_manifest(path: str | Path, timeline: Timeline, extra: dict | None = None, root: Path | None = None,
                   chapters: list | None = None, tags=None) -> None:
    text = json.dumps(manifest_dict(timeline, extra, root, chapters, tags), indent=2, ensure_ascii=False, allow_nan=False)
    with atomic_open(path, "w") as fh:
        fh.write(text + "\n")
