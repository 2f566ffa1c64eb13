"""dramac studio end to end, in a real browser: Debian's headless Chromium driven by Playwright against
`dramac serve` on a small play. The oracles are the build's own files, read here: the manifest
(json), the mix (soundfile), dramac.toml (tomllib) — never what the page says about itself.

Screenshots of the page go to $DRAMAC_ARTIFACTS, else tests/artifacts/ (ignored by git).
Skipped, with the reason, only where no Chromium (or no Playwright) is installed: `make test`
installs Debian's `chromium` when it runs as root with apt-get (README).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soundfile

CHROMIUM = next((p for p in (os.environ.get("DRAMAC_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium")
                 if p and os.path.isfile(p) and os.access(p, os.X_OK)), None)
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium; `make test` does it as root)"),
    pytest.mark.skipif(sync_playwright is None, reason="Playwright for Python is not installed (pip install -e '.[test]')"),
]

# Chromium as the project's machines run it: no sandbox (root in a container), no GPU, nothing fetched.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("DRAMAC_ARTIFACTS") or REPO / "tests" / "artifacts")
TOML = "# The studio test's settings: this comment must survive a voice chosen in the page.\n[project]\nname = \"studio\"\n"
PLAY = """Title: Studio

INT. KITCHEN - NIGHT

ANNA
The ferry leaves at nine, with or without him.

BEN
Then we should go now, before the rain.

EXT. DOCK - NIGHT

ANNA
There it is, right on time.

BEN
I told you it would wait for us.
"""
FIRST, LATER = 6, 14  # ANNA's lines: one in each scene (each scene is its own clip)
BUILD_SECONDS = 180


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("studio-cache")  # clips rendered once for every test of the module


class Studio:
    def __init__(self, folder: Path, cache: Path):
        self.folder = folder
        self.script = folder / "play.fountain"
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "compiler", "serve", self.script.name, "--port", "0", "--jobs", "1", "--cache-dir", str(cache)],
            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        first = self.process.stdout.readline()
        assert first.startswith("dramac studio: http://127.0.0.1:"), first
        self.url = first.split()[2]

    def manifest(self) -> dict:
        return json.loads((self.folder / "outputs" / "play.json").read_text())

    def line(self, number: int) -> dict:
        return next(m for m in self.manifest()["lines"] if m["span"]["line"] == number)

    def line_audio(self, number: int) -> np.ndarray:
        audio, rate = soundfile.read(self.folder / "outputs" / "play.wav", dtype="float32")
        line = self.line(number)
        return audio[int(line["start"] * rate):int(line["end"] * rate)]

    def close(self) -> str:
        self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return out


@pytest.fixture
def studio(tmp_path, shared_cache):
    (tmp_path / "dramac.toml").write_text(TOML)
    (tmp_path / "play.fountain").write_text(PLAY)
    server = Studio(tmp_path, shared_cache)
    yield server
    log = server.close()
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        # launch(), not a downloaded browser: the system's Chromium, with a fresh profile.
        context = p.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="dramac-chromium-"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            bypass_csp=True)  # the page forbids eval; the test's own probes need it
        yield context
        context.close()


@pytest.fixture
def page(browser, studio, request):
    page = browser.new_page()
    page.goto(studio.url)
    wait_for_build(page, 1)
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"studio-{request.node.name}.png"), full_page=False)
    page.close()


def version(page) -> int:
    return int(page.evaluate("document.body.dataset.version || -1"))


def wait_for_build(page, at_least: int) -> None:
    """Until the page shows a finished build numbered `at_least` or later (it learns of it by event)."""
    page.wait_for_function(f"Number(document.body.dataset.version) >= {at_least} && !studio.state.building",
                           timeout=BUILD_SECONDS * 1000)


def click_and_read_start(page, number: int) -> float:
    """Click the line, and read the mix's currentTime at the moment playback starts."""
    # (The statement ends in `0`: evaluate() would otherwise wait for the promise it returns.)
    page.evaluate("window.started = Promise.race([new Promise(r => document.getElementById('mix').addEventListener("
                  "'playing', () => r(document.getElementById('mix').currentTime), {once: true})), "
                  "new Promise((_, no) => setTimeout(() => no(new Error('playback did not start')), 15000))]); 0")
    page.click(f"#script .speech[data-line='{number}']")
    return float(page.evaluate("window.started"))


def test_clicking_a_line_plays_the_mix_from_that_lines_start(studio, page):
    for number in (LATER, FIRST + 3):
        expected = studio.line(number)["start"]
        assert abs(click_and_read_start(page, number) - expected) <= 0.1
        page.wait_for_selector(f"#script .speech.current[data-line='{number}']", timeout=5000)
    # The overview was drawn from the server's peaks, with a mark per scene at its first line's start.
    peaks = page.evaluate("studio.peaks.length")
    assert peaks > 100
    marks = page.evaluate("studio.state.scenes.map(s => s.start)")
    assert marks == [studio.line(FIRST)["start"], studio.line(LATER)["start"]]


def test_another_take_changes_that_clips_audio_and_hash_and_stepping_back_locks_take_one(studio, page):
    before = studio.line(FIRST)
    audio_before = studio.line_audio(FIRST)
    other = studio.line(LATER)["clip"]
    page.click(f"#script .speech[data-line='{FIRST}']")
    seen = version(page)
    page.click("#take-new")
    page.wait_for_function("document.getElementById('take-label').textContent === 'take 2 of 2'", timeout=BUILD_SECONDS * 1000)
    wait_for_build(page, seen + 1)
    after = studio.line(FIRST)
    assert after["clip"] != before["clip"]
    assert studio.line(LATER)["clip"] == other
    audio_after = studio.line_audio(FIRST)
    n = min(audio_before.size, audio_after.size)
    assert audio_before.size != audio_after.size or not np.allclose(audio_before[:n], audio_after[:n], atol=1e-3)
    lock = tomllib.loads((studio.folder / "dramac.lock").read_text())
    assert [t["take"] for t in lock["scripts"]["play.fountain"]["embedded"]["takes"].values()] == [2]

    # Step back to take 1 (heard alone, from the cache), lock it: the first build's clip again.
    page.click("#take-prev")
    assert page.text_content("#take-label") == "take 1 of 2"
    page.wait_for_function("document.getElementById('preview').readyState >= 2", timeout=60000)
    seen = version(page)
    page.click("#take-lock")
    wait_for_build(page, seen + 1)
    assert studio.line(FIRST)["clip"] == before["clip"]


def test_a_locked_take_survives_an_edit_elsewhere_and_saving_updates_the_page_without_a_reload(studio, page):
    page.click(f"#script .speech[data-line='{FIRST}']")
    seen = version(page)
    page.click("#take-new")
    wait_for_build(page, seen + 1)
    taken = studio.line(FIRST)["clip"]
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    seen = version(page)
    studio.script.write_text(PLAY.replace("right on time.", "late as ever."))  # the other scene's clip
    page.wait_for_selector("#script .speech:has-text('late as ever.')", timeout=BUILD_SECONDS * 1000)
    wait_for_build(page, seen + 1)
    assert page.evaluate("window.sameDocument === true")
    assert studio.line(FIRST)["clip"] == taken
    assert studio.line(LATER)["original"] == "There it is, late as ever."
    assert "take 2/2" in page.text_content(f"#script .speech[data-line='{FIRST}']")


def test_a_script_error_shows_at_its_line_and_the_last_audio_keeps_playing(studio, page):
    seen = version(page)
    studio.script.write_text(PLAY + "\n[[sfx: ../outside.wav]]\n")
    wait_for_build(page, seen + 1)
    page.wait_for_selector("#script .diag.error", timeout=10000)
    assert "error" in page.text_content("#problems")
    assert page.evaluate("studio.state.lines.length") == 4  # the last good build's timings, still playable


def test_choosing_a_voice_in_the_audition_changes_the_characters_voice_in_the_next_build(studio, page):
    cast = studio.manifest()["cast"]
    page.select_option("#audition-character", "BEN")
    current = cast["BEN"]["voice"]
    other = next(name for name in page.eval_on_selector_all("#voices li", "items => items.map(i => i.dataset.voice)")
                 if name != current)
    page.click(f"#voices li[data-voice='{other}'] .audition-play")
    page.wait_for_function("document.getElementById('preview').readyState >= 2", timeout=60000)
    duration = page.evaluate("document.getElementById('preview').duration")
    assert 0.5 < duration < 10  # BEN's first line, alone
    seen = version(page)
    page.click(f"#voices li[data-voice='{other}'] .audition-choose")
    wait_for_build(page, seen + 1)
    assert studio.manifest()["cast"]["BEN"]["voice"] == other
    settings = (studio.folder / "dramac.toml").read_text()
    assert settings.startswith(TOML)  # the comment and the table above kept as they were
    assert tomllib.loads(settings)["cast"]["BEN"]["embedded"]["voice"] == other
    page.wait_for_selector(f"#voices li.current[data-voice='{other}']", timeout=10000)


def test_a_rebuild_keeps_the_listeners_place_in_the_line_they_were_hearing(studio, page):
    start = studio.line(LATER)["start"]
    page.click(f"#script .speech[data-line='{LATER}']")
    page.evaluate(f"mix.pause(); mix.currentTime = {start + 0.5}; 0")
    seen = version(page)
    # A longer line in the first scene moves everything after it.
    studio.script.write_text(PLAY.replace("before the rain.", "before the rain comes down on every one of us."))
    wait_for_build(page, seen + 1)
    moved = studio.line(LATER)["start"]
    assert moved > start + 0.5  # the edit really moved the line
    page.wait_for_function("document.getElementById('mix').readyState >= 1", timeout=10000)
    assert abs(page.evaluate("mix.currentTime") - (moved + 0.5)) <= 0.1
    assert page.evaluate("mix.paused")  # paused it stays
