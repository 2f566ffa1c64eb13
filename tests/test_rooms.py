"""Rooms (compiler/rooms.py, compiler/plugins/room.py): the room chosen for each scene and line, the
`[[room]]` directive and `[rooms]` settings with their diagnostics, the mix pieces that ring on, and
the reverberation time measured on a built play's output with an independent method (Schroeder's
backward integration, fitted between -5 and -25 dB)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from compiler import directives, rooms
from compiler.backends import Capabilities
from compiler.cast import cast_script
from compiler.config import load_settings
from compiler.diagnostics import CompileError, Sink, Span
from compiler.fountain import parse_fountain
from compiler.plan import plan_script
from compiler.plan_types import Room
from compiler.project import Project
from compiler.settings_schema import SettingError
from compiler.source import decode
from tests.scripts import palette, resolve

SETTINGS = rooms.RoomSettings()


# --- choosing a room ---------------------------------------------------------------------------------

@pytest.mark.parametrize("heading, size", [
    ("INT. CATHEDRAL - NIGHT", "large"),
    ("INT. TRAIN STATION - DAY", "large"),
    ("INT. OFFICE - DAY", "small"),
    ("INT. MARTA'S KITCHEN - NIGHT", "small"),
    ("int. offices - day", "small"),  # any case; a plural
    ("INT. CHURCH KITCHEN - DAY", "small"),  # the word nearest the end: a kitchen in a church
    ("INT. KITCHEN HALL - DAY", "large"),
    ("INT. HALLWAY - NIGHT", "medium"),  # a whole word: HALLWAY is not HALL
    ("INT. LIVING ROOM - NIGHT", "medium"),
    ("INT. THE LAMP ROOM", "medium"),  # no known word: [rooms] default
    ("EXT. STATION PLATFORM - NIGHT", "exterior"),  # built-in words name interiors
    ("EST. HARBOUR - DAWN", "exterior"),
    ("EXTERIOR GARDEN", "exterior"),  # a forced heading (.EXTERIOR GARDEN), words spelt out
    ("INT./EXT. CAR - MOVING", "small"),
    ("I/E PORCH - DAY", "small"),  # [rooms] interior_exterior
    ("INT/EXT WAREHOUSE DOORS", "large"),
    ("The cathedral at dusk", "large"),  # a Markdown heading, no prefix
    (None, "medium"),  # before the first heading
])
def test_the_heading_names_the_room(heading, size):
    assert rooms.heading_size(heading, SETTINGS) == size


def test_the_writers_words_come_first_and_reach_exteriors():
    mine = rooms.RoomSettings(locations={"canyon": "large", "Church Kitchen": "large", "PORCH": "exterior", "café": "dry"},
                              default="small", interior_exterior="medium")
    assert rooms.heading_size("EXT. CANYON FLOOR - DAY", mine) == "large"
    assert rooms.heading_size("INT. CHURCH KITCHEN - DAY", mine) == "large"  # a phrase of the writer's
    assert rooms.heading_size("I/E PORCH", mine) == "exterior"
    assert rooms.heading_size("I/E DOORWAY", mine) == "medium"
    assert rooms.heading_size("INT. NOWHERE", mine) == "small"
    assert rooms.heading_size("EXT. FIELD", mine) == "exterior"
    assert rooms.heading_size("INT. PARIS CAFÉ - DAY", mine) == "dry" and mine.room("dry") is None


def test_lines_outside_the_scenes_space_stay_dry():
    large = SETTINGS.room("large")
    assert rooms.heard_in(large, "ANNA", None) == large
    assert rooms.heard_in(large, "ANNA", "O.S.") == large  # off-screen: in the place, behind a wall
    assert rooms.heard_in(large, "ANNA", "V.O.") is None
    assert rooms.heard_in(large, "ANNA", "ON PHONE") is None
    assert rooms.heard_in(large, "ANNA", "RADIO") is None
    assert rooms.heard_in(large, "NARRATOR", None) is None
    assert rooms.RoomSettings(enabled=False).room("large") is None and SETTINGS.room("dry") is None


PLAY = """Title: Rooms

INT. CATHEDRAL - NIGHT

ANNA
Is anybody there?

BEN (V.O.)
She was never alone.

[[room: small]]

ANNA
Only the echo.

BEN (ON PHONE)
Anna? Can you hear me?

EXT. FIELD - DAY

ANNA
Open sky at last.
"""


def plan_of(text: str, tmp_path: Path, settings: rooms.RoomSettings = SETTINGS):
    sink = Sink()
    script = parse_fountain(decode(text.encode(), str(tmp_path / "play.fountain")), Project(tmp_path), sink)
    assert not [d for d in sink.items if d.is_error], sink.items
    cast = cast_script(script, palette(), {}, resolve, {"enabled": False}, Sink(), lambda k: Span.point("x", 1, 1))
    caps = Capabilities(max_clip_seconds=30.0, min_clip_seconds=5.0, nonverbal=frozenset())
    return plan_script(script, cast, caps, lambda t: t, room_settings=settings)


def test_a_directive_sets_the_room_to_the_end_of_its_scene(tmp_path):
    lines = [line for clip in plan_of(PLAY, tmp_path).clips for line in clip.lines]
    sizes = [(line.original, line.room.size if line.room else "dry") for line in lines]
    assert sizes == [("Is anybody there?", "large"), ("She was never alone.", "dry"), ("Only the echo.", "small"),
                     ("Anna? Can you hear me?", "dry"), ("Open sky at last.", "exterior")]
    assert lines[0].room == Room("large", 1.8, -9.0, SETTINGS.seed)


def test_rooms_do_not_change_what_is_rendered(tmp_path):
    """A room is mixed, not spoken: switching rooms off keeps every clip's key (its cache entry)."""
    on, off = plan_of(PLAY, tmp_path), plan_of(PLAY, tmp_path, rooms.RoomSettings(enabled=False))
    assert [c.key for c in on.clips] == [c.key for c in off.clips]
    assert all(line.room is None for c in off.clips for line in c.lines)


# --- the directive and the settings: diagnostics -------------------------------------------------------

@pytest.mark.parametrize("body, message, col", [
    ("room: hall", "'hall' is not a room size: write one of dry, exterior, small, medium, large", 9),
    ("room: larg", "did you mean 'large'?", 9),
    ("room", "room needs a size (dry, exterior, small, medium, large), e.g. [[room: large]]", 7),
    ("room: large please", "unexpected 'please' in room; write one size", 15),
])
def test_a_bad_room_directive_is_an_error_at_its_word(tmp_path, body, message, col):
    sink = Sink()
    span = Span(str(tmp_path / "play.fountain"), 4, 1, 4, len(body) + 5)
    assert directives.parse_directive(body, span, Project(tmp_path), sink) is None
    [diag] = sink.items
    assert diag.is_error and message in diag.message and (diag.span.line, diag.span.col) == (4, col)


def test_check_reports_a_bad_room_with_the_source_line(tmp_path):
    (tmp_path / "play.fountain").write_text("INT. HALL - DAY\n\nANNA\nHello.\n\n[[room: huge]]\n", encoding="utf-8")
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    done = subprocess.run([sys.executable, "-m", "compiler", "check", "play.fountain"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    out = done.stdout + done.stderr
    assert "play.fountain:6:9: error: 'huge' is not a room size" in out and "[[room: huge]]" in out and "^" in out


def test_room_settings_are_checked_at_their_keys(tmp_path):
    (tmp_path / "dramac.toml").write_text('[rooms]\nlarge_rt60 = 30\n\n[rooms.locations]\nCHAPEL = "huge"\n'
                                          'NAVE = "large"\n', encoding="utf-8")
    with pytest.raises(CompileError) as caught:
        load_settings(Project(tmp_path))
    found = {(d.span.line, d.message) for d in caught.value.diagnostics}
    assert (2, "[rooms] large_rt60 must be a number from 0.05 to 10 s, not 30") in found
    assert (5, "[rooms.locations] CHAPEL must be one of dry, exterior, small, medium, large, not \"huge\"") in found


def test_a_location_without_a_word_is_refused():
    with pytest.raises(SettingError, match="holds no word"):
        rooms.RoomSettings(locations={"--": "large"})


def test_a_script_may_choose_its_rooms(tmp_path):
    """Rooms are artistic: front matter may set them, and its words join dramac.toml's."""
    (tmp_path / "dramac.toml").write_text('[rooms.locations]\nNAVE = "large"\n', encoding="utf-8")
    front = {"rooms": {"default": "small", "locations": {"DEN": "exterior"}}}
    settings = load_settings(Project(tmp_path), front, str(tmp_path / "play.md"))
    typed = rooms.RoomSettings(**settings.rooms)
    assert typed.default == "small" and dict(typed.locations) == {"NAVE": "large", "DEN": "exterior"}


# --- the mix -----------------------------------------------------------------------------------------

SR = 16000


def test_a_take_in_a_room_rings_on_and_its_tail_fades_out():
    rng = np.random.default_rng(3)
    dry = (0.3 * rng.standard_normal(SR // 2)).astype(np.float32)
    room = SETTINGS.room("large")
    heard = rooms.heard(lambda: dry, "test", room, SR)
    tail = rooms.tail(room, SR)
    assert len(heard) == len(dry) + tail and abs(tail / SR - (1.8 + rooms.PREDELAY["large"])) < 0.01
    wet = heard[: len(dry)] - dry
    # The reverberation sits at its level under the voice: -9 dB, within a dB (the tail is cut off).
    ratio = 10 * np.log10(np.sum(heard.astype(np.float64) ** 2 - np.pad(dry, (0, tail)).astype(np.float64) ** 2)
                          / np.sum(dry.astype(np.float64) ** 2))
    assert -10.5 < ratio < -7.5, ratio
    assert np.abs(wet[: int(0.02 * SR)]).max() < 1e-6  # the pre-delay: nothing before the first reflection
    end = np.abs(heard[-int(0.005 * SR):]).max()
    assert 20 * np.log10(end / np.abs(heard).max()) < -60  # cut where it has fallen under -60 dB, faded


def test_the_reverberation_is_the_same_in_another_process():
    code = ("import numpy as np, sys; from compiler import rooms; "
            "x = np.random.default_rng(5).standard_normal(8000).astype(np.float32); "
            "sys.stdout.buffer.write(rooms.heard(lambda: x, 'x', rooms.RoomSettings().room('medium'), 16000).tobytes())")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=120, check=True).stdout
    x = np.random.default_rng(5).standard_normal(8000).astype(np.float32)
    assert other == rooms.heard(lambda: x, "x", SETTINGS.room("medium"), 16000).tobytes()


# --- measured on a built play ----------------------------------------------------------------------------

MEASURED = """Title: Three rooms

INT. CATHEDRAL - NIGHT

ANNA
Is anybody there? Hello?

EXT. OPEN FIELD - DAY

ANNA
Is anybody there? Hello?

INT. OFFICE - DAY

ANNA
Is anybody there? Hello?
"""


def schroeder_rt60(x: np.ndarray, sr: int) -> float:
    """Reverberation time from the decay after a sound stops (ISO 3382's interrupted-noise idea on
    speech): from the last 5 ms frame within 15 dB of the loudest, the backward-integrated energy
    decay curve, fitted between -5 and -25 dB and extrapolated to -60 dB."""
    power = x**2 if x.ndim == 1 else (x**2).sum(axis=1)  # a stereo mix: the channels' energies summed
    frame = int(0.005 * sr)
    n = len(power) // frame
    level = 10 * np.log10(power[: n * frame].reshape(n, frame).sum(axis=1) + 1e-30)
    offset = np.flatnonzero(level >= level.max() - 15)[-1] * frame
    energy = power[offset:]
    edc = 10 * np.log10(np.cumsum(energy[::-1])[::-1] / energy.sum() + 1e-30)
    t = np.arange(len(edc)) / sr
    fit = (edc <= -5) & (edc >= -25)
    slope = np.polyfit(t[fit], edc[fit], 1)[0]
    return -60.0 / slope


@pytest.mark.slow
def test_reverberation_time_measured_on_the_output(tmp_path):
    """One take (the same line in each scene: one clip, rendered once) heard in three places; the
    room tone is off so the decay is the room's alone."""
    (tmp_path / "dramac.toml").write_text("[stitch]\nroom_tone = false\nscene_gap = 3.0\n", encoding="utf-8")
    (tmp_path / "play.fountain").write_text(MEASURED, encoding="utf-8")
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    done = subprocess.run([sys.executable, "-m", "compiler", "build", "play.fountain", "-o", "out", "-j", "1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    audio, sr = sf.read(tmp_path / "out" / "play.wav", dtype="float64")
    manifest = json.loads((tmp_path / "out" / "play.json").read_text(encoding="utf-8"))
    lines = manifest["lines"]
    assert [line["room"] for line in lines] == ["large", "exterior", "small"]
    assert [r["room"] for r in manifest["rooms"] if r["heading"]] == ["large", "exterior", "small"]
    starts = [int(round(line["start"] * sr)) for line in lines] + [len(audio)]
    rt = {line["room"]: schroeder_rt60(audio[a:b], sr) for line, a, b in zip(lines, starts, starts[1:])}
    assert rt["large"] > rt["small"] > rt["exterior"], rt
    assert 1.4 < rt["large"] < 2.2 and 0.25 < rt["small"] < 0.5 and rt["exterior"] < 0.2, rt
    # The tails ring into the gaps; they move no line: each scene starts where a dry play starts it.
    (tmp_path / "dramac.toml").write_text("[stitch]\nroom_tone = false\nscene_gap = 3.0\n[rooms]\nenabled = false\n",
                                          encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "compiler", "build", "play.fountain", "-o", "dry", "-j", "1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    dry = json.loads((tmp_path / "dry" / "play.json").read_text(encoding="utf-8"))["lines"]
    assert [(d["start"], d["end"]) for d in dry] == [(line["start"], line["end"]) for line in lines]
