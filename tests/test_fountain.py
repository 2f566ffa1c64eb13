"""The Fountain 1.1 front end: every element, its span, the choices documented in docs/fountain.md."""

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import nodes
from compiler.diagnostics import Sink, Span
from compiler.fountain import _parser, parse_fountain
from compiler.project import Project
from compiler.source import decode


def parse(text: str, tmp_path, data: bytes | None = None):
    sink = Sink()
    source = decode(data if data is not None else text.encode(), "t.fountain")
    return parse_fountain(source, Project(tmp_path), sink), sink


def body(script):
    return [el for scene in script.scenes for el in scene.body]


def only(script, cls):
    return [el for el in body(script) if isinstance(el, cls)]


def pos(span: Span):
    return (span.line, span.col, span.end_line, span.end_col)


def warnings(sink):
    return [d for d in sink.items if d.severity.value == "warning"]


# ---- title page ---------------------------------------------------------------------------------


def test_title_page_with_continuation_lines(tmp_path):
    script, sink = parse(
        "Title: _**BRICK & STEEL**_\nCredit: Written by\nAuthor: Stu Maschwitz\n"
        "Contact:\n    Next Level Productions\n    1588 Mission Dr.\n\nINT. HOUSE - DAY\n",
        tmp_path,
    )
    tp = script.title_page
    assert [f.key for f in tp.fields] == ["Title", "Credit", "Author", "Contact"]
    assert tp.get("title") == "BRICK & STEEL"
    assert tp.get("Contact") == "Next Level Productions\n1588 Mission Dr."
    assert pos(tp.fields[3].span) == (4, 1, 6, 21)
    assert pos(tp.span) == (1, 1, 6, 21)
    assert script.scenes[0].heading.text == "INT. HOUSE - DAY"
    assert not sink.items


def test_title_page_ends_at_first_blank_line(tmp_path):
    script, _ = parse("Title: One\n\nDraft date: not a key here\n", tmp_path)
    assert [f.key for f in script.title_page.fields] == ["Title"]
    assert [a.text for a in only(script, nodes.Action)] == ["Draft date: not a key here"]


def test_no_title_page_unless_the_file_starts_with_a_key(tmp_path):
    script, _ = parse("\nTitle: late\n", tmp_path)
    assert script.title_page is None
    script, _ = parse("FADE IN:\n\nINT. HOUSE - DAY\n", tmp_path)
    assert script.title_page is None
    assert only(script, nodes.Action)[0].text == "FADE IN:"


def test_title_page_continuation_needs_three_spaces_or_a_tab(tmp_path):
    # The spec: "Indenting is 3 or more spaces, or a tab."
    script, sink = parse("Title: X\n  two\n   three\n\tfour\n \tfive\n", tmp_path)
    assert script.title_page.get("Title") == "X\ntwo\nthree\nfour\nfive"
    assert [(d.span.line, d.span.col) for d in warnings(sink)] == [(2, 3)]


def test_unindented_line_in_title_page_warns(tmp_path):
    script, sink = parse("Title: X\nINT. HOUSE - DAY\n", tmp_path)
    assert script.title_page.get("Title") == "X\nINT. HOUSE - DAY"
    assert [d.span.line for d in warnings(sink)] == [2]


# ---- scene headings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    ["INT. HOUSE - DAY", "EXT. PARK", "est. city", "INT./EXT. CAR", "INT/EXT CAR", "I/E CAR", "int house", "Ext. beach"],
)
def test_scene_heading_prefixes(line, tmp_path):
    script, _ = parse(f"Some action.\n\n{line}\n\nMore.\n", tmp_path)
    assert [s.heading.text if s.heading else None for s in script.scenes] == [None, line]


@pytest.mark.parametrize("line", ["INTERIOR OF A HOUSE", "EXTRA! EXTRA!", "Estimates differ."])
def test_not_scene_headings(line, tmp_path):
    script, _ = parse(f"\n{line}\n", tmp_path)
    assert script.scenes[0].heading is None


def test_scene_heading_span_and_number(tmp_path):
    script, _ = parse("\n  INT. HOUSE - DAY #1A#\n\nAction.\n", tmp_path)
    h = script.scenes[0].heading
    assert (h.text, h.scene_number, h.forced) == ("INT. HOUSE - DAY", "1A", False)
    assert pos(h.span) == (2, 3, 2, 24)
    assert pos(script.scenes[0].span) == (2, 3, 4, 8)


def test_forced_scene_heading(tmp_path):
    script, _ = parse(".BINOCULARS #I-1-A#\n\n..not a heading\n", tmp_path)
    h = script.scenes[0].heading
    assert (h.text, h.scene_number, h.forced) == ("BINOCULARS", "I-1-A", True)
    assert [a.text for a in script.scenes[0].body] == ["..not a heading"]


def test_heading_needs_a_blank_line_after(tmp_path):
    # The spec: "A Scene Heading is any line that has a blank line following it".
    script, sink = parse("\nint. house\nHe waits.\n", tmp_path)
    assert script.scenes[0].heading is None
    assert [a.text for a in only(script, nodes.Action)] == ["int. house\nHe waits."]
    # A heading forced with "." is the writer's explicit word: the line under it is action.
    script, sink = parse("\n.FLASHBACK\nShe remembers.\n", tmp_path)
    assert script.scenes[0].heading.text == "FLASHBACK"
    assert [a.text for a in only(script, nodes.Action)] == ["She remembers."]
    # An all-caps heading without the empty line is a character cue, by the spec's own rule: say so.
    script, sink = parse("\nINT. HOUSE - DAY\nJohn enters.\n", tmp_path)
    [d] = only(script, nodes.Dialogue)
    assert d.character == "INT. HOUSE - DAY" and script.scenes[0].heading is None
    [w] = warnings(sink)
    assert "not a scene heading" in w.message and pos(w.span) == (2, 1, 2, 17)


def test_heading_then_note_line_then_blank_is_a_heading(tmp_path):
    script, _ = parse("\nINT. HOUSE\n[[night]]\n\nJohn.\n", tmp_path)
    assert script.scenes[0].heading.text == "INT. HOUSE"
    assert [type(e).__name__ for e in script.scenes[0].body] == ["Note", "Action"]


def test_forced_heading_needs_a_letter_or_digit_after_the_dot(tmp_path):
    # The spec: "only a single leading period followed by an alphanumeric character will force a Scene Heading".
    script, _ = parse("\n.(beat)\n\n.\"Quote\"\n\n.2ND UNIT\n\n.Über\n", tmp_path)
    assert [s.heading.text for s in script.scenes if s.heading] == ["2ND UNIT", "Über"]
    assert [a.text for a in only(script, nodes.Action)] == [".(beat)", '."Quote"']


def test_heading_needs_a_blank_line_before(tmp_path):
    script, _ = parse("He says\nINT. HOUSE\n", tmp_path)
    assert script.scenes[0].heading is None
    assert only(script, nodes.Action)[0].text == "He says\nINT. HOUSE"


def test_elements_before_the_first_heading(tmp_path):
    script, _ = parse("INT. A\n\nAction.\n", tmp_path)
    assert len(script.scenes) == 1  # no empty heading-less scene
    script, _ = parse("# Act\n\nINT. A\n", tmp_path)
    assert script.scenes[0].heading is None
    assert isinstance(script.scenes[0].body[0], nodes.Section)


# ---- action -------------------------------------------------------------------------------------


def test_action_keeps_indentation_and_line_breaks(tmp_path):
    script, _ = parse("INT. A\n\nHe opens the door.\n\tThe room is dark.\n    Very dark.\n", tmp_path)
    [a] = only(script, nodes.Action)
    # The spec: "Tabs are converted to four spaces"; raw keeps what was written.
    assert a.text == "He opens the door.\n    The room is dark.\n    Very dark."
    assert a.raw == "He opens the door.\n\tThe room is dark.\n    Very dark."
    assert pos(a.span) == (3, 1, 5, 15)
    assert not a.forced


def test_forced_action(tmp_path):
    script, _ = parse("\n!SCANNING THE AISLES...\nmore\n", tmp_path)
    [a] = only(script, nodes.Action)
    assert (a.text, a.forced) == ("SCANNING THE AISLES...\nmore", True)
    assert not only(script, nodes.Dialogue)


def test_action_emphasis_resolved_and_raw_kept(tmp_path):
    script, _ = parse("\nShe *really* \\*means\\* it.\n", tmp_path)
    [a] = only(script, nodes.Action)
    assert a.text == "She really *means* it."
    assert a.raw == "She *really* \\*means\\* it."


# ---- dialogue -----------------------------------------------------------------------------------


def test_dialogue_with_parentheticals_and_spans(tmp_path):
    script, _ = parse("INT. A\n\nSTEEL\n(beat)\nWhat is *that*?\n(quietly)\nNothing.\n", tmp_path)
    [d] = only(script, nodes.Dialogue)
    assert (d.character, d.extension, d.cue) == ("STEEL", None, "STEEL")
    assert d.text == "What is that? Nothing."
    assert [type(p).__name__ for p in d.parts] == ["Parenthetical", "Speech", "Parenthetical", "Speech"]
    assert [p.text for p in d.parentheticals] == ["(beat)", "(quietly)"]
    assert d.parentheticals == [d.parts[0], d.parts[2]]
    assert d.parts[1].raw == "What is *that*?"
    assert pos(d.cue_span) == (3, 1, 3, 6)
    assert pos(d.parts[0].span) == (4, 1, 4, 7)
    assert pos(d.parts[1].span) == (5, 1, 5, 16)
    assert pos(d.span) == (3, 1, 7, 9)


def test_speech_line_breaks_and_two_space_blank_line(tmp_path):
    script, _ = parse("\nDEALER\nTen.\nFour.\n  \nDealer gets a seven.\n", tmp_path)
    [d] = only(script, nodes.Dialogue)
    assert d.text == "Ten.\nFour.\n\nDealer gets a seven."
    assert len(d.parts) == 1


def test_blank_line_ends_dialogue(tmp_path):
    script, _ = parse("\nDEALER\nTen.\n\nFour.\n", tmp_path)
    assert only(script, nodes.Dialogue)[0].text == "Ten."
    assert only(script, nodes.Action)[0].text == "Four."


def test_cue_needs_blank_line_before_and_text_after(tmp_path):
    script, _ = parse("The sign reads\nOPEN\nall night.\n\nEND\n", tmp_path)
    assert not only(script, nodes.Dialogue)
    assert [a.text for a in only(script, nodes.Action)] == ["The sign reads\nOPEN\nall night.", "END"]


def test_cue_needs_a_letter(tmp_path):
    script, _ = parse("\n1984\nwas a year.\n", tmp_path)
    assert not only(script, nodes.Dialogue)


@pytest.mark.parametrize(
    "cue, character, extension",
    [
        ("HANNAH (V.O.)", "HANNAH", "V.O."),
        ("HANNAH (o.s.)", "HANNAH", "o.s."),
        ("HANNAH (on the radio)", "HANNAH", "on the radio"),
        ("HANNAH (CONT'D)", "HANNAH", None),
        ("HANNAH (cont’d)", "HANNAH", None),
        ("HANNAH (V.O.) (CONT'D)", "HANNAH", "V.O."),
        ("HANNAH (V.O.) (filtered)", "HANNAH", "V.O., filtered"),
        ("DR. O'NEIL", "DR. O'NEIL", None),
        ("@McCLANE", "McCLANE", None),
        ("@McCLANE (V.O.)", "McCLANE", "V.O."),
        ("  ÉMILIE  ", "ÉMILIE", None),
    ],
)
def test_cue_extensions(cue, character, extension, tmp_path):
    script, _ = parse(f"\n{cue}\nHello.\n", tmp_path)
    [d] = only(script, nodes.Dialogue)
    assert (d.character, d.extension, d.cue) == (character, extension, cue.strip())


def test_mixed_case_is_not_a_cue_unless_forced(tmp_path):
    script, _ = parse("\nMcCLANE\nYippee.\n", tmp_path)
    assert not only(script, nodes.Dialogue)


def test_dual_dialogue(tmp_path):
    script, sink = parse("\nBRICK\nScrew retirement.\n\nSTEEL ^\nScrew retirement.\n\nBRICK\nSolo.\n", tmp_path)
    d = only(script, nodes.Dialogue)
    assert [(x.character, x.dual) for x in d] == [("BRICK", True), ("STEEL", True), ("BRICK", False)]
    assert d[1].cue == "STEEL ^"
    assert not sink.items


def test_dual_marker_without_partner_warns(tmp_path):
    script, sink = parse("\nThe door.\n\nSTEEL ^\nAlone.\n", tmp_path)
    assert only(script, nodes.Dialogue)[0].dual is False
    assert [d.span.line for d in warnings(sink)] == [4]


def test_lyrics_in_dialogue(tmp_path):
    script, _ = parse("\nWILLY\n~Come with me\n~and you'll be\n", tmp_path)
    [d] = only(script, nodes.Dialogue)
    assert d.lyric and d.text == "Come with me\nand you'll be"


def test_cue_with_only_a_parenthetical_warns(tmp_path):
    script, sink = parse("\nHANNAH\n(sighs)\n", tmp_path)
    [d] = only(script, nodes.Dialogue)
    assert d.text == "" and [p.text for p in d.parts] == ["(sighs)"]
    [w] = warnings(sink)
    assert "has no dialogue" in w.message and pos(w.span) == (2, 1, 2, 7)


def test_cue_names_are_trimmed_of_all_unicode_white_space(tmp_path):
    # A cue followed by a no-break space (seen in a published screenplay) was a second character.
    text = "\nWILL\u00a0\nHi.\n\n\u2003WILL\u200b\nHo.\n\nWILL\u00a0(V.O.)\u00a0^\u00a0\nHa.\n\nDR.\u00a0 AMES\nHm.\n"
    script, sink = parse(text, tmp_path)
    ds = only(script, nodes.Dialogue)
    assert [d.character for d in ds] == ["WILL", "WILL", "WILL", "DR. AMES"]
    assert [d.cue for d in ds[:2]] == ["WILL", "WILL"] and pos(ds[1].cue_span) == (5, 2, 5, 6)
    assert (ds[2].extension, ds[2].dual, ds[1].dual) == ("V.O.", True, True)
    assert not sink.items


# ---- other elements -----------------------------------------------------------------------------


def test_transitions(tmp_path):
    script, _ = parse("\nCUT TO:\n\n> Burn to white.\n\nSMASH CUT TO:\nstill talking\n", tmp_path)
    t = only(script, nodes.Transition)
    assert [(x.text, x.forced) for x in t] == [("CUT TO:", False), ("Burn to white.", True)]
    assert pos(t[1].span) == (4, 1, 4, 17)
    # With text right after it, an all-caps line is a cue, not a transition.
    assert only(script, nodes.Dialogue)[0].character == "SMASH CUT TO:"


def test_spaces_after_to_colon_make_action(tmp_path):
    # The spec: "Add one or more spaces after the colon to cause the line to be interpreted as Action".
    script, _ = parse("\nCUT TO: \n\nDISSOLVE TO:\t\n\nX\n", tmp_path)
    assert not only(script, nodes.Transition)
    assert [a.text for a in only(script, nodes.Action)] == ["CUT TO:", "DISSOLVE TO:", "X"]


def test_centered_lyrics_sections_synopses_page_breaks(tmp_path):
    script, _ = parse(
        "# Act One\n\n## Sequence\n= The hero wakes.\n\n> THE END <\n\n~Willy Wonka!\n~The amazing chocolatier!\n\n===\n",
        tmp_path,
    )
    els = body(script)
    assert [type(e).__name__ for e in els] == ["Section", "Section", "Synopsis", "Centered", "Lyrics", "PageBreak"]
    assert [(e.text, e.depth) for e in els[:2]] == [("Act One", 1), ("Sequence", 2)]
    assert els[2].text == "The hero wakes."
    assert els[3].text == "THE END"
    assert els[4].text == "Willy Wonka!\nThe amazing chocolatier!"
    assert pos(els[4].span) == (8, 1, 9, 26)
    assert pos(els[5].span) == (11, 1, 11, 4)


# ---- notes and boneyard ------------------------------------------------------------------------


def test_inline_note_is_removed_and_emitted_after(tmp_path):
    script, _ = parse("\nHANNAH\nI know [[she doesn't]] nothing.\n", tmp_path)
    d, note = body(script)
    assert d.text == "I know nothing."
    assert isinstance(note, nodes.Note) and note.text == "she doesn't"
    assert pos(note.span) == (3, 8, 3, 23)


def test_multi_line_note(tmp_path):
    text = "\nHe waits. [[This is\na long note\n  \nstill the note]] Then leaves.\n\nINT. B\n"
    script, sink = parse(text, tmp_path)
    a, note = script.scenes[0].body
    assert a.text == "He waits. Then leaves."
    assert note.text == "This is\na long note\n  \nstill the note"
    assert pos(note.span) == (2, 11, 5, 17)
    assert script.scenes[1].heading.text == "INT. B"
    assert not sink.items


def test_note_on_its_own_line(tmp_path):
    script, _ = parse("INT. A\n\n[[Remember the rain.]]\n\nAction.\n", tmp_path)
    note, action = script.scenes[0].body
    assert note.text == "Remember the rain." and pos(note.span) == (3, 1, 3, 23)
    assert action.text == "Action."


def test_boneyard_spanning_elements_keeps_positions(tmp_path):
    text = "INT. A\n\n/*\nINT. CUT SCENE\n\nBOB\nGone.\n*/\n\nKept /* inline */ text.\n\nANNA\nHi.\n"
    script, sink = parse(text, tmp_path)
    assert [s.heading.text for s in script.scenes] == ["INT. A"]
    a, d = script.scenes[0].body
    assert a.text == "Kept text." and pos(a.span) == (10, 1, 10, 24)
    assert d.character == "ANNA" and pos(d.cue_span) == (12, 1, 12, 5)
    assert not sink.items


def test_boneyard_line_does_not_break_dialogue(tmp_path):
    script, _ = parse("\nBOB\n/* an old line */\nHello.\n", tmp_path)
    assert only(script, nodes.Dialogue)[0].text == "Hello."


def test_unclosed_boneyard_warns_and_stays_text(tmp_path):
    # Nothing disappears by accident: an opener without its closer is text, like an unclosed note.
    script, sink = parse("\nAction.\n\nMore /* never closed\n\nBOB\nHi.\n\nLess /* again\n", tmp_path)
    assert [a.text for a in only(script, nodes.Action)] == ["Action.", "More /* never closed", "Less /* again"]
    assert only(script, nodes.Dialogue)[0].text == "Hi."
    [w] = warnings(sink)  # one warning: every `/*` after the first unclosed one is unclosed too
    assert "unclosed boneyard" in w.message and pos(w.span) == (4, 6, 4, 8)


def test_unclosed_note_stays_text(tmp_path):
    # The spec: a note is text inside [[ ]]; without ]] before an empty line there is no note.
    script, sink = parse("\nBOB\nHello [[forgot to close\nstill [[ text\n\nAction [[x.\n", tmp_path)
    d, action = body(script)
    assert d.text == "Hello [[forgot to close\nstill [[ text" and not only(script, nodes.Note)
    assert action.text == "Action [[x."
    assert [(w.message.split(" '")[0], pos(w.span)) for w in warnings(sink)] == [
        ("unclosed note", (3, 7, 3, 9)), ("unclosed note", (6, 8, 6, 10))]  # one per paragraph


def errors(sink):
    return [d for d in sink.items if d.severity.value == "error"]


def test_unclosed_directive_is_an_error_at_its_opener(tmp_path):
    # Read as a note it would be spoken: "Is it, though? pause one s Really?".
    line = "Is it, though? [[pause 1s Really?"
    _, sink = parse(f"\nBOB\n{line}\n", tmp_path)
    col = line.index("[[") + 1
    [e] = errors(sink)
    assert "'[[pause' is not closed" in e.message and pos(e.span) == (3, col, 3, col + 2)
    assert "add ']]'" in " ".join(e.notes)
    assert not warnings(sink)


def test_unclosed_misspelt_directive_is_an_error_and_notes_stay_warnings(tmp_path):
    text = "\nBOB\nHi [[ambiance: sounds/rain.wav\n\nAction [[Music swells\n\nMore [[check [[sfx: a.wav\n"
    _, sink = parse(text, tmp_path)
    assert [(d.severity.value, pos(d.span)) for d in sink.items] == [
        ("error", (3, 4, 3, 6)), ("warning", (5, 8, 5, 10)),
        ("warning", (7, 6, 7, 8)), ("error", (7, 14, 7, 16))]  # a note's opener, then a directive's
    assert "did you mean 'ambience'?" in " ".join(sink.items[0].notes)


def test_note_after_an_unclosed_one_in_the_next_paragraph(tmp_path):
    script, sink = parse("\nA [[b\n\nC [[d]] e\n", tmp_path)
    a, c, note = body(script)
    assert (a.text, c.text, note.text) == ("A [[b", "C e", "d")
    assert len(warnings(sink)) == 1


# ---- boneyard: removing it never joins the lines around it (fountain.io/syntax, Boneyard) --------


def test_boneyard_hiding_empty_lines_keeps_the_paragraphs_apart(tmp_path):
    # The spec's own example: without the boneyard's empty lines, CUT TO: was a cue and the
    # heading its speech, spoken aloud.
    text = ("\nCUT TO:\n/*\nINT. GARAGE - DAY\n\nBRICK\nThis is everybody.\n\nCUT TO:\n*/\n"
            "EXT. PALATIAL MANSION - DAY\n\nAn EXTREMELY HANDSOME MAN drinks a beer.\n")
    script, sink = parse(text, tmp_path)
    assert not only(script, nodes.Dialogue)
    assert [t.text for t in only(script, nodes.Transition)] == ["CUT TO:"]
    assert [s.heading.text for s in script.scenes if s.heading] == ["EXT. PALATIAL MANSION - DAY"]
    assert pos(script.scenes[-1].heading.span) == (11, 1, 11, 28)
    assert not sink.items


def test_boneyard_with_an_empty_line_ends_a_speech(tmp_path):
    script, _ = parse("\nTHUNDER /* a crash\n\nmaybe a sound */\nRain falls on the deck.\n", tmp_path)
    assert not only(script, nodes.Dialogue)
    assert [a.text for a in only(script, nodes.Action)] == ["THUNDER", "Rain falls on the deck."]


def test_boneyard_spanning_lines_keeps_them_apart(tmp_path):
    script, _ = parse("\nHello /* x\ny */ world.\n", tmp_path)
    [a] = only(script, nodes.Action)
    assert a.text == "Hello\nworld." and pos(a.span) == (2, 1, 3, 12)


def test_boneyard_lines_inside_a_speech_vanish(tmp_path):
    script, _ = parse("\nBOB\nHello.\n/* an old line\nand another */\nBye.\n", tmp_path)
    [d] = only(script, nodes.Dialogue)
    assert d.text == "Hello.\nBye."


# ---- directives ---------------------------------------------------------------------------------


def test_pause_inside_dialogue_goes_into_parts(tmp_path):
    script, sink = parse("\nHANNAH\nWait. [[pause 1.5s]] Now go.\n(beat)\n[[pause 2s]]\nGo!\n", tmp_path)
    [d] = body(script)
    kinds = [type(p).__name__ for p in d.parts]
    assert kinds == ["Speech", "Pause", "Speech", "Parenthetical", "Pause", "Speech"]
    assert d.parts[1].seconds == 1.5 and pos(d.parts[1].span) == (3, 7, 3, 21)
    assert d.text == "Wait. Now go. Go!"
    assert pos(d.parts[2].span) == (3, 22, 3, 29)
    assert not sink.items


def test_pause_on_its_own_line_is_a_scene_element(tmp_path):
    script, _ = parse("INT. A\n\nDoor slams.\n\n[[pause 1.5s]]\n\nBOB\nWho?\n", tmp_path)
    a, p, d = script.scenes[0].body
    assert isinstance(p, nodes.Pause) and p.seconds == 1.5 and pos(p.span) == (5, 1, 5, 15)


def test_directive_splits_action(tmp_path):
    script, _ = parse("\nThe door slams. [[pause 1s]] He turns.\n", tmp_path)
    a1, p, a2 = body(script)
    assert (a1.text, p.seconds, a2.text) == ("The door slams.", 1.0, "He turns.")
    assert pos(a2.span) == (2, 30, 2, 39)


def test_broken_directive_is_an_error_not_a_note(tmp_path):
    script, sink = parse("\nBOB\nHi [[pause soon]] there.\n", tmp_path)
    [d] = body(script)
    assert d.text == "Hi there." and not only(script, nodes.Note)
    assert sink.has_errors


# ---- files --------------------------------------------------------------------------------------


def test_crlf_and_bom(tmp_path):
    text = "Title: X\r\n\r\nINT. A\r\n\r\nBOB\r\nHi *there*.\r\n"
    script, _ = parse("", tmp_path, b"\xef\xbb\xbf" + text.encode())
    [d] = only(script, nodes.Dialogue)
    assert script.title_page.get("Title") == "X"
    assert d.text == "Hi there." and pos(d.span) == (5, 1, 6, 12)


@pytest.mark.parametrize("text", ["", "\n\n\n", "   \n\t\n"])
def test_empty_file(text, tmp_path):
    script, sink = parse(text, tmp_path)
    assert script.scenes == [] and script.title_page is None and not sink.items
    assert script.format == "fountain"


def test_grammar_is_built_once():
    assert _parser() is _parser()


def _feature(lines: int) -> str:
    out, n = [], 0
    while len(out) < lines:
        n += 1
        out += [f"INT. ROOM {n} - DAY #{n}#", "", "Rain on the *glass*. [[a note]]", ""]
        out += ["ROSA (V.O.)", "(beat)", "We leave at 9:45.", "", "MILES ^", "Aye.", "", "[[pause 1s]]", ""]
        out += ["/* cut", "this */", "CUT TO:", ""]
    return "\n".join(out)


def test_feature_length_script_parses_quickly(tmp_path):
    text = _feature(5000)
    parse("INT. A\n", tmp_path)  # grammar built outside the timing
    t = time.perf_counter()
    script, sink = parse(text, tmp_path)
    elapsed = time.perf_counter() - t
    assert len(script.scenes) > 250 and not sink.has_errors
    # ~0.1 s on a developer machine; generous for a loaded 2-core CI runner.
    assert elapsed < 1.5


# ---- never raises -------------------------------------------------------------------------------

BITS = [
    "INT. HOUSE - DAY", "EXT. SEA #1A#", ".FORCED", "..dots", "ANNA", "ANNA (V.O.)", "BOB ^", "@McCoy", "(beat)",
    "Hello there.", "  ", "", "", "\t indented", "CUT TO:", "> FADE OUT.", "> centered <", "~la la", "[[note",
    "note]]", "[[pause 1.5s]]", "[[pause x]]", "/*", "*/", "# Act", "= synopsis", "===", "Title: X", "    cont",
    "**bold *both* _under_**", "\\*esc\\*", "*", "\\", "^", "@", "<", ">", "[[", "]]", "ÉMILIE", "日本語", "\x00",
    "(", ")", "!", "~", "#", "=", "FADE IN:", "a [[b", "c]] d", "x /* y", "z */ w",
]


def _check_spans(script, n_lines):
    def walk(node):
        s = node.span
        assert 1 <= s.line <= n_lines and s.col >= 1, node
        assert (s.end_line, s.end_col) >= (s.line, s.col), node
        for f in ("parts", "body", "fields"):
            for child in getattr(node, f, None) or []:
                walk(child)

    for scene in script.scenes:
        walk(scene)
    if script.title_page:
        walk(script.title_page)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=300), st.lists(st.one_of(st.sampled_from(BITS), st.text(max_size=12)), max_size=40).map("\n".join)))
def test_never_raises(text, tmp_path):
    from compiler.source import Source

    sink = Sink()
    script = parse_fountain(Source("fuzz.fountain", text), Project(tmp_path), sink)
    n_lines = text.count("\n") + 1
    _check_spans(script, n_lines)
    for d in sink.items:
        assert 1 <= d.span.line <= n_lines and d.span.col >= 1
    script.to_json()


def test_two_space_line_in_action_and_notes_in_title_page(tmp_path):
    script, _ = parse("Title: X [[draft 3]]\n\nLine one.\n  \nLine two.\n", tmp_path)
    note, action = body(script)
    assert script.title_page.get("Title") == "X"
    assert note.text == "draft 3" and pos(note.span) == (1, 10, 1, 21)
    assert action.text == "Line one.\n\nLine two."


def test_third_dual_marker_warns(tmp_path):
    script, sink = parse("\nA\nhi\n\nB ^\nho\n\nC ^\nhu\n", tmp_path)
    assert [d.dual for d in only(script, nodes.Dialogue)] == [True, True, False]
    assert [d.span.line for d in warnings(sink)] == [8]


# ---- blank lines (the grammar folds them into the next paragraph's first line) -----------------


def test_runs_of_blank_and_white_space_lines_separate_paragraphs(tmp_path):
    text = "\n \n\t\nINT. A - DAY\n\n\n  \n\t \nANNA\nHi.\n\n\n\nBob enters.\n \n"
    script, sink = parse(text, tmp_path)
    (scene,) = script.scenes
    dialogue, action = scene.body
    assert scene.heading.text == "INT. A - DAY" and pos(scene.heading.span) == (4, 1, 4, 13)
    assert dialogue.character == "ANNA" and pos(dialogue.span) == (9, 1, 10, 4)
    assert action.text == "Bob enters." and pos(action.span) == (14, 1, 14, 12)
    assert not sink.items


def test_two_space_line_then_note_line_stays_in_dialogue(tmp_path):
    script, _ = parse("ANNA\nHi.\n  \n[[pause 1s]]\nMore.\n", tmp_path)
    (d,) = only(script, nodes.Dialogue)
    assert [type(p).__name__ for p in d.parts] == ["Speech", "Pause", "Speech"]
    assert d.text == "Hi. More." and pos(d.span) == (1, 1, 5, 6)


def test_two_space_line_after_lyric_ends_the_paragraph(tmp_path):
    script, _ = parse("Hello.\n  \nMore.\n\n~la\n  \nAfter.\n", tmp_path)
    first, lyric, after = body(script)
    assert first.text == "Hello.\n\nMore." and pos(first.span) == (1, 1, 3, 6)
    assert isinstance(lyric, nodes.Lyrics) and lyric.text == "la"
    assert after.text == "After." and pos(after.span) == (7, 1, 7, 7)


def test_title_page_only_on_the_very_first_line(tmp_path):
    script, _ = parse("\nTitle: X\n\nHello.\n", tmp_path)
    assert script.title_page is None
    assert [a.text for a in only(script, nodes.Action)] == ["Title: X", "Hello."]


def test_directive_diagnostics_come_in_source_order(tmp_path):
    text = "[[pause x]] # Act\nAction.\n[[pause y]]\n"
    _, sink = parse(text, tmp_path)
    assert [d.span.line for d in sink.items] == [1, 3]


# ---- linear time on hostile input ---------------------------------------------------------------

from tests.timing import assert_linear  # noqa: E402


def _parse_text(tmp_path):
    from compiler.source import Source

    return lambda text: parse_fountain(Source("t.fountain", text), Project(tmp_path), Sink())


@pytest.mark.parametrize("make, small", [
    # Each unclosed `[[` searched the rest of the file for `]]` (found only at the very end).
    (lambda n: "[[x\n\n" * (n // 10) + "] " * (n // 4) + "]]", 50_000),
    (lambda n: "[[" * (n // 2), 20_000),
    (lambda n: "/*" * (n // 2), 20_000),
    (lambda n: "\nBOB\n" + "a [[pause 1s]]" * (n // 14), 20_000),
    (lambda n: " *a" * (n // 6) + " a_" * (n // 6), 20_000),
    (lambda n: "[[pause " * (n // 8), 20_000),  # each opener an unclosed directive
    (lambda n: "[[ambiance: " * (n // 12), 20_000),
], ids=["unclosed-notes-far-close", "brackets", "boneyard-openers", "directives-in-speech", "emphasis",
        "unclosed-directives", "unclosed-misspelt-directives"])
def test_hostile_input_parses_in_linear_time(make, small, tmp_path):
    assert_linear(_parse_text(tmp_path), make, small_bytes=small)
