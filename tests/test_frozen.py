"""`dramac build --frozen`: fails before rendering anything when a clip would be rendered or
dramac.lock would change, naming each script line and why; passes when nothing would change."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.build import build, prepare
from compiler.diagnostics import CompileError

ROOT = Path(__file__).resolve().parent.parent

PLAY = """INT. KITCHEN - NIGHT

ELENA (40s) checks her watch.

ELENA
You are late.

SAMUEL
Traffic.

INT. HALL - NIGHT

ELENA
Tea?
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A project built once (outputs, cache and dramac.lock); each test works on a copy."""
    root = tmp_path_factory.mktemp("frozen")
    (root / "dramac.toml").write_text("")
    (root / "play.fountain").write_text(PLAY)
    build(prepare(root / "play.fountain"), root / "outputs", ["wav"], 1)
    return root


@pytest.fixture
def project(built, tmp_path) -> Path:
    copy = tmp_path / "p"
    shutil.copytree(built, copy)
    return copy


def _frozen(project: Path):
    return build(prepare(project / "play.fountain"), project / "outputs", ["wav"], 1, frozen=True)


def _cache_entries(project: Path) -> set[str]:
    return {p.name for p in (project / ".dramac-cache").rglob("*.npz")}


def test_a_frozen_build_of_an_unchanged_play_passes_and_renders_nothing(project):
    lock_before = (project / "dramac.lock").read_bytes()
    result = _frozen(project)
    assert result.rendered == 0 and result.cached == 2
    assert (project / "dramac.lock").read_bytes() == lock_before


def test_an_edited_line_fails_at_that_line_before_anything_is_rendered(project):
    (project / "play.fountain").write_text(PLAY.replace("Traffic.", "Traffic, again."))
    entries = _cache_entries(project)
    wav = (project / "outputs" / "play.wav").read_bytes()
    with pytest.raises(CompileError) as caught:
        _frozen(project)
    [problem] = caught.value.diagnostics
    assert problem.span.line == 9 and "would be rendered: its text changed" in problem.message
    assert _cache_entries(project) == entries  # nothing rendered
    assert (project / "outputs" / "play.wav").read_bytes() == wav  # nothing published


def test_a_changed_voice_names_the_character_and_each_line(project):
    (project / "dramac.toml").write_text('[cast.SAMUEL]\nvoice = "deep-male"\n')
    with pytest.raises(CompileError) as caught:
        _frozen(project)
    messages = [(d.span.line, d.message) for d in caught.value.diagnostics]
    assert any("SAMUEL's voice would change" in m and "(set in the settings)" in m for _, m in messages)
    assert any(line == 6 and "the voice of SAMUEL changed" in m for line, m in messages)


def test_a_new_character_is_a_lock_change(project):
    (project / "play.fountain").write_text(PLAY + "\nMARTA\nHello.\n")
    with pytest.raises(CompileError) as caught:
        _frozen(project)
    assert any("MARTA has no voice in dramac.lock" in d.message and d.span.line == 16 for d in caught.value.diagnostics)


def test_a_cleared_cache_is_said_as_such(project):
    shutil.rmtree(project / ".dramac-cache")
    with pytest.raises(CompileError) as caught:
        _frozen(project)
    assert [d.span.line for d in caught.value.diagnostics] == [6, 14]
    assert all("not in the clip cache" in d.message for d in caught.value.diagnostics)


def test_the_command_fails_without_a_lock_with_a_diagnostic_and_exit_1(project):
    (project / "dramac.lock").unlink()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-m", "compiler", "build", "play.fountain", "-o", "outputs", "--frozen"],
                         capture_output=True, text=True, cwd=project, env=env, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "play.fountain:1:1: error: --frozen needs dramac.lock" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (project / "dramac.lock").exists()


def test_two_scripts_of_one_project_keep_both_their_tables(built, tmp_path):
    project = tmp_path / "two"
    shutil.copytree(built, project)
    (project / "other.fountain").write_text(PLAY.replace("ELENA", "MARTA"))
    first, second = prepare(project / "play.fountain"), prepare(project / "other.fountain")
    build(second, project / "outputs", ["wav"], 1)
    build(first, project / "outputs", ["wav"], 1)  # prepared before the other build wrote the lock
    import tomllib

    scripts = tomllib.loads((project / "dramac.lock").read_text())["scripts"]
    assert set(scripts) == {"play.fountain", "other.fountain"}


def test_a_locked_character_who_no_longer_speaks_is_no_lock_change(project):
    """A build keeps the voice of a character who stopped speaking (only `dramac lock --update`
    drops it), so the lock would not change for it: --frozen fails for the clip that changed, not for him."""
    (project / "play.fountain").write_text(PLAY.replace("SAMUEL\nTraffic.\n\n", ""))
    with pytest.raises(CompileError) as caught:
        _frozen(project)
    assert not [d for d in caught.value.diagnostics if "SAMUEL" in d.message]
    assert caught.value.diagnostics  # the clip that held SAMUEL's line
    build(prepare(project / "play.fountain"), project / "outputs", ["wav"], 1)
    import tomllib

    assert "SAMUEL" in tomllib.loads((project / "dramac.lock").read_text())["scripts"]["play.fountain"]["embedded"]["voices"]
    assert _frozen(project).rendered == 0
