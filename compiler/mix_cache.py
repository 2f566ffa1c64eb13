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
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from compiler.words import Word
from compiler.atomic import sweep_stale, write_atomically
from compiler.render import _UNREADABLE, Known, read_archive  # the clip cache's guarded .npz reading
from compiler.wav_link import Layout

_FORMAT = "dramac-mix-1"
# What this build stored is also kept in memory, up to this many bytes (the latest first): an edit's
# few new segments are read again by the limiter and the writer, and reading them back from disk,
# verified, was a tenth of an edit's fixed cost. A cold build keeps no more than this.
FRESH_BYTES = 32 << 20
_TABLE_FORMAT = "dramac-mix-table-2"  # columns of numbers and of UTF-8 texts: read without a step per entry


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
        self._fresh: dict[str, dict[str, np.ndarray]] = {}  # stored by this build, oldest first (FRESH_BYTES)
        self._fresh_bytes = 0

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
        if name in self._fresh:
            self.used.add(name)
            return self._fresh[name]
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
        self._remember(name, arrays)

    def _remember(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        if name in self._fresh:
            self._fresh_bytes -= sum(a.nbytes for a in self._fresh.pop(name).values())
        size = sum(a.nbytes for a in arrays.values())
        if size > FRESH_BYTES:
            return
        # A view (a segment's core in its window) is copied: it would hold the whole window.
        self._fresh[name] = {label: a.copy() if a.base is not None else a for label, a in arrays.items()}
        self._fresh_bytes += size
        while self._fresh_bytes > FRESH_BYTES:
            oldest = next(iter(self._fresh))
            self._fresh_bytes -= sum(a.nbytes for a in self._fresh.pop(oldest).values())

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
            # Not flushed to disk: a crash may lose the list (costing only entries left to the next
            # sweep), never tear it (temp then rename), and a flush would wait for the play's audio.
            write_atomically(listing, json.dumps(sorted(self.used)).encode(), durable=False)
        except OSError:
            pass
        return removed


    def _write_table(self) -> None:
        names = sorted(self._kept)
        columns = {"names": _joined(names), "record": np.array(self._record)}
        for label in ("blocks", "weights", "peaks"):
            parts = [np.asarray(self._kept[n][label], dtype=np.float64).reshape(-1) for n in names]
            columns[label] = np.concatenate(parts) if parts else np.zeros(0)
            columns[f"{label}_counts"] = np.array([len(p) for p in parts], dtype=np.int64)
        entries = sorted(self.takes_now)
        known = [self.takes_now[e] for e in entries]
        said = [take for k in known for take in k.words]  # every take's words, take after take
        columns.update(
            take_entries=_joined(entries),
            take_signatures=np.array([k.signature for k in known], dtype=np.int64).reshape(len(known), 4),
            take_counts=np.array([len(k.lengths) for k in known], dtype=np.int64),
            take_lengths=np.array([n for k in known for n in k.lengths], dtype=np.int64),
            take_digests=_joined([d for k in known for d in k.digests]),
            # Word times as columns: how many takes each entry has words for, how many words each such
            # take has, and every word's text (one JSON list), start and end.
            word_takes=np.array([len(k.words) for k in known], dtype=np.int64),
            word_counts=np.array([len(take) for take in said], dtype=np.int64),
            word_texts=_joined([json.dumps([w.text for take in said for w in take])]),
            word_starts=np.array([w.start for take in said for w in take], dtype=np.float64),
            word_ends=np.array([w.end for take in said for w in take], dtype=np.float64),
            layouts=np.array(json.dumps({fmt: layout.to_json() for fmt, layout in self.layouts.items() if layout})),
        )
        buffer = io.BytesIO()
        np.savez(buffer, format=np.array(_TABLE_FORMAT), name=np.array("table"), digest=np.array(_digest(columns)), **columns)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_atomically(self.directory / f"table-{self._record}.npz", buffer.getvalue(), durable=False)
        except OSError:
            pass


def _joined(texts: list[str]) -> np.ndarray:
    """Texts without newlines as one array of UTF-8 bytes (a fixed-width string array would pad each
    to the longest, four bytes a character)."""
    return np.frombuffer("\n".join(texts).encode("utf-8"), dtype=np.uint8)


def _texts(column: np.ndarray, expected: int) -> list[str]:
    """The texts `_joined` stored; ValueError unless there are `expected` of them."""
    if column.dtype != np.uint8 or column.ndim != 1:
        raise ValueError("not a column of texts")
    texts = column.tobytes().decode("utf-8").split("\n") if expected else []
    if len(texts) != expected:
        raise ValueError("table columns do not add up")
    return texts


class _Measurements(Mapping):
    """The table's measurements, name → {"blocks", "weights", "peaks"}, cut out of its columns only
    when asked for (a build reads a few thousand; making them all up front was a third of an edit's
    fixed cost)."""

    def __init__(self, names: list[str], columns: dict[str, np.ndarray]):
        self._index = {name: k for k, name in enumerate(names)}
        self._columns = {}
        for label in ("blocks", "weights", "peaks"):
            counts = columns[f"{label}_counts"]
            values = columns[label]
            if len(counts) != len(names) or np.any(counts < 0) or int(counts.sum()) != len(values):
                raise ValueError("table columns do not add up")
            self._columns[label] = (values, np.concatenate([[0], np.cumsum(counts)]).tolist())

    def __getitem__(self, name: str) -> dict[str, np.ndarray]:
        k = self._index[name]
        return {label: values[starts[k]:starts[k + 1]] for label, (values, starts) in self._columns.items()}

    def __iter__(self):
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


def _read_table(path: Path, record: str) -> tuple[Mapping[str, dict[str, np.ndarray]], dict[str, Known], dict]:
    try:
        columns = _read(path, "table", _TABLE_FORMAT)
    except _UNREADABLE:
        columns = None
    if columns is None or str(columns.get("record")) != record:
        return {}, {}, {}
    try:
        table = _Measurements(_texts(columns["names"], len(columns["blocks_counts"])), columns)
        counts = columns["take_counts"]
        signatures = columns["take_signatures"]
        entries = _texts(columns["take_entries"], len(signatures))
        lengths = _cut(columns["take_lengths"].tolist(), counts, len(entries))
        digests = _cut(_texts(columns["take_digests"], int(counts.sum())), counts, len(entries))
        said = _words(columns, len(entries))
        takes = {entry: Known(tuple(signature), length, digest, spoken)
                 for entry, signature, length, digest, spoken in zip(entries, signatures.reshape(len(entries), 4).tolist(),
                                                                      lengths, digests, said)}
        layouts = {str(fmt): Layout.from_json(data) for fmt, data in json.loads(str(columns["layouts"])).items()}
    except (KeyError, ValueError, TypeError, AttributeError, UnicodeDecodeError):
        return {}, {}, {}
    return table, takes, layouts


def _words(columns: dict[str, np.ndarray], entries: int) -> list[tuple[tuple[Word, ...], ...]]:
    """Each entry's takes' word times, from the table's word columns; ValueError unless they add up."""
    per_entry, per_take = columns["word_takes"], columns["word_counts"]
    texts = json.loads(_texts(columns["word_texts"], 1)[0])
    starts, ends = columns["word_starts"].tolist(), columns["word_ends"].tolist()
    if (len(per_entry) != entries or np.any(per_entry < 0) or int(per_entry.sum()) != len(per_take)
            or np.any(per_take < 0) or not isinstance(texts, list) or not all(isinstance(t, str) for t in texts)
            or not len(texts) == len(starts) == len(ends) == int(per_take.sum())):
        raise ValueError("table columns do not add up")
    said, word, take = [], 0, 0
    for n in per_entry.tolist():
        entry = []
        for count in per_take[take:take + n].tolist():
            entry.append(tuple(Word(texts[k], starts[k], ends[k]) for k in range(word, word + count)))
            word += count
        said.append(tuple(entry))
        take += n
    return said


def _cut(values: list, counts: np.ndarray, expected: int) -> list[tuple]:
    """`values` cut into consecutive parts of `counts`; ValueError unless they add up."""
    if len(counts) != expected or np.any(counts < 0) or int(counts.sum()) != len(values):
        raise ValueError("table columns do not add up")
    starts = np.concatenate([[0], np.cumsum(counts)]).tolist()
    return [tuple(values[starts[k]:starts[k + 1]]) for k in range(expected)]


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


def _read(path: Path, name: str, expected_format: str = _FORMAT) -> dict[str, np.ndarray] | None:
    def read(member, names):
        if str(member("format")) != expected_format or str(member("name")) != name:
            return None
        return str(member("digest")), {label: member(label) for label in names if label not in ("format", "name", "digest")}

    found = read_archive(path, read)
    if found is None:
        return None
    digest, arrays = found
    if any(a.dtype.hasobject for a in arrays.values()) or _digest(arrays) != digest:
        return None
    return arrays
