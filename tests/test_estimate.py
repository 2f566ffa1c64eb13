"""`dramac plan`'s length estimate: speaking rates learned per voice from rendered takes, kept in the
cache folder, used for reports only (never for clip sizing), and the gaps placed by the stitcher."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from compiler import estimate
from compiler.build import prepare
from compiler.stitch import build_timeline

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """Title: Rates

INT. HARBOUR - NIGHT

ANNA
The boat is late again, and the harbour master will not say why.

BEN
(beat)
Then we wait.

[[sfx: sounds/knock.wav]]

ANNA
We wait until the tide turns. Not a minute longer.

[[pause: 1.5]]

EXT. PIER - NIGHT

BEN
Look. Lights on the water.

ANNA
At last.
"""


def project(tmp_path: Path) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "dramac.toml").write_text("")
    (tmp_path / "sounds").mkdir()
    soundfile.write(tmp_path / "sounds" / "knock.wav", np.zeros(int(0.7 * 22050), dtype=np.float32), 22050)
    script = tmp_path / "rates.fountain"
    script.write_text(SCRIPT)
    return script


def takes_at(plan, seconds_per_character: dict[str, float], rate: int) -> dict[str, list[np.ndarray]]:
    """Stand-in takes as long as each voice would take at the given rates."""
    takes = {}
    for clip in plan.clips:
        speed = {line: seconds_per_character[clip.voices[clip.slot(line.speaker)].key] for line in clip.lines}
        takes[clip.key] = [np.zeros(round(len(line.spoken) * speed[line] * rate), dtype=np.float32) for line in clip.lines]
    return takes


def test_the_estimate_is_the_timeline_of_takes_at_the_learned_rates(tmp_path):
    prepared = prepare(project(tmp_path))
    plan, rate = prepared.plan, prepared.backend.sample_rate
    voices = sorted({v.key for c in plan.clips for v in c.voices})
    assert len(voices) == 2
    speeds = {voices[0]: 0.048, voices[1]: 0.071}  # one fast and one slow voice, both far from the default
    takes = takes_at(plan, speeds, rate)
    from compiler.sounds import load_sounds

    _, lengths = load_sounds(plan, rate)
    built = build_timeline(plan, takes, rate, prepared.stitch, lengths).duration

    cache = tmp_path / "cache"
    cache.mkdir()
    assert estimate.learn(cache, plan.clips, takes, rate)
    rates = estimate.load_rates(cache)
    for key, speed in speeds.items():  # each voice's pace: its takes' seconds over what the model expected
        lines = [line for c in plan.clips for line in c.lines if c.voices[c.slot(line.speaker)].key == key]
        expected = sum(estimate.model_seconds(line.spoken) for line in lines)
        spoken = sum(len(line.spoken) * speed for line in lines)
        assert rates.known(key) and rates.pace(key) == pytest.approx(spoken / expected, rel=1e-3)
    guessed = estimate.play_seconds(plan, rates, rate, prepared.stitch)
    # Gaps, the (beat), the pause, the scene break, the sound cue and the tail all counted: only
    # rounding to whole samples differs.
    assert guessed == pytest.approx(built, abs=0.01)
    speech_only = sum(estimate.clip_seconds(c, rates) for c in plan.clips)
    assert built - speech_only > 3.0  # the gaps are a real share of the length, not a rounding error

    # Nothing learned: the default rate, which is off for these voices.
    default = estimate.play_seconds(plan, estimate.SpeakingRates(), rate, prepared.stitch)
    assert abs(default - built) > 0.2


def test_the_rates_file_is_rewritten_only_when_a_rate_changes(tmp_path):
    prepared = prepare(project(tmp_path))
    plan, rate = prepared.plan, prepared.backend.sample_rate
    speeds = {v.key: 0.05 for c in plan.clips for v in c.voices}
    takes = takes_at(plan, speeds, rate)
    assert estimate.learn(tmp_path, plan.clips, takes, rate)
    paces = {k: estimate.load_rates(tmp_path).pace(k) for k in speeds}
    stored = tmp_path / estimate.RATES_FILE
    before = stored.stat().st_mtime_ns, stored.stat().st_ino
    assert not estimate.learn(tmp_path, plan.clips, takes, rate)  # a no-op build writes nothing
    assert (stored.stat().st_mtime_ns, stored.stat().st_ino) == before
    # Another voice's rate is kept when a build of other voices is learned.
    document = json.loads(stored.read_text())
    document["voices"]["0123456789abcdef"] = {"seconds": 10.0, "expected": 8.0}
    stored.write_text(json.dumps(document))
    slower = takes_at(plan, {k: 0.06 for k in speeds}, rate)
    assert estimate.learn(tmp_path, plan.clips, slower, rate)
    rates = estimate.load_rates(tmp_path)
    assert rates.pace("0123456789abcdef") == pytest.approx(10.0 / 8.0)
    assert all(rates.pace(k) == pytest.approx(paces[k] * 0.06 / 0.05, rel=1e-3) for k in speeds)


@pytest.mark.parametrize("damage", ["garbage", "nan", "negative", "wrong-format", "huge", "directory", "fifo",
                                    "dev-zero", "deep"])
def test_a_damaged_rates_file_is_ignored_and_replaced(tmp_path, damage):
    stored = tmp_path / estimate.RATES_FILE
    good = {"seconds": 5.0, "expected": 4.0}
    if damage == "garbage":
        stored.write_bytes(b"\xff\xfe\x00not json")
    elif damage == "nan":
        stored.write_text('{"format": "%s", "voices": {"a": {"seconds": NaN, "expected": 4.0}, "b": %s}}'
                          % (estimate.RATES_FORMAT, json.dumps(good)))
    elif damage == "negative":
        stored.write_text(json.dumps({"format": estimate.RATES_FORMAT, "voices": {
            "a": {"seconds": -5.0, "expected": 4.0}, "c": {"seconds": 5.0, "expected": 0},
            "d": {"seconds": True, "expected": 1.0}, "e": [1, 2], "f": {"seconds": 500.0, "expected": 1.0}, "b": good}}))
    elif damage == "wrong-format":
        stored.write_text(json.dumps({"format": "something-else", "voices": {"b": good}}))
    elif damage == "huge":
        stored.write_text(" " * (2 << 20) + "{}")
    elif damage == "directory":
        stored.mkdir()
    elif damage == "fifo":
        os.mkfifo(stored)
    elif damage == "dev-zero":
        stored.symlink_to("/dev/zero")
    elif damage == "deep":
        stored.write_text("[" * 100_000)
    rates = estimate.load_rates(tmp_path)  # never raises, never blocks
    if damage in ("nan", "negative"):
        assert rates.measured == {"b": (5.0, 4.0)}  # only the sound entry survives
    else:
        assert rates.measured == {}
    assert rates.pace("a") == 1.0  # the model alone

    prepared = prepare(project(tmp_path / "p"))
    takes = takes_at(prepared.plan, {v.key: 0.05 for c in prepared.plan.clips for v in c.voices}, 22050)
    written = estimate.learn(tmp_path, prepared.plan.clips, takes, 22050)
    assert written == (damage != "directory")  # a directory in the way is left alone, the build goes on
    if written:
        assert len(estimate.load_rates(tmp_path).measured) >= 2


def test_learned_rates_never_move_clip_boundaries(tmp_path):
    """Clip keys must not follow the learned rates: every clip would render again after a build."""
    script = project(tmp_path)
    before = prepare(script)
    cache = before.parsed.project.cache_dir
    cache.mkdir(parents=True)
    slow = takes_at(before.plan, {v.key: 0.2 for c in before.plan.clips for v in c.voices}, 22050)
    assert estimate.learn(cache, before.plan.clips, slow, 22050)
    after = prepare(script)
    assert [c.key for c in after.plan.clips] == [c.key for c in before.plan.clips]
    assert [c.est_seconds for c in after.plan.clips] == [c.est_seconds for c in before.plan.clips]


def test_plan_reports_the_length_from_learned_rates(tmp_path):
    script = project(tmp_path)
    prepared = prepare(script)
    cache = prepared.parsed.project.cache_dir
    cache.mkdir(parents=True)

    def plan_json() -> dict:
        done = subprocess.run([sys.executable, "-m", "compiler", "plan", str(script), "--json"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    first = plan_json()
    assert first["voices_with_learned_rates"] == 0 and first["voices"] == 2
    takes = takes_at(prepared.plan, {v.key: 0.09 for c in prepared.plan.clips for v in c.voices}, 22050)
    estimate.learn(cache, prepared.plan.clips, takes, 22050)
    second = plan_json()
    assert second["voices_with_learned_rates"] == 2
    assert second["estimated_seconds"] == pytest.approx(estimate.play_seconds(
        prepared.plan, estimate.load_rates(cache), 22050, prepared.stitch), abs=0.05)
    assert second["estimated_seconds"] > first["estimated_seconds"] + 5  # the slow voices are heard in it
    text = subprocess.run([sys.executable, "-m", "compiler", "plan", str(script)], capture_output=True, text=True,
                          env=dict(os.environ, COLUMNS="300"))
    minutes, seconds = divmod(round(second["estimated_seconds"]), 60)
    assert f"about {minutes}:{seconds:02d} long (speaking rates learned for 2 of 2 voices)" in text.stdout


@pytest.mark.slow
@pytest.mark.parametrize("example", ["lighthouse/lighthouse.md", "night-ferry/night-ferry.fountain"])
def test_the_estimate_of_each_example_is_within_3_percent_of_the_built_length(tmp_path, example):
    folder, name = example.split("/")
    shutil.copytree(ROOT / "examples" / folder, tmp_path / folder, ignore=shutil.ignore_patterns(".dramac-cache"))
    script = tmp_path / folder / name

    def estimated() -> float:
        done = subprocess.run([sys.executable, "-m", "compiler", "plan", str(script), "--json"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["estimated_seconds"]

    guessed_cold = estimated()  # the default rate: nothing rendered yet
    done = subprocess.run([sys.executable, "-m", "compiler", "build", str(script), "-o", str(tmp_path / "out"), "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    built = json.loads(done.stdout)["builds"][0]["duration"]
    guessed = estimated()
    assert math.isclose(guessed, built, rel_tol=0.03), (guessed, built)
    assert math.isclose(guessed_cold, built, rel_tol=0.03), (guessed_cold, built)


@pytest.mark.slow
def test_a_build_that_changes_nothing_still_learns_paces_it_does_not_know(tmp_path):
    """A no-op build reads no takes; a lost or outdated rates file is filled from the cached takes."""
    script = project(tmp_path)
    out = tmp_path / "out"

    def build() -> dict:
        done = subprocess.run([sys.executable, "-m", "compiler", "build", str(script), "-o", str(out), "--json"],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["builds"][0]

    build()
    stored = tmp_path / ".dramac-cache" / estimate.RATES_FILE
    learned = json.loads(stored.read_text())
    stored.unlink()
    again = build()
    assert again["clips_rendered"] == 0
    assert json.loads(stored.read_text()) == learned  # the same paces, measured from the cache
    before = stored.stat().st_mtime_ns
    build()
    assert stored.stat().st_mtime_ns == before  # known paces: nothing read, nothing written
