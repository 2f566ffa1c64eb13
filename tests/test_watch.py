"""`dramac watch`: one status line per rebuild, only changed clips re-rendered, keeps going after errors."""

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def _reader(stream, q):
    for line in stream:
        q.put(line.rstrip("\n"))


def _wait_for(q, predicate, timeout=180):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if predicate(line):
            return line, seen
    raise AssertionError(f"timed out; saw: {seen}")


def test_watch_rebuilds_incrementally_and_survives_errors(tmp_path):
    project = tmp_path / "lighthouse"
    shutil.copytree(ROOT / "examples" / "lighthouse", project, ignore=shutil.ignore_patterns(".dramac-cache"))
    script = project / "lighthouse.md"
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "compiler", "watch", str(script), "-o", str(tmp_path / "out"), "--jobs", "1", "--debounce", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    q: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
    try:
        first, _ = _wait_for(q, lambda l: "✓" in l or "✗" in l)
        assert "✓" in first and "0 cached" in first, first

        text = script.read_text(encoding="utf-8")
        number, line = next((i + 1, l) for i, l in enumerate(text.splitlines()) if l.startswith("**TOM:**") or l.startswith("TOM:"))
        script.write_text(text.replace(line, line.rstrip() + " I promise."), encoding="utf-8")
        second, _ = _wait_for(q, lambda l: "✓" in l or "✗" in l)
        assert "✓" in second
        rendered = int(re.search(r"(\d+) clips? rendered", second).group(1))
        assert 1 <= rendered <= 2, second
        # Under the status line: the script lines it re-rendered, the edited one among them, and the
        # seconds of each step.
        _, details = _wait_for(q, lambda l: l.strip().startswith("parse "))
        assert any(f"re-rendered {script}:{number}  TOM:" in l for l in details), details
        assert all(f" {step} " in details[-1] for step in ("plan", "render", "stitch", "master", "write")), details

        script.write_text(text + "\n[[pause forever]]\n", encoding="utf-8")
        broken, seen = _wait_for(q, lambda l: "✓" in l or "✗" in l)
        assert "✗" in broken
        assert any(":65:" in l and "error:" in l for l in seen) and any("[[pause forever]]" in l for l in seen), seen
        assert proc.poll() is None  # still watching

        script.write_text(text, encoding="utf-8")
        fixed, _ = _wait_for(q, lambda l: "✓" in l or "✗" in l)
        assert "✓" in fixed and " 0 clips rendered" in fixed, fixed

        knock = project / "sounds" / "knock.wav"  # a sound the script uses: re-mixed, nothing re-rendered
        time.sleep(0.05)
        knock.write_bytes(knock.read_bytes())
        os.utime(knock, None)
        remixed, _ = _wait_for(q, lambda l: "✓" in l or "✗" in l)
        assert "✓" in remixed and " 0 clips rendered" in remixed, remixed
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_voice_stays_loaded_and_an_edit_renders_in_this_process(tmp_path, monkeypatch):
    """Two rebuilds in one watch: one backend instance, built once; the changed clip rendered here,
    with no worker pool started for it."""
    from rich.console import Console

    from compiler import backends, cli, render
    from compiler.watch import watch_loop

    render.close_pools()  # a pool kept by an earlier test in this process is not this watch's
    made = []
    real_create = backends.create
    monkeypatch.setattr(backends, "_shared", {})
    monkeypatch.setattr(backends, "create", lambda *a, **k: made.append(a[0]) or real_create(*a, **k))
    script = tmp_path / "play.fountain"
    script.write_text("INT. HARBOUR - NIGHT\n\nANNA\nThe boat is late.\n\nBEN\nThen we wait here.\n")
    results = []
    stop = threading.Event()

    def build_one(f, before_publish):
        result = cli._build_one(f, tmp_path / "out", None, None, 0, None, None, False, quiet=True, before_publish=before_publish)
        results.append(result)
        return result

    thread = threading.Thread(target=watch_loop, args=([script], build_one, Console(file=open(os.devnull, "w")), 0.1, False),
                              kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not results and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        script.write_text(script.read_text().replace("late.", "late again."))
        while len(results) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert len(results) == 2
    assert made == ["embedded"], made
    assert results[1].rendered == 1 and [c.lines[0].original for c in results[1].fresh_clips] == ["The boat is late again."]
    assert render._pools == {}


def test_watch_prints_a_warning_that_stays_only_once(monkeypatch):
    """A warning every rebuild would repeat (a locked voice the settings no longer give) is printed
    by the first build, then counted; a new one, or one that comes back after going, is printed."""
    from compiler import cli
    from compiler.diagnostics import Span, warning

    printed, counted = [], []
    monkeypatch.setattr(cli, "_report", lambda diags, sources=None: printed.append([d.message for d in diags]))
    monkeypatch.setattr(cli.err, "print", lambda *args, **kw: counted.append(str(args[0])))
    locked = warning("ROSA's locked voice 'low-female' is now another character's", Span("p.fountain", 3, 1, 3, 5))
    other = warning("unknown sfx option 'pan' is ignored", Span("p.fountain", 9, 1, 9, 5))
    said: set = set()
    cli._report_new([locked], {}, said)
    cli._report_new([locked], {}, said)
    cli._report_new([locked, other], {}, said)
    cli._report_new([other], {}, said)
    cli._report_new([locked, other], {}, said)
    assert printed == [[locked.message], [], [other.message], [], [locked.message]]
    assert sum("not repeated" in c for c in counted) == 4


def test_a_rebuild_slowed_by_whole_play_encoders_says_how_to_draft_faster():
    """An edit rewrites a WAV, the subtitles and the manifest only where they changed; MP3 or M4B are
    encoded whole every time. When that makes a rebuild's write slow, watch says so (once)."""
    from types import SimpleNamespace

    from compiler.watch import SLOW_WRITE_SECONDS, slow_formats_hint

    def result(names, write):
        return SimpleNamespace(outputs=[Path("out") / n for n in names], stages={"write": write})

    slow = slow_formats_hint(result(["play.wav", "play.mp3", "play.m4b", "play.srt"], SLOW_WRITE_SECONDS + 7))
    assert slow is not None and "m4b, mp3 are encoded whole" in slow and "--format wav" in slow
    assert slow_formats_hint(result(["play.wav", "play.mp3"], SLOW_WRITE_SECONDS - 1)) is None  # quick enough
    assert slow_formats_hint(result(["play.wav", "play.srt", "play.json"], 30.0)) is None  # nothing to leave out


def test_watch_refuses_an_emptied_script_and_leaves_its_outputs(tmp_path):
    """Emptying a script under watch (a select-all and cut) must not publish a silent play."""
    (tmp_path / "dramac.toml").write_text("")
    script = tmp_path / "play.fountain"
    script.write_text("INT. ROOM - DAY\n\nJO\nHello there.\n")
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", PYTHONUNBUFFERED="1")
    args = [sys.executable, "-m", "compiler", "watch", str(script), "-o", str(tmp_path / "out"), "--format", "wav", "--once"]
    first = subprocess.run(args, capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path)
    assert "✓" in first.stdout, first.stdout + first.stderr
    wav = (tmp_path / "out" / "play.wav").read_bytes()
    script.write_text("")
    empty = subprocess.run(args, capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path)
    both = empty.stdout + empty.stderr
    assert f"{script}:1:1: error: script is empty: nothing to render" in both and "✗" in both, both
    assert "watching for changes" in both and "Traceback" not in both
    assert (tmp_path / "out" / "play.wav").read_bytes() == wav
