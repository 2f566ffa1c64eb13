"""The Markdown dialogue front end: every element, its spans, front matter, comments, directives."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from compiler import nodes
from compiler.diagnostics import Severity, Sink, Span
from compiler.markdown import parse_markdown
from compiler.project import Project, find_project
from compiler.source import decode

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "lighthouse" / "lighthouse.md"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "sounds").mkdir()
    sf.write(tmp_path / "sounds" / "door.wav", np.zeros(240, dtype=np.float32), 24000)
    return Project(tmp_path)


def parse(text, project):
    sink = Sink()
    script = parse_markdown(decode(text.encode(), "t.md"), project, sink)
    return script, sink.items


def body(script):
    return [el for scene in script.scenes for el in scene.body]


def dialogues(script):
    return list(script.dialogues())


def span(line, col, end_line, end_col):
    return Span("t.md", line, col, end_line, end_col)


def at(text, span_):
    """The source text a single-line span covers."""
    assert span_.line == span_.end_line
    return text.split("\n")[span_.line - 1][span_.col - 1:span_.end_col - 1]


# --- dialogue -------------------------------------------------------------------------------


def test_plain_caps_cue(project):
    text = "ANNA: Hello there.\n"
    script, diags = parse(text, project)
    assert diags == []
    (d,) = dialogues(script)
    assert (d.character, d.extension, d.text, d.cue, d.dual) == ("ANNA", None, "Hello there.", "ANNA", False)
    assert d.span == span(1, 1, 1, 19)
    assert d.cue_span == span(1, 1, 1, 5)
    (speech,) = d.parts
    assert isinstance(speech, nodes.Speech) and speech.span == span(1, 7, 1, 19)
    assert script.format == "markdown"


@pytest.mark.parametrize("line", ["**Anna:** Hello there.", "**Anna**: Hello there.", "**Anna** : Hello there."])
def test_bold_cues_in_any_case(line, project):
    script, diags = parse(line + "\n", project)
    assert diags == []
    (d,) = dialogues(script)
    assert d.character == "Anna" and d.text == "Hello there."
    assert at(line, d.cue_span) == "Anna" and d.cue == "Anna"
    assert d.span.col == 1 and d.span.end_col == len(line) + 1


def test_extension_is_split_off_and_contd_dropped(project):
    text = "MOM (O.S.): Dinner!\nMOM (O.S.) (CONT'D): Now!\n**DR. AMES (V.O.):** Calm.\n"
    script, diags = parse(text, project)
    a, b, c = dialogues(script)
    assert (a.character, a.extension, a.cue) == ("MOM", "O.S.", "MOM (O.S.)")
    assert (b.character, b.extension, b.cue) == ("MOM", "O.S.", "MOM (O.S.) (CONT'D)")
    assert (c.character, c.extension) == ("DR. AMES", "V.O.")
    assert at(text, b.cue_span) == "MOM (O.S.) (CONT'D)"


def test_consecutive_cues_are_separate_speeches_and_lines_continue(project):
    text = "ANNA: First line\nstill Anna.\nTOM: Tom now.\n  Indented, still Tom.\n"
    script, _ = parse(text, project)
    anna, tom = dialogues(script)
    assert anna.text == "First line still Anna."
    assert anna.parts[0].raw == "First line\nstill Anna."
    assert anna.span == span(1, 1, 2, 12)
    assert tom.text == "Tom now. Indented, still Tom."


def test_indented_paragraph_after_a_blank_line_continues_the_speech(project):
    text = "ANNA: One.\n\n    Two.\n\nNot Anna.\n"
    script, _ = parse(text, project)
    d, action = body(script)
    assert d.text == "One. Two."
    assert [p.text for p in d.parts] == ["One.", "Two."]
    assert d.span == span(1, 1, 3, 9)
    assert isinstance(action, nodes.Action) and action.text == "Not Anna."


def test_indented_continuation_may_start_like_a_rejected_cue(project):
    script, _ = parse("ANNA: One.\n\n  Note: two.\n", project)
    (d,) = body(script)
    assert d.text == "One. Note: two."


def test_cue_with_speech_on_the_next_line(project):
    script, diags = parse("ANNA:\nHello.\n", project)
    assert diags == [] and dialogues(script)[0].text == "Hello."


def test_cue_with_no_speech_warns(project):
    script, diags = parse("ANNA:\n\nThe end.\n", project)
    assert dialogues(script) == []
    (w,) = diags
    assert w.severity is Severity.WARNING and "no line to speak" in w.message and w.span == span(1, 1, 1, 5)


def test_emphasis_is_removed_from_speech_and_kept_in_raw(project):
    script, _ = parse("ANNA: I *never* said **that**, \\*really\\*.\n", project)
    (speech,) = dialogues(script)[0].parts
    assert speech.text == "I never said that, *really*."
    assert speech.raw == "I *never* said **that**, \\*really\\*."


# --- who speaks: cue rules --------------------------------------------------------------------


def test_mixed_case_name_once_is_prose(project):
    script, _ = parse("Note: the lamp is lit at dusk.\n", project)
    (el,) = body(script)
    assert isinstance(el, nodes.Action) and el.text == "Note: the lamp is lit at dusk."


def test_mixed_case_name_used_twice_is_a_speaker(project):
    script, _ = parse("Anna: Hi.\nTom: Hello.\nAnna: Bye.\n", project)
    kinds = [(type(el).__name__, getattr(el, "character", None)) for el in body(script)]
    # Anna speaks twice, so she is a speaker; Tom once, in mixed case, so his line continues Anna's.
    assert kinds == [("Dialogue", "Anna"), ("Dialogue", "Anna")]
    assert dialogues(script)[0].text == "Hi. Tom: Hello."


def test_cast_in_front_matter_makes_mixed_case_names_speakers(project):
    script, _ = parse("---\ncast:\n  Tom: {}\n---\nTom: Hello.\n", project)
    (d,) = dialogues(script)
    assert d.character == "Tom"


def test_long_or_odd_names_are_not_cues(project):
    text = "THE OLD MAN FROM THE SEA: hi\n**Warning, this is long text:** really\n12 PM: lunch\n"
    script, _ = parse(text, project)
    assert dialogues(script) == []
    assert all(isinstance(el, nodes.Action) for el in body(script))


def test_escaped_colon_keeps_prose(project):
    script, _ = parse("NOTE\\: written in capitals but prose.\n", project)
    (el,) = body(script)
    assert isinstance(el, nodes.Action) and el.text == "NOTE: written in capitals but prose."


def test_times_and_urls_are_not_cues(project):
    script, _ = parse("At 6:30 the lamp goes on.\nhttps://example.org is a link.\n", project)
    assert dialogues(script) == []


# --- parentheticals ---------------------------------------------------------------------------


def test_parentheticals_after_the_colon_and_on_their_own_line(project):
    text = "ANNA: (whispers) Come here.\n(beat)\nQuietly. It is (almost) done.\n"
    script, _ = parse(text, project)
    (d,) = dialogues(script)
    kinds = [(type(p).__name__, p.text) for p in d.parts]
    assert kinds == [("Parenthetical", "(whispers)"), ("Speech", "Come here."), ("Parenthetical", "(beat)"),
                     ("Speech", "Quietly. It is (almost) done.")]
    assert [p.text for p in d.parentheticals] == ["(whispers)", "(beat)"]
    assert d.text == "Come here. Quietly. It is (almost) done."
    assert d.parts[0].span == span(1, 7, 1, 17) and d.parts[2].span == span(2, 1, 2, 7)


def test_parenthetical_wrapped_in_emphasis_and_italic_acting_lines(project):
    script, _ = parse("TOM: *(laughing)* Sure.\n*He turns away.*\nGoodbye.\n", project)
    (d,) = dialogues(script)
    assert [(type(p).__name__, p.text) for p in d.parts] == [
        ("Parenthetical", "(laughing)"), ("Speech", "Sure."), ("Parenthetical", "(He turns away.)"), ("Speech", "Goodbye.")]


def test_several_leading_parentheticals(project):
    script, _ = parse("TOM: (quietly) (beat) Yes.\n", project)
    assert [p.text for p in dialogues(script)[0].parentheticals] == ["(quietly)", "(beat)"]


# --- stage directions, headings, breaks -------------------------------------------------------


def test_italic_paragraph_and_plain_paragraph_are_actions(project):
    text = "*Wind against the glass.*\n\nThe lamp turns.\nIt is late.\n"
    script, _ = parse(text, project)
    a, b = body(script)
    assert (a.text, a.raw, a.span) == ("Wind against the glass.", "*Wind against the glass.*", span(1, 1, 1, 26))
    assert (b.text, b.span) == ("The lamp turns.\nIt is late.", span(3, 1, 4, 12))


def test_block_quote_is_an_action_and_a_bare_marker_splits_it(project):
    text = "> Night.\n> Rain falls.\n>\n> Later.\n"
    script, _ = parse(text, project)
    a, b = body(script)
    assert a.text == "Night.\nRain falls." and a.span == span(1, 3, 2, 14)
    assert b.text == "Later." and b.span == span(4, 3, 4, 9)


def test_a_quote_never_holds_dialogue(project):
    script, _ = parse("> ANNA: not a cue here.\n", project)
    assert dialogues(script) == [] and body(script)[0].text == "ANNA: not a cue here."


def test_headings_make_scenes(project):
    text = "Before any scene.\n\n# The *lamp* room ##\n\nANNA: Hi.\n\n## Morning\n### Aside\nTOM: Bye.\n"
    script, _ = parse(text, project)
    first, lamp, morning = script.scenes
    assert first.heading is None and isinstance(first.body[0], nodes.Action)
    assert lamp.heading.text == "The lamp room" and lamp.heading.span == span(3, 1, 3, 21)
    assert lamp.span == span(3, 1, 5, 10)
    assert morning.heading.text == "Morning"
    section, d = morning.body
    assert isinstance(section, nodes.Section) and (section.text, section.depth) == ("Aside", 3)
    assert d.character == "TOM"


def test_hashtag_is_not_a_heading_and_rule_is_a_page_break(project):
    script, _ = parse("#hashtag\n\n---\n\n* * *\n", project)
    els = body(script)
    assert isinstance(els[0], nodes.Action) and els[0].text == "#hashtag"
    assert [type(e).__name__ for e in els[1:]] == ["PageBreak", "PageBreak"]
    assert els[1].span == span(3, 1, 3, 4)


def test_empty_heading_warns(project):
    _, diags = parse("#\nANNA: x\n", project)
    assert any("empty heading" in d.message for d in diags)


# --- comments ---------------------------------------------------------------------------------


def test_comments_are_dropped_and_keep_positions(project):
    text = "<!-- a note\nover lines -->\nANNA: Hello <!-- aside --> there.\n%% obsidian %%\nStill Anna.\n"
    script, diags = parse(text, project)
    assert diags == []
    (d,) = body(script)
    assert d.text == "Hello there. Still Anna."
    assert d.span == span(3, 1, 5, 12)


def test_unclosed_comment_warns_at_the_opener_and_stays_text(project):
    script, diags = parse("ANNA: Hi.\n\nText <!-- never closed\n", project)
    (w,) = diags
    assert w.severity is Severity.WARNING and "never closed" in w.message and w.span == span(3, 6, 3, 10)
    assert body(script)[-1].text == "Text <!-- never closed"


# --- directives in place ----------------------------------------------------------------------


def test_directives_inside_a_speech_are_parts_in_place(project):
    text = "ANNA: Wait. [[pause 1.5s]] Listen.\n[[sfx: sounds/door.wav wait=false]]\nWho is it?\n"
    script, diags = parse(text, project)
    assert diags == []
    (d,) = dialogues(script)
    kinds = [type(p).__name__ for p in d.parts]
    assert kinds == ["Speech", "Pause", "Speech", "Sfx", "Speech"]
    assert d.parts[1].seconds == 1.5 and d.parts[1].span == span(1, 13, 1, 27)
    assert d.parts[3].options == {"wait": False}
    assert d.text == "Wait. Listen. Who is it?"


def test_directive_on_its_own_line_is_a_scene_element(project):
    text = "# One\n\n[[pause 2s]]\n\n[[music stop]]\n\n> Door. [[sfx: sounds/door.wav]] Steps.\n"
    script, diags = parse(text, project)
    assert diags == []
    kinds = [type(el).__name__ for el in script.scenes[0].body]
    assert kinds == ["Pause", "MusicStop", "Action", "Sfx", "Action"]
    assert script.scenes[0].body[0].span == span(3, 1, 3, 13)


def test_directive_errors_point_into_the_markdown_file(project):
    _, diags = parse("ANNA: Hi.\n\n  [[sfx: sounds/none.wav volume=loud]]\n", project)
    errors = [d for d in diags if d.is_error]
    assert len(errors) == 2
    missing = next(d for d in errors if "no such file" in d.message)
    loud = next(d for d in errors if "loud" in d.message)
    assert missing.span == span(3, 10, 3, 25) and loud.span == span(3, 26, 3, 37)


def test_directive_may_span_two_lines(project):
    script, diags = parse("[[sfx: sounds/door.wav\n  volume=-3dB]]\n", project)
    assert diags == []
    (sfx,) = body(script)
    assert sfx.options == {"volume": -3.0} and sfx.span == span(1, 1, 2, 16)


def test_notes_are_kept_as_notes_not_spoken(project):
    script, diags = parse("ANNA: Hello [[check this line]] there.\n", project)
    assert diags == []
    d, note = body(script)
    assert d.text == "Hello there."
    assert isinstance(note, nodes.Note) and note.text == "check this line" and note.span == span(1, 13, 1, 32)


def test_unclosed_directive_is_an_error_at_its_opener(project):
    # Read as text it would be spoken: "Hello pause one s".
    line = "ANNA: Hello [[pause 1s"
    script, diags = parse(line + "\n\nBye.\n", project)
    col = line.index("[[") + 1
    [e] = diags
    assert e.severity is Severity.ERROR and "'[[pause' is not closed" in e.message
    assert e.span == span(1, col, 1, col + 2) and "add ']]'" in " ".join(e.notes)


def test_unclosed_misspelt_directive_is_an_error_and_notes_stay_warnings(project):
    text = "ANNA: a [[[sfx: x.wav\n\nBOB: b [[ambiance: rain.wav\n\nANNA: c [[check this\n\nBOB: d [[Music swells\n"
    _, diags = parse(text, project)
    # After a run of `[`, the error is at the `[[` right before the keyword.
    assert [(d.severity, d.span.line, d.span.col) for d in diags] == [
        (Severity.ERROR, 1, 10), (Severity.ERROR, 3, 8), (Severity.WARNING, 5, 9), (Severity.WARNING, 7, 8)]
    assert "did you mean 'ambience'?" in " ".join(diags[1].notes)


# --- front matter -----------------------------------------------------------------------------


def test_yaml_front_matter(project):
    text = ("---\ntitle: The Lighthouse\nauthor:\n  - A. Writer\n  - B. Writer\ndate: 2026-11-26\n"
            "cast:\n  ANNA: {voice: warm-female}\n  TOM:\nbuild:\n  backend: embedded\n---\n# One\nANNA: Hi.\n")
    script, diags = parse(text, project)
    assert diags == []
    assert script.metadata["cast"] == {"ANNA": {"voice": "warm-female"}, "TOM": {}}
    assert script.metadata["build"] == {"backend": "embedded"}
    assert script.metadata["date"] == "2026-11-26"  # JSON-safe
    page = script.title_page
    assert page.get("Title") == "The Lighthouse" and page.get("author") == "A. Writer\nB. Writer"
    assert page.get("build") is None
    assert page.span == span(1, 1, 12, 4)
    assert page.fields[0].span == span(2, 1, 2, 22)
    assert script.scenes[0].heading.span.line == 13
    script.to_json()


def test_toml_front_matter(project):
    text = '+++\ntitle = "Night Watch"\n[cast.ANNA]\nvoice = "warm-female"\n[cast."DR. AMES"]\npitch = 90\n+++\nANNA: Hi.\n'
    script, diags = parse(text, project)
    assert diags == []
    assert script.title_page.get("title") == "Night Watch"
    assert script.metadata["cast"] == {"ANNA": {"voice": "warm-female"}, "DR. AMES": {"pitch": 90}}
    assert dialogues(script)[0].span.line == 8


def test_cast_as_a_list_of_names(project):
    script, _ = parse("---\ncast: [Anna, Tom]\n---\nAnna: Hi.\n", project)
    assert script.metadata["cast"] == {"Anna": {}, "Tom": {}}
    assert dialogues(script)[0].character == "Anna"


def test_bad_yaml_reports_its_line(project):
    script, diags = parse("---\ntitle: ok\ncast: [unclosed\nother: x\n---\nANNA: Hi.\n", project)
    (err,) = diags
    assert err.is_error and "not valid YAML" in err.message
    assert err.span.line in (3, 4, 5)
    assert dialogues(script)[0].text == "Hi."  # the play still parses


def test_bad_toml_reports_its_line(project):
    _, diags = parse('+++\ntitle = "x"\nbroken = = 1\n+++\n', project)
    (err,) = diags
    assert err.is_error and "not valid TOML" in err.message and err.span.line == 3


def test_front_matter_that_is_not_a_table_and_a_bad_cast(project):
    _, d1 = parse("---\n- just\n- a list\n---\n", project)
    _, d2 = parse("---\ntitle: x\ncast: 7\n---\n", project)
    assert "key: value" in d1[0].message
    assert "cast must list the characters" in d2[0].message and d2[0].span.line == 3


def test_impossible_date_is_an_error_not_a_crash(project):
    _, diags = parse("---\ndate: 2024-13-45\n---\n", project)
    assert diags and diags[0].is_error


def test_unclosed_front_matter_is_an_error(project):
    _, diags = parse("---\ntitle: x\n\nANNA: Hi.\n", project)
    assert any(d.is_error and "never closed" in d.message and d.span == span(1, 1, 1, 4) for d in diags)


def test_a_rule_on_the_first_line_of_a_file_with_no_front_matter(project):
    script, diags = parse("---\n", project)
    assert diags == [] and isinstance(body(script)[0], nodes.PageBreak)


# --- robustness and the example ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n\n", "\x00", "[[", "((", "\\", "**:**", "*\n*", "---\n---\n", "+++", ">",
                                  "<!--", "%%", "# ", "A:", "**A**:", "[[]]", "[[pause\n\n1s]]", "\ufeffANNA: x"])
def test_odd_inputs_do_not_raise(text, project):
    from compiler.source import Source

    sink = Sink()
    script = parse_markdown(Source("t.md", text), project, sink)
    script.to_json()
    assert all(d.span.line >= 1 and d.span.col >= 1 for d in sink.items)


def test_random_text_never_raises(project):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from compiler.source import Source

    bits = ["---", "+++", "title: x", "cast:", "  A: 1", "# S", "A: hi", "**B:** yo", "(beat)", "*x*", "> q", "<!--",
            "-->", "%%", "[[", "]]", "[[pause 1s]]", "[[sfx: a.wav]]", "Note: x", "  cont", "***", "\\", "", ""]

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.one_of(st.sampled_from(bits), st.text(max_size=15)), max_size=25).map("\n".join))
    def check(text):
        sink = Sink()
        parse_markdown(Source("t.md", text), project, sink).to_json()

    check()


def test_the_lighthouse_example_parses_cleanly():
    source = decode(EXAMPLE.read_bytes(), str(EXAMPLE))
    project = find_project(EXAMPLE)
    assert project.root == EXAMPLE.parent
    sink = Sink()
    script = parse_markdown(source, project, sink)
    assert not sink.has_errors, sink.items
    assert sink.items == []
    characters = {d.character for d in script.dialogues()}
    assert len(characters) >= 4
    assert len(script.scenes) >= 3 and all(s.heading for s in script.scenes)
    lines = list(script.dialogues())
    assert 25 <= len(lines) <= 40
    every = [el for s in script.scenes for el in s.body] + [p for d in lines for p in d.parts]
    assert any(isinstance(el, nodes.Pause) and el.seconds == 1.0 for el in every)
    sfx = [el for el in every if isinstance(el, nodes.Sfx)]
    assert sfx and all(Path(s.resolved).is_file() for s in sfx)
    assert {p.text for d in lines for p in d.parentheticals} >= {"(beat)", "(whispers)"}
    assert script.title_page.get("title") and set(script.metadata["cast"]) <= {c.upper() for c in characters}
    assert any(isinstance(el, nodes.Action) for el in every)


def test_example_sound_is_small_mono_24k_16bit():
    info = sf.info(EXAMPLE.parent / "sounds" / "knock.wav")
    assert (info.samplerate, info.channels, info.subtype) == (24000, 1, "PCM_16")
    assert info.duration <= 1.0 and (EXAMPLE.parent / "sounds" / "knock.wav").stat().st_size < 100_000


# --- linear time on hostile input (quadratic before: an 80 KB line of `[[` took 84 s) -----------

from tests.timing import assert_linear  # noqa: E402


def _parse_text(project):
    return lambda text: parse_markdown(decode(text.encode(), "t.md"), project, Sink())


@pytest.mark.parametrize("make", [
    lambda n: "[[" * (n // 2),  # one line of unclosed openers
    lambda n: "[[note\n" * (n // 7),  # a paragraph of unclosed notes, one per line
    lambda n: "ANNA: hi [[x\n" * (n // 13),  # ... inside a speech
    lambda n: "[[\n" * (n // 3),
    lambda n: "<!--" * (n // 4),  # comments never closed
    lambda n: "# a" + " " * n + "b\n",  # a heading full of spaces (regex backtracking)
    lambda n: "ANNA: " + "(a) " * (n // 4) + "\n",  # parentheticals after a cue
    lambda n: "[[pause " * (n // 8),  # each opener an unclosed directive
    lambda n: "[[[[[[[[ambiance: " * (n // 18),
], ids=["brackets", "unclosed-notes", "unclosed-in-speech", "bracket-lines", "comment-openers", "heading-spaces", "parentheticals",
        "unclosed-directives", "unclosed-misspelt-directives"])
def test_hostile_input_parses_in_linear_time(make, project):
    assert_linear(_parse_text(project), make, small_bytes=10_000)


def test_unclosed_openers_warn_once_per_run_and_not_when_escaped(project):
    text = "a [[[b\n\\[[c\n\\\\[[d\n"
    script, diags = parse(text, project)
    assert [(d.span.line, d.span.col) for d in diags] == [(1, 3), (3, 3)]
    assert body(script)[0].text == "a [[[b\n[[c\n\\[[d"


def test_closed_directive_after_unclosed_openers(project):
    script, diags = parse("[[ [[pause 1s]] x\n", project)
    # The first `[[` is closed by the same `]]`: one note holding everything up to it.
    (action, note) = body(script)
    assert isinstance(note, nodes.Note) and note.text == "[[pause 1s" and action.text == "x"
    assert diags == []


def test_cue_names_are_trimmed_of_all_unicode_white_space(project):
    # A no-break space after or inside a name must not make a second character.
    script, diags = parse("WILL\u00a0: Hi.\nDR.\u00a0AMES: Hm.\nDR. AMES: Ho.\n", project)
    assert [d.character for d in dialogues(script)] == ["WILL", "DR. AMES", "DR. AMES"]
    assert diags == []


def test_a_yaml_error_after_a_line_separator_is_placed_by_character_not_by_yamls_line_count(project):
    """YAML breaks lines at U+2028; the script's lines do not. The fuzz run found the error reported
    on line 2 at a column past that line's end."""
    _, diags = parse("---\nS: {\u2028ght}}\n---\n", project)
    (err,) = [d for d in diags if "not valid YAML" in d.message]
    assert (err.span.line, err.span.col) == (2, 10)  # the second '}', as the file's lines count it
