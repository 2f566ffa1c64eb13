"""The stereo stage (compiler/stage.py, docs/stage.md): channels, the mix rate, pan, spread and moves.

Built files are read by soundfile and measured with numpy, scipy and pyloudnorm; where each voice
should stand is recomputed from the script (tests/stereo_meter.py), never asked of dramac."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from compiler.diagnostics import Span
from compiler.master import limit, loudness
from compiler.pieces import MappedSources, Pieces, TakePiece, mix
from compiler.plan_types import Clip, Plan, PlannedLine, SceneBreak, SoundCue
from compiler.stage import PlacedMove, StageSettings, line_pans, pan_gains, scene_positions
from compiler.settings_schema import SettingError
from compiler.stitch import StitchSettings, build_timeline
from tests.stereo_meter import channel_difference_db, downmix, pan_difference_db, true_peak_dbtp

SR = 22050


# --------------------------------------------------------------------------------------------------
# The law and the rule


def test_the_pan_law_keeps_the_power_and_ends_at_the_sides():
    for p in np.linspace(-1, 1, 41):
        left, right = pan_gains(p)
        assert float(left) ** 2 + float(right) ** 2 == pytest.approx(1.0, abs=1e-6)
        assert 20 * math.log10(max(float(right), 1e-12) / max(float(left), 1e-12)) == pytest.approx(
            pan_difference_db(p) if abs(p) < 1 else math.copysign(240, p), abs=1e-3 if abs(p) < 1 else 200)
    assert [float(g) for g in pan_gains(-1.0)] == pytest.approx([1.0, 0.0], abs=1e-7)
    assert [float(g) for g in pan_gains(0.0)] == pytest.approx([math.sqrt(0.5)] * 2)


def test_a_scene_spreads_its_speakers_and_keeps_the_narrator_centred():
    assert scene_positions(["ANA", "BO", "ANA"], 0.35, {}) == {"ANA": -0.35, "BO": 0.35}
    assert scene_positions(["ANA"], 0.35, {}) == {"ANA": 0.0}
    three = scene_positions(["ANA", "NARRATOR", "BO", "CY"], 0.5, {})
    assert three == {"ANA": -0.5, "BO": 0.0, "CY": 0.5, "NARRATOR": 0.0}
    # A fixed pan takes the character out of the spread; the others share it.
    assert scene_positions(["ANA", "BO", "CY"], 0.4, {"BO": 0.9}) == {"ANA": -0.4, "BO": 0.9, "CY": 0.4}


def _line(speaker: str, n: int, extension: str | None = None) -> PlannedLine:
    text = f"line {n}"
    return PlannedLine(speaker, text, text, Span("play.fountain", n, 1, n, 5), extension)


def _timeline(scenes: list[list[str | tuple[str, str]]], moves=()):
    """Scenes of one-second lines: a speaker's name, or (name, extension)."""
    steps, takes = [], {}
    n = 0
    for index, speakers in enumerate(scenes):
        steps.append(SceneBreak(index))
        for cue in speakers:
            speaker, extension = cue if isinstance(cue, tuple) else (cue, None)
            n += 1
            clip = Clip(index, (speaker,), (), (_line(speaker, n, extension),), 1.0)
            steps.append(clip)
            takes[clip.key] = [np.zeros(SR, np.float32)]  # one second each
    for move in moves:
        steps.insert(move[0], SoundCue("move", None, (("character", move[1]), ("over", move[3]), ("to", move[2])),
                                       Span("play.fountain", 1, 1, 1, 2)))
    timeline = build_timeline(Plan("play.fountain", "t", tuple(steps)), takes, SR, StitchSettings())
    return timeline


def test_an_edit_in_one_scene_moves_no_voice_in_another():
    before = line_pans(_timeline([["ANA", "BO", "ANA"], ["ANA", "CY"]]), 0.35, {})
    after = line_pans(_timeline([["ANA", "BO", "ANA"], ["DEE", "ANA", "CY"]]), 0.35, {})
    assert before[:3] == after[:3]  # scene one is as it was
    assert [p.pan for p in before[:3]] == [-0.35, 0.35, -0.35]
    assert [p.pan for p in after[3:]] == [-0.35, 0.0, 0.35]


def test_a_voice_over_is_centred_and_takes_no_place_on_the_stage():
    timeline = _timeline([
        [("HANNAH", "V.O."), "DANIEL", "MARGARET", ("HANNAH", "V.O.")],  # HANNAH only in V.O.
        ["DANIEL", ("HANNAH", "VO"), "MARGARET", "HANNAH", ("DANIEL", "V.O")],  # both kinds of line
    ])
    pans = [p.pan for p in line_pans(timeline, 0.35, {})]
    # Scene one: DANIEL and MARGARET are its two speakers, as if HANNAH were not there.
    assert pans[:4] == [0.0, -0.35, 0.35, 0.0]
    # Scene two: DANIEL, MARGARET, HANNAH stand in the order of their first ordinary lines; the
    # V.O. lines of HANNAH and DANIEL are centred, not at their places.
    assert pans[4:] == [-0.35, 0.0, 0.0, 0.35, 0.0]
    # A fixed pan places the character's ordinary lines only.
    fixed = _timeline([[("MARGARET", "voice-over"), "DANIEL", "HANNAH", "MARGARET", ("MARGARET", "V. O.")]])
    assert [p.pan for p in line_pans(fixed, 0.35, {"MARGARET": 0.9})] == [0.0, -0.35, 0.35, 0.9, 0.0]


def test_a_move_ramps_over_the_characters_own_speech_and_resets_at_the_next_scene():
    # Steps: 0 break, 1 ANA, 2 BO, 3 ANA, 4 BO, 5 break, 6 ANA ...: the move goes before step 3.
    timeline = _timeline([["ANA", "BO", "ANA", "BO", "ANA"], ["ANA", "BO"]], moves=[(3, "ANA", 0.95, 1.5)])
    assert len(timeline.moves) == 1 and isinstance(timeline.moves[0], PlacedMove)
    pans = line_pans(timeline, 0.35, {}, timeline.moves)
    first, during, after = pans[0], pans[2], pans[4]
    assert first.pan == -0.35 and not first.path
    # One second of ANA's speech of the 1.5 s move: from -0.35 two thirds of the way to 0.95.
    assert during.path[0] == (0, -0.35) and during.path[-1][0] == SR
    assert during.path[-1][1] == pytest.approx(-0.35 + (0.95 + 0.35) * 2 / 3, abs=1e-6)
    assert after.path[0][1] == pytest.approx(during.path[-1][1]) and after.path[-1] == (SR // 2, 0.95)
    assert [p.pan for p in pans[1::2][:2]] == [0.35, 0.35]  # BO does not move
    assert pans[5].pan == -0.35 and not pans[5].path  # the next scene places ANA afresh


# --------------------------------------------------------------------------------------------------
# The mixer and the master


class _Stereo:
    start, length, kind = 0, 4, "sfx"

    def identity(self, a, b):
        return "stereo"

    def samples(self, a, b, sources, loop, settings, sample_rate):
        return np.array([[0.1, -0.2]] * (b - a), np.float32)


def test_the_mixer_places_mono_pieces_at_their_pan_and_adds_stereo_ones_as_they_are():
    take = np.full(SR, 0.5, np.float32)
    piece = TakePiece(0, SR, "k", 0, "s", "none", 0, pan=0.6)
    sources = MappedSources({"k": [take]}, {})
    pieces = Pieces([piece, _Stereo()])
    out = mix(pieces, 0, SR, sources, StitchSettings(), SR, channels=2)
    assert out.shape == (SR, 2)
    left, right = math.cos(1.6 * math.pi / 4) * 0.5, math.sin(1.6 * math.pi / 4) * 0.5
    assert out[10] == pytest.approx([left, right], abs=1e-6)
    assert out[0] == pytest.approx([left + 0.1, right - 0.2], abs=1e-6)
    mono = mix(pieces, 0, SR, sources, StitchSettings(), SR, channels=1)
    assert mono.shape == (SR,) and mono[10] == pytest.approx(0.5) and mono[0] == pytest.approx(0.5 - 0.05)


def test_a_moving_piece_pans_sample_by_sample():
    take = np.full(100, 0.5, np.float32)
    piece = TakePiece(0, 100, "k", 0, "s", "none", 0, pan=-1.0, pan_path=((0, -1.0), (50, 1.0)))
    out = mix(Pieces([piece]), 0, 100, MappedSources({"k": [take]}, {}), StitchSettings(), SR, channels=2)
    assert out[0] == pytest.approx([0.5, 0.0], abs=1e-6) and out[60] == pytest.approx([0.0, 0.5], abs=1e-6)
    assert out[25] == pytest.approx([0.5 * math.sqrt(0.5)] * 2, abs=2e-3)


def test_the_limiter_is_linked_and_stereo_loudness_matches_pyloudnorm():
    rng = np.random.default_rng(3)
    s = (rng.normal(size=3 * SR) * 0.3).astype(np.float32)
    s[SR] = 1.6  # a peak well over the ceiling, in the right channel only twice as loud
    stereo = np.stack([0.5 * s, s], axis=1)
    out = limit(stereo, -1.0, SR)
    assert true_peak_dbtp(out) <= -0.9
    # One gain for both channels: the image does not move, sample by sample.
    np.testing.assert_allclose(out[:, 0] * 2, out[:, 1], rtol=1e-5, atol=1e-7)
    expected = pyloudnorm.Meter(SR).integrated_loudness(stereo.astype(np.float64))
    assert loudness(stereo, SR) == pytest.approx(expected, abs=0.01)


def test_settings_are_checked():
    with pytest.raises(SettingError, match="sample_rate"):
        StageSettings(sample_rate=1000)
    with pytest.raises(SettingError, match="channels"):
        StageSettings(channels="quad")
    assert StageSettings().n_channels == 2 and StageSettings(channels="MONO").n_channels == 1
    assert StageSettings().mix_rate(22050) == 22050 and StageSettings(sample_rate=48000).mix_rate(22050) == 48000


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg", "opus", "m4b"])
def test_every_format_carries_stereo(tmp_path, fmt):
    from compiler.emit import write_audio
    from compiler.encode import aac_encoder

    if fmt == "m4b" and aac_encoder() is None:
        pytest.skip("no AAC encoder (ffmpeg) here")
    t = np.arange(2 * 44100) / 44100
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.1 * np.sin(2 * np.pi * 660 * t)], axis=1).astype(np.float32)
    target = tmp_path / f"play.{fmt}"
    write_audio(target, stereo, 44100, fmt)
    if fmt == "m4b":
        from mutagen.mp4 import MP4

        assert MP4(target).info.channels == 2
        return
    back, rate = sf.read(target, dtype="float32")
    assert back.ndim == 2 and back.shape[1] == 2
    rms = np.sqrt((back[rate // 4: -rate // 4] ** 2).mean(axis=0))
    assert 20 * math.log10(rms[0] / rms[1]) == pytest.approx(20 * math.log10(3), abs=1.0)  # the channels kept apart


# --------------------------------------------------------------------------------------------------
# Built plays

SCRIPT = """Title: Stage test

INT. KITCHEN - NIGHT

ELENA
The ferry leaves at nine, and I will be on it.

TOM
Then we had better start packing the bags tonight.

[[move: TOM to 0.8 over 1s]]

TOM
Wait for me at the harbour gate, whatever happens down there.

ELENA
I will wait until the very last whistle of the boat.

EXT. HARBOUR - LATER

HANNAH (V.O.)
Nobody waits at the harbour gate at night.

MAYA
You made it after all.

TOM
Only just, with one bag and no coat.
"""


def dramac(*args, hash_seed="0"):
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", PYTHONHASHSEED=hash_seed)
    r = subprocess.run([sys.executable, "-m", "compiler", *map(str, args)], capture_output=True, text=True, env=env,
                       timeout=900)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def _project(root: Path, stage: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dramac.toml").write_text(f'[cast.ELENA]\npan = -0.8\n\n[stage]\n{stage}\n', encoding="utf-8")
    script = root / "play.fountain"
    script.write_text(SCRIPT, encoding="utf-8")
    return script


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One stereo play at 48 kHz, then the same play in mono at the backend's rate (same clip cache)."""
    base = tmp_path_factory.mktemp("stage")
    cache = base / "cache"
    out = {}
    for name, stage in (("stereo48", "sample_rate = 48000"), ("mono", 'channels = "mono"')):
        script = _project(base / name, stage)
        r = dramac("build", script, "-o", base / name / "out", "--cache-dir", cache)
        assert r.returncode == 0, r.stdout + r.stderr
        audio, rate = sf.read(base / name / "out" / "play.wav", dtype="float64")
        manifest = json.loads((base / name / "out" / "play.json").read_text(encoding="utf-8"))
        out[name] = (audio, rate, manifest)
    return out


def _spans(manifest, rate, speaker, scene_line_from=0, scene_line_to=10**9):
    return [(int(l["start"] * rate), int(l["end"] * rate)) for l in manifest["lines"]
            if l["speaker"] == speaker and scene_line_from <= l["span"]["line"] < scene_line_to]


def test_a_48k_stereo_build_places_every_voice(built):
    audio, rate, manifest = built["stereo48"]
    assert rate == 48000 and audio.shape[1] == 2
    assert manifest["sample_rate"] == 48000 and manifest["channels"] == 2
    harbour = SCRIPT.split("\n").index("EXT. HARBOUR - LATER") + 1
    # ELENA is fixed at -0.8; TOM, the scene's one free speaker, stands in the centre until he moves.
    assert abs(channel_difference_db(audio, _spans(manifest, rate, "ELENA")) - pan_difference_db(-0.8)) <= 1.0
    tom = [l for l in manifest["lines"] if l["speaker"] == "TOM"]
    first, moving, harbour_line = tom
    assert abs(channel_difference_db(audio, [(int(first["start"] * rate), int(first["end"] * rate))])) <= 1.0
    # The move takes the first second of his next line; after it he stands at 0.8.
    settled = [(int((moving["start"] + 1.1) * rate), int(moving["end"] * rate))]
    assert moving["end"] - moving["start"] > 1.6
    assert abs(channel_difference_db(audio, settled) - pan_difference_db(0.8)) <= 1.0
    opening = [(int(moving["start"] * rate), int((moving["start"] + 0.3) * rate))]
    assert channel_difference_db(audio, opening) < pan_difference_db(0.8) - 3  # heard on its way
    # The next scene places him afresh: MAYA and TOM are its two free speakers, at -0.35 and +0.35
    # (HANNAH, heard only in V.O., is centred and takes no place).
    assert abs(channel_difference_db(audio, _spans(manifest, rate, "MAYA", harbour)) - pan_difference_db(-0.35)) <= 1.0
    assert abs(channel_difference_db(audio, [(int(harbour_line["start"] * rate), int(harbour_line["end"] * rate))])
               - pan_difference_db(0.35)) <= 1.0
    meter = pyloudnorm.Meter(rate)
    assert abs(meter.integrated_loudness(audio) + 16.0) <= 0.5 and true_peak_dbtp(audio) <= -1.0
    # (No 1 LU downmix check here: voices at ±0.8 lose up to 1.9 dB in (L + R) / √2, as the law says;
    # tests/test_e2e.py checks the downmix of the automatic spread.)


def test_the_manifest_says_where_each_line_stands_and_in_which_scene(built):
    """Each line's scene is the entry of `rooms` whose heading is the last one before the line in the
    script, and in stereo its pan is the one the settings and the move give it: read from the script
    here."""
    headings = [(n, text) for n, text in enumerate(SCRIPT.split("\n"), 1) if text.startswith(("INT.", "EXT."))]
    _, _, manifest = built["stereo48"]
    assert [room["scene"] for room in manifest["rooms"]] == list(range(len(manifest["rooms"])))
    for line in manifest["lines"]:
        heading = [text for n, text in headings if n < line["span"]["line"]][-1]
        assert manifest["rooms"][line["scene"]]["heading"] == heading
    expected = {  # (speaker, scene) -> pans of its lines, in order: (start, end)
        ("ELENA", 0): [(-0.8, -0.8), (-0.8, -0.8)],
        ("TOM", 0): [(0.0, 0.0), (0.0, 0.8)],  # the move carries him while he speaks
        ("HANNAH", 1): [(0.0, 0.0)],  # a V.O. is centred and takes no place in the spread:
        ("MAYA", 1): [(-0.35, -0.35)],  # MAYA and TOM are the scene's two speakers
        ("TOM", 1): [(0.35, 0.35)],  # the next scene places him afresh
    }
    found: dict = {}
    for line in manifest["lines"]:
        found.setdefault((line["speaker"], line["scene"]), []).append(
            (line["pan"], line.get("pan_end", line["pan"])))
    assert {key: [tuple(round(v, 6) for v in pans) for pans in lines] for key, lines in found.items()} == expected
    _, _, mono = built["mono"]
    assert not any("pan" in line for line in mono["lines"])


def test_the_48k_build_is_still_heard(built):
    from tests.listen import heard, wer

    audio, rate, manifest = built["stereo48"]
    reference = " ".join(line["spoken"] for line in manifest["lines"])
    assert wer(reference, heard(downmix(audio), rate)) <= 0.25


def test_a_mono_build_writes_one_channel_at_the_backends_rate(built):
    audio, rate, manifest = built["mono"]
    assert audio.ndim == 1 and rate == 22050
    assert manifest["channels"] == 1 and manifest["sample_rate"] == 22050
    assert abs(pyloudnorm.Meter(rate).integrated_loudness(audio) + 16.0) <= 0.5 and true_peak_dbtp(audio) <= -1.0
    stereo_audio, stereo_rate, stereo_manifest = built["stereo48"]
    # The same timeline, in seconds, whatever the rate: take lengths follow the mix rate.
    for mono_line, stereo_line in zip(manifest["lines"], stereo_manifest["lines"]):
        # Each gap and take is rounded to whole samples at its own rate: a sample or so per step.
        assert stereo_line["start"] == pytest.approx(mono_line["start"], abs=0.002)
        assert stereo_line["end"] == pytest.approx(mono_line["end"], abs=0.002)


def test_a_move_of_an_unknown_character_or_to_a_bad_place_is_an_error_at_the_directive(tmp_path):
    script = _project(tmp_path, "")
    text = SCRIPT.replace("[[move: TOM to 0.8 over 1s]]", "[[move: TOMM to 0.8 over 1s]]")
    script.write_text(text, encoding="utf-8")
    r = dramac("check", script)
    line = text.split("\n").index("[[move: TOMM to 0.8 over 1s]]") + 1
    assert r.returncode == 1
    assert f"play.fountain:{line}:1: error: move: no character named TOMM speaks in this script; did you mean TOM?" \
        in r.stdout + r.stderr
    script.write_text(SCRIPT.replace("TOM to 0.8", "TOM to 1.8"), encoding="utf-8")
    r = dramac("check", script)
    column = "[[move: TOM to 1.8".index("1.8") + 1
    assert r.returncode == 1 and f"play.fountain:{line}:{column}: error: '1.8' is not a position" in r.stdout + r.stderr
    (tmp_path / "dramac.toml").write_text("[stage]\nsample_rate = 1000\n[cast.ELENA]\npan = 2\n", encoding="utf-8")
    script.write_text(SCRIPT, encoding="utf-8")
    r = dramac("check", script)
    assert r.returncode == 1
    assert "dramac.toml:2:1: error: [stage] sample_rate must be 0 (the backend's own rate)" in r.stdout + r.stderr
    assert "dramac.toml:4:1: error: [cast.ELENA] pan must be a number from -1 to 1, not 2" in r.stdout + r.stderr


def test_sound_files_keep_their_own_placement(tmp_path):
    """A stereo file stays stereo (balanced by `pan=`); a mono one is placed at its `pan=`."""
    from compiler.sounds import load_sounds
    from compiler.stitch import assemble

    t = np.arange(SR) / SR
    tone = (0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    sf.write(tmp_path / "left.wav", np.stack([tone, np.zeros_like(tone)], axis=1), SR)
    sf.write(tmp_path / "both.wav", np.stack([tone, tone], axis=1), SR)
    sf.write(tmp_path / "mono.wav", tone, SR)
    span = Span("play.fountain", 1, 1, 1, 2)

    def played(path: str, **options) -> np.ndarray:
        cue = SoundCue("sfx", str(tmp_path / path), tuple(sorted(options.items())), span)
        plan = Plan("play.fountain", "t", (cue,))
        sounds, lengths = load_sounds(plan, SR, 2)
        settings = StitchSettings(room_tone=False)
        timeline = build_timeline(plan, {}, SR, settings, lengths)
        audio = assemble(timeline, {}, settings, sounds, stage=StageSettings())
        assert audio.ndim == 2
        return audio

    def difference(audio: np.ndarray) -> float:
        energy = (audio.astype(np.float64) ** 2).sum(axis=0)
        return 10 * math.log10(max(energy[1], 1e-30) / max(energy[0], 1e-30))

    assert difference(played("left.wav")) < -100  # the file's right channel is silent, and stays so
    assert abs(difference(played("both.wav"))) < 0.01
    assert difference(played("both.wav", pan=0.5)) == pytest.approx(20 * math.log10(1 / 0.5), abs=0.01)  # L down 6 dB
    assert difference(played("mono.wav", pan=0.5)) == pytest.approx(pan_difference_db(0.5), abs=0.05)
    assert abs(difference(played("mono.wav"))) < 0.01
    mono_sounds, _ = load_sounds(Plan("p", "t", (SoundCue("sfx", str(tmp_path / "left.wav"), (), span),)), SR, 1)
    assert mono_sounds[str(tmp_path / "left.wav")].ndim == 1  # a mono build reads the mean of the channels


def test_a_cue_pan_is_checked_at_its_option(tmp_path):
    from compiler.project import Project
    from tests.test_directives import run

    sf.write(tmp_path / "door.wav", np.zeros(240, np.float32), SR)
    node, diags = run("sfx: door.wav pan=-0.5", Project(tmp_path))
    assert node.options == {"pan": -0.5} and not diags
    node, diags = run("music: door.wav pan=1.5", Project(tmp_path))
    (problem,) = diags
    assert node is None and problem.message == "music option pan: 1.5 is above the maximum of 1"
    assert (problem.span.col, problem.span.end_col) == (3 + len("[[music: door.wav "), 3 + len("[[music: door.wav pan=1.5"))
    node, diags = run("sfx: door.wav pan=left", Project(tmp_path))
    assert node is None and diags[0].message == "sfx option pan: 'left' is not a number; write e.g. -0.5"
