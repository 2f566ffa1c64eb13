"""Property: whatever the input, the front end yields an AST or diagnostics — never an exception."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.diagnostics import CompileError
from compiler.parser import parse_source
from compiler.project import Project
from compiler.source import decode

FOUNTAIN_BITS = [
    "INT. HOUSE - DAY", "EXT. SEA #1A#", ".FORCED", "..dots", "ANNA", "ANNA (V.O.)", "BOB ^", "@McCoy", "(beat)",
    "Hello there.", "  ", "", "", "\t indented action", "CUT TO:", "> FADE OUT.", "> centered <", "~la la la",
    "[[note", "note]]", "[[pause 1.5s]]", "[[pause x]]", "[[sfx: ../../etc/passwd]]", "[[sfx: sounds/none.wav volume=loud]]",
    "[[music stop fade_out=2s]]", "/*", "*/", "# Act", "## Sequence", "= synopsis", "===", "Title: X", "    cont",
    "**bold *both* _under_**", "\\*escaped\\*", "*unclosed", "ÉMILIE", "日本語のせりふ", "MOM (O.S.) (CONT'D)", "!FORCED ACTION",
]
MARKDOWN_BITS = [
    "---", "title: Test", "cast:", "  ANNA: {voice: x}", "+++", 'title = "x"', "# Scene", "## Scene two", "ANNA: Hello.",
    "**BOB:** Hi.", "**BOB**: Hey", "(whispers) quietly", "*The door opens.*", "> A stage direction", "<!-- comment",
    "-->", "%% note %%", "[[pause 2s]]", "[[sfx: nowhere.wav]]", "Note: this is prose.", "MOM (O.S.): Dinner!", "",
    "  continued line", ": : :", "***", "- list item", "```", "|a|b|",
]


def _parse(text: str, fmt: str, tmp_path) -> None:
    try:
        source = decode(text.encode("utf-8", "surrogatepass"), "fuzz." + ("fountain" if fmt == "fountain" else "md"))
    except (CompileError, UnicodeEncodeError):
        return
    try:
        script, sink = parse_source(source, Project(tmp_path), fmt)
    except CompileError as exc:
        assert exc.diagnostics
        return
    assert script.format == fmt
    n_lines = text.count("\n") + text.count("\r") + 2
    for d in sink.items:
        assert 1 <= d.span.line <= n_lines and d.span.col >= 1, d
    script.to_json()


lines = lambda bits: st.lists(st.one_of(st.sampled_from(bits), st.text(max_size=30)), max_size=40).map("\n".join)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(text=st.one_of(st.text(max_size=400), lines(FOUNTAIN_BITS)))
def test_fountain_never_raises(text, tmp_path):
    _parse(text, "fountain", tmp_path)


@FAST
@given(text=st.one_of(st.text(max_size=400), lines(MARKDOWN_BITS)))
def test_markdown_never_raises(text, tmp_path):
    _parse(text, "markdown", tmp_path)


@FAST
@given(data=st.binary(max_size=300))
def test_random_bytes_decode_or_diagnose(data):
    try:
        decode(data, "x.fountain")
    except CompileError as exc:
        d = exc.diagnostics[0]
        assert d.span.line >= 1 and d.span.col >= 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_example_scripts_never_raise(data, tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "examples"
    for path, fmt in ((root / "night-ferry" / "night-ferry.fountain", "fountain"), (root / "lighthouse" / "lighthouse.md", "markdown")):
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        # Mutations: delete a slice, duplicate a slice, insert random characters.
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(text)))
            j = data.draw(st.integers(i, min(len(text), i + 200)))
            op = data.draw(st.sampled_from(["delete", "dup", "insert"]))
            if op == "delete":
                text = text[:i] + text[j:]
            elif op == "dup":
                text = text[:j] + text[i:j] + text[j:]
            else:
                text = text[:i] + data.draw(st.text(alphabet="[]*/_\\~>^@(): \n\t#=!.", max_size=8)) + text[i:]
        _parse(text, fmt, tmp_path)
