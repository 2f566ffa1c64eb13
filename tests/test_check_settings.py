"""`dramac check` reports the settings errors a build would stop on, at the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DRAMAC = str(Path(sys.executable).with_name("dramac"))


def test_check_reports_machine_settings_in_front_matter_at_the_key(tmp_path):
    script = tmp_path / "play.md"
    script.write_text("---\nbuild: {jobs: 100000}\n---\n\n# Scene\n\n**ANNA:** Hello there.\n", encoding="utf-8")
    run = subprocess.run([DRAMAC, "check", str(script)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert f"{script}:2:9: error: [build] jobs cannot be set in a script" in run.stderr
    assert "Traceback" not in run.stderr


def test_check_passes_a_script_whose_settings_are_fine(tmp_path):
    script = tmp_path / "play.md"
    script.write_text("---\nnarrator: {enabled: true}\n---\n\n# Scene\n\n**ANNA:** Hello there.\n", encoding="utf-8")
    run = subprocess.run([DRAMAC, "check", str(script)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    # Said, not left to silence: a clean script is told from a check that did nothing.
    assert run.stderr.strip() == "ok: 1 script checked, no problems found" and run.stdout == ""


def _check(tmp_path, script_text: str, toml: str | None = None) -> subprocess.CompletedProcess:
    if toml is not None:
        (tmp_path / "dramac.toml").write_text(toml, encoding="utf-8")
    script = tmp_path / "play.md"
    script.write_text(script_text, encoding="utf-8")
    return subprocess.run([DRAMAC, "check", str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path)


def test_check_casts_and_points_at_the_voice_a_palette_lacks(tmp_path):
    run = _check(tmp_path, "# Scene\n\n**ANNA:** Hello there.\n",
                 "[cast.ANNA]\ngender = \"female\"\n[cast.ANNA.embedded]\nvoice = \"warm-femal\"\n")
    assert run.returncode == 1
    assert "dramac.toml:4:9: error: cast entry 'ANNA': unknown embedded voice 'warm-femal'" in run.stderr, run.stderr
    assert "did you mean 'warm-female'?" in run.stderr
    assert "check failed" not in run.stderr and "Traceback" not in run.stderr


def test_check_warns_of_cast_entries_naming_no_one(tmp_path):
    run = _check(tmp_path, "# Scene\n\n**ANNA:** Hello there.\n", "[cast.ANA]\nvoice = \"warm-female\"\n")
    assert run.returncode == 0, run.stderr
    assert "warning: cast entry 'ANA' names no character who speaks in this script" in run.stderr
    assert "did you mean ANNA?" in run.stderr


def test_values_in_messages_are_written_as_in_the_settings_file(tmp_path):
    run = _check(tmp_path, "---\nstitch: {room_tone: yes please, tail: true}\n---\n\n# Scene\n\n**ANNA:** Hi.\n")
    assert run.returncode == 1
    assert 'room_tone must be true or false, not "yes please"' in run.stderr, run.stderr
    assert "tail must be a number from 0 to 60 s, not true" in run.stderr


def test_a_front_matter_key_one_letter_off_is_a_warning_not_silence(tmp_path):
    run = _check(tmp_path, "---\ntitel: A Test\nsttich: {scene_gap: 2}\nmood: calm\n---\n\n# Scene\n\n**ANNA:** Hi.\n")
    assert run.returncode == 0, run.stderr
    assert "play.md:2:1: warning: front-matter key 'titel' is neither a title-page field nor a settings table" in run.stderr
    assert "did you mean 'title'?" in run.stderr and "did you mean 'stitch'?" in run.stderr
    assert "'mood'" not in run.stderr  # the writer's own metadata is not a typo


def test_front_matter_in_a_fountain_script_is_a_warning_that_says_where_it_belongs(tmp_path):
    script = tmp_path / "play.fountain"
    script.write_text("---\ntitle: A Test\n---\n\nINT. KITCHEN - NIGHT\n\nANNA\nHello there.\n", encoding="utf-8")
    run = subprocess.run([DRAMAC, "check", str(script)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert f"{script}:1:1: warning: a Fountain script has no front matter" in run.stderr
    assert "'Title: …' lines and settings in dramac.toml" in run.stderr
    plain = tmp_path / "plain.fountain"
    plain.write_text("INT. KITCHEN - NIGHT\n\nANNA\nHello there.\n\n---\n", encoding="utf-8")
    run = subprocess.run([DRAMAC, "check", str(plain)], capture_output=True, text=True, timeout=60)
    assert "front matter" not in run.stderr


def test_misspelt_choices_and_sub_tables_get_a_did_you_mean(tmp_path):
    run = _check(tmp_path, "# Scene\n\n**ANNA:** Hi.\n",
                 '[stage]\nchannels = "streo"\n[rooms.location]\nCAR = "small"\n')
    assert run.returncode == 1
    assert '[stage] channels must be one of stereo, mono, not "streo"; did you mean \'stereo\'?' in run.stderr, run.stderr
    assert "unknown setting 'location' in [rooms]; did you mean 'locations'?" in run.stderr


def test_a_rate_mp3_cannot_store_is_refused_at_the_key_before_rendering(tmp_path):
    toml = '[build]\nformat = "wav,mp3"\n[stage]\nsample_rate = 12345\n'
    run = _check(tmp_path, "# Scene\n\n**ANNA:** Hi.\n", toml)
    assert run.returncode == 1
    assert "dramac.toml:4:1: error: mp3 cannot store 12345 Hz audio; set [stage] sample_rate to one of" in run.stderr
    build = subprocess.run([DRAMAC, "build", "play.md", "-o", "out"], capture_output=True, text=True, timeout=120,
                           cwd=tmp_path)
    assert build.returncode == 1 and "dramac.toml:4:1: error: mp3 cannot store 12345 Hz" in build.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())  # nothing rendered or written


def test_check_reads_the_sound_files_a_build_would_refuse(tmp_path):
    """A sound file cut short is what a build refuses before rendering: `check` says so, at the cue."""
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "door.wav", np.zeros(22050, dtype=np.float32), 22050)
    whole = (tmp_path / "door.wav").read_bytes()
    (tmp_path / "door.wav").write_bytes(whole[: len(whole) // 4])  # a copy interrupted
    script = tmp_path / "play.fountain"
    script.write_text("INT. HALL - DAY\n\n[[sfx: door.wav]]\n\nANNA\nWho is there?\n", encoding="utf-8")
    run = subprocess.run([DRAMAC, "check", str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert f"{script}:3:1: error: sound file" in run.stderr and "is truncated" in run.stderr
    (tmp_path / "door.wav").write_bytes(whole)
    run = subprocess.run([DRAMAC, "check", str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0 and "ok: 1 script checked" in run.stderr, run.stderr


def test_a_voice_set_for_a_character_who_does_not_speak_now_is_still_checked(tmp_path):
    """A scene cut for a while leaves its character's `[cast.NAME]` table behind: a mistake in it is
    reported now, at the value, not when the scene comes back (the entry itself only warns)."""
    play = "# Hall\n\n**ANNA:** Who is there?\n"
    run = _check(tmp_path, play, '[cast.WALTER]\nvoice = "nope"\n')
    assert run.returncode == 1 and "dramac.toml:2:9: error: cast entry 'WALTER': unknown embedded voice 'nope'" in run.stderr
    run = _check(tmp_path, play, '[cast.WALTER]\nvoice = "deep-male"\n')
    assert run.returncode == 0 and "warning: cast entry 'WALTER' names no character who speaks" in run.stderr
