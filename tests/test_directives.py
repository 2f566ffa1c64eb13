"""Audio directives: every form, every option, and the diagnostics a writer sees for mistakes."""

import os

import numpy as np
import pytest
import soundfile as sf

from compiler import nodes
from compiler.diagnostics import Severity, Sink, Span
from compiler.directives import is_directive, parse_directive, parse_duration, unclosed_directive
from compiler.project import Project


@pytest.fixture
def project(tmp_path):
    (tmp_path / "sounds").mkdir()
    (tmp_path / "music").mkdir()
    for rel in ("sounds/door.wav", "sounds/big door.wav", "music/theme.wav"):
        sf.write(tmp_path / rel, np.zeros(240, dtype=np.float32), 24000)
    (tmp_path / "sounds" / "notes.txt").write_text("not audio")
    return Project(tmp_path)


def run(body, project, line=4, col=3):
    """Parse `body` as if written `[[body]]` at line:col; returns (node, diagnostics)."""
    sink = Sink()
    end_col = col + len(body) + 4 if "\n" not in body else len(body.rsplit("\n", 1)[1]) + 3
    span = Span("t.md", line, col, line + body.count("\n"), end_col)
    return parse_directive(body, span, project, sink), sink.items


def only_error(diags):
    errors = [d for d in diags if d.severity is Severity.ERROR]
    assert len(errors) == 1, diags
    return errors[0]


def cols(diag):
    return diag.span.line, diag.span.col, diag.span.end_col


# --- pause ----------------------------------------------------------------------------------


@pytest.mark.parametrize("body, seconds", [
    ("pause 1.5s", 1.5), ("pause 500ms", 0.5), ("pause 2", 2.0), ("pause: 3s", 3.0), ("  pause .25s ", 0.25),
    ("pause 60s", 60.0), ("pause 1min", 60.0),
])
def test_pause_durations(body, seconds, project):
    node, diags = run(body, project)
    assert diags == []
    assert isinstance(node, nodes.Pause) and node.seconds == pytest.approx(seconds)


def test_pause_keeps_the_span_of_the_whole_directive(project):
    node, _ = run("pause 1s", project, line=7, col=10)
    assert node.span == Span("t.md", 7, 10, 7, 22)


@pytest.mark.parametrize("body, words, where", [
    ("pause abc", "'abc' is not a duration", (4, 11, 14)),
    ("pause 0", "longer than zero", (4, 11, 12)),
    ("pause -2s", "longer than zero", (4, 11, 14)),
    ("pause 61s", "longer than the 60 s limit", (4, 11, 14)),
    ("pause", "pause needs a duration", (4, 10, 10)),
    ("pause 1 s", "unexpected 's'", (4, 13, 14)),
])
def test_bad_pauses_are_errors_at_the_value(body, words, where, project):
    node, diags = run(body, project)
    assert node is None
    err = only_error(diags)
    assert words in err.message
    assert cols(err) == where


# --- sfx ------------------------------------------------------------------------------------


def test_sfx_resolves_the_path_inside_the_project(project):
    node, diags = run("sfx: sounds/door.wav", project)
    assert diags == []
    assert isinstance(node, nodes.Sfx)
    assert node.path == "sounds/door.wav"
    assert node.resolved == str(project.root / "sounds" / "door.wav")
    assert node.options == {}  # defaults belong to the mixer


def test_sfx_colon_is_optional_and_quoted_paths_may_hold_spaces(project):
    plain, d1 = run("sfx sounds/door.wav", project)
    quoted, d2 = run('sfx: "sounds/big door.wav" volume=-2', project)
    assert d1 == d2 == []
    assert plain.path == "sounds/door.wav"
    assert quoted.path == "sounds/big door.wav" and quoted.resolved.endswith("big door.wav")
    assert quoted.options == {"volume": -2.0}


def test_every_sfx_option_is_converted(project):
    node, diags = run("sfx: sounds/door.wav volume=-6dB fade_in=200ms fade_out=0.5s start=1 duration=2.5s wait=false", project)
    assert diags == []
    assert node.options == {"volume": -6.0, "fade_in": 0.2, "fade_out": 0.5, "start": 1.0, "duration": 2.5, "wait": False}


@pytest.mark.parametrize("value, expected", [("true", True), ("yes", True), ("on", True), ("false", False), ("no", False), ("OFF", False)])
def test_booleans(value, expected, project):
    node, diags = run(f"sfx: sounds/door.wav wait={value}", project)
    assert diags == [] and node.options["wait"] is expected


def test_option_values_may_be_quoted_and_spread_over_lines(project):
    node, diags = run('sfx: sounds/door.wav\n  volume="-3 dB"', project)
    assert diags == [] and node.options == {"volume": -3.0}


@pytest.mark.parametrize("option, words", [
    ("volume=loud", "'loud' is not a level in dB"),
    ("volume=-90dB", "below the minimum of -60 dB"),
    ("volume=30", "above the maximum of 24 dB"),
    ("fade_in=2dB", "'2dB' is not a duration"),
    ("fade_out=-1s", "below the minimum of 0 s"),
    ("fade_in=90s", "above the maximum of 60 s"),
    ("start=soon", "is not a duration"),
    ("duration=0", "longer than zero"),
    ("wait=maybe", "'maybe' is not true or false"),
])
def test_bad_option_values_are_errors_pointing_at_the_option(option, words, project):
    body = f"sfx: sounds/door.wav {option}"
    node, diags = run(body, project, col=1)
    assert node is None
    err = only_error(diags)
    assert words in err.message and option.split("=")[0] in err.message
    start = 1 + 2 + body.index(option)
    assert cols(err) == (4, start, start + len(option))


def test_bad_value_on_a_later_line_is_located_there(project):
    node, diags = run("sfx: sounds/door.wav\n   wait=perhaps", project)
    err = only_error(diags)
    assert (err.span.line, err.span.col, err.span.end_col) == (5, 4, 16)


def test_unknown_option_warns_with_a_suggestion_and_the_valid_list(project):
    node, diags = run("sfx: sounds/door.wav fade=1s", project, col=1)
    assert isinstance(node, nodes.Sfx) and node.options == {}  # a warning does not lose the cue
    (warn,) = diags
    assert warn.severity is Severity.WARNING
    assert "unknown sfx option 'fade'" in warn.message
    assert "did you mean fade_in?" in warn.message
    assert "valid options: duration, fade_in, fade_out, pan, start, volume, wait" in warn.message
    assert cols(warn) == (4, 24, 28)


def test_unknown_option_far_from_any_name_has_no_suggestion(project):
    _, diags = run("music: music/theme.wav zzzz=1", project)
    (warn,) = diags
    assert "did you mean" not in warn.message and "duck" in warn.message


def test_repeated_option_warns_and_the_last_wins(project):
    node, diags = run("sfx: sounds/door.wav volume=-1 volume=-2", project)
    assert node.options["volume"] == -2.0
    assert len(diags) == 1 and "given twice" in diags[0].message


@pytest.mark.parametrize("body, words", [
    ("sfx:", "sfx needs a file path"),
    ("sfx", "sfx needs a file path"),
    ("sfx: sounds/door.wav volume=", "needs a value after '='"),
    ("sfx: sounds/door.wav volume", "malformed option"),
])
def test_malformed_sfx_is_an_error(body, words, project):
    node, diags = run(body, project)
    assert node is None
    assert words in only_error(diags).message


def test_unquoted_path_with_space_suggests_quotes(project):
    node, diags = run("sfx: sounds/big door.wav", project, col=1)
    err = only_error(diags)
    assert "must be quoted" in err.message
    assert cols(err) == (4, 19, 27)  # the word `door.wav`


# --- paths ----------------------------------------------------------------------------------


def test_parent_path_escape_is_an_error_at_the_path(project):
    node, diags = run("sfx: ../x.wav", project, col=1)
    assert node is None
    err = only_error(diags)
    assert "outside the project" in err.message
    assert cols(err) == (4, 8, 16)


def test_absolute_path_is_an_error(project):
    node, diags = run("sfx: /etc/bell.wav", project, col=1)
    err = only_error(diags)
    assert node is None and "absolute" in err.message
    assert cols(err) == (4, 8, 21)


def test_symlink_leading_out_of_the_project_is_an_error(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.wav"
    sf.write(outside, np.zeros(10, dtype=np.float32), 24000)
    os.symlink(outside, project.root / "sounds" / "link.wav")
    node, diags = run('music: "sounds/link.wav"', project, col=1)
    err = only_error(diags)
    assert node is None and "outside the project" in err.message
    assert cols(err) == (4, 10, 27)  # the quoted path, quotes included


def test_missing_file_is_an_error(project):
    node, diags = run("sfx: sounds/nothing.wav", project, col=1)
    err = only_error(diags)
    assert node is None and "no such file" in err.message and "sounds/nothing.wav" in err.message
    assert cols(err) == (4, 8, 26)


def test_non_audio_file_is_an_error(project):
    node, diags = run("sfx: sounds/notes.txt", project)
    assert node is None and "not an audio file" in only_error(diags).message


def test_directory_is_an_error(project):
    (project.root / "sounds" / "dir.wav").mkdir()
    node, diags = run("sfx: sounds/dir.wav", project)
    assert node is None and "directory" in only_error(diags).message


# --- music ----------------------------------------------------------------------------------


def test_music_with_every_option(project):
    node, diags = run("music: music/theme.wav volume=-18dB fade_in=2s fade_out=3s loop=true start=1.5 duration=60 duck=-10dB", project)
    assert diags == []
    assert isinstance(node, nodes.Music) and node.path == "music/theme.wav"
    assert node.options == {"volume": -18.0, "fade_in": 2.0, "fade_out": 3.0, "loop": True, "start": 1.5,
                            "duration": 60.0, "duck": -10.0}


def test_music_does_not_take_sfx_only_options(project):
    node, diags = run("music: music/theme.wav wait=false", project)
    assert isinstance(node, nodes.Music)
    assert "unknown music option 'wait'" in diags[0].message


@pytest.mark.parametrize("body", ["music stop", "music: stop", "music stop fade_out=3s"])
def test_music_stop(body, project):
    node, diags = run(body, project)
    assert diags == [] and isinstance(node, nodes.MusicStop)
    assert node.options == ({"fade_out": 3.0} if "fade_out" in body else {})


def test_music_stop_rejects_other_options(project):
    node, diags = run("music stop loop=true", project)
    assert isinstance(node, nodes.MusicStop)
    assert "unknown music stop option 'loop'" in diags[0].message and "fade_out" in diags[0].message


def test_music_file_named_like_the_keyword_is_a_path(project):
    sf.write(project.root / "stopwatch.wav", np.zeros(10, dtype=np.float32), 24000)
    node, diags = run("music stopwatch.wav", project)
    assert diags == [] and isinstance(node, nodes.Music) and node.path == "stopwatch.wav"


# --- notes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["check the tone here", "pauses are important", "musical chairs", "",
                                  "Note: the mood is calm", "Check: is this too long?"])
def test_notes_pass_through_silently(body, project):
    node, diags = run(body, project)
    assert node is None and diags == []
    assert not is_directive(body)


@pytest.mark.parametrize("body, hint", [("sfxx: a.wav", "did you mean 'sfx'?"),
                                        ("ambiance: sounds/rain.wav volume=-22dB", "did you mean 'ambience'?"),
                                        ("mov: ANNA to 0.5", "did you mean 'move'?"),
                                        ("soundeffect: sounds/door.wav", "directives are pause, sfx")])
def test_a_note_that_reads_like_a_misspelt_directive_is_a_warning(body, hint, project):
    """Notes are not heard: a typo in a keyword would silently drop the sound, so it is said."""
    node, diags = run(body, project)
    assert node is None and not is_directive(body)
    assert len(diags) == 1 and diags[0].severity is Severity.WARNING, diags
    assert "is not a directive, so this note is not heard" in diags[0].message and hint in " ".join(diags[0].notes)
    assert (diags[0].span.col, diags[0].span.end_col - diags[0].span.col) == (5, len(body.split(":")[0]))  # the word


def test_capitalised_keyword_is_a_note_with_a_hint(project):
    node, diags = run("Pause 2s", project)
    assert node is None
    assert len(diags) == 1 and diags[0].severity is Severity.WARNING and "lowercase" in diags[0].message


def test_capitalised_prose_is_a_note_without_a_hint(project):
    assert run("Music swells as the door opens", project) == (None, [])


def test_duration_helper():
    assert parse_duration("250ms") == 0.25
    assert parse_duration("2 s") == 2.0
    assert parse_duration("2x") is None


def test_capitalised_keyword_before_prose_is_a_quiet_note(project):
    assert run("Music swells", project) == (None, [])
    assert run("SFX: sounds/door.wav", project)[1][0].severity is Severity.WARNING


# --- an unclosed `[[`: a directive missing its `]]` or a note --------------------------------


@pytest.mark.parametrize("text, keyword", [
    ("[[pause 1s Really?", "pause"), ("[[ sfx: sounds/door.wav", "sfx"), ("[[music stop", "music"),
    ("[[move: ANNA to 0.8", "move"), ("[[pause", "pause"),
])
def test_an_unclosed_opener_with_a_keyword_is_a_directive(text, keyword):
    message, hint = unclosed_directive(text, 2)
    assert f"'[[{keyword}' is not closed" in message and "]]" in hint


def test_an_unclosed_opener_with_a_misspelt_keyword_names_it():
    message, hint = unclosed_directive("[[ambiance: sounds/rain.wav", 2)
    assert "'[[ambiance' is not closed" in message and "did you mean 'ambience'?" in hint


@pytest.mark.parametrize("text", ["[[check the tone", "[[pauses are important", "[[Music swells",
                                  "[[Check: is this too long?", "[[", "[[ [[pause"])
def test_an_unclosed_note_is_not_a_directive(text):
    assert unclosed_directive(text, 2) is None
