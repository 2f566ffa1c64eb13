"""The mix cache: each segment's mixed window, its measurements and its mastered samples, on disk.

Entries live under `<cache>/mix/<2 hex>/<name>.npz`, named by the segment's key (compiler.segments)
and, for what depends on the master gain, the gain's step. Like the clip cache (compiler.render) an
entry is written to a temporary file and renamed into place, and read only after it is verified
against what it claims to hold: its format, its name, and a sha256 of every array in it. A damaged
or foreign entry reads as a miss and is computed again.

Each build records the entries it used (one small list per output folder and script); entries the
previous build of that script used and this one did not are deleted, so an hour of `watch` edits
does not pile up copies of the play.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from compiler import words
from compiler.atomic import sweep_stale, write_atomically
from compiler.render import _UNREADABLE, Known, read_archive  # the clip cache's guarded .npz reading
from compiler.wav_link import Layout

_FORMAT = "dramac-mix-1"


class MixCache:
    """Entries of samples (one file each), and a table of measurements per output folder and script
    (`record`): the few numbers each segment contributes to the loudness, read in one file instead
    of one per segment."""

    def __init__(self, cache_root: str | Path, record: str = ""):
        self.directory = Path(cache_root) / "mix"
        self.used: set[str] = set()
        self._record = hashlib.sha256(record.encode()).hexdigest()[:32]
        self._table: dict[str, dict[str, np.ndarray]] | None = None  # read on first use
        self._kept: dict[str, dict[str, np.ndarray]] = {}  # what this build measured or used
        self._takes: dict[str, Known] | None = None  # clip cache entries as last verified (compiler.render.Known)
        self.takes_now: dict[str, Known] = {}  # this build's, saved with the table
        self._layouts: dict | None = None

    @property
    def layouts(self) -> dict:
        """Format → compiler.wav_link.Layout of the output the last build of this record wrote
        (this build's replace them as its outputs are written)."""
        self._load()
        return self._layouts

    def _load(self) -> None:
        if self._table is None:
            self._table, self._takes, self._layouts = _read_table(self.directory / f"table-{self._record}.npz",
                                                                  self._record)

    def known_takes(self) -> dict[str, Known]:
        """The clip cache entries the last build of this record verified (compiler.render.Known)."""
        self._load()
        return dict(self._takes or {})

    def measured(self, name: str) -> dict[str, np.ndarray] | None:
        """A measurement stored by the last build of this record (or by this one)."""
        self._load()
        found = self._kept.get(name) or self._table.get(name)
        if found is not None:
            self._kept[name] = found
        return found

    def put_measured(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        self._kept[name] = arrays

    def path(self, name: str) -> Path:
        return self.directory / name[:2] / f"{name}.npz"

    def get(self, name: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under `name`, verified; None when missing or not verifiable."""
        try:
            found = _read(self.path(name), name)
        except _UNREADABLE:
            found = None
        if found is not None:
            self.used.add(name)
        return found

    def keep(self, name: str) -> None:
        """Count an entry as used without reading it (it is verified when it is read)."""
        self.used.add(name)

    def put(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        """Store arrays under `name`; a cache that cannot be written only costs the next build time."""
        self.used.add(name)
        buffer = io.BytesIO()
        np.savez(buffer, format=np.array(_FORMAT), name=np.array(name), digest=np.array(_digest(arrays)), **arrays)
        path = self.path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, buffer.getvalue(), durable=False)  # verified when read: no fsync needed
        except OSError:
            pass

    def sweep(self) -> list[str]:
        """Remove the temporary files killed builds left in the cache's shards."""
        try:
            shards = [entry.path for entry in os.scandir(self.directory) if len(entry.name) == 2 and entry.is_dir()]
        except OSError:
            return []
        return [name for shard in shards for name in sweep_stale(shard)]

    def save(self) -> int:
        """Write this build's measurements; delete the entries the last build of this record used and
        this build did not, and record this build's. Returns how many were deleted."""
        self._write_table()
        listing = self.directory / f"used-{self._record}.json"
        try:
            before = set(json.loads(listing.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            before = set()
        removed = 0
        for name in sorted(before - self.used):
            if not isinstance(name, str) or not _safe(name):  # the list is a file on disk: trust no path in it
                continue
            try:
                self.path(name).unlink()
                removed += 1
            except OSError:
                pass
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_atomically(listing, json.dumps(sorted(self.used)).encode())
        except OSError:
            pass
        return removed


    def _write_table(self) -> None:
        names = sorted(self._kept)
        columns = {"names": np.array(names, dtype=str), "record": np.array(self._record)}
        for label in ("blocks", "weights", "peaks"):
            parts = [np.asarray(self._kept[n][label], dtype=np.float64).reshape(-1) for n in names]
            columns[label] = np.concatenate(parts) if parts else np.zeros(0)
            columns[f"{label}_counts"] = np.array([len(p) for p in parts], dtype=np.int64)
        entries = sorted(self.takes_now)
        known = [self.takes_now[e] for e in entries]
        columns.update(
            take_entries=np.array(entries, dtype=str),
            take_signatures=np.array([k.signature for k in known], dtype=np.int64).reshape(len(known), 4),
            take_counts=np.array([len(k.lengths) for k in known], dtype=np.int64),
            take_lengths=np.array([n for k in known for n in k.lengths], dtype=np.int64),
            take_digests=np.array([d for k in known for d in k.digests], dtype=str),
            take_words=np.array([json.dumps([words.to_rows(w) for w in k.words]) for k in known], dtype=str),
            layouts=np.array(json.dumps({fmt: layout.to_json() for fmt, layout in self.layouts.items() if layout})),
        )
        buffer = io.BytesIO()
        np.savez(buffer, format=np.array(_FORMAT), name=np.array("table"), digest=np.array(_digest(columns)), **columns)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_atomically(self.directory / f"table-{self._record}.npz", buffer.getvalue(), durable=False)
        except OSError:
            pass


def _read_table(path: Path, record: str) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Known], dict]:
    try:
        columns = _read(path, "table")
    except _UNREADABLE:
        columns = None
    if columns is None or str(columns.get("record")) != record:
        return {}, {}, {}
    try:
        names = [str(n) for n in columns["names"]]
        table: dict[str, dict[str, np.ndarray]] = {n: {} for n in names}
        for label in ("blocks", "weights", "peaks"):
            for name, part in zip(names, _split(columns[label], columns[f"{label}_counts"], len(names))):
                table[name][label] = part
        counts = columns["take_counts"]
        entries = [str(e) for e in columns["take_entries"]]
        lengths = _split(columns["take_lengths"], counts, len(entries))
        digests = _split(columns["take_digests"], counts, len(entries))
        signatures = columns["take_signatures"].reshape(len(entries), 4)
        said = [tuple(words.from_rows(rows) for rows in json.loads(str(text))) for text in columns["take_words"]]
        if len(said) != len(entries):
            raise ValueError("table columns do not add up")
        takes = {entry: Known(tuple(int(v) for v in signature), tuple(int(n) for n in length),
                              tuple(str(d) for d in digest), spoken)
                 for entry, signature, length, digest, spoken in zip(entries, signatures, lengths, digests, said)}
        layouts = {str(fmt): Layout.from_json(data) for fmt, data in json.loads(str(columns["layouts"])).items()}
    except (KeyError, ValueError, TypeError, AttributeError):
        return {}, {}, {}
    return table, takes, layouts


def _split(values: np.ndarray, counts: np.ndarray, expected: int) -> list[np.ndarray]:
    """`values` cut into consecutive parts of `counts`; ValueError unless they add up."""
    if len(counts) != expected or np.any(counts < 0) or int(counts.sum()) != len(values):
        raise ValueError("table columns do not add up")
    return np.split(values, np.cumsum(counts)[:-1]) if expected else []


def _safe(name: str) -> bool:
    """A name this cache writes: a key in hex digits, then "-w", or "-t", a threshold step and maybe "-y"."""
    return 64 <= len(name) <= 100 and all(c in "0123456789abcdef-twy" for c in name)


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for label in sorted(arrays):
        data = np.ascontiguousarray(arrays[label])
        h.update(f"{label} {data.dtype.str} {data.shape}\n".encode())
        h.update(data.tobytes())
    return h.hexdigest()


def _read(path: Path, name: str) -> dict[str, np.ndarray] | None:
    def read(member, names):
        if str(member("format")) != _FORMAT or str(member("name")) != name:
            return None
        return str(member("digest")), {label: member(label) for label in names if label not in ("format", "name", "digest")}

    found = read_archive(path, read)
    if found is None:
        return None
    digest, arrays = found
    if any(a.dtype.hasobject for a in arrays.values()) or _digest(arrays) != digest:
        return None
    return arrays
