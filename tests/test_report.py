"""Printing user text: whatever a script, a file name or a message holds is printed as written
(control characters made visible), by the same code the CLI uses."""

import io

from hypothesis import given, settings, strategies as st
from rich.console import Console

from compiler.diagnostics import Span, error
from compiler.report import LiteralConsole, print_diagnostics, styled, visible

# Everything but tab and newline, which rich and the caret line treat as layout.
USER_TEXT = st.text(st.characters(blacklist_characters="\t\n", blacklist_categories=("Cs",)), max_size=60)
MARKUPISH = st.lists(st.sampled_from(["[/]", "[/X]", "[bold]", ":100:", ":smile:", "\\[", "\x1b[2J", "\x07", "\x9b", "é", "語"]),
                     max_size=8).map("".join)


def printed(diag, lines) -> list[str]:
    """Through a stock rich console, as a caller might pass: the diagnostic must not rely on the
    console's defaults to stay literal."""
    screen = io.StringIO()
    print_diagnostics([diag], {diag.span.file: lines}, Console(file=screen, width=80))
    return screen.getvalue().splitlines()


@settings(max_examples=300, deadline=None)
@given(message=st.one_of(USER_TEXT, MARKUPISH), source=st.one_of(USER_TEXT, MARKUPISH), name=st.one_of(USER_TEXT, MARKUPISH))
def test_diagnostics_print_user_text_exactly(message, source, name):
    file = f"{name}.fountain"
    col = len(source) // 2 + 1
    out = printed(error(message, Span(file, 100, col, 100, col + 1)), ["x"] * 99 + [source])
    assert out[0] == visible(f"{file}:100:{col}: error: {message}")
    assert out[1] == " 100 | " + visible(source)
    assert out[2].index("^") == len(" 100 | ") + col - 1


def test_visible_keeps_width_and_hides_controls():
    shown = visible("a\x1b[2J\x07\x7f\x9b\udcffb\tc\n")
    assert shown == "a␛[2J␇␡\ufffd\ufffdb\tc\n"
    assert len(shown) == len("a\x1b[2J\x07\x7f\x9b\udcffb\tc\n")


def test_styled_pieces_are_never_parsed():
    screen = io.StringIO()
    LiteralConsole(file=screen).print(styled(("[bold red]x[/]", "bold"), " :100: ", "[/]"))
    assert screen.getvalue() == "[bold red]x[/] :100: [/]\n"
