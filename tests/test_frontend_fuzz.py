"""Hostile input through the whole command line: `check`, `ast --json`, `plan --json` and `cast` on
generated and mutated scripts of both formats (tests/fuzz_scripts.py holds the generators and the
oracle). Every run exits 0 or 1 with no traceback, every position it reports is a real place in the
file and is printed as written, and the time grows no faster than the file. benchmarks/fuzz.py runs
the same checks over ten thousand scripts and more."""

import shutil
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from compiler.diagnostics import CompileError
from compiler.source import decode
from tests import fuzz_scripts
from tests.fuzz_scripts import EXAMPLES, Run, check_script, problems, run_cli

# derandomize: CI draws the same scripts on every run, so a red build reproduces as it stands.
CI = settings(max_examples=100, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """A copy of each example project, so mutated scripts still find their sounds and settings."""
    root = tmp_path_factory.mktemp("fuzz")
    folders = {}
    for fmt, script in EXAMPLES.items():
        folders[fmt] = root / script.parent.name
        shutil.copytree(script.parent, folders[fmt], ignore=shutil.ignore_patterns(".dramac-cache"))
        check_script(folders[fmt], fmt, script.read_bytes())  # loads grammars and voices: slow once, not timed
        assert not check_script(folders[fmt], fmt, script.read_bytes())
    return folders


def _assert_clean(folder, fmt, data):
    found = check_script(folder, fmt, data)
    assert not found, (found, data)


@CI
@given(script=fuzz_scripts.generated())
def test_generated_scripts(projects, script):
    fmt, data = script
    _assert_clean(projects[fmt], fmt, data)


@CI
@given(script=fuzz_scripts.mutated())
def test_mutated_example_scripts(projects, script):
    fmt, data = script
    _assert_clean(projects[fmt], fmt, data)


# The crash, hang and position reproducers of issue 12, each through every command. Sizes are kept
# small so that a regression fails in seconds rather than minutes.
REPRODUCERS = {
    "markup alone": ("markdown", b"\\[/]"),
    "markup in a heading and a cue": ("fountain", b"INT. ROOM [/X] - DAY\n\nANNA [/X]\nHello.\n"),
    "markup in a Markdown cue": ("markdown", b"# Scene [/b]\n\n**ANNA [/i]:** Hello.\n"),
    "emoji code in a diagnostic": ("fountain", b"INT. A - DAY\n" + b"\n" * 98 + b"[[pause :100:]]\n"),
    "emoji code and markup in a cast warning": ("markdown", b"---\ncast:\n  ':100: [/x]': {voice: warm-female}\n---\n\nANNA: Hi.\n"),
    "self-referencing YAML alias": ("markdown", b"---\na: &a [*a]\n---\n\nANNA: Hi.\n"),
    "nested YAML aliases": ("markdown", b"---\n" + b"".join(
        b"l%d: &l%d [" % (i, i) + b",".join([b"*l%d" % (i - 1) if i else b"x"] * 9) + b"]\n" for i in range(9)) + b"---\n\nA: x\n"),
    "invalid UTF-8 after CR-only line ends": ("fountain", b"INT. A - DAY\r\rANNA\rCaf\xe9.\r"),
    "NUL after CR-only line ends": ("markdown", b"# A\r\rANNA: Hi.\r\rBOB: \x00\r"),
    "unclosed notes": ("markdown", b"ANNA: Hi.\n\n" + b"[[ note\n" * 400),
}


@pytest.mark.parametrize("name", sorted(REPRODUCERS))
def test_issue_reproducers(projects, name):
    fmt, data = REPRODUCERS[name]
    _assert_clean(projects[fmt], fmt, data)


def test_script_path_with_markup_and_emoji_codes(projects, tmp_path):
    folder = tmp_path / "[/x] :100:"
    folder.mkdir(parents=True)  # "[" / "x] :100:": the path as printed contains [/x]
    _assert_clean(folder, "fountain", b"INT. A - DAY\n\n[[pause x]]\n")


# --- the oracle itself must be able to fail --------------------------------------------------------


def _runs(check_err="", check_json='{"ok": true, "diagnostics": []}', code=0, seconds=0.01):
    return [Run(("check",), code, "", check_err, seconds), Run(("check", "--json"), code, check_json, "", seconds),
            Run(("ast", "--json"), code, "{}", "", seconds), Run(("plan", "--json"), code, '{"steps": []}', "", seconds),
            Run(("cast",), code, "", "", seconds)]


def _diag(line, col, message="bad", path="s.fountain"):
    return ('{"ok": false, "diagnostics": [{"severity": "error", "message": "%s", "file": "%s", '
            '"span": {"line": %d, "col": %d, "end_line": %d, "end_col": %d}, "notes": []}]}' % (message, path, line, col, line, col + 1))


@pytest.mark.parametrize("runs,data,needle", [
    (_runs(code=70), b"x\n", "exit 70"),
    (_runs(code="raised MarkupError: closing tag"), b"x\n", "raised MarkupError"),
    (_runs(check_err="Traceback (most recent call last):\n"), b"x\n", "traceback"),
    (_runs(seconds=30.0), b"x\n", "took"),
    (_runs(check_json=_diag(3, 1), check_err="s.fountain:3:1: error: bad\n"), b"x\n", "outside the file"),
    (_runs(check_json=_diag(1, 9), check_err="s.fountain:1:9: error: bad\n"), b"abc\n", "past the end"),
    (_runs(check_json=_diag(1, 1, "invalid UTF-8 (byte 0xe9)"), check_err="s.fountain:1:1: error: invalid UTF-8 (byte 0xe9)\n"),
     b"a\rb\r\xe9\r", "it is at [(3, 1)]"),
    (_runs(check_json=_diag(100, 1), check_err="s.fountain\U0001f4af1: error: bad\n"), b"\n" * 100, "does not print"),
    (_runs(check_json=_diag(1, 2), check_err="s.fountain:1:2: error: bad\n   1 | a [/x]\n     |  ^\n"), b"a [/x] b\n", "printed as"),
    (_runs(check_json=_diag(1, 2), check_err="s.fountain:1:2: error: bad\n   1 | abc\n     | ^\n"), b"abc\n", "caret"),
])
def test_the_oracle_flags_each_kind_of_failure(runs, data, needle):
    found = problems(fuzz_scripts.Path("s.fountain"), data, runs)
    assert any(needle in f for f in found), found


def test_a_clean_run_passes_the_oracle():
    runs = _runs(check_json=_diag(1, 2), check_err="s.fountain:1:2: error: bad\n   1 | abc\n     |  ^\n1 error\n", code=1)
    assert problems(fuzz_scripts.Path("s.fountain"), b"abc\n", runs) == []


# --- time grows with the size of the script, not with its square ----------------------------------

ADVERSARIAL = {
    "[[ on one line": lambda n: "[[" * (n // 2),
    "unclosed notes": lambda n: "[[ note\n" * (n // 8),
    "unclosed boneyards": lambda n: "/* x\n" * (n // 5),
    "emphasis markers": lambda n: "ANNA: " + "*_" * (n // 2) + "\n",
    "open parentheses": lambda n: "ANNA: " + "(" * n + "\n",
    "backslashes": lambda n: "\\" * n,
    "cue after cue": lambda n: "ANNA\n" * (n // 5),
    "markup brackets": lambda n: "[/x]" * (n // 4),
}


def _check_seconds(path, text):
    path.write_text(text, encoding="utf-8")
    best = float("inf")
    for _ in range(2):  # the best of two: the runner is shared
        code, _out, err, seconds = run_cli(["check", "--json", str(path)], timeout=20)
        assert code in (0, 1), (code, err[-500:])
        best = min(best, seconds)
    return best


@pytest.mark.parametrize("fmt", ["fountain", "markdown"])
@pytest.mark.parametrize("family", sorted(ADVERSARIAL))
def test_parse_time_is_linear_in_size(projects, tmp_path, fmt, family):
    """Four times the input may take at most eight times as long (quadratic parsing takes sixteen)."""
    path = tmp_path / ("a" + fuzz_scripts.SUFFIX[fmt])
    small = _check_seconds(path, ADVERSARIAL[family](8_000))
    large = _check_seconds(path, ADVERSARIAL[family](32_000))
    assert large <= 8 * small + 0.3, f"{family}: 8 KB in {small:.3f}s, 32 KB in {large:.3f}s"


# --- below the command line: the decoder alone ---------------------------------------------------


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(data=st.binary(max_size=300))
@example(data=b"a\rb\r\xe9")
@example(data=b"a\r\nb\r\x00")
def test_decode_errors_point_at_the_bad_byte(data):
    try:
        decode(data, "x.fountain")
    except CompileError as exc:
        d = exc.diagnostics[0]
        kind = "NUL" if "NUL" in d.message else "UTF-8"
        assert (d.span.line, d.span.col) in fuzz_scripts.bad_bytes(data)[kind], (d, data)
