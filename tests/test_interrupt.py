"""Ctrl-C during a parallel render: the build stops at once with its message and exit status 130,
no worker prints a traceback or outlives it, and the next build resumes from the clips cached."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc: no psutil needed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


COMMAND = [sys.executable, "-m", "compiler", "build", "play.fountain", "-o", "out", "-j", "2"]


def _parallel_build(folder: Path, **popen) -> tuple[subprocess.Popen, dict]:
    """A build of a play long enough to keep two workers busy, started in a session of its own (as a
    terminal's foreground job: Ctrl-C goes to every process in it) and returned once a first clip is
    cached: its workers are loaded and rendering. Also returns the environment it runs in."""
    lines = ["INT. HALL - NIGHT", ""]
    for i in range(12):
        lines += ["ANNA" if i % 2 == 0 else "BORIS", f"Line {i}: we keep on talking so the workers stay busy a while.", ""]
    (folder / "play.fountain").write_text("\n".join(lines), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200", NO_COLOR="1")
    build = subprocess.Popen(COMMAND, cwd=folder, env=env, start_new_session=True, **popen)
    cache = folder / ".dramac-cache"
    deadline = time.monotonic() + 240
    while not list(cache.glob("*/*.npz")) and time.monotonic() < deadline and build.poll() is None:
        time.sleep(0.1)
    assert build.poll() is None, "the build ended before it was a minute old"
    return build, env


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc for the worker processes")
def test_ctrl_c_during_a_parallel_render_stops_everything_at_once(tmp_path):
    build, env = _parallel_build(tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers = _children(build.pid)
    os.killpg(build.pid, signal.SIGINT)
    sent = time.monotonic()
    out, err = build.communicate(timeout=60)
    assert time.monotonic() - sent < 15, "the build took too long to stop"
    assert build.returncode == 130, err
    assert "interrupted: finished clips are cached" in err
    assert "Traceback" not in err + out
    time.sleep(0.5)
    assert not [pid for pid in workers if _alive(pid)], "worker processes outlived the build"
    again = subprocess.run(COMMAND, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    cached = int(again.stdout.split(" cached")[0].rsplit(" ", 1)[1])
    assert cached >= 1, again.stdout  # it resumed from the clips finished before Ctrl-C


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc for the worker processes")
def test_workers_end_when_their_driver_is_killed_outright(tmp_path):
    """A driver killed without a chance to end its workers (SIGKILL: a supervisor stopping `watch`, a
    CI job timing out) leaves none behind holding a voice model: they notice and end."""
    build, _ = _parallel_build(tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = _children(build.pid)
    assert workers, "the build started no worker process"
    build.kill()  # the driver alone, as SIGKILL: no handler runs
    build.wait(timeout=10)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers outlived their killed driver: {left}"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc for the worker processes")
def test_sigterm_stops_a_build_as_ctrl_c_does(tmp_path):
    """SIGTERM to the driver alone (a CI job's time limit, a supervisor): the workers are ended with
    it, the build says it was interrupted and nothing prints a traceback."""
    build, _ = _parallel_build(tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers = _children(build.pid)
    build.terminate()
    out, err = build.communicate(timeout=60)
    assert build.returncode == 130, err
    assert "interrupted: finished clips are cached" in err, err
    assert "Traceback" not in err + out, err
    deadline = time.monotonic() + 3
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if _alive(pid)], "worker processes outlived the build"


def test_ctrl_c_on_an_idle_watch_says_only_that_it_stopped(tmp_path):
    """No build was running, so there is nothing about cached clips to say; the status stays 130."""
    (tmp_path / "play.fountain").write_text("INT. HARBOUR - NIGHT\n\nANNA\nThe boat is late.\n", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200", NO_COLOR="1", PYTHONUNBUFFERED="1")
    watch = subprocess.Popen([sys.executable, "-m", "compiler", "watch", "play.fountain", "-o", "out", "-j", "1"], cwd=tmp_path,
                             env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    while not any(line.startswith("watching ") for line in seen):
        line = watch.stdout.readline()
        assert line, f"watch ended before it was watching: {seen}"
        seen.append(line)
    time.sleep(0.5)  # waiting for a change now
    os.killpg(watch.pid, signal.SIGINT)
    out, err = watch.communicate(timeout=60)
    assert watch.returncode == 130, err
    assert err.strip() == "stopped watching"
    assert "Traceback" not in err + out
