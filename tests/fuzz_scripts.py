"""Hostile scripts and the checks every command must pass on them, shared by the CI fuzz test
(tests/test_frontend_fuzz.py) and the long fuzz run (benchmarks/fuzz.py).

Scripts come from two sources: grammar-aware generators for both formats (every Fountain and
Markdown construction, directives, front matter, odd Unicode, rich markup, emoji codes, all three
line endings, NUL bytes and invalid UTF-8), and byte-level mutations of the example scripts.

`run_cli` calls the real entry point, `compiler.cli.main`, in this process (a process per run would
cost 0.5 s of start-up each), with its output captured. `problems` is the oracle: it never looks at
what dramac thinks the script says; it checks the exit status, the absence of tracebacks, every
position against the bytes of the file, and the time against the size of the file.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import signal
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {
    "fountain": ROOT / "examples" / "night-ferry" / "night-ferry.fountain",
    "markdown": ROOT / "examples" / "lighthouse" / "lighthouse.md",
}
SUFFIX = {"fountain": ".fountain", "markdown": ".md"}

# The four commands of the issue; `check` runs twice, as people read it and as tools do, so the
# printed positions can be compared with the JSON ones.
COMMANDS = (("check",), ("check", "--json"), ("ast", "--json"), ("plan", "--json"), ("cast",))

# Per run: a script of a few KB parses in milliseconds; the bound allows a loaded 2-core runner.
BASE_SECONDS = 2.0
SECONDS_PER_KB = 0.05


# --- pieces of text ------------------------------------------------------------------------------

ODD = [
    "\u00a0", "\u200b", "\u200d", "\ufeff", "\u202e", "\u200f", "\u2028", "\u0085", "\x0b", "\x0c", "\t",
    "\U0001f3ad", "\U0001f600", "e\u0301", "\u0627\u0644\u0633\u0644\u0627\u0645", "\u65e5\u672c\u8a9e", "\u00c9MILIE",
    "[/x]", "[/]", "\\[/]", "[bold]", "[/bold]", "[red]x[/red]", "[link=x]", ":100:", ":smile:", ":1:2:",
    "\\", "\\*", "*", "**", "_", "~", "^", "@", "#", "=", ">", "<", "(", ")", "[[", "]]", "/*", "*/", "%%", "<!--", "-->",
    "&a", "*a", "{", "}", ":", "---", "+++", "$20", "9:45", "12km", "Dr.", "\ue000",
]
WORDS = ["the", "door", "opens", "Hello", "there", "we", "leave", "at", "dawn", "Wait!", "no,", "Captain.", "why?", "O'Brien"]
NAMES = ["ANNA", "BOB", "DR. SMITH", "MOM", "ÉMILIE", "O'NEIL", "R2-D2", "WILL", "HANNAH", "X"]
EXTENSIONS = ["", " (V.O.)", " (O.S.)", " (CONT'D)", " (on the radio)", " ^", " (", " ()", " (V.O.) ^"]
DIRECTIVES = [
    "[[pause]]", "[[pause 1.5s]]", "[[pause 500ms]]", "[[pause -1s]]", "[[pause x]]", "[[pause 1e309s]]",
    "[[sfx: sounds/horn.wav]]", "[[sfx: sounds/knock.wav volume=-3dB]]", "[[sfx: x.wav]]", "[[sfx: ../../etc/passwd]]",
    "[[sfx: /etc/hosts.wav]]", "[[sfx: sounds/[/x].wav]]", "[[sfx:]]", "[[music: sounds/horn.wav loop fade_in=2s]]",
    "[[music stop fade_out=2s]]", "[[music stop]]", "[[sfx: sounds/horn.wav volume=loud]]",
]

text_piece = st.one_of(st.sampled_from(WORDS), st.sampled_from(ODD), st.text(max_size=6))
words = st.lists(text_piece, min_size=0, max_size=8).map(" ".join)


@st.composite
def inline(draw) -> str:
    """A run of speech or action with emphasis, notes, boneyard and directives inside it."""
    parts = draw(st.lists(st.one_of(
        words,
        words.map(lambda w: f"*{w}*"), words.map(lambda w: f"**{w}**"), words.map(lambda w: f"_{w}_"),
        words.map(lambda w: f"[[{w}]]"), words.map(lambda w: f"[[{w}"), words.map(lambda w: f"/* {w} */"),
        st.sampled_from(DIRECTIVES),
    ), min_size=1, max_size=4))
    return " ".join(parts)


cue = st.builds(lambda at, name, ext, pad: at + name + ext + pad, st.sampled_from(["", "@"]),
                st.one_of(st.sampled_from(NAMES), st.text(alphabet="ABCXYZ .'-\u00a0\u200b", min_size=1, max_size=8)),
                st.sampled_from(EXTENSIONS), st.sampled_from(["", " ", "\u00a0", "\u3000", "\t"]))


@st.composite
def fountain_block(draw) -> str:
    kind = draw(st.sampled_from(["heading", "dialogue", "dialogue", "action", "transition", "misc", "note", "boneyard"]))
    if kind == "heading":
        prefix = draw(st.sampled_from(["INT. ", "EXT. ", "INT./EXT. ", "I/E ", "EST. ", ".", "int ", "INT "]))
        number = draw(st.sampled_from(["", " #1#", " #1A#", " #", " #[/x]#"]))
        return prefix + draw(words).upper() + draw(st.sampled_from(["", " - DAY", " - NIGHT"])) + number
    if kind == "dialogue":
        lines = [draw(cue)]
        for _ in range(draw(st.integers(1, 3))):
            lines.append(draw(st.one_of(inline(), words.map(lambda w: f"({w})"), st.sampled_from(DIRECTIVES))))
        return "\n".join(lines)
    if kind == "action":
        return "\n".join(draw(st.lists(st.one_of(inline(), inline().map(lambda t: "!" + t)), min_size=1, max_size=3)))
    if kind == "transition":
        return draw(st.sampled_from(["CUT TO:", "CUT TO:  ", "CUT TO:\t", "FADE OUT.", "> FADE OUT.", "> THE END <", "SMASH CUT TO:"]))
    if kind == "note":
        return "[[" + "\n".join(draw(st.lists(words, max_size=3))) + draw(st.sampled_from(["]]", ""]))
    if kind == "boneyard":
        return "/*\n" + "\n".join(draw(st.lists(st.one_of(words, cue), max_size=3))) + draw(st.sampled_from(["\n*/", ""]))
    pieces = ["===", "# " + draw(words), "## " + draw(words), "= " + draw(words), "~" + draw(words), "> " + draw(words) + " <"]
    return draw(st.sampled_from(pieces))


title_page = st.lists(st.builds(lambda k, v: f"{k}: {v}", st.sampled_from(["Title", "Credit", "Author", "Draft date", "Contact", "[/x]"]), words),
                      min_size=1, max_size=4).map(lambda fields: "\n".join(fields) + "\n    " + "continued")


@st.composite
def front_matter(draw) -> str:
    """YAML (or TOML) front matter, valid or not, with the settings a script may and may not carry."""
    yaml_lines = draw(st.lists(st.sampled_from([
        "title: The Test", "title: [unclosed", "author: '[/x] :100:'", "cast:", "  ANNA: {voice: warm-female}",
        "  BOB: {voice: nope}", "  X: 3", "narrator: {enabled: true}", "lexicon: {Nguyen: Win}", "stitch: {scene_gap: -1}",
        "master: {target_lufs: .nan}", "build: {jobs: 100000}", "build: {backend: dia2}", "dia2: {project_root: /}",
        "a: &a [1, 2]", "b: *a", "c: &c [*c]", "d: *undefined", "\t: tab", "key", "? complex", "- list",
        "x: !!python/object/apply:os.system ['true']", "y: !!binary AAAA",
    ]), max_size=6))
    if draw(st.booleans()):
        return "---\n" + "\n".join(yaml_lines) + draw(st.sampled_from(["\n---", "\n...", ""]))
    return "+++\n" + draw(st.sampled_from(['title = "x"', "title = [", "[cast.ANNA]\nvoice = 3"])) + "\n+++"


@st.composite
def markdown_block(draw) -> str:
    kind = draw(st.sampled_from(["heading", "speech", "speech", "speech", "action", "comment", "misc"]))
    if kind == "heading":
        return draw(st.sampled_from(["# ", "## ", "### ", "#"])) + draw(words)
    if kind == "speech":
        name = draw(cue)
        form = draw(st.sampled_from(["{n}: {t}", "**{n}:** {t}", "**{n}**: {t}", "{n}:{t}", "**{n}: {t}"]))
        paren = draw(st.sampled_from(["", "(beat) ", "(whispers) ", "(", "([/x]) "]))
        more = "\n".join(draw(st.lists(inline(), max_size=2)))
        return form.format(n=name, t=paren + draw(inline())) + ("\n" + more if more else "")
    if kind == "action":
        return draw(st.sampled_from(["*{}*", "> {}", "{}", "_{}_"])).format(draw(inline()))
    if kind == "comment":
        return draw(st.sampled_from(["<!-- {} -->", "<!-- {}", "%% {} %%", "%% {}", "[[{}]]", "[[{}"])).format(draw(words))
    return draw(st.sampled_from(["***", "---", "- item", "```", "|a|b|", "Note: prose", ": : :", "  continued"] + DIRECTIVES))


def _join(blocks: list[str], head: str | None) -> str:
    return "\n\n".join(([head] if head else []) + blocks) + "\n"


@st.composite
def encoded(draw, text: str) -> bytes:
    """The text as bytes: a chosen line ending, maybe a BOM, maybe a NUL or an invalid UTF-8 sequence."""
    ending = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    data = text.replace("\n", ending).encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        data = b"\xef\xbb\xbf" + data
    if draw(st.integers(0, 7)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x82", b"\xc0\xaf"])) + data[at:]
    return data


@st.composite
def generated(draw) -> tuple[str, bytes]:
    """(format, bytes) of a script written from the grammar of either front end."""
    fmt = draw(st.sampled_from(["fountain", "markdown"]))
    if fmt == "fountain":
        head = draw(st.one_of(st.none(), title_page))
        blocks = draw(st.lists(fountain_block(), max_size=12))
    else:
        head = draw(st.one_of(st.none(), front_matter()))
        blocks = draw(st.lists(markdown_block(), max_size=12))
    return fmt, draw(encoded(_join(blocks, head)))


TOKENS = [t.encode() for t in ODD + DIRECTIVES + ["\n", "\r", "\r\n", "\n\n", ": ", "INT. ", "ANNA\n", "**A:** "]] + [
    b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf0\x9f",
]


@st.composite
def mutated(draw) -> tuple[str, bytes]:
    """(format, bytes) of an example script after one to six byte-level edits."""
    fmt = draw(st.sampled_from(["fountain", "markdown"]))
    data = EXAMPLES[fmt].read_bytes()
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(data)))
        j = draw(st.integers(i, min(len(data), i + 200)))
        op = draw(st.sampled_from(["delete", "duplicate", "insert", "replace", "flip", "line ends"]))
        if op == "delete":
            data = data[:i] + data[j:]
        elif op == "duplicate":
            data = data[:j] + data[i:j] + data[j:]
        elif op == "insert":
            data = data[:i] + draw(st.sampled_from(TOKENS)) + data[i:]
        elif op == "replace":
            data = data[:i] + draw(st.sampled_from(TOKENS)) + data[j:]
        elif op == "flip" and i < len(data):
            data = data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1:]
        elif op == "line ends":
            data = data.replace(b"\n", draw(st.sampled_from([b"\r", b"\r\n"])))
    return fmt, data


scripts = st.one_of(generated(), mutated())


# --- running the CLI in this process ------------------------------------------------------------


class Hang(Exception):
    """Raised by the alarm when one run takes longer than its time bound."""


@dataclass
class Run:
    command: tuple[str, ...]
    code: int | str  # the exit status, or "raised X" when an exception escaped main()
    stdout: str
    stderr: str
    seconds: float


def _on_alarm(signum, frame):
    raise Hang()


def run_cli(args: list[str], timeout: float) -> tuple[int | str, str, str, float]:
    """`dramac ARGS` through compiler.cli.main, as the installed script runs it, with a time limit.

    An exception escaping main() (a traceback for the user) comes back as code "raised ..."."""
    from compiler import cli

    out, err = io.StringIO(), io.StringIO()
    saved_argv = sys.argv
    sys.argv = ["dramac", *args]
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    started = time.perf_counter()
    code: int | str = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Hang:
        code = "hang"
    except BaseException as exc:  # noqa: BLE001 - what escapes main() is exactly what we look for
        code = f"raised {type(exc).__name__}: {exc}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.argv = saved_argv
    return code, out.getvalue(), err.getvalue(), time.perf_counter() - started


def time_limit(size: int) -> float:
    return BASE_SECONDS + SECONDS_PER_KB * size / 1024


def run_all(path: Path, size: int) -> list[Run]:
    runs = []
    for command in COMMANDS:
        code, out, err, seconds = run_cli([command[0], str(path), *command[1:]], timeout=4 * time_limit(size) + 5)
        runs.append(Run(command, code, out, err, seconds))
    return runs


# --- the oracle ----------------------------------------------------------------------------------

_BREAK = re.compile(rb"\r\n|\r|\n")


def file_lines(data: bytes) -> list[str]:
    """The file's lines as any editor shows them: BOM dropped, CRLF, CR and LF all end a line."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return [part.decode("utf-8", "replace") for part in _BREAK.split(data)]


def byte_position(data: bytes, index: int) -> tuple[int, int]:
    """(line, column) of byte `index`, counted the way file_lines() splits the file."""
    if data.startswith(b"\xef\xbb\xbf"):
        data, index = data[3:], index - 3
    before = data[:index]
    line = 1 + len(_BREAK.findall(before))
    start = max(before.rfind(b"\n"), before.rfind(b"\r")) + 1
    return line, len(before[start:].decode("utf-8", "replace")) + 1


def bad_bytes(data: bytes) -> dict[str, set[tuple[int, int]]]:
    """Where a decoding diagnostic may point: every NUL byte, and the first invalid UTF-8 byte."""
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    offset = len(data) - len(body)
    places = {"NUL": {byte_position(data, offset + m.start()) for m in re.finditer(rb"\x00", body)}, "UTF-8": set()}
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        places["UTF-8"].add(byte_position(data, offset + exc.start))
    return places


_INVISIBLE = {"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"}


def _visible(text: str) -> str:
    """Text without control, format and unassigned characters, which a terminal library may drop or
    draw as symbols (U+2400 pictures, U+FFFD), harmlessly; everything else must print as written."""
    return "".join(c for c in text if unicodedata.category(c) not in _INVISIBLE and not "\u2400" <= c <= "\u243f" and c != "\ufffd")


def _position_problems(diag: dict, path: str, lines: list[str], bad: dict) -> list[str]:
    span, where = diag["span"], f"{diag['span']['line']}:{diag['span']['col']}"
    if diag["file"] != path:
        return []  # a diagnostic in dramac.toml; the fuzz never writes that file
    problems = []
    # file_lines() ends with the empty line after a final newline, where an "unexpected end" points.
    if not (1 <= span["line"] <= len(lines)) or span["col"] < 1:
        problems.append(f"position {where} outside the file ({len(lines)} lines): {diag['message']}")
    elif span["col"] > len(lines[span["line"] - 1]) + 1:
        problems.append(f"column {where} past the end of line {span['line']} ({len(lines[span['line'] - 1])} chars): {diag['message']}")
    for kind, marker in (("NUL", "NUL byte"), ("UTF-8", "invalid UTF-8")):
        if marker in diag["message"] and (span["line"], span["col"]) not in bad[kind]:
            problems.append(f"{marker} reported at {where}, but it is at {sorted(bad[kind])}")
    return problems


_GUTTER = re.compile(r"^ *\d+ \| ")


def _printed_problems(diags: list[dict], path: str, lines: list[str], stderr: str, decodable: bool) -> list[str]:
    """Each diagnostic as printed: its head line verbatim, then the source line and a caret under its column."""
    printed = stderr.split("\n")
    problems = []
    for diag in diags:
        span = diag["span"]
        head = f"{diag['file']}:{span['line']}:{span['col']}: {diag['severity']}: {diag['message']}"
        # Tabs may come out as spaces (the terminal library expands them): compare without either.
        wanted = re.sub(r"[ \t]", "", _visible(head.replace("\t", " ")))
        at = next((i for i, text in enumerate(printed) if re.sub(r"[ \t]", "", _visible(text)).startswith(wanted)), None)
        if at is None:
            problems.append(f"`check` does not print the diagnostic as {head!r}")
            continue
        if diag["file"] != path or not 1 <= span["line"] <= len(lines):
            continue
        source, caret = (printed[at + 1: at + 3] + ["", ""])[:2]
        if not _GUTTER.match(source):
            if decodable:  # an undecodable file may be shown without its lines
                problems.append(f"no source line printed under {head!r}")
            continue
        written = lines[span["line"] - 1].replace("\t", " ")
        if _visible(source.partition(" | ")[2]) != _visible(written):
            problems.append(f"line {span['line']} printed as {source!r}, written {written!r}")
        if caret.partition("| ")[2].find("^") != span["col"] - 1:
            problems.append(f"caret for {span['line']}:{span['col']} printed at {caret!r}")
    return problems


def _span_lines(node, found: list[int]) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("span"), dict) and "line" in node["span"]:
            found += [node["span"]["line"], node["span"]["end_line"]]
        for value in node.values():
            _span_lines(value, found)
    elif isinstance(node, list):
        for value in node:
            _span_lines(value, found)


def problems(path: Path, data: bytes, runs: list[Run]) -> list[str]:
    """Everything wrong with the runs of every command on one script; empty when all is well."""
    lines, bad, found = file_lines(data), bad_bytes(data), []
    by_command = {r.command: r for r in runs}
    for r in runs:
        name = " ".join(r.command)
        if r.code not in (0, 1):
            last = (r.stderr.strip().splitlines() or [""])[-1]
            found.append(f"{name}: exit {r.code}: {last}")
        if "Traceback (most recent call last)" in r.stdout + r.stderr:
            found.append(f"{name}: traceback printed")
        if r.seconds > time_limit(len(data)):
            found.append(f"{name}: took {r.seconds:.2f}s for {len(data)} bytes")
    check_json = by_command[("check", "--json")]
    if check_json.code in (0, 1):
        try:
            diags = json.loads(check_json.stdout)["diagnostics"]
        except (ValueError, KeyError, TypeError):
            return found + ["check --json: stdout is not the JSON report"]
        for diag in diags:
            found += _position_problems(diag, str(path), lines, bad)
        if by_command[("check",)].code in (0, 1):
            decodable = not (bad["NUL"] or bad["UTF-8"])
            found += _printed_problems(diags, str(path), lines, by_command[("check",)].stderr, decodable)
    for command in (("ast", "--json"), ("plan", "--json")):
        r = by_command[command]
        if r.code == 0:
            try:
                tree = json.loads(r.stdout)
            except ValueError:
                found.append(f"{' '.join(command)}: exit 0 but stdout is not JSON")
                continue
            at = []
            _span_lines(tree, at)
            if command[0] == "plan":
                at += [s.get("first_line") or s.get("line") or 1 for s in tree["steps"]]
            outside = [n for n in at if not 1 <= n <= len(lines)]
            if outside:
                found.append(f"{' '.join(command)}: line numbers outside the file: {outside[:5]}")
    return found


def check_script(folder: Path, fmt: str, data: bytes) -> list[str]:
    """Write `data` as a script in `folder` (a copy of an example project) and run every command on it."""
    path = folder / ("fuzz" + SUFFIX[fmt])
    path.write_bytes(data)
    return problems(path, data, run_all(path, len(data)))
