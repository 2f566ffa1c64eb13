"""`dramac watch` without rendering: woken by the operating system (not a poll), falling back to
polling where it cannot be, stopped on request, and reporting the lines it re-rendered and each
step's seconds."""

import io
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from compiler import watch
from compiler.diagnostics import Span
from compiler.plan_types import Clip, PlannedLine
from compiler.voices import make_voice
from compiler.watch import ChangeWaiter, StoppedWatching, clip_lines, stage_times, watch_loop


def waiting(waiter: ChangeWaiter, paths: list[Path]) -> tuple[threading.Thread, dict]:
    """waiter.wait(paths) in a thread; the dict gets the seconds it waited once it returns."""
    seen: dict = {}

    def run():
        started = time.monotonic()
        waiter.wait(paths)
        seen["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, seen


def test_a_save_wakes_the_waiter_at_once_and_other_files_do_not(tmp_path, monkeypatch):
    monkeypatch.setattr(watch, "RECHECK_SECONDS", 30.0)  # only an event can end the wait in this test
    script = tmp_path / "play.fountain"
    script.write_text("INT. A - DAY\n")
    stop = threading.Event()
    waiter = ChangeWaiter(stop)
    try:
        thread, seen = waiting(waiter, [script, tmp_path / "dramac.toml"])
        time.sleep(0.5)  # the watch is set up
        (tmp_path / "notes.txt").write_text("an unrelated file in the same folder")
        (tmp_path / "play.fountain.swp").write_text("an editor's swap file")
        thread.join(1.0)
        assert thread.is_alive(), "woken by a file it does not watch"
        saved = time.monotonic()
        replacement = tmp_path / ".play.fountain.tmp"
        replacement.write_text("INT. B - DAY\n")
        replacement.replace(script)  # an editor's atomic save: a rename over the script
        thread.join(5.0)
        assert not thread.is_alive(), "the save did not wake the waiter"
        assert time.monotonic() - saved < 1.0 and waiter.use_os
    finally:
        stop.set()
        waiter.close()


def test_without_watchfiles_it_polls_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "watchfiles", None)  # import watchfiles raises ImportError
    script = tmp_path / "play.fountain"
    script.write_text("INT. A - DAY\n")
    waiter = ChangeWaiter(threading.Event())
    started = time.monotonic()
    waiter.wait([script])
    assert not waiter.use_os and "watchfiles" in waiter.fell_back
    assert watch.POLL_SECONDS <= time.monotonic() - started < 2.0


def result_of(text: str, fresh=(), stages=None):
    prepared = SimpleNamespace(parsed=SimpleNamespace(source=SimpleNamespace(text=text)), plan=SimpleNamespace(steps=()))
    return SimpleNamespace(prepared=prepared, outputs=[Path("out.wav")], duration=1.0, rendered=len(fresh), cached=0,
                           seconds=0.5, fresh_clips=list(fresh), stages=stages or {})


def test_setting_stop_ends_the_loop_and_an_edit_is_built_without_polling(tmp_path, monkeypatch):
    monkeypatch.setattr(watch, "RECHECK_SECONDS", 30.0)
    monkeypatch.setattr(watch, "POLL_SECONDS", 30.0)  # a poll would come too late to pass
    script = tmp_path / "play.fountain"
    script.write_text("INT. A - DAY\n")
    built: list[float] = []
    stop = threading.Event()

    def build_one(path, before_publish):
        built.append(time.monotonic())
        result = result_of(path.read_text())
        before_publish(result.prepared)
        return result

    screen = io.StringIO()
    thread = threading.Thread(target=watch_loop, args=([script], build_one, Console(file=screen, width=200), 0.05, False),
                              kwargs={"stop": stop}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while "watching 1 script" not in screen.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # the watch is set up
    saved = time.monotonic()
    script.write_text("INT. B - DAY\n")
    while len(built) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(built) == 2, screen.getvalue()
    assert built[1] - saved < 1.0  # the event, the two settle snapshots, and nothing else
    stop.set()
    thread.join(3.0)
    assert not thread.is_alive(), "stop did not end the loop"


def clip(file: str, lines: list[tuple[int, str, str]]) -> Clip:
    planned = tuple(PlannedLine(who, text, text.lower(), Span.point(file, number, 1)) for number, who, text in lines)
    speakers = tuple(dict.fromkeys(who for _, who, _ in lines))
    voices = tuple(make_voice(f"v{i}", "embedded") for i, _ in enumerate(speakers))
    return Clip(0, speakers, voices, planned, 2.0)


def test_the_lines_re_rendered_are_named_by_file_and_line():
    changed = clip("play.fountain", [(12, "ANNA", "The boat is late again, and the harbour master will not say why."),
                                      (15, "BEN", "Then we wait.")])
    assert clip_lines([changed]) == ["play.fountain:12  ANNA: The boat is late again, and the harbour …",
                                     "play.fountain:15  BEN: Then we wait."]
    many = [clip("play.fountain", [(n, "ANNA", f"Line {n}.")]) for n in range(1, 21)]
    shown = clip_lines(many, shown=3)
    assert shown == ["play.fountain:1  ANNA: Line 1.", "play.fountain:2  ANNA: Line 2.", "play.fountain:3  ANNA: Line 3.",
                     "… and 17 more lines"]


def test_the_lines_re_rendered_are_listed_in_script_order():
    # Clips arrive in the order they finished rendering, not the order of the script.
    finished = [clip("b.fountain", [(3, "BEN", "Later file.")]), clip("a.fountain", [(18, "ANNA", "Eighteen."), (21, "BEN", "Twenty-one.")]),
                clip("a.fountain", [(25, "ANNA", "Twenty-five.")]), clip("a.fountain", [(10, "BEN", "Ten.")]),
                clip("a.fountain", [(15, "ANNA", "Fifteen.")])]
    assert [row.split("  ")[0] for row in clip_lines(finished)] == [
        "a.fountain:10", "a.fountain:15", "a.fountain:18", "a.fountain:21", "a.fountain:25", "b.fountain:3"]
    assert clip_lines(finished, shown=2)[:2] == ["a.fountain:10  BEN: Ten.", "a.fountain:15  ANNA: Fifteen."]


def test_ctrl_c_while_waiting_for_a_change_only_stops_watching(tmp_path, monkeypatch):
    script = tmp_path / "play.fountain"
    script.write_text("INT. A - DAY\n")

    def ctrl_c(self, paths):
        raise KeyboardInterrupt

    monkeypatch.setattr(ChangeWaiter, "wait", ctrl_c)
    with pytest.raises(StoppedWatching):
        watch_loop([script], lambda path, check: result_of(path.read_text()), Console(file=io.StringIO()), 0.0, once=False)


def test_ctrl_c_during_a_build_is_an_interrupted_build(tmp_path):
    script = tmp_path / "play.fountain"
    script.write_text("INT. A - DAY\n")

    def build_one(path, before_publish):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # not StoppedWatching: main() says the finished clips are cached
        watch_loop([script], build_one, Console(file=io.StringIO()), 0.0, once=False)


def test_each_rebuild_reports_its_lines_and_the_seconds_of_each_step(tmp_path):
    script = tmp_path / "play.fountain"
    script.write_text("INT. A - DAY\n")
    changed = clip(str(script), [(3, "ANNA", "[bold]Not markup[/bold] at all.")])
    stages = {"write": 0.01, "render": 1.25, "parse": 0.004, "plan": 0.02, "stitch": 0.05, "master": 0.3}

    def build_one(path, before_publish):
        return result_of(path.read_text(), [changed], stages)

    screen = io.StringIO()
    watch_loop([script], build_one, Console(file=screen, width=300), 0.0, once=True)
    text = screen.getvalue()
    assert f"re-rendered {script}:3  ANNA: [bold]Not markup[/bold] at all." in text  # user text printed literally
    assert "parse 0.00s · plan 0.02s · render 1.25s · stitch 0.05s · master 0.30s · write 0.01s" in text
    assert stage_times({"extra": 1.0, "parse": 0.5}) == "parse 0.50s · extra 1.00s"
