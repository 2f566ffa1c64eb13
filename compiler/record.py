"""The build record: one JSON document per `dramac build --json`, also when a build fails.

A CI job reads one record per invocation from standard output: for every script whether it was
built, every diagnostic (warnings included), the files written with their size and SHA-256, the
play's length and loudness, the backend and the identity string that went into its cache keys,
clips rendered and cached, and seconds per stage. Its shape is docs/build-record.schema.json; its
exit codes are in docs/ci.md. Nothing here prints: the CLI decides when the record is written.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from compiler.diagnostics import Diagnostic

RECORD_VERSION = 1
_HASH_BLOCK = 1 << 20


def diagnostic_json(diag: Diagnostic) -> dict:
    """A diagnostic with its position spelled out (1-based line and column, end column exclusive)."""
    span = diag.span
    return {"severity": diag.severity.value, "file": span.file, "line": span.line, "column": span.col,
            "end_line": span.end_line, "end_column": span.end_col, "message": diag.message, "notes": list(diag.notes)}


def file_json(path: Path) -> dict:
    """An output file as a CI job checks it: where, how big, and its SHA-256 (read in blocks; taken
    from hash_soon's thread when the file is still the one it hashed)."""
    early = _hashing.pop(str(path), None)
    if early is not None:
        thread, found = early
        thread.join()
        if found and found[0] == _signature(os.stat(path)):
            return _file_entry(path, *found[1:])
    with open(path, "rb") as fh:
        size, digest = _hash(fh)
    return _file_entry(path, size, digest)


def _file_entry(path: Path, size: int, digest: str) -> dict:
    return {"path": str(path), "format": path.suffix.lstrip("."), "bytes": size, "sha256": digest}


def _hash(fh) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    while block := fh.read(_HASH_BLOCK):
        digest.update(block)
        size += len(block)
    return size, digest.hexdigest()


def _signature(info: os.stat_result) -> tuple[int, ...]:
    """What tells a file's bytes changed: its inode, size and modification time (not the change time,
    which moving a finished file into place and setting its mode update)."""
    return info.st_size, info.st_mtime_ns, info.st_ino


# Output path → (the thread hashing it, [signature of the file hashed, size, sha256] once done).
_hashing: dict[str, tuple[threading.Thread, list]] = {}


def hash_soon(tmp: str, path: Path) -> None:
    """Start hashing an output (`build --json`) as soon as its temporary file `tmp` holds its final
    bytes, in a thread, while the build flushes it to disk and writes the others: an hour of stereo
    WAV is 300 MB, a third of a second of SHA-256, and hashlib lets other threads run while it
    hashes a block. The file is opened here, so the thread reads the same file once it is renamed
    to `path`; file_json takes the result if `path` is still that file, unchanged."""
    found: list = []
    try:
        fh = open(tmp, "rb")
    except OSError:  # file_json hashes the output itself
        return

    def run() -> None:
        with fh:
            try:
                before = _signature(os.fstat(fh.fileno()))
                size, digest = _hash(fh)
                if _signature(os.fstat(fh.fileno())) == before:  # not written to meanwhile
                    found.extend([before, size, digest])
            except OSError:  # file_json reads it again, and reports what fails then
                pass

    thread = threading.Thread(target=run, name="dramac-hash-output", daemon=True)
    thread.start()
    _hashing[str(path)] = (thread, found)


def _with_encoder(output: dict, encoder: str | None, measured=None) -> dict:
    """An audio output names the encoder that wrote it (which ffmpeg's AAC encoder wrote an M4B); a
    lossy one, the true peak and loudness it decodes to and the gain it took to keep the ceiling
    (compiler.encode.Measured)."""
    output = {**output, "encoder": encoder} if encoder else output
    if measured is not None:
        output.update(true_peak_db=_number(measured.true_peak_db, 2),
                      integrated_lufs=_number(measured.integrated_lufs, 2), gain_db=_number(measured.gain_db, 2))
    return output


def _number(value: float, digits: int) -> float | None:
    """Rounded, and null where JSON has no number (silence measures -inf LUFS)."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


@dataclass
class ScriptRecord:
    """What one script's build produced or why it failed."""

    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    result: object | None = None  # compiler.build.BuildResult once built
    backend: dict | None = None  # {"name", "identity"} once the backend is known
    seconds: dict[str, float] = field(default_factory=dict)
    internal_error: bool = False  # a bug in dramac, not in the script: exit status 70

    def add(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics += diagnostics

    @property
    def ok(self) -> bool:
        return self.result is not None and not any(d.is_error for d in self.diagnostics)

    def to_json(self) -> dict:
        data = {"file": self.file, "ok": self.ok, "internal_error": self.internal_error,
                "diagnostics": [diagnostic_json(d) for d in self.diagnostics], "backend": self.backend,
                "outputs": [], "duration": None, "integrated_lufs": None, "true_peak_db": None, "gain_db": None,
                "clips_rendered": None, "clips_cached": None, "segments": None, "cluster": None,
                "seconds": {stage: round(value, 3) for stage, value in self.seconds.items()}}
        result = self.result
        if result is None:
            return data
        report = result.loudness
        data.update(
            outputs=[_with_encoder(file_json(Path(p)), getattr(result, "encoders", {}).get(str(p)),
                                   getattr(result, "measured", {}).get(str(p))) for p in result.outputs],
            duration=round(result.duration, 3),
            integrated_lufs=_number(report.output_lufs, 2),
            true_peak_db=_number(report.true_peak_db, 2),
            gain_db=_number(report.gain_db, 2),
            clips_rendered=result.rendered,
            clips_cached=result.cached,
            segments=result.segments,
            cluster=_cluster_json(getattr(result, "cluster", None)),
        )
        return data


def _cluster_json(report) -> dict | None:
    """compiler.cluster.ClusterReport as the record shows it: the workers and the clips each rendered."""
    if report is None:
        return None
    return {"address": report.address, "retried": report.retried, "prepared": report.prepared,
            "workers": [{"worker": w.worker, "node": w.node, "gpus": list(w.gpus), "clips": w.clips} for w in report.workers]}


@dataclass
class BuildRecord:
    """Every script of one invocation, in the order given."""

    version: str
    scripts: list[ScriptRecord] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)  # about the invocation, not one script
    usage_error: bool = False  # the command line was refused before any script was read: exit status 2

    def script(self, file: str) -> ScriptRecord:
        entry = ScriptRecord(file)
        self.scripts.append(entry)
        return entry

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.scripts) and not any(d.is_error for d in self.diagnostics) and not self.usage_error

    def exit_code(self) -> int:
        """0 every script built, 2 a wrong command line, 70 dramac failed on a script (a bug), 1 otherwise
        (docs/ci.md)."""
        if self.usage_error:
            return 2
        if any(s.internal_error for s in self.scripts):
            return 70
        return 0 if self.ok else 1

    def to_json(self, seconds: float) -> dict:
        scripts = [s.to_json() for s in self.scripts]
        built = [s for s in scripts if s["ok"]]
        return {
            "record": RECORD_VERSION,
            "dramac": self.version,
            "ok": self.ok,
            "exit_code": self.exit_code(),
            "diagnostics": [diagnostic_json(d) for d in self.diagnostics],
            "builds": scripts,
            "summary": {
                "scripts": len(scripts),
                "built": len(built),
                "failed": len(scripts) - len(built),
                "clips_rendered": sum(s["clips_rendered"] for s in built),
                "clips_cached": sum(s["clips_cached"] for s in built),
                "seconds": round(seconds, 3),
            },
        }
