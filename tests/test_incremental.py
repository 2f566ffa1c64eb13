"""Incremental builds: a build whose inputs did not change does nothing (reads no clip, writes no
file); an edit rebuilds to exactly the bytes a cold build of the edited script gives; outputs are
replaced only when their bytes change; commands that render nothing never import the voice stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from compiler import build_record, render
from compiler.build import build, prepare
from compiler.project import CACHE_DIR_NAME, CONFIG_NAME

PLAY = ("Title: Increments\n\nINT. ROOM - DAY\n\nANNA\nHello there, it is late.\n\nBEN\nThen we should go.\n\n"
        "EXT. YARD - NIGHT\n\nANNA\nListen to the wind.\n")
EDITED = PLAY.replace("Then we should go.", "Then we should go home.")
OUTPUTS = ("play.wav", "play.srt", "play.vtt", "play.json")


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "play"
    root.mkdir()
    (root / CONFIG_NAME).write_text("[stitch]\nroom_tone = true\n")
    (root / "play.fountain").write_text(PLAY)
    return root


def build_play(project: Path, out: str = "out", cache: Path | None = None):
    return build(prepare(project / "play.fountain"), project / out, ["wav"], 1, cache)


def signatures(folder: Path) -> dict[str, tuple[int, int, int]]:
    return {name: (s.st_ino, s.st_mtime_ns, s.st_ctime_ns) for name in OUTPUTS for s in [os.stat(folder / name)]}


def contents(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in OUTPUTS}


def test_a_build_with_unchanged_inputs_reads_no_clip_and_writes_nothing(project, monkeypatch):
    first = build_play(project)
    before = signatures(project / "out")

    def no_render(*args, **kwargs):
        raise AssertionError("a no-op build rendered or read clips")

    monkeypatch.setattr(render, "render_plan", no_render)
    again = build_play(project)
    assert again.rendered == 0 and again.cached == first.rendered + first.cached
    assert signatures(project / "out") == before  # not even rewritten with the same bytes
    assert again.duration == first.duration and again.loudness == first.loudness
    assert again.outputs == first.outputs


@pytest.mark.parametrize("change", ["touched", "deleted", "setting"])
def test_a_changed_output_or_input_builds_again(project, change):
    first = build_play(project)
    expected = contents(project / "out")
    if change == "touched":  # another program wrote to it
        (project / "out" / "play.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nnot ours\n")
    elif change == "deleted":
        (project / "out" / "play.vtt").unlink()
    else:
        (project / CONFIG_NAME).write_text("[stitch]\nroom_tone = false\n")
    result = build_play(project)
    assert result.rendered == 0 and result.cached == first.cached + first.rendered
    if change == "setting":
        assert contents(project / "out")["play.wav"] != expected["play.wav"]
    else:
        assert contents(project / "out") == expected


def test_an_edit_builds_the_bytes_of_a_cold_build(project, tmp_path):
    """Incremental: clips and outputs of the first build are reused where the edit leaves them; the
    result must be exactly what a cold build of the edited script writes."""
    first = build_play(project)
    kept = signatures(project / "out")
    (project / "play.fountain").write_text(EDITED)
    edited = build_play(project)
    assert edited.rendered == 1 and edited.cached >= 1  # the other scene's clip is reused
    cold = build_play(project, "cold", tmp_path / "cold-cache")
    assert cold.rendered == first.rendered
    assert contents(project / "out") == contents(project / "cold")
    # The audio and subtitles changed; nothing is rewritten that did not.
    after = signatures(project / "out")
    assert all(after[name] != kept[name] for name in ("play.wav", "play.srt", "play.vtt"))


def test_an_output_changed_behind_its_old_size_and_times_is_noticed(project):
    """Size and modification time can be put back by any program; the change time cannot."""
    build_play(project)
    wav = project / "out" / "play.wav"
    original = wav.read_bytes()
    info = os.stat(wav)
    spoilt = bytearray(original)
    spoilt[-1] ^= 1  # one bit of the last sample
    wav.write_bytes(bytes(spoilt))
    os.utime(wav, ns=(info.st_atime_ns, info.st_mtime_ns))
    build_play(project)
    assert wav.read_bytes() == original


NO_VOICE_STACK = """
import sys
from compiler.cli import app
sys.argv = ["dramac", *sys.argv[1:]]
try:
    app()
except SystemExit as done:
    code = done.code
heavy = [m for m in ("onnxruntime", "piper", "parselmouth", "torch", "onnx") if m in sys.modules]
print("IMPORTED", *heavy, file=sys.stderr)
sys.exit(code)
"""


def test_commands_that_render_nothing_do_not_import_the_voice_stack(project):
    build_play(project)
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    for command in (["check", "play.fountain"], ["cast", "play.fountain"], ["plan", "play.fountain"],
                    ["build", "play.fountain", "-o", "out", "-j", "1"]):
        done = subprocess.run([sys.executable, "-c", NO_VOICE_STACK, *command], cwd=project, capture_output=True,
                              text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        imported = [line for line in done.stderr.splitlines() if line.startswith("IMPORTED")]
        assert imported == ["IMPORTED"], (command, done.stderr)
    assert "0 rendered" in done.stdout


def test_build_records_live_beside_the_shards(project):
    build_play(project)
    cache = project / CACHE_DIR_NAME
    records = sorted(p.name for p in cache.iterdir() if p.name.startswith("build-"))
    assert records == [build_record.record_path(cache, project / "out", "play").name]
