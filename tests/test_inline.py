from compiler.inline import Run, parse_inline, plain_text


def test_markers_are_removed():
    assert plain_text("*italic*") == "italic"
    assert plain_text("**bold**") == "bold"
    assert plain_text("***bold italic***") == "bold italic"
    assert plain_text("_underline_") == "underline"
    assert plain_text("He was *really* **very** _angry_.") == "He was really very angry."


def test_nested_and_combined():
    assert plain_text("**bold *and italic* bold**") == "bold and italic bold"
    assert plain_text("_**BRICK & STEEL**_") == "BRICK & STEEL"


def test_unpaired_markers_stay():
    assert plain_text("a * b * c") == "a * b * c"
    assert plain_text("*unclosed") == "*unclosed"
    assert plain_text("5 * 3") == "5 * 3"
    assert plain_text("***a*") == "**a"


def test_underscores_inside_words_stay():
    assert plain_text("snake_case_name") == "snake_case_name"
    assert plain_text("file_name and _this_") == "file_name and this"


def test_escapes():
    assert plain_text(r"\*not italic\*") == "*not italic*"
    assert plain_text(r"\_kept\_") == "_kept_"
    assert plain_text("a \\\\ b") == "a \\ b"
    # A backslash before anything but punctuation is an ordinary character.
    assert plain_text(r"C:\path") == r"C:\path"
    assert plain_text("end\\") == "end\\"


def test_emphasis_does_not_cross_lines():
    assert plain_text("*one\ntwo*") == "*one\ntwo*"
    assert plain_text("*one*\n*two*") == "one\ntwo"


def test_text_without_markers_is_returned_unchanged():
    text = "Plain speech, nothing to do: 9:45, $20."
    assert plain_text(text) is text


def test_runs_carry_styles():
    runs = parse_inline("a **b *c*** _d_")
    assert runs == [
        Run("a "),
        Run("b ", bold=True),
        Run("c", bold=True, italic=True),
        Run(" "),
        Run("d", underline=True),
    ]


def test_runs_and_plain_text_agree():
    for raw in ["*x*", "**x** y", "***x*", "_a_b", "\\**x**", "*a\nb*", "**a *b* c**"]:
        assert "".join(r.text for r in parse_inline(raw)) == plain_text(raw)


def test_openers_of_one_marker_and_closers_of_the_other_take_linear_time():
    # A closer used to walk past every open run of the other character: quadratic in the line.
    from tests.timing import assert_linear

    def make(n: int) -> str:
        return " *a" * (n // 6) + " a_" * (n // 6)

    assert plain_text(make(48_000)) == make(48_000)
    assert_linear(plain_text, make, small_bytes=48_000, factor=8, limit_s=2.0)
