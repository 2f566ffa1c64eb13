"""Where a build writes: the cache folder may not escape the project or overlap the outputs, it
always carries its markers, and temporary files of killed builds are swept away."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from compiler import atomic
from compiler.project import CACHE_DIR_NAME, CONFIG_NAME, FolderRefused, Project, build_folders
from compiler.render import ClipCache
from test_render import CLIPS

PLAY = "Title: Folders\n\nINT. ROOM - DAY\n\nANNA\nHello there.\n"


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "play"
    root.mkdir()
    (root / CONFIG_NAME).write_text("")
    (root / "play.fountain").write_text(PLAY)
    return root


def dramac(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "compiler", *args], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=300)


# --- the cache folder ----------------------------------------------------------------------------


def test_the_default_cache_folder_is_used_with_outputs_in_the_project_root(project):
    assert build_folders(Project(project), project, None) == project / CACHE_DIR_NAME
    assert build_folders(Project(project), project / "outputs", None) == project / CACHE_DIR_NAME


def test_a_shipped_cache_folder_that_is_a_symlink_is_refused(project, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (project / CACHE_DIR_NAME).symlink_to(outside, target_is_directory=True)
    with pytest.raises(FolderRefused, match="symbolic link"):
        build_folders(Project(project), project / "outputs", None)
    # Even a link that stays inside the project: the project did not get it from dramac.
    (project / CACHE_DIR_NAME).unlink()
    (project / "real-cache").mkdir()
    (project / CACHE_DIR_NAME).symlink_to(project / "real-cache", target_is_directory=True)
    with pytest.raises(FolderRefused, match="symbolic link"):
        build_folders(Project(project), project / "outputs", None)


def test_a_cache_folder_named_on_the_command_line_may_be_anywhere_else(project, tmp_path):
    chosen = tmp_path / "my-cache"
    assert build_folders(Project(project), project / "outputs", chosen) == chosen
    linked = tmp_path / "link-to-cache"
    linked.symlink_to(chosen, target_is_directory=True)
    assert build_folders(Project(project), project / "outputs", linked) == linked


@pytest.mark.parametrize("where, refusal", [
    ("outputs", "is the output folder"),
    ("outputs/..", "is the project root"),
    (".", "is the project root"),
    ("..", "above the project root"),
    ("outputs/cache", "inside the output folder"),
])
def test_a_cache_folder_overlapping_the_outputs_or_the_root_is_refused(project, where, refusal):
    with pytest.raises(FolderRefused, match=refusal):
        build_folders(Project(project), project / "outputs", project / where)


def test_a_cache_folder_above_an_output_folder_outside_the_project_is_refused(project, tmp_path):
    with pytest.raises(FolderRefused, match="above the output folder"):
        build_folders(Project(project), tmp_path / "site" / "out", tmp_path / "site")


def test_a_cache_folder_above_the_project_root_is_refused(project, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(FolderRefused, match="above the project root"):
        build_folders(Project(project), out, tmp_path)


def test_outputs_written_into_the_cache_folder_are_refused(project):
    with pytest.raises(FolderRefused, match="is the output folder"):
        build_folders(Project(project), project / CACHE_DIR_NAME, None)
    with pytest.raises(FolderRefused, match="above the output folder"):
        build_folders(Project(project), project / CACHE_DIR_NAME / "out", None)


def test_build_refuses_a_symlinked_cache_with_a_diagnostic_and_writes_nothing_there(project, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (project / CACHE_DIR_NAME).symlink_to(outside, target_is_directory=True)
    run = dramac("build", "play.fountain", "-o", "outputs", cwd=project)
    assert run.returncode == 1, run.stderr
    assert re.search(rf"{re.escape(CACHE_DIR_NAME)}:1:1: error: the cache folder .* is a symbolic link", run.stderr), run.stderr
    assert "Traceback" not in run.stderr and list(outside.iterdir()) == []


@pytest.mark.parametrize("flags, refusal", [
    (["-o", "outputs", "--cache-dir", "outputs/cache"], "inside the output folder"),
    (["-o", CACHE_DIR_NAME], "is the output folder"),
])
def test_build_refuses_a_cache_among_the_outputs(project, flags, refusal):
    run = dramac("build", "play.fountain", *flags, cwd=project)
    assert run.returncode == 1 and refusal in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert not (project / "outputs").exists() and not (project / CACHE_DIR_NAME).exists()


# --- markers -------------------------------------------------------------------------------------


def test_markers_are_written_into_a_cache_folder_that_already_exists(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()  # as the build driver creates it before the cache is used
    cache = ClipCache(folder)
    cache.put("id", CLIPS[0], [np.zeros(10, np.float32), np.zeros(10, np.float32)], 22050)
    assert (folder / ".gitignore").read_text() == "*\n"
    assert (folder / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")


def test_a_missing_marker_comes_back_on_the_next_build(tmp_path):
    folder = tmp_path / "cache"
    ClipCache(folder).open()
    (folder / "CACHEDIR.TAG").unlink()
    ClipCache(folder).open()
    assert (folder / "CACHEDIR.TAG").is_file() and (folder / ".gitignore").is_file()


# --- temporary files left by killed builds -------------------------------------------------------


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def aged(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)
    return path


def touch(path: Path, seconds_ago: float = 0.0) -> Path:
    path.write_bytes(b"partial")
    return aged(path, seconds_ago)


def test_sweep_removes_only_what_killed_writers_left(tmp_path):
    dead, alive = dead_pid(), os.getppid()
    grace, abandoned = atomic.DEAD_WRITER_GRACE, atomic.ABANDONED_AFTER
    stale = [
        touch(tmp_path / f".play.wav.dramac{dead}.abcd1234.tmp", grace + 5),
        touch(tmp_path / f".play.json.dramac{alive}.abcd1234.tmp", abandoned + 5),  # pid reused long since
        touch(tmp_path / ".play.srt.k2j4h5g6.tmp", abandoned + 5),  # an earlier build's name for its temp file
    ]
    kept = [
        touch(tmp_path / f".play.vtt.dramac{dead}.abcd1234.tmp", 1),  # may be another machine's writer, still busy
        touch(tmp_path / f".play.flac.dramac{alive}.abcd1234.tmp", grace + 5),  # its writer is running
        touch(tmp_path / f".play.ogg.dramac{os.getpid()}.abcd1234.tmp", abandoned + 5),  # this process's own
        touch(tmp_path / ".notes.k2j4h5g6.tmp", abandoned + 5),  # a user's file that only looks like one
        touch(tmp_path / "play.wav", abandoned + 5),
    ]
    folder = tmp_path / f".old.wav.dramac{dead}.abcd1234.tmp"  # a directory renamed aside, half removed
    (folder / "inside").mkdir(parents=True)
    aged(folder, grace + 5)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("keep me")
    link = tmp_path / f".link.wav.dramac{dead}.abcd1234.tmp"
    link.symlink_to(outside)
    aged(link, grace + 5)

    removed = set(atomic.sweep_stale(tmp_path, re.compile(r".+\.(?:wav|srt|json)")))
    assert removed == {p.name for p in stale} | {folder.name, link.name}
    assert all(p.exists() for p in kept) and outside.read_text() == "keep me"


def test_a_build_sweeps_its_output_folder_and_cache_shards(project):
    first = dramac("build", "play.fountain", "-o", "outputs", cwd=project)
    assert first.returncode == 0, first.stderr
    cache = project / CACHE_DIR_NAME
    (shard,) = [p for p in cache.iterdir() if p.is_dir() and len(p.name) == 2]  # clip shards, not mix or subtitles
    mix_shard = next(p for p in (cache / "mix").iterdir() if p.is_dir())
    dead = dead_pid()
    leftovers = [
        touch(project / "outputs" / f".play.wav.dramac{dead}.k2j4h5g6.tmp", 120),
        touch(mix_shard / f".{'0' * 64}-w.npz.dramac{dead}.k2j4h5g6.tmp", 120),
        touch(shard / f".{'0' * 64}.npz.dramac{dead}.k2j4h5g6.tmp", 120),
        touch(shard / f".{'0' * 64}.npz.k2j4h5g6.tmp", 2 * atomic.ABANDONED_AFTER),
    ]
    (cache / ".gitignore").unlink()
    again = dramac("build", "play.fountain", "-o", "outputs", cwd=project)
    assert again.returncode == 0 and "0 rendered, 1 cached" in again.stdout, again.stdout + again.stderr
    assert [p for p in leftovers if p.exists()] == []
    assert (cache / ".gitignore").is_file() and (cache / "CACHEDIR.TAG").is_file()
