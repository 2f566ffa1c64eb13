"""Takes (compiler/takes.py): another rendering of one line, locked in dramac.lock, honoured by builds;
`dramac take`; the build lock shared by every command that writes the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soundfile

from compiler import buildlock, takes
from compiler.build import prepare
from compiler.diagnostics import CompileError

PLAY = ("Title: Takes\n\nINT. ROOM - DAY\n\nANNA\nThe ferry leaves at nine, with or without him.\n\n"
        "BEN\nThen we should go now.\n\nEXT. DOCK - NIGHT\n\nANNA\nThere it is, right on time.\n")
LINE_ANNA = 6  # script line of ANNA's first line
LINE_BEN = 9


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "dramac.toml").write_text("# settings\n")
    play = tmp_path / "play.fountain"
    play.write_text(PLAY)
    return play


def dramac(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "compiler", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def build(play: Path) -> dict:
    done = dramac("build", play.name, "-o", "out", "--jobs", "1", cwd=play.parent)
    assert done.returncode == 0, done.stderr
    return json.loads((play.parent / "out" / "play.json").read_text())


def line_of(manifest: dict, number: int) -> dict:
    return next(line for line in manifest["lines"] if line["span"]["line"] == number)


def line_audio(play: Path, manifest: dict, number: int) -> np.ndarray:
    """The samples of one line in the built mix, read by soundfile (not dramac's reader)."""
    audio, rate = soundfile.read(play.parent / "out" / "play.wav", dtype="float32")
    line = line_of(manifest, number)
    return audio[int(line["start"] * rate):int(line["end"] * rate)]


def test_take_one_keeps_the_key_a_clip_always_had_and_other_takes_change_it(project):
    prepared = prepare(project)
    clip, line = takes.find_line(prepared.plan, LINE_ANNA)
    assert takes.with_take(clip, line, 1).key == clip.key
    second, third = takes.with_take(clip, line, 2), takes.with_take(clip, line, 3)
    assert len({clip.key, second.key, third.key}) == 3
    assert takes.find_line(prepared.plan, LINE_ANNA - 1)[1] == line  # the cue names the line below it
    assert takes.find_line(prepared.plan, 3) is None  # the scene heading is no spoken line


def test_another_take_changes_that_lines_audio_and_its_clip_hash_only(project):
    first = build(project)
    done = dramac("take", project.name, LINE_ANNA, "--new", cwd=project.parent)
    assert done.returncode == 0, done.stderr
    assert "take 2 of 2" in done.stdout
    second = build(project)
    assert line_of(second, LINE_ANNA)["clip"] != line_of(first, LINE_ANNA)["clip"]
    other = line_of(first, 14)
    assert line_of(second, 14)["clip"] == other["clip"]  # another scene's clip is untouched
    before, after = line_audio(project, first, LINE_ANNA), line_audio(project, second, LINE_ANNA)
    n = min(before.size, after.size)
    assert before.size != after.size or not np.allclose(before[:n], after[:n], atol=1e-3)
    lock = tomllib.loads((project.parent / "dramac.lock").read_text())
    table = lock["scripts"]["play.fountain"]["embedded"]["takes"]
    assert [(t["take"], t["count"], t["line"], t["speaker"]) for t in table.values()] == [(2, 2, LINE_ANNA, "ANNA")]

    # Back to take 1: the first build's manifest again, byte for byte in what it says of the lines.
    assert dramac("take", project.name, LINE_ANNA, "--use", "1", cwd=project.parent).returncode == 0
    assert build(project)["lines"] == first["lines"]


def test_a_locked_take_survives_an_edit_elsewhere_and_a_rebuild(project):
    build(project)
    assert dramac("take", project.name, LINE_ANNA, "--new", cwd=project.parent).returncode == 0
    taken = build(project)
    project.write_text(PLAY.replace("right on time.", "late as ever."))  # another scene, so another clip
    edited = build(project)
    assert line_of(edited, LINE_ANNA)["clip"] == line_of(taken, LINE_ANNA)["clip"]
    assert np.array_equal(line_audio(project, edited, LINE_ANNA), line_audio(project, taken, LINE_ANNA))
    assert line_of(edited, 14)["clip"] != line_of(taken, 14)["clip"]
    listed = dramac("take", project.name, "--list", cwd=project.parent)
    assert "take 2 of 2" in listed.stdout and "ANNA" in listed.stdout
    # Moving the line (a blank line above it) keeps its take too.
    project.write_text("\n\n" + PLAY)
    moved = build(project)
    assert line_of(moved, LINE_ANNA + 2)["clip"] == line_of(taken, LINE_ANNA)["clip"]


def test_take_refuses_what_does_not_exist(project):
    bad = dramac("take", project.name, 3, "--new", cwd=project.parent)
    assert bad.returncode == 1 and "no spoken line at line 3" in bad.stderr
    missing = dramac("take", project.name, LINE_ANNA, "--use", "4", cwd=project.parent)
    assert missing.returncode == 1 and "take 4 does not exist" in missing.stderr
    usage = dramac("take", project.name, LINE_ANNA, cwd=project.parent)
    assert usage.returncode == 1 and "--new" in usage.stderr
    assert "Traceback" not in bad.stderr + missing.stderr + usage.stderr


def test_a_damaged_takes_table_is_a_diagnostic_at_the_lock(project):
    (project.parent / "dramac.lock").write_text(
        'version = 1\n[scripts."play.fountain".embedded.takes."abc"]\ntake = 5\ncount = 2\n')
    with pytest.raises(CompileError) as caught:
        prepare(project)
    message = caught.value.diagnostics[0].message
    assert "take must be from 1 to count" in message
    assert caught.value.diagnostics[0].span.file.endswith("dramac.lock")


def test_the_build_lock_is_held_across_processes_and_released_when_the_holder_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]);"
                               "from compiler.buildlock import held\nwith held(sys.argv[2]):\n print('held', flush=True); time.sleep(60)",
                               str(Path(__file__).resolve().parents[1]), str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert buildlock.is_held(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert not buildlock.is_held(tmp_path)
    waited = []
    with buildlock.held(tmp_path, lambda: waited.append(True)):
        with buildlock.held(tmp_path):  # nested in one thread: no deadlock on its own flock
            pass
    assert waited == []


def test_a_frozen_build_names_a_changed_take_as_the_reason(project):
    build(project)
    assert dramac("take", project.name, LINE_ANNA, "--new", cwd=project.parent).returncode == 0
    frozen = dramac("build", project.name, "-o", "out", "--frozen", cwd=project.parent)
    assert frozen.returncode == 1
    assert "its take changed" in frozen.stderr


def test_a_generation_of_several_lines_keeps_its_seed_at_take_one_and_draws_another_per_take():
    assert takes.take_seed(7, [1, 1, 1]) == 7  # Dia2's clips without takes render as they always did
    seeds = {takes.take_seed(7, t) for t in ([2, 1, 1], [1, 2, 1], [3, 1, 1], [2, 2, 1])}
    assert len(seeds) == 4 and 7 not in seeds
    assert all(0 <= s < 2**63 for s in seeds)
    assert takes.take_seed(7, [2, 1]) == takes.take_seed(7, [2, 1])  # the same in every process: no salted hash()
    assert takes.take_seed(8, [2, 1]) != takes.take_seed(7, [2, 1])


@pytest.mark.slow
def test_the_embedded_backend_says_a_line_otherwise_at_take_two_and_the_same_at_take_one_again():
    from compiler.backends import shared
    from compiler.backends.embedded import palette

    backend = shared("embedded")
    voice = palette()[0]
    first, again = backend.speak("We leave the harbour at nine.", voice), backend.speak("We leave the harbour at nine.", voice, 1)
    second = backend.speak("We leave the harbour at nine.", voice, 2)
    assert np.array_equal(first, again)
    n = min(first.size, second.size)
    assert first.size != second.size or not np.allclose(first[:n], second[:n], atol=1e-3)
    # Still the same words: about as long (Piper's duration noise moves phonemes, not the sentence),
    # and heard as those words by a recogniser (tests/listen.py: offline Whisper tiny.en).
    assert 0.7 < second.size / first.size < 1.3
    from tests import listen

    for take in (2, 3):
        audio = backend.speak("We leave the harbour at nine.", voice, take)
        assert listen.wer("We leave the harbour at nine.", listen.heard(audio, backend.sample_rate)) <= 0.2


def test_take_never_writes_through_a_symlinked_cache(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.symlink(elsewhere, project.parent / ".dramac-cache")
    done = dramac("take", project.name, LINE_ANNA, "--new", cwd=project.parent)
    assert done.returncode == 1 and "symbolic link" in done.stderr
    assert list(elsewhere.iterdir()) == []
