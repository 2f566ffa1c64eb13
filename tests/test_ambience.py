"""Ambience beds, `[[ambience: PATH]]` (compiler/plugins/ambience.py): heard under their scene and
not after it, crossfading at scene changes, ducking under speech, looped without a seam, mixed
incrementally, and checked at the directive. Levels are measured on the mixed audio with scipy's
band-pass filters, in bands that hold one bed each and no speech."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from compiler import directives, pieces, segments
from compiler.diagnostics import CompileError, Sink, Span
from compiler.plan_types import Clip, PauseStep, Plan, PlannedLine, SceneBreak, SoundCue
from compiler.plugins.ambience import AmbiencePiece
from compiler.project import Project
from compiler.stitch import StitchSettings, assemble, build_timeline, load_sounds
from tests.test_take import dramac

SR = 16000
SPAN = Span("play.fountain", 7, 1, 7, 30)
BAND_A, BAND_B = (1000.0, 2000.0), (4000.0, 5000.0)  # where each test bed has its energy
SPEECH_HZ = 200.0  # the test takes: a tone far below both bands


def band_noise(seconds: float, band: tuple[float, float], seed: int, rms: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sos = signal.butter(8, band, btype="bandpass", fs=SR, output="sos")
    x = signal.sosfiltfilt(sos, rng.normal(size=int(seconds * SR)))
    return (rms * x / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def band_db(audio: np.ndarray, band: tuple[float, float], t0: float, t1: float) -> float:
    """RMS level (dB) of `audio` between t0 and t1 s, in the inner part of `band` (the meter)."""
    low, high = band
    sos = signal.butter(6, (low + 100.0, high - 100.0), btype="bandpass", fs=SR, output="sos")
    filtered = signal.sosfiltfilt(sos, np.asarray(audio, np.float64))
    part = filtered[int(t0 * SR): int(t1 * SR)]
    return float(10 * np.log10(np.mean(part ** 2) + 1e-30))


def speech(seconds: float) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * SPEECH_HZ * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


def line(speaker: str, text: str) -> PlannedLine:
    return PlannedLine(speaker, text, text.lower(), SPAN, None, 0.0)


def clip(scene: int, speaker: str, text: str = "Hello.") -> Clip:
    return Clip(scene, (speaker,), (), (line(speaker, text),), 1.0)


def cue(kind: str, path: str | None, **options) -> SoundCue:
    return SoundCue(kind, path, tuple(options.items()), SPAN)


def mixed(plan: Plan, settings: StitchSettings, seconds: float = 2.0):
    sounds, lengths = load_sounds(plan, SR)
    takes = {c.key: [speech(seconds)] for c in plan.clips}
    timeline = build_timeline(plan, takes, SR, settings, lengths)
    return timeline, assemble(timeline, takes, settings, sounds)


@pytest.fixture(scope="module")
def beds(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("beds")
    # Shorter than the scenes: both loop.
    sf.write(folder / "rain.wav", band_noise(1.3, BAND_A, 1), SR)
    sf.write(folder / "wind.wav", band_noise(2.1, BAND_B, 2), SR)
    return str(folder / "rain.wav"), str(folder / "wind.wav")


# Three scenes: rain under the first, wind under the second, none under the third. Long scene gaps
# leave room to measure each side of the crossfades; ducking is measured in its own test.
SCENES = StitchSettings(room_tone=False, scene_gap=4.0, ambience_duck_db=0.0)


@pytest.fixture(scope="module")
def three_scenes(beds):
    rain, wind = beds
    plan = Plan("play.fountain", "T", (
        cue("ambience", rain), clip(0, "A"), clip(0, "B"),
        SceneBreak(1), cue("ambience", wind), clip(1, "A"), clip(1, "B"),
        SceneBreak(2), clip(2, "A"),
    ))
    return mixed(plan, SCENES)


def test_a_bed_plays_under_its_scene_and_not_after_it(beds, three_scenes):
    timeline, audio = three_scenes
    first, second, third, fourth, _ = timeline.lines
    full_a = band_db(audio, BAND_A, SCENES.ambience_crossfade + 0.1, second.end)  # after its fade-in
    # The files' own levels in the meter's bands, at the beds' volume.
    expected_a, expected_b = (band_db(sf.read(path, dtype="float64")[0], band, 0.1, 1.2) + SCENES.ambience_volume_db
                              for path, band in zip(beds, (BAND_A, BAND_B)))
    assert full_a == pytest.approx(expected_a, abs=1.0)
    change = second.end + SCENES.scene_gap / 2
    after = change + SCENES.ambience_crossfade / 2
    assert band_db(audio, BAND_A, after + 0.05, timeline.duration) < full_a - 60  # gone with its scene
    full_b = band_db(audio, BAND_B, third.start, fourth.end + 0.5)
    assert full_b == pytest.approx(expected_b, abs=1.0)
    assert band_db(audio, BAND_B, 0.0, change - SCENES.ambience_crossfade / 2 - 0.05) < full_b - 60
    # The third scene has no bed of its own: the wind fades out across its scene change and is gone.
    change3 = timeline.lines[3].end + SCENES.scene_gap / 2
    assert band_db(audio, BAND_B, change3 - 0.1, change3 + 0.1) == pytest.approx(full_b - 3.0, abs=1.5)
    assert band_db(audio, BAND_B, change3 + SCENES.ambience_crossfade / 2 + 0.05, timeline.duration) < full_b - 60
    # The manifest's numbers: the beds' extents on the timeline.
    rain, wind = timeline.sounds
    assert (rain.cue.kind, rain.start) == ("ambience", 0.0)
    assert rain.end == pytest.approx(after, abs=1 / SR)
    assert wind.start == pytest.approx(change - SCENES.ambience_crossfade / 2, abs=1 / SR)


def test_beds_crossfade_at_a_scene_change(three_scenes):
    timeline, audio = three_scenes
    second = timeline.lines[1]
    full_a = band_db(audio, BAND_A, 0.1, second.end)
    full_b = band_db(audio, BAND_B, timeline.lines[2].start, timeline.lines[3].end)
    change, half = second.end + SCENES.scene_gap / 2, SCENES.ambience_crossfade / 2
    # Both beds in the overlap, half their power each at its middle (an equal-power crossfade) ...
    assert band_db(audio, BAND_A, change - 0.1, change + 0.1) == pytest.approx(full_a - 3.0, abs=1.5)
    assert band_db(audio, BAND_B, change - 0.1, change + 0.1) == pytest.approx(full_b - 3.0, abs=1.5)
    # ... their summed power steady through it (no dip between the scenes) ...
    for t in np.arange(change - half + 0.1, change + half - 0.1, 0.2):
        power = (10 ** ((band_db(audio, BAND_A, t, t + 0.2) - full_a) / 10)
                 + 10 ** ((band_db(audio, BAND_B, t, t + 0.2) - full_b) / 10))
        assert 10 * np.log10(power) == pytest.approx(0.0, abs=1.5), t
    # ... one alone on either side of it, the overlap inside the scene gap.
    assert band_db(audio, BAND_B, change - half - 0.3, change - half - 0.02) < full_b - 60
    assert band_db(audio, BAND_A, change + half + 0.02, change + half + 0.3) < full_a - 60
    assert second.end < change - half and change + half < timeline.lines[2].start


def test_a_bed_ducks_under_speech_by_its_own_depth(beds):
    rain, wind = beds
    settings = StitchSettings(room_tone=False)
    plan = Plan("play.fountain", "T", (
        cue("ambience", rain), clip(0, "A"), PauseStep(3.0), clip(0, "B"),
        cue("ambience", wind, duck=-12), PauseStep(3.0), clip(0, "A"), PauseStep(3.0), clip(0, "B"),
        cue("ambience_stop", None, fade_out=0.5), PauseStep(2.0), clip(0, "A", "After the rain."),
    ))
    timeline, audio = mixed(plan, settings, seconds=2.5)
    lines = timeline.lines
    for band, spoken, after, depth in ((BAND_A, lines[0], lines[1], settings.ambience_duck_db),
                                       (BAND_B, lines[2], lines[3], 12.0)):
        under = band_db(audio, band, spoken.start + 0.3, spoken.end - 0.3)
        away = band_db(audio, band, spoken.end + 1.0, after.start - 0.5)
        print(f"bed {band}: {away:.2f} dB between lines, {under:.2f} dB under them")
        assert away - under == pytest.approx(depth, abs=1.5)
    stop = lines[3].end + settings.cue_gap  # [[ambience stop fade_out=0.5s]]: the wind fades out and is gone
    assert band_db(audio, BAND_B, stop + 0.52, timeline.duration) < band_db(audio, BAND_B, stop - 0.5, stop) - 60
    assert settings.ambience_duck_db < settings.music_duck_db  # a bed ducks less than music by default


def high_band_peak(x: np.ndarray) -> float:
    """The largest excursion of `x` above 6 kHz, where neither test file has energy: a step (a click)
    spreads over every frequency and shows here. The filter's own edges (0.1 s each side) are left out."""
    sos = signal.butter(8, 6000.0, btype="highpass", fs=SR, output="sos")
    edge = int(0.1 * SR)
    return float(np.max(np.abs(signal.sosfiltfilt(sos, np.asarray(x, np.float64))[edge:-edge])))


def test_a_looped_bed_has_no_seam(tmp_path):
    # A tone whose file ends half a period out of phase, and band noise: repeated as they are, each
    # seam is a step. (A short file and one of several seconds: the mixer tiles a short loop first.)
    freq, n = 220.0, int(0.5 * SR) + 36
    tone = (0.3 * np.cos(2 * np.pi * freq * np.arange(n) / SR)).astype(np.float32)
    noise = band_noise(4.5, BAND_A, 3)
    for name, src in (("tone.wav", tone), ("noise.wav", noise)):
        naive = np.tile(src, 3)
        assert high_band_peak(naive) > 5e-3  # the oracle hears a loop without a crossfade
        path = str(tmp_path / name)
        sf.write(path, src, SR)
        plan = Plan("play.fountain", "T", (cue("ambience", path, volume=0, duck=0, fade_in=0.01, fade_out=0.01),
                                           clip(0, "A")))
        sounds, lengths = load_sounds(plan, SR)
        takes = {c.key: [np.zeros(11 * SR, np.float32)] for c in plan.clips}
        timeline = build_timeline(plan, takes, SR, StitchSettings(room_tone=False), lengths)
        body = assemble(timeline, takes, StitchSettings(room_tone=False), sounds)[int(0.1 * SR): int(11.0 * SR)]
        assert len(body) > 2 * len(src)  # several seams
        print(f"{name}: above 6 kHz, peak {high_band_peak(body):.2e} looped, {high_band_peak(naive):.2e} tiled")
        assert high_band_peak(body) < 1e-3
        if name == "noise.wav":  # and no dip: 100 ms windows within 1.5 dB of the median
            frames = body[: len(body) // 1600 * 1600].reshape(-1, 1600).astype(np.float64)
            level = 10 * np.log10(np.mean(frames ** 2, axis=1))
            assert np.max(np.abs(level - np.median(level))) < 1.5, level


def test_a_stretch_mixed_alone_is_the_same_samples_as_the_whole_mix(beds):
    rain, wind = beds
    settings = StitchSettings()

    def play(last_line_seconds: float):
        plan = Plan("play.fountain", "T", (
            cue("music", wind, loop=True, volume=-20), cue("ambience", rain), clip(0, "A", "1"), clip(0, "B", "2"),
            SceneBreak(1), cue("ambience", wind, start=0.3), clip(1, "A", "3"), cue("ambience", rain),
            clip(1, "B", "4"), clip(1, "A", "5"), cue("ambience_stop", None), clip(1, "B", "6"),
        ))
        sounds, lengths = load_sounds(plan, SR)
        takes = {c.key: [speech(last_line_seconds if c.lines[0].original == "6" else 1.5)] for c in plan.clips}
        timeline = build_timeline(plan, takes, SR, settings, lengths)
        laid = pieces.play_pieces(timeline, settings, {p: pieces.sound_identity(a) for p, a in sounds.items()})
        spans = [(int(round(pl.start * SR)), int(round(pl.end * SR))) for pl in timeline.lines]
        return timeline, takes, sounds, laid, segments.segments(laid, spans, timeline.n_samples, SR, "test")

    timeline, takes, sounds, laid, cuts = play(1.5)
    assert sum(p.kind == "ambience" for p in laid.all) == 3
    whole = assemble(timeline, takes, settings, sounds)
    source = pieces.MappedSources(takes, sounds)
    for s in cuts:
        window = pieces.mix(laid, s.window_start, s.window_end, source, settings, SR)
        assert np.array_equal(window, whole[s.window_start: s.window_end])  # bit for bit
    # The last line grows: only its segment and the one before (whose window reaches into it) change.
    *_, longer = play(2.5)
    changed = [i for i, (a, b) in enumerate(zip(cuts, longer)) if a.key != b.key]
    assert changed == [len(cuts) - 2, len(cuts) - 1]


def test_a_stereo_source_gives_a_stereo_piece():
    """After the stereo stage, a stereo file is a (n, 2) source: the bed keeps its channels, each
    shaped exactly as the same samples alone would be."""
    rng = np.random.default_rng(5)
    stereo = rng.normal(0, 0.1, (SR, 2)).astype(np.float32)
    piece = AmbiencePiece(0, 3 * SR, "bed", "bed", 100, 2000, -6.0, 4000, 4000, (SR, SR + 4000), (0.0, -6.0))
    both = piece.samples(500, 2 * SR + 9000, pieces.MappedSources({}, {"bed": stereo}), None, None, SR)
    left = piece.samples(500, 2 * SR + 9000, pieces.MappedSources({}, {"bed": stereo[:, 0].copy()}), None, None, SR)
    assert both.shape == (2 * SR + 8500, 2) and np.array_equal(both[:, 0], left)


def _parse(tmp_path: Path, body: str):
    sink = Sink()
    span = Span(str(tmp_path / "play.fountain"), 4, 1, 4, len(body) + 5)
    return directives.parse_directive(body, span, Project(tmp_path), sink), sink.items


def test_directive_checks_at_its_span(tmp_path, beds):
    (tmp_path / "sounds").mkdir()
    sf.write(tmp_path / "sounds" / "rain.wav", band_noise(0.5, BAND_A, 4), SR)
    node, found = _parse(tmp_path, "ambience: sounds/rain.wav volume=-20dB duck=3dB start=0.1s")
    assert node is not None and node.options == {"volume": -20.0, "duck": 3.0, "start": 0.1} and not found
    node, found = _parse(tmp_path, "ambience: sounds/nope.wav")
    assert node is None and "no such file" in found[0].message and found[0].span.line == 4
    node, found = _parse(tmp_path, "ambience: sounds/rain.wav volume=loud")
    assert node is None and found[0].severity == "error" and "ambience option volume" in found[0].message
    assert found[0].span.col == 1 + len("[[ambience: sounds/rain.wav ")  # at the option
    node, found = _parse(tmp_path, "ambience: ../outside.wav")
    assert node is None and "outside" in found[0].message
    node, found = _parse(tmp_path, "ambience stop fade_out=2s")
    assert node is not None and node.options == {"fade_out": 2.0} and not found
    # A start past the file's end, and a stop with nothing playing, at the cue.
    rain = str(tmp_path / "sounds" / "rain.wav")
    late = Plan("play.fountain", "T", (cue("ambience", rain, start=9.0), clip(0, "A")))
    with pytest.raises(CompileError) as info:
        mixed(late, StitchSettings())
    assert "past the end of the file" in info.value.diagnostics[0].message
    assert info.value.diagnostics[0].span == SPAN
    timeline, _ = mixed(Plan("play.fountain", "T", (clip(0, "A"), cue("ambience_stop", None))), StitchSettings())
    assert "no ambience is playing" in timeline.diagnostics[0].message and timeline.diagnostics[0].span == SPAN


SCRIPT = """Title: Ambience

INT. CAFE - DAY

[[ambience: sounds/rain.wav volume=-20dB]]

ELENA
The ferry leaves at nine, and I will be on it.

TOM
Then go.

EXT. DECK - NIGHT

TOM
Good luck.
"""


def test_a_build_lists_the_bed_and_mixes_it_under_its_scene(tmp_path):
    """Through the command line: the manifest lists the bed like a music cue, the mastered audio has
    it in the first scene and not in the second, and a missing file is an error at its line."""
    (tmp_path / "dramac.toml").write_text("[stitch]\nroom_tone = false\nscene_gap = 3.0\n", encoding="utf-8")
    (tmp_path / "sounds").mkdir()
    rate = 22050  # the bed at the play's rate, in a band the test voice barely reaches
    rng = np.random.default_rng(6)
    sos = signal.butter(8, (6000.0, 7000.0), btype="bandpass", fs=rate, output="sos")
    bed = signal.sosfiltfilt(sos, rng.normal(size=rate))
    sf.write(tmp_path / "sounds" / "rain.wav", (0.3 * bed / np.max(np.abs(bed))).astype(np.float32), rate)
    script = tmp_path / "play.fountain"
    script.write_text(SCRIPT, encoding="utf-8")
    r = dramac("build", script, "-o", tmp_path / "out", "--cache-dir", tmp_path / "cache")
    assert r.returncode == 0, r.stdout + r.stderr
    manifest = json.loads((tmp_path / "out" / "play.json").read_text(encoding="utf-8"))
    (sound,) = manifest["sounds"]
    assert sound["kind"] == "ambience" and sound["path"] == "sounds/rain.wav" and sound["span"]["line"] == 5
    assert sound["options"] == {"volume": -20.0}
    tom = manifest["lines"][1]
    deck = manifest["lines"][2]
    assert tom["end"] < sound["end"] < deck["start"]  # it ends with its scene, in the scene gap
    audio, sr = sf.read(tmp_path / "out" / "play.wav", dtype="float64")
    meter = signal.butter(6, (6100.0, 6900.0), btype="bandpass", fs=sr, output="sos")
    heard = signal.sosfiltfilt(meter, audio, axis=0)  # along time, in each channel of the stereo mix

    def level(t0: float, t1: float) -> float:
        return float(10 * np.log10(np.mean(heard[int(t0 * sr): int(t1 * sr)] ** 2) + 1e-30))

    before = level(0.05, manifest["lines"][0]["start"] - 0.05)  # the lead-in: the bed alone
    after = level(sound["end"] + 0.05, deck["start"] - 0.05)  # the gap after it: nothing
    print(f"bed band: {before:.1f} dB in the first scene's lead-in, {after:.1f} dB after its scene")
    assert before > after + 40
    missing = script.read_text(encoding="utf-8").replace("sounds/rain.wav", "sounds/gone.wav")
    script.write_text(missing, encoding="utf-8")
    r = dramac("build", script, "-o", tmp_path / "out2", "--cache-dir", tmp_path / "cache")
    assert r.returncode != 0 and "play.fountain:5:" in r.stdout + r.stderr and "no such file" in r.stdout + r.stderr
