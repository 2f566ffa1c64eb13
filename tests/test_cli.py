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


def test_empty_and_dialogue_free_scripts_warn(tmp_path):
    empty = write(tmp_path, "empty.fountain", "")
    quiet = write(tmp_path, "quiet.fountain", "INT. ROOM - DAY\n\nNothing happens.\n")
    r = dramac("check", empty, quiet)
    assert r.returncode == 0
    assert "warning: script is empty" in r.stderr
    assert "warning: script has no dialogue" in r.stderr


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
