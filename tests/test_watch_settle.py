"""`dramac watch` publishes only what was saved whole: slow saves, saves that keep the modification
time, and saves that land while a build runs. The builds here are stand-ins that read the script the
way the parser does and "publish" it by recording the text, so each test runs in about a second."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from compiler import watch
from compiler.source import read_source
from compiler.watch import SourceChanged, publish_check, snapshot, watch_loop

DEBOUNCE = 0.1
FIRST = "INT. HARBOUR - NIGHT\n\nANNA\nThe boat is late.\n"
SECOND = "INT. HARBOUR - NIGHT\n\nANNA\nThe boat is here.\n\nBEN\nThen we go.\n"


class Done(BaseException):
    """Ends watch_loop from inside a build (watch keeps going after any Exception)."""


def result_of(text: str):
    prepared = SimpleNamespace(parsed=SimpleNamespace(source=SimpleNamespace(text=text)), plan=SimpleNamespace(steps=()))
    return SimpleNamespace(prepared=prepared, outputs=[Path("out.wav")], duration=0.0, rendered=0, cached=0, seconds=0.0,
                           fresh_clips=[], stages={})


class Watcher:
    """watch_loop in a thread, with a stand-in build. `during_build(text)` runs after the build read
    the script and before it publishes; the loop ends once `last` has been published."""

    def __init__(self, script: Path, last: str, during_build=lambda text: None):
        self.script, self.last, self.during_build = script, last, during_build
        self.published: list[str] = []
        self.builds = 0
        self.stop = threading.Event()
        self.screen = Console(file=open(os.devnull, "w"), width=200)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def build_one(self, path: Path, before_publish=None):
        self.builds += 1
        text = read_source(path).text
        result = result_of(text)
        self.during_build(text)
        if before_publish is not None:
            before_publish(result.prepared)
        self.published.append(text)
        if text == self.last:
            raise Done
        return result

    def _run(self):
        try:
            watch_loop([self.script], self.build_one, self.screen, DEBOUNCE, once=False, stop=self.stop)
        except Done:
            pass

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.published and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.published, "the first build never ran"
        return self

    def finish(self, timeout: float = 10.0) -> list[str]:
        self.thread.join(timeout)
        return self.published

    def __exit__(self, *exc):
        self.stop.set()


@pytest.fixture
def stoppable(monkeypatch):
    """watch's sleeps end the loop once a test is over, so no polling thread outlives it."""
    stops: list[threading.Event] = []
    real_sleep = time.sleep

    def sleep(seconds):
        if any(e.is_set() for e in stops):
            raise Done
        real_sleep(seconds)

    monkeypatch.setattr(watch, "time", SimpleNamespace(sleep=sleep, strftime=time.strftime))
    return stops


def test_a_save_that_resumes_during_the_build_is_not_published_half_done(tmp_path, stoppable):
    """A writer saving slowly, in chunks, pausing longer than the debounce between them: every build
    that read part of the save is withheld, and the one published is the whole script."""
    script = tmp_path / "play.fountain"
    script.write_text(FIRST)
    chunks = [SECOND[:12], SECOND[:30], SECOND[:45], SECOND]

    def next_chunk(text: str) -> None:
        # The writer's next chunk lands while the build that read this one is still running.
        if text in chunks[:-1]:
            script.write_text(chunks[chunks.index(text) + 1])

    with Watcher(script, SECOND, next_chunk) as watcher:
        stoppable.append(watcher.stop)
        script.write_text(chunks[0])
        published = watcher.finish()
    assert published == [FIRST, SECOND], published
    assert watcher.builds == 1 + len(chunks)  # each part-saved state was built, and withheld


def test_a_save_that_keeps_size_and_modification_time_is_seen(tmp_path, stoppable):
    """Coarse file-system timestamps (FAT: 2 s) or a tool that restores the modification time: the
    same size, the same mtime, other words."""
    script = tmp_path / "play.fountain"
    script.write_text(FIRST)
    same_size = FIRST.replace("late", "lost")
    with Watcher(script, same_size) as watcher:
        stoppable.append(watcher.stop)
        before = script.stat()
        time.sleep(2 * DEBOUNCE)
        with open(script, "r+") as fh:  # in place: same inode
            fh.write(same_size)
        os.utime(script, ns=(before.st_atime_ns, before.st_mtime_ns))
        published = watcher.finish(timeout=5)
    assert published == [FIRST, same_size], published


def test_the_first_build_is_withheld_too_when_the_script_changes_under_it(tmp_path, stoppable):
    script = tmp_path / "play.fountain"
    script.write_text(FIRST[:20])

    def finish_save(text: str) -> None:
        if text == FIRST[:20]:
            script.write_text(FIRST)

    watcher = Watcher(script, FIRST, finish_save)
    stoppable.append(watcher.stop)
    with pytest.raises(Done):
        watch_loop([script], watcher.build_one, watcher.screen, DEBOUNCE, once=True)
    assert watcher.published == [FIRST]


def test_publish_check_compares_the_parsed_text_not_only_the_stamps(tmp_path):
    script = tmp_path / "play.fountain"
    script.write_text(FIRST)
    started_from = snapshot([script, tmp_path / "dramac.toml"])
    check = publish_check(script, started_from)
    check(result_of(FIRST).prepared)  # unchanged: publish
    # The build read the file while an editor had truncated it; the save then wrote the same bytes back.
    with pytest.raises(SourceChanged):
        check(result_of(FIRST[:10]).prepared)
    (tmp_path / "dramac.toml").write_text("[stitch]\nscene_gap = 1.0\n")  # the settings changed meanwhile
    with pytest.raises(SourceChanged):
        check(result_of(FIRST).prepared)


def test_a_fifo_in_the_scripts_place_does_not_block_the_poll(tmp_path):
    script = tmp_path / "play.fountain"
    os.mkfifo(script)
    started = time.monotonic()
    (stamp,) = snapshot([script], digested=1).values()
    assert stamp is not None and stamp[3] is None and time.monotonic() - started < 1
