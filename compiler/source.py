"""Reading script files: bytes -> text with a line table, before any grammar sees them.

Decoding rules (documented in docs/formats.md): UTF-8 with or without a BOM; CRLF and lone CR become
LF; a NUL byte or invalid UTF-8 is a diagnostic with the position of the first bad byte, not a crash.
"""

from __future__ import annotations

import bisect
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from compiler.diagnostics import CompileError, Span, error

# A feature-length screenplay is about 200 KB. Past 16 MiB (80 features) a file is almost certainly
# not a script (a log, a video renamed), and parsing it would take minutes and gigabytes: refuse it
# up front with a diagnostic instead.
MAX_SOURCE_BYTES = 16 * 1024 * 1024
_NEWLINE = re.compile("\n")


@dataclass(frozen=True)
class Source:
    path: str  # as given by the user, used in diagnostics
    text: str  # decoded, BOM stripped, newlines normalised to \n

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")



class LineTable:
    """Offsets in a text → 1-based (line, column) by binary search over line starts.

    `line`/`col` say where the text begins in its file, so a piece cut out of a line (a directive's
    body inside `[[ ]]`) maps back to the file's own positions."""

    def __init__(self, path: str, text: str, line: int = 1, col: int = 1):
        self.path, self.line, self.col = path, line, col
        self.starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]

    def position(self, offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.starts, offset)
        return self.line + i - 1, offset - self.starts[i - 1] + (self.col if i == 1 else 1)

    def span(self, start: int, end: int) -> Span:
        line, col = self.position(start)
        end_line, end_col = self.position(max(end, start))
        return Span(self.path, line, col, end_line, end_col)


class NextMarker:
    """Where `marker` next occurs at or after a position that only moves forward (len(text) when it
    does not). The answer is kept until the position passes it, so a file full of openers without
    closers is scanned once per marker, not once per opener (`text.find` from every opener is
    quadratic). Shared by the front ends' boneyard, note and comment scans."""

    def __init__(self, text: str, marker: str):
        self.text, self.marker, self.found = text, marker, -1

    def at(self, offset: int) -> int:
        if self.found < offset and self.found != len(self.text):
            found = self.text.find(self.marker, offset)
            self.found = len(self.text) if found == -1 else found
        return self.found


def decode(data: bytes, path: str) -> Source:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul != -1:
        raise CompileError(_byte_error(data, nul, path, "file is binary (contains a NUL byte), not a script"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CompileError(
            _byte_error(data, exc.start, path, f"invalid UTF-8 (byte 0x{data[exc.start]:02x}); save the script as UTF-8")
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return Source(path, text)


def read_source(path: str | Path) -> Source:
    return decode(read_regular_file(path, MAX_SOURCE_BYTES, "script file", "a feature-length screenplay is about 0.2 MiB"), str(path))


def read_regular_file(path: str | Path, limit: int, what: str, size_note: str = "") -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or CompileError at `path`:1:1.

    Opened without blocking and checked on the open descriptor, so a FIFO (which would wait forever
    for a writer) or a device behind a symlink (/dev/zero, read until memory runs out) is refused,
    and a file that grows after the check is still read only to `limit` + 1 bytes: the size in the
    file system is not trusted."""
    name = str(path)
    at = Span.point(name, 1, 1)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise CompileError(error("no such file", at)) from None
    except PermissionError:
        raise CompileError(error("permission denied", at)) from None
    except IsADirectoryError:
        raise CompileError(error(f"is a directory, not a {what}", at)) from None
    except OSError as exc:
        raise CompileError(error(f"cannot read file: {exc.strerror or exc}", at)) from None
    try:
        kind = _file_kind(os.fstat(fd).st_mode)
        if kind == "a directory":
            raise CompileError(error(f"is a directory, not a {what}", at))
        if kind:
            raise CompileError(error(f"is {kind}, not a regular file; a {what} must be an ordinary file on disk", at))
        with open(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise CompileError(error(f"cannot read file: {exc.strerror or exc}", at)) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        notes = (size_note,) if size_note else ()
        raise CompileError(error(f"file is larger than {_size(limit)}; a {what} may be at most {_size(limit)}", at, *notes))
    return data


def _file_kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words; None for a regular file."""
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    if stat.S_ISREG(mode):
        return None
    return next((words for test, words in kinds if test(mode)), "a special file")


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 else f"{n // 2**10} KiB"


def _byte_error(data: bytes, index: int, path: str, message: str):
    """A diagnostic at byte `index`, counting lines as `decode` does: CRLF, lone CR and LF each
    end one line (a file saved with CR-only line ends is not one long line 1)."""
    before = data[:index]
    line = before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1
    line_start = max(before.rfind(b"\n"), before.rfind(b"\r")) + 1
    col = len(before[line_start:].decode("utf-8", errors="replace")) + 1
    return error(message, Span(path, line, col, line, col + 1))
