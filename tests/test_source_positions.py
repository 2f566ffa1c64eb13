"""Where decode() reports a NUL byte or invalid UTF-8: the line and column the parser would give
that character, whatever the line ends (LF, CRLF, or CR alone, as old Mac editors save)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.diagnostics import CompileError
from compiler.source import decode


def _reported(data: bytes) -> tuple[int, int]:
    with pytest.raises(CompileError) as info:
        decode(data, "t.fountain")
    span = info.value.diagnostics[0].span
    return span.line, span.col


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("bad", [b"\x00", b"\xff", b"\xc3("])
def test_bad_byte_on_line_three_col_four(end, bad):
    data = b"INT. A" + end + b"caf\xc3\xa9" + end + b"abc" + bad + b"def" + end
    assert _reported(data) == (3, 4)


def test_bom_and_mixed_line_ends():
    assert _reported(b"\xef\xbb\xbf# \r\x00\n") == (2, 1)
    assert _reported(b"a\n\rb\xff") == (3, 2)
    assert _reported(b"a\r\n\r\n\rxy\x00") == (4, 3)


_LINE = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=8)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_LINE, min_size=1, max_size=8), ends=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=8,
       max_size=8), row=st.integers(0, 7), col=st.integers(0, 8), bad=st.sampled_from([b"\x00", b"\xff", b"\xed\xa0\x80"]))
def test_position_matches_the_decoded_text(lines, ends, row, col, bad):
    row = min(row, len(lines) - 1)
    col = min(col, len(lines[row]))
    head = "".join(line + ends[k] for k, line in enumerate(lines[:row])) + lines[row][:col]
    data = head.encode() + bad + (lines[row][col:] + "\n").encode()
    # What the parser counts for the good text before the bad byte: lines and columns after decoding.
    good = decode(head.encode(), "t.fountain").text
    assert _reported(data) == (good.count("\n") + 1, len(good) - (good.rfind("\n") + 1) + 1)
