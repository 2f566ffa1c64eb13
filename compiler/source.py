"""Reading script files: bytes -> text with a line table, before any grammar sees them.

Decoding rules (documented in docs/formats.md): UTF-8 with or without a BOM; CRLF and lone CR become
LF; a NUL byte or invalid UTF-8 is a diagnostic with the position of the first bad byte, not a crash.
"""

from __future__ import annotations

import bisect
import re
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
    p = Path(path)
    name = str(path)
    try:
        size = p.stat().st_size
        if size > MAX_SOURCE_BYTES:
            raise CompileError(error(
                f"file is {size / 2**20:.0f} MiB; a script may be at most {MAX_SOURCE_BYTES // 2**20} MiB "
                "(a feature-length screenplay is about 0.2 MiB)", Span.point(name, 1, 1)))
        data = p.read_bytes()
    except IsADirectoryError:
        raise CompileError(error("is a directory, not a script file", Span.point(name, 1, 1))) from None
    except FileNotFoundError:
        raise CompileError(error("no such file", Span.point(name, 1, 1))) from None
    except PermissionError:
        raise CompileError(error("permission denied", Span.point(name, 1, 1))) from None
    except OSError as exc:
        raise CompileError(error(f"cannot read file: {exc.strerror or exc}", Span.point(name, 1, 1))) from None
    return decode(data, name)


def _byte_error(data: bytes, index: int, path: str, message: str):
    line = data.count(b"\n", 0, index) + 1
    line_start = data.rfind(b"\n", 0, index) + 1
    col = len(data[line_start:index].decode("utf-8", errors="replace")) + 1
    return error(message, Span(path, line, col, line, col + 1))
