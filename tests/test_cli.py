"""The command line as a writer meets it: exit codes, diagnostics with caret, JSON for tools."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FERRY = ROOT / "examples" / "night-ferry" / "night-ferry.fountain"
LIGHTHOUSE = ROOT / "examples" / "lighthouse" / "lighthouse.md"


def dramac(*args, cwd=None):
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    return subprocess.run([sys.executable, "-m", "compiler", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def write(tmp_path, name, text, mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def assert_no_traceback(r):
    assert "Traceback" not in r.stderr + r.stdout
    assert "internal compiler error" not in r.stderr


def test_check_examples_clean():
    r = dramac("check", FERRY, LIGHTHOUSE)
    assert r.returncode == 0, r.stderr
    assert "error" not in r.stderr


def test_error_has_position_source_line_and_caret(tmp_path):
    p = write(tmp_path, "bad.fountain", "INT. ROOM - DAY\n\nANNA\nWait for it.\n\n[[pause forever]]\n")
    r = dramac("check", p)
    assert r.returncode == 1
    assert_no_traceback(r)
    lines = r.stderr.splitlines()
    head = next(i for i, l in enumerate(lines) if ":6:" in l and "error:" in l)
    assert lines[head].startswith(f"{p}:6:")
    assert "[[pause forever]]" in lines[head + 1]
    assert "^" in lines[head + 2]


@pytest.mark.parametrize("name, text", [
    ("u.fountain", "INT. ROOM - DAY\n\nANNA\nIs it, though? [[pause 1s Really?\n"),
    ("u.md", "# Room\n\n**ANNA:** Is it, though? [[pause 1s Really?\n"),
])
def test_unclosed_directive_fails_check_at_its_opener(tmp_path, name, text):
    p = write(tmp_path, name, text)
    r = dramac("check", p)
    assert r.returncode == 1, r.stderr
    assert_no_traceback(r)
    line = text.splitlines()[3 if name.endswith(".fountain") else 2]
    col = line.index("[[") + 1
    lines = r.stderr.splitlines()
    head = next(i for i, l in enumerate(lines) if "error:" in l)
    assert lines[head].startswith(f"{p}:{text.count(chr(10))}:{col}: error: directive '[[pause' is not closed")
    assert line in lines[head + 1] and lines[head + 2].index("^") - lines[head + 2].index("|") - 2 == col - 1
    assert "add ']]'" in r.stderr


@pytest.mark.parametrize(
    "name,content,mode,needle",
    [
        ("bin.fountain", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "wb", "binary"),
        ("latin1.fountain", "INT. CAF\xc9 - DAY\n".encode("latin-1"), "wb", "UTF-8"),
        ("x.docx", b"PK\x03\x04", "wb", "unknown script format"),
        ("esc.fountain", "INT. A - DAY\n\n[[sfx: ../../../etc/passwd.wav]]\n", "w", "outside the project"),
        ("abs.md", "# One\n\n[[sfx: /etc/hosts.wav]]\n", "w", "absolute"),
        ("bad.md", "---\ntitle: [unclosed\n---\n\nANNA: hi\n", "w", "error"),
    ],
)
def test_bad_input_is_a_diagnostic_not_a_traceback(tmp_path, name, content, mode, needle):
    p = write(tmp_path, name, content, mode)
    r = dramac("check", p)
    assert r.returncode == 1, r.stderr
    assert_no_traceback(r)
    assert f"{p}:" in r.stderr and "error:" in r.stderr
    assert needle.lower() in r.stderr.lower()


def test_invalid_utf8_points_at_the_byte(tmp_path):
    p = write(tmp_path, "u.fountain", b"INT. HOUSE - DAY\n\nANNA\nCaf\xe9 au lait.\n", "wb")
    r = dramac("check", p)
    assert r.returncode == 1
    assert f"{p}:4:4: error: invalid UTF-8" in r.stderr


def test_huge_file_and_directory_and_missing_file(tmp_path):
    big = tmp_path / "huge.fountain"
    with open(big, "wb") as f:
        f.truncate(50 * 1024 * 1024)
    d = tmp_path / "dir.fountain"
    d.mkdir()
    for p, needle in ((big, "at most"), (d, "directory"), (tmp_path / "none.fountain", "no such file")):
        r = dramac("check", p)
        assert r.returncode == 1 and needle in r.stderr, r.stderr
        assert_no_traceback(r)


def test_check_refuses_scripts_with_nothing_to_render_as_a_build_does(tmp_path):
    empty = write(tmp_path, "empty.fountain", "")
    quiet = write(tmp_path, "quiet.fountain", "INT. ROOM - DAY\n\nNothing happens.\n")
    r = dramac("check", empty, quiet)
    assert r.returncode == 1
    assert f"{empty}:1:1: error: script is empty: nothing to render" in r.stderr
    assert f"{quiet}:1:1: error: nothing to render" in r.stderr and "--narrator" in r.stderr
    assert "warning" not in r.stderr  # the errors replace the front end's warnings
    assert_no_traceback(r)
    # With the narrator on, the action is read aloud: only the warning stays.
    (tmp_path / "dramac.toml").write_text("[narrator]\nenabled = true\n")
    r = dramac("check", quiet)
    assert r.returncode == 0 and "warning: script has no dialogue" in r.stderr
    # `cast` lists the characters and still only warns; `plan`, which times a build, refuses as it does.
    r = dramac("cast", empty)
    assert r.returncode == 0 and "warning: script is empty" in r.stderr
    for script in (empty, quiet, write(tmp_path, "title.fountain", "Title: Only a title\n")):
        for json_flag in ((), ("--json",)):
            r = dramac("plan", script, "--no-narrator", *json_flag)
            assert r.returncode == 1 and f"{script}:1:1: error:" in r.stderr and "nothing to render" in r.stderr, r.stderr
            assert_no_traceback(r)
            assert "internal compiler error" not in r.stderr


def test_building_an_emptied_script_is_an_error_that_leaves_the_outputs(tmp_path):
    (tmp_path / "dramac.toml").write_text("")
    play = write(tmp_path, "play.fountain", "INT. ROOM - DAY\n\nJO\nHello there.\n")
    built = dramac("build", play, "-o", tmp_path / "out", "--format", "wav")
    assert built.returncode == 0, built.stderr
    outputs = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    lock = (tmp_path / "dramac.lock").read_bytes()
    for text, message in (("", "error: script is empty: nothing to render"),
                          ("INT. ROOM - DAY\n\nJO leaves.\n", "error: nothing to render")):
        play.write_text(text)
        r = dramac("build", play, "-o", tmp_path / "out", "--format", "wav")
        assert r.returncode == 1 and f"{play}:1:1: {message}" in r.stderr, r.stderr
        assert_no_traceback(r)
        assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()} == outputs
        assert (tmp_path / "dramac.lock").read_bytes() == lock


def test_similar_names_warn(tmp_path):
    p = write(tmp_path, "names.fountain", "INT. OFFICE - DAY\n\nDR SMITH\nHello.\n\nDR. SMITH\nHello again.\n")
    r = dramac("check", p)
    assert r.returncode == 0
    assert f"{p}:6:1: warning: character 'DR. SMITH' differs from 'DR SMITH'" in r.stderr


def test_check_json(tmp_path):
    p = write(tmp_path, "bad.fountain", "INT. ROOM - DAY\n\n[[pause -1s]]\n")
    r = dramac("check", p, "--json")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert data["ok"] is False
    lines = [x["span"]["line"] for x in data["diagnostics"]]
    assert lines == sorted(lines)  # source order
    d = next(x for x in data["diagnostics"] if x["severity"] == "error")
    assert d["span"]["line"] == 3 and d["file"] == str(p)


def test_ast_json_shape():
    r = dramac("ast", FERRY, "--json")
    assert r.returncode == 0, r.stderr
    tree = json.loads(r.stdout)
    assert tree["type"] == "Script" and tree["format"] == "fountain"
    assert tree["title_page"]["type"] == "TitlePage"
    types = set()

    def walk(node):
        if isinstance(node, dict):
            if "type" in node:
                types.add(node["type"])
                assert set(node["span"]) == {"line", "col", "end_line", "end_col"}
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(tree)
    assert {"Scene", "SceneHeading", "Action", "Dialogue", "Parenthetical", "Transition", "Pause", "Sfx", "Note"} <= types
    dialogue = [el for sc in tree["scenes"] for el in sc["body"] if el["type"] == "Dialogue"]
    hannah = next(d for d in dialogue if d["extension"] == "O.S.")
    assert hannah["character"] == "HANNAH"
    cont = next(d for d in dialogue if "CONT" in d["cue"])
    assert cont["character"] == "ROSA" and cont["extension"] is None


def test_cast_counts_lines_and_words():
    r = dramac("cast", FERRY, "--json")
    assert r.returncode == 0, r.stderr
    rows = {c["character"]: c for c in json.loads(r.stdout)["characters"]}
    assert set(rows) == {"ROSA", "MILES", "HANNAH", "GEORGE"}
    assert rows["ROSA"]["lines"] == 6
    assert rows["GEORGE"]["words"] == 24
    assert len({c["voice"] for c in rows.values()}) == 4
    r = dramac("cast", FERRY)
    assert "ROSA" in r.stdout and "HANNAH" in r.stdout


def test_plan_json_lists_clips(tmp_path):
    r = dramac("plan", FERRY, "--json")
    assert r.returncode == 0, r.stderr
    steps = json.loads(r.stdout)["steps"]
    clips = [s for s in steps if s["type"] == "clip"]
    assert clips and all(len(c["spoken"]) == c["lines"] and 1 <= len(c["speakers"]) <= 2 for c in clips)
    assert not any("[S1]" in text for c in clips for text in c["spoken"])  # no backend markup in a plan
    assert [s["type"] for s in steps].count("scene") == 2
    assert any(s["type"] == "sfx" for s in steps) and any(s["type"] == "pause" for s in steps)


def test_unusable_output_folder_and_clashing_names_are_errors(tmp_path):
    script = write(tmp_path, "a.fountain", "INT. A - DAY\n\nANNA\nHello there.\n")
    blocker = write(tmp_path, "afile", "not a folder")
    r = dramac("build", script, "-o", blocker)
    assert r.returncode == 1 and "cannot create the output folder" in r.stderr
    assert_no_traceback(r)
    (tmp_path / "b").mkdir()
    twin = write(tmp_path / "b", "a.fountain", "INT. B - DAY\n\nBEN\nHi.\n")
    r = dramac("build", script, twin, "-o", tmp_path / "out")
    assert r.returncode == 1 and "would both write a.*" in r.stderr
    r = dramac("build", script, "--jobs", "-3")
    assert r.returncode == 2 and "'--jobs'" in r.stderr
    r = dramac("build", script, "--format", "aiff")
    assert r.returncode == 2 and "unknown audio format aiff" in r.stderr


# ---------------------------------------------------------------------------------------------
# User text is printed literally: never rich markup, never emoji codes, never terminal controls


def test_script_text_that_looks_like_markup_is_printed_as_written(tmp_path):
    p = write(tmp_path, "m.fountain", "\\[/]")  # 4 bytes: an escaped markup close tag
    r = dramac("check", p)
    assert_no_traceback(r)
    # Action alone: nothing to render, refused (docs/build.md), the line shown as written.
    assert r.returncode == 1 and "   1 | \\[/]" in r.stderr, r.stderr


@pytest.mark.parametrize("command", ["check", "ast", "cast", "plan"])
def test_markup_in_headings_and_cues_reaches_every_command_literally(tmp_path, command):
    p = write(tmp_path, "m.fountain", "INT. HOUSE [/X] - DAY\n\nBOB [/X]\nHello [bold]there[/bold].\n\n[[pause x]] [/X]\n")
    r = dramac(command, p)
    assert_no_traceback(r)
    assert r.returncode == 1, r.stderr  # the pause is an error, reported with its source line
    assert f"{p}:6:9: error:" in r.stderr and "   6 | [[pause x]] [/X]" in r.stderr
    fixed = write(tmp_path, "ok.fountain", "INT. HOUSE [/X] - DAY\n\nBOB [/X]\nHello [bold]there[/bold].\n")
    r = dramac(command, fixed)
    assert_no_traceback(r)
    assert r.returncode == 0, r.stderr
    if command in ("cast", "plan"):
        assert "BOB [/X]" in r.stdout


def test_line_100_is_not_an_emoji_and_the_caret_stays_under_the_column(tmp_path):
    p = write(tmp_path, "e.fountain", "INT. A - DAY\n" + "\n" * 98 + "Wait :100: [[pause x]]\n")
    r = dramac("check", p)
    assert_no_traceback(r)
    lines = r.stderr.splitlines()
    head = lines.index(next(l for l in lines if "error:" in l))
    assert lines[head].startswith(f"{p}:100:20: error: 'x' is not a duration"), r.stderr
    assert lines[head + 1] == " 100 | Wait :100: [[pause x]]"
    assert lines[head + 2].index("^") == lines[head + 1].index("x]]")


def test_paths_that_look_like_markup_in_check_build_and_watch(tmp_path):
    folder = tmp_path / "d[" / "x]"  # a folder path containing "[/x]"
    folder.mkdir(parents=True)
    bad = write(folder, "bad.fountain", "INT. A - DAY\n\nBOB\nHi.\n\n[[pause x]]\n")
    r = dramac("check", bad)
    assert_no_traceback(r)
    assert r.returncode == 1 and f"{bad}:6:9: error:" in r.stderr
    good = write(folder, "good.fountain", "INT. A - DAY\n\nBOB\nHello there :100:.\n")
    out = tmp_path / "o[" / "x]"
    r = dramac("build", good, "-o", out, "--jobs", "1")
    assert_no_traceback(r)
    assert r.returncode == 0 and f"built {out / 'good.wav'}" in r.stdout, r.stderr
    r = dramac("watch", "--once", good, "-o", out)
    assert_no_traceback(r)
    assert r.returncode == 0 and f"✓ {good} → {out / 'good.wav'}" in r.stdout, r.stderr + r.stdout


def test_control_characters_in_a_script_cannot_reach_the_terminal(tmp_path):
    p = write(tmp_path, "c.fountain", "INT. A - DAY\n\nBOB\nHi \x1b]0;owned\x07 \x1b[2J [[pause x]]\n")
    r = dramac("check", p)
    assert_no_traceback(r)
    assert r.returncode == 1 and "\x1b" not in r.stderr and "\x07" not in r.stderr
    lines = r.stderr.splitlines()
    source = next(l for l in lines if l.startswith("   4 | "))
    assert "␛]0;owned␇ ␛[2J" in source
    caret = lines[lines.index(source) + 1]
    assert caret.index("^") == source.index("x]]")  # one column per control character


def test_file_names_that_are_not_utf8_print_and_dump_json(tmp_path):
    name = os.fsdecode(b"\xff.fountain")
    r = dramac("check", tmp_path / name)
    assert_no_traceback(r)
    assert r.returncode == 1 and "\ufffd.fountain:1:1: error: no such file" in r.stderr
    r = dramac("check", tmp_path / name, "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["diagnostics"][0]["file"].endswith("\udcff.fountain")


def test_the_internal_error_handler_prints_any_message_and_exits_70(monkeypatch, capsys):
    from compiler import cli

    class Hostile(Exception):
        def __str__(self):
            return "[/x] :100: \x1b[2J"

    class Unprintable(Exception):
        def __str__(self):
            raise ValueError("no message")

    for exc, shown in ((Hostile(), "internal compiler error: Hostile: [/x] :100: ␛[2J"), (Unprintable(), "internal compiler error: Unprintable")):
        def explode():
            raise exc

        monkeypatch.setattr(cli, "app", explode)
        with pytest.raises(SystemExit) as stop:
            cli.main()
        assert stop.value.code == 70
        assert shown in capsys.readouterr().err


def test_watch_keeps_going_after_a_failure_whose_message_looks_like_markup(tmp_path):
    import io

    from rich.console import Console

    from compiler.watch import watch_loop

    script = write(tmp_path, "w.fountain", "INT. A - DAY\n")
    screen = io.StringIO()

    def build_one(path, before_publish):
        raise RuntimeError("closing tag '[/X]' at :100:")

    watch_loop([script], build_one, Console(file=screen, width=200), debounce=0.0, once=True)
    assert f"✗ {script}: internal compiler error: RuntimeError: closing tag '[/X]' at :100:; watching" in screen.getvalue()


# ---------------------------------------------------------------------------------------------
# Reading scripts: regular files only, never past the size limit; paths the file system refuses


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and /dev/zero")
def test_fifo_and_device_scripts_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "pipe.fountain"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.md"
    zero.symlink_to("/dev/zero")
    for p, needle in ((fifo, "is a named pipe (FIFO), not a regular file"), (zero, "is a character device, not a regular file")):
        r = dramac("check", p)  # the old reader hung on the FIFO and read /dev/zero until memory ran out
        assert_no_traceback(r)
        assert r.returncode == 1 and f"{p}:1:1: error: {needle}" in r.stderr, r.stderr


def test_a_diagnostic_about_a_fifo_does_not_read_it(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs FIFOs")
    script = write(tmp_path, "a.fountain", "INT. A - DAY\n\nANNA\nHello there.\n")
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    r = dramac("build", script, "-o", fifo)  # the error names the FIFO; printing its source line must not block
    assert_no_traceback(r)
    assert r.returncode == 1 and "cannot create the output folder" in r.stderr


def test_symlink_loops_in_the_script_path_and_in_sound_paths(tmp_path):
    (tmp_path / "a.fountain").symlink_to(tmp_path / "b.fountain")
    (tmp_path / "b.fountain").symlink_to(tmp_path / "a.fountain")
    r = dramac("check", tmp_path / "a.fountain")
    assert_no_traceback(r)
    assert r.returncode == 1 and f"{tmp_path / 'a.fountain'}:1:1: error: cannot read file" in r.stderr
    (tmp_path / "l1.wav").symlink_to(tmp_path / "l2.wav")
    (tmp_path / "l2.wav").symlink_to(tmp_path / "l1.wav")
    long_name = "a" * 300
    p = write(tmp_path, "s.fountain", f"INT. A - DAY\n\nBOB\nHi. [[sfx: l1.wav]]\n\n[[music: {long_name}.wav]]\n\n[[sfx: {long_name}/x.wav]]\n")
    r = dramac("check", p)
    assert_no_traceback(r)
    assert r.returncode == 1
    assert f"{p}:4:12: error: cannot follow path 'l1.wav'" in r.stderr
    assert f"{p}:6:10: error: cannot use path '{long_name}.wav': file name too long" in r.stderr
    assert f"{p}:8:8: error: cannot use path '{long_name}/x.wav': file name too long" in r.stderr


def test_plan_prints_whole_rows_every_heading_and_what_each_directive_does(tmp_path):
    script = tmp_path / "p.fountain"
    script.write_text("INT. KITCHEN - NIGHT\n\nANNA\nHello there, this line is long enough to wrap a narrow terminal.\n\n"
                      "BORIS\nHi.\n\n[[move: ANNA to 0.8 over 2s]]\n\nANNA\nBye.\n\nEXT. GARDEN - DAY\n\nBORIS\nWait.\n",
                      encoding="utf-8")
    env = dict(os.environ, COLUMNS="60", NO_COLOR="1")
    r = subprocess.run([sys.executable, "-m", "compiler", "plan", str(script)], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0] == "── INT. KITCHEN - NIGHT ──"  # the first scene's heading too
    assert "── EXT. GARDEN - DAY ──" in rows
    assert any(row.endswith("[S1] ANNA + [S2] BORIS") and " 2 lines " in row for row in rows)  # a whole row, unwrapped
    assert any(" 1 line " in row for row in rows)
    assert "move character=ANNA over=2.0 to=0.8  (line 9)" in rows


def _help(*args):
    env = dict(os.environ, COLUMNS="1000", NO_COLOR="1", TERM="dumb")  # wider than any paragraph: no wrapping
    r = subprocess.run([sys.executable, "-m", "compiler", *args, "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    return [line.strip(" │") for line in r.stdout.splitlines()]


def test_help_prints_each_paragraph_of_a_command_as_one_line():
    """Docstrings are wrapped to fit the source; `--help` must not break their sentences there."""
    import inspect

    from compiler.cli import app

    listed = _help()
    for info in app.registered_commands:
        name = info.name or info.callback.__name__
        paragraphs = [" ".join(p.split()) for p in inspect.cleandoc(info.callback.__doc__).split("\n\n")]
        shown = _help(name)
        for paragraph in paragraphs:
            assert paragraph in shown, (name, paragraph)
        assert any(line.split(None, 1) == [name, paragraphs[0]] for line in listed), (name, paragraphs[0])
