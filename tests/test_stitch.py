"""Stitching: timeline gaps, fades, room tone, sound cues, ducking and line effects."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from compiler.diagnostics import CompileError, Span
from compiler.plan_types import Clip, PauseStep, Plan, PlannedLine, SceneBreak, SoundCue
from compiler.stitch import (
    StitchSettings,
    apply_effect,
    assemble,
    build_timeline,
    line_effect,
    load_sounds,
)

SR = 16000
SPAN = Span("play.fountain", 3, 1, 3, 10)


def line(speaker: str, text: str = "Hello.", ext: str | None = None, pause_before: float = 0.0) -> PlannedLine:
    return PlannedLine(speaker, text, text.lower(), SPAN, ext, pause_before)


def clip(scene: int, *lines: PlannedLine) -> Clip:
    speakers = tuple(dict.fromkeys(l.speaker for l in lines))
    return Clip(scene, speakers, (), tuple(lines), 1.0)


def tone(seconds: float, freq: float = 220.0, amp: float = 0.3) -> np.ndarray:
    # Starts at its peak (cosine), so an unfaded join would be a step of `amp`.
    n = int(round(seconds * SR))
    return (amp * np.cos(2 * np.pi * freq * np.arange(n) / SR)).astype(np.float32)


def takes_for(plan: Plan, seconds: float = 1.0, maker=tone) -> dict[str, list[np.ndarray]]:
    return {c.key: [maker(seconds + 0.1 * i) for i in range(len(c.lines))] for c in plan.clips}


def gaps(tl) -> list[float]:
    return [b.start - a.end for a, b in zip(tl.lines, tl.lines[1:])]


def rms_db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)) + 1e-20)


ONE_SAMPLE = 1.0 / SR


def test_gaps_follow_settings_and_order():
    s = StitchSettings()
    plan = Plan("p", "T", (
        SceneBreak(0),
        clip(0, line("ANNA"), line("ANNA"), line("BEN")),
        clip(0, line("BEN")),  # a clip boundary does not change the rule
        SceneBreak(1),
        clip(1, line("ANNA")),
    ))
    tl = build_timeline(plan, takes_for(plan), SR, s)
    g = gaps(tl)
    assert g[0] == pytest.approx(s.same_speaker_gap, abs=ONE_SAMPLE)
    assert g[1] == pytest.approx(s.speaker_change_gap, abs=ONE_SAMPLE)
    assert g[2] == pytest.approx(s.same_speaker_gap, abs=ONE_SAMPLE)
    assert g[3] == pytest.approx(s.scene_gap, abs=ONE_SAMPLE)
    assert g[3] > g[1] > g[0]
    assert tl.lines[0].start == pytest.approx(s.lead_in, abs=ONE_SAMPLE)
    assert tl.duration == pytest.approx(tl.lines[-1].end + s.tail, abs=ONE_SAMPLE)
    # Line lengths are the take lengths.
    assert tl.lines[1].end - tl.lines[1].start == pytest.approx(1.1, abs=ONE_SAMPLE)


def test_custom_settings_are_used():
    s = StitchSettings(same_speaker_gap=0.1, speaker_change_gap=0.9, scene_gap=3.0)
    plan = Plan("p", "T", (clip(0, line("A"), line("A"), line("B")), clip(1, line("B"))))  # scene from clip.scene
    g = gaps(build_timeline(plan, takes_for(plan), SR, s))
    assert g == pytest.approx([0.1, 0.9, 3.0], abs=ONE_SAMPLE)


def test_pause_adds_exactly_its_seconds():
    s = StitchSettings()
    base = Plan("p", "T", (clip(0, line("A")), clip(0, line("A"))))
    paused = Plan("p", "T", (base.steps[0], PauseStep(1.25), base.steps[1]))
    beat = Plan("p", "T", (clip(0, line("A"), line("A", pause_before=0.5)),))
    g0 = gaps(build_timeline(base, takes_for(base), SR, s))[0]
    g1 = gaps(build_timeline(paused, takes_for(paused), SR, s))[0]
    g2 = gaps(build_timeline(beat, takes_for(beat), SR, s))[0]
    assert g1 - g0 == pytest.approx(1.25, abs=ONE_SAMPLE)
    assert g2 - g0 == pytest.approx(0.5, abs=ONE_SAMPLE)


def test_no_click_at_joins():
    s = StitchSettings(same_speaker_gap=0.05)  # short gap: fade meets fade through silence
    plan = Plan("p", "T", (clip(0, line("A"), line("A"), line("B")), SceneBreak(1), clip(1, line("A"))))
    takes = takes_for(plan, maker=lambda sec: tone(sec, 330.0, 0.5))
    first = next(iter(takes.values()))[0]
    assert abs(first[0]) == pytest.approx(0.5)  # unfaded, this take would start with a step of 0.5
    inside = max(float(np.max(np.abs(np.diff(t)))) for ts in takes.values() for t in ts)
    tl = build_timeline(plan, takes, SR, s)
    audio = assemble(tl, takes, s)
    w = int(0.03 * SR)
    for pl in tl.lines:
        for t in (pl.start, pl.end):
            i = int(round(t * SR))
            window = audio[max(0, i - w): i + w]
            assert float(np.max(np.abs(np.diff(window)))) <= inside


def test_room_tone_fills_long_gaps_and_is_deterministic():
    s = StitchSettings(same_speaker_gap=0.2)  # below room_tone_min_gap (0.3): stays silent
    plan = Plan("p", "T", (clip(0, line("A"), line("A")), SceneBreak(1), clip(1, line("B"))))
    takes = takes_for(plan)
    tl = build_timeline(plan, takes, SR, s)
    audio = assemble(tl, takes, s)
    a, b = tl.lines[1].end, tl.lines[2].start  # scene gap, 1.6 s
    mid = audio[int((a + 0.2) * SR): int((b - 0.2) * SR)]
    assert np.all(mid != 0)
    assert rms_db(mid) == pytest.approx(s.room_tone_db, abs=3.0)
    short = audio[int((tl.lines[0].end + 0.05) * SR): int((tl.lines[1].start - 0.05) * SR)]
    assert np.all(short == 0)
    lead = audio[: int(0.4 * SR)]
    assert rms_db(lead) == pytest.approx(s.room_tone_db, abs=3.0)
    assert np.array_equal(audio, assemble(tl, takes, s))


def test_room_tone_level_and_switch():
    s = StitchSettings(room_tone_db=-50.0)
    plan = Plan("p", "T", (clip(0, line("A")), PauseStep(3.0), clip(0, line("A"))))
    takes = takes_for(plan)
    tl = build_timeline(plan, takes, SR, s)
    gap = slice(int((tl.lines[0].end + 0.5) * SR), int((tl.lines[1].start - 0.5) * SR))
    assert rms_db(assemble(tl, takes, s)[gap]) == pytest.approx(-50.0, abs=3.0)
    off = StitchSettings(room_tone=False)
    assert not np.any(assemble(tl, takes, off)[gap])


def _write(path, samples: np.ndarray, sr: int = SR) -> str:
    sf.write(str(path), samples, sr)
    return str(path)


def cue(kind: str, path: str | None, **options) -> SoundCue:
    return SoundCue(kind, path, tuple(options.items()), Span("play.fountain", 7, 1, 7, 20))


def test_sfx_placed_at_its_point_and_wait_delays_next_line(tmp_path):
    s = StitchSettings(room_tone=False)
    rng = np.random.default_rng(0)
    # Recorded at 8 kHz: loading converts it to the play's rate.
    path = _write(tmp_path / "knock.wav", (0.5 * rng.uniform(-1, 1, 4000)).astype(np.float32), 8000)
    before, after = clip(0, line("A")), clip(0, line("B"))
    waited = Plan("p", "T", (before, cue("sfx", path), after))
    sounds, lengths = load_sounds(waited, SR)
    assert lengths[path] == pytest.approx(0.5, abs=ONE_SAMPLE)
    takes = takes_for(waited)
    tl = build_timeline(waited, takes, SR, s, lengths)
    (fx,) = tl.sounds
    assert fx.start == pytest.approx(tl.lines[0].end + s.cue_gap, abs=ONE_SAMPLE)
    assert fx.end - fx.start == pytest.approx(0.5, abs=ONE_SAMPLE)
    assert tl.lines[1].start == pytest.approx(fx.end + s.cue_gap, abs=ONE_SAMPLE)
    audio = assemble(tl, takes, s, sounds)
    i0, i1 = int(round(fx.start * SR)), int(round(fx.end * SR))
    assert not np.any(audio[i0 - 200: i0])  # silence (no room tone) right before the effect
    assert rms_db(audio[i0 + 400: i1 - 400]) == pytest.approx(rms_db(0.5 * rng.uniform(-1, 1, 8000)), abs=1.5)

    free = Plan("p", "T", (before, cue("sfx", path, wait=False, volume=-6.0), after))
    tl2 = build_timeline(free, takes, SR, s, lengths)
    assert tl2.lines[1].start == pytest.approx(tl2.lines[0].end + s.speaker_change_gap, abs=ONE_SAMPLE)
    loud = assemble(tl, takes, s, sounds)[i0 + 400: i1 - 400]
    quiet = assemble(tl2, takes, s, sounds)
    j0 = int(round(tl2.sounds[0].start * SR))
    assert rms_db(quiet[j0 + 400: j0 + 1200]) < rms_db(loud) - 3  # volume=-6 dB applied (speech overlaps later)


def test_sfx_start_and_duration_options(tmp_path):
    ramp = np.linspace(0, 0.5, SR * 2, dtype=np.float32)  # value tells the position in the file
    path = _write(tmp_path / "ramp.wav", ramp)
    plan = Plan("p", "T", (cue("sfx", path, start=1.0, duration=0.5, fade_in=0.0, fade_out=0.0),))
    sounds, lengths = load_sounds(plan, SR)
    s = StitchSettings(room_tone=False)
    tl = build_timeline(plan, {}, SR, s, lengths)
    (fx,) = tl.sounds
    assert fx.end - fx.start == pytest.approx(0.5, abs=ONE_SAMPLE)
    audio = assemble(tl, {}, s, sounds)
    mid = int(round((fx.start + 0.25) * SR))
    assert audio[mid] == pytest.approx(ramp[int(1.25 * SR)], abs=1e-3)


def test_music_ducks_under_speech_and_stops(tmp_path):
    s = StitchSettings(room_tone=False)
    path = _write(tmp_path / "theme.wav", tone(1.0, 440.0, 0.5))
    silent = lambda sec: np.zeros(int(sec * SR), np.float32)  # noqa: E731  only the music is heard
    plan = Plan("p", "T", (
        cue("music", path, loop=True, duck=-12, fade_in=0.5),
        PauseStep(3.0),
        clip(0, line("A")),
        PauseStep(4.0),
        clip(0, line("A")),
        cue("music_stop", None, fade_out=0.5),
        PauseStep(3.0),
        clip(0, line("B")),
    ))
    sounds, lengths = load_sounds(plan, SR)
    takes = {c.key: [silent(2.0)] for c in plan.clips}
    tl = build_timeline(plan, takes, SR, s, lengths)
    audio = assemble(tl, takes, s, sounds)
    first, second, third = tl.lines
    music = tl.sounds[0]
    assert music.start == pytest.approx(s.lead_in, abs=ONE_SAMPLE)
    stop = second.end + s.cue_gap
    assert music.end == pytest.approx(stop + 0.5, abs=ONE_SAMPLE)

    def level(a, b):
        return rms_db(audio[int(a * SR): int(b * SR)])

    open_ = level(first.start - 2.0, first.start - 1.0)  # before speech, after the fade-in
    under = level(first.start + 0.2, first.end - 0.2)
    between = level(first.end + 1.5, second.start - 1.5)
    assert open_ == pytest.approx(-8.0 + rms_db(tone(1.0, 440.0, 0.5)), abs=0.5)  # default music volume
    assert open_ - under == pytest.approx(12.0, abs=1.0)
    assert between == pytest.approx(open_, abs=0.5)
    assert not np.any(audio[int((stop + 0.5) * SR) + 1: int(third.end * SR)])  # stopped, third line silent


def test_music_without_loop_ends_with_its_file(tmp_path):
    s = StitchSettings(room_tone=False)
    path = _write(tmp_path / "sting.wav", tone(2.0, 440.0, 0.5))
    plan = Plan("p", "T", (clip(0, line("A")), cue("music", path, duck=0)))
    sounds, lengths = load_sounds(plan, SR)
    takes = takes_for(plan)
    tl = build_timeline(plan, takes, SR, s, lengths)
    (m,) = tl.sounds
    assert m.end - m.start == pytest.approx(2.0, abs=ONE_SAMPLE)
    assert tl.duration == pytest.approx(m.end + s.tail, abs=ONE_SAMPLE)  # the sting is not cut off


def test_bad_cues_are_diagnostics(tmp_path):
    path = _write(tmp_path / "a.wav", tone(0.5))
    for bad in (cue("sfx", path, volume="loud"), cue("sfx", path, start=9.0), cue("sfx", path, fade_in=-1)):
        plan = Plan("p", "T", (bad,))
        _, lengths = load_sounds(plan, SR)
        with pytest.raises(CompileError) as info:
            build_timeline(plan, {}, SR, StitchSettings(), lengths)
        assert info.value.diagnostics[0].span.line == 7
    missing = Plan("p", "T", (cue("sfx", str(tmp_path / "nope.wav")), cue("music", str(tmp_path / "a.txt"))))
    (tmp_path / "a.txt").write_text("not audio")
    with pytest.raises(CompileError) as info:
        load_sounds(missing, SR)
    assert len(info.value.diagnostics) == 2
    unknown = Plan("p", "T", (cue("sfx", path, volumee=3),))
    tl = build_timeline(unknown, {}, SR, StitchSettings(), load_sounds(unknown, SR)[1])
    assert "volumee" in tl.diagnostics[0].message


def test_missing_takes_is_a_diagnostic():
    plan = Plan("p", "T", (clip(0, line("A"), line("B")),))
    with pytest.raises(CompileError):
        build_timeline(plan, {plan.clips[0].key: [tone(1.0)]}, SR, StitchSettings())


@pytest.mark.parametrize("ext, effect", [
    (None, "none"), ("V.O.", "none"), ("CONT'D", "none"),
    ("O.S.", "muffled"), ("o.c.", "muffled"), ("OFF", "muffled"), ("off-screen", "muffled"),
    ("phone", "phone"), ("ON THE PHONE", "phone"), ("radio", "phone"), ("on the radio", "phone"),
    ("intercom", "phone"), ("V.O. (radio)", "phone"), ("TV", "phone"), ("over speaker", "phone"),
    ("filtered", "none"), ("often", "none"),
])
def test_line_effect_by_extension(ext, effect):
    assert line_effect(ext) == effect


def _band_level(x: np.ndarray, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    return float(spectrum[np.argmin(np.abs(freqs - freq))])


def test_effects_shape_the_spectrum():
    s = StitchSettings()
    mix = tone(1.0, 100.0, 0.2) + tone(1.0, 1000.0, 0.2) + tone(1.0, 6000.0, 0.2)
    phone = apply_effect(mix, "phone", SR, s)
    muffled = apply_effect(mix, "muffled", SR, s)
    assert len(phone) == len(mix) == len(muffled)
    ref = {f: _band_level(mix, f) for f in (100.0, 1000.0, 6000.0)}
    assert _band_level(phone, 100.0) < 0.1 * ref[100.0]
    assert _band_level(phone, 6000.0) < 0.1 * ref[6000.0]
    assert _band_level(phone, 1000.0) > 0.3 * ref[1000.0]
    assert _band_level(muffled, 6000.0) < 0.05 * ref[6000.0]
    assert _band_level(muffled, 100.0) == pytest.approx(ref[100.0] * 10 ** (-4 / 20), rel=0.1)
    assert apply_effect(mix, "none", SR, s) is mix


def test_settings_reject_negative_gaps():
    with pytest.raises(ValueError):
        StitchSettings(scene_gap=-1.0)


def test_stopped_music_does_not_hold_the_play_open(tmp_path):
    s = StitchSettings(room_tone=False)
    path = _write(tmp_path / "long.wav", tone(20.0, 440.0, 0.5))
    plan = Plan("p", "T", (cue("music", path), clip(0, line("A")), cue("music_stop", None, fade_out=1.0)))
    sounds, lengths = load_sounds(plan, SR)
    takes = takes_for(plan)
    tl = build_timeline(plan, takes, SR, s, lengths)
    (m,) = tl.sounds
    assert m.end == pytest.approx(tl.lines[0].end + s.cue_gap + 1.0, abs=ONE_SAMPLE)
    assert tl.duration == pytest.approx(m.end + s.tail, abs=ONE_SAMPLE)
    audio = assemble(tl, takes, s, sounds)
    assert len(audio) == int(round(tl.duration * SR))
    assert not np.any(audio[int(round(m.end * SR)) + 1:])


def test_looped_music_repeats_its_file_seamlessly(tmp_path):
    s = StitchSettings(room_tone=False)
    src = tone(0.25, 400.0, 0.5)  # 100 whole periods: a seamless loop
    path = _write(tmp_path / "loop.wav", src)
    plan = Plan("p", "T", (cue("music", path, loop=True, duration=3.0, fade_in=0, fade_out=0, duck=0, volume=0),))
    sounds, lengths = load_sounds(plan, SR)
    tl = build_timeline(plan, {}, SR, s, lengths)
    audio = assemble(tl, {}, s, sounds)
    i0 = int(round(tl.sounds[0].start * SR))
    body = audio[i0 + 200: i0 + int(2.8 * SR)]
    expected = np.tile(src, 12)[200: int(2.8 * SR)]
    assert np.allclose(body, expected, atol=1e-4)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("key, value, allowed", [
    ("phone_band_hz", (3000.0, 300.0), "low < high"),
    ("phone_band_hz", (10.0, 3400.0), "from 20 to 20000 Hz"),
    ("phone_band_hz", (300.0, NAN), "from 20 to 20000 Hz"),
    ("phone_band_hz", (300.0,), "two frequencies"),
    ("muffle_cutoff_hz", 0.0, "from 20 to 20000 Hz"),
    ("muffle_cutoff_hz", 96000.0, "from 20 to 20000 Hz"),
    ("room_tone_seed", -1, ">= 0"),
    ("room_tone_seed", 1.5, "whole number"),
    ("phone_drive", 0.0, "from 0.01 to 20"),
    ("phone_drive", -2.0, "from 0.01 to 20"),
    ("room_tone_db", NAN, "from -120 to -20 dBFS"),
    ("room_tone_db", -10.0, "from -120 to -20 dBFS"),
    ("room_tone_db", -200.0, "from -120 to -20 dBFS"),
    ("lead_in", 1e12, "from 0 to 60 s"),
    ("tail", INF, "from 0 to 60 s"),
    ("scene_gap", NAN, "from 0 to 60 s"),
    ("music_fade_out", 61.0, "from 0 to 60 s"),
    ("duck_attack", -0.1, "from 0 to 60 s"),
    ("fade_ms", 5000.0, "from 0 to 1000 ms"),
    ("sfx_volume_db", 30.0, "from -60 to 24 dB"),
    ("music_volume_db", -INF, "from -60 to 24 dB"),
    ("muffle_gain_db", -90.0, "from -60 to 24 dB"),
    ("music_duck_db", -3.0, "from 0 to 60 dB"),
    ("music_duck_db", 80.0, "from 0 to 60 dB"),
    ("room_tone", 1, "true or false"),
    ("same_speaker_gap", True, "from 0 to 60 s"),
])
def test_settings_reject_values_that_would_break_the_mix(key, value, allowed):
    with pytest.raises(ValueError) as info:
        StitchSettings(**{key: value})
    message = str(info.value)
    assert message.startswith(f"[stitch] {key}")
    assert allowed in message


def test_settings_accept_the_edges_of_each_range():
    s = StitchSettings(lead_in=0, tail=60.0, room_tone_db=-120.0, room_tone_seed=0, phone_drive=0.01,
                       music_duck_db=0.0, sfx_volume_db=24.0, muffle_cutoff_hz=20000.0, phone_band_hz=[20, 20000])
    assert s.phone_band_hz == (20.0, 20000.0)  # a TOML list becomes the tuple the effect unpacks
    assert isinstance(s.phone_band_hz, tuple)


def test_phone_band_above_the_take_rate_still_filters():
    # A band set for a 44.1 kHz project, applied to 16 kHz takes: starts above what they can carry.
    s = StitchSettings(phone_band_hz=(9000.0, 15000.0))
    mix = tone(1.0, 1000.0, 0.2) + tone(1.0, 7000.0, 0.2)
    out = apply_effect(mix, "phone", SR, s)
    assert len(out) == len(mix) and np.all(np.isfinite(out))
    assert _band_level(out, 1000.0) < 0.1 * _band_level(mix, 1000.0)  # still a band-pass, not silence
    assert _band_level(out, 7000.0) > 0.3 * _band_level(mix, 7000.0)


def test_cue_options_must_be_numbers_and_booleans(tmp_path):
    # compiler.directives converts "500ms", "-6dB" and "yes" before the plan; strings here are a bug.
    path = _write(tmp_path / "a.wav", tone(0.5))
    for bad in (cue("sfx", path, fade_in="500ms"), cue("sfx", path, volume="-6dB"), cue("sfx", path, wait="yes"),
                cue("music", path, loop=1), cue("sfx", path, volume=NAN), cue("music", path, duck=True)):
        plan = Plan("p", "T", (bad,))
        with pytest.raises(CompileError) as info:
            build_timeline(plan, {}, SR, StitchSettings(), load_sounds(plan, SR)[1])
        assert info.value.diagnostics[0].span.line == 7


def test_runaway_cue_duration_is_a_diagnostic(tmp_path):
    # 10^9 s of looped music would ask assemble for terabytes.
    path = _write(tmp_path / "bed.wav", tone(0.5))
    plan = Plan("p", "T", (cue("music", path, loop=True, duration=1e9),))
    with pytest.raises(CompileError) as info:
        build_timeline(plan, {}, SR, StitchSettings(), load_sounds(plan, SR)[1])
    assert "4-hour maximum" in info.value.diagnostics[0].message
    ok = Plan("p", "T", (cue("music", path, loop=True, duration=4 * 3600.0),))
    assert build_timeline(ok, {}, SR, StitchSettings(), load_sounds(ok, SR)[1]).duration > 4 * 3600


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_sound_file_with_invalid_samples_is_a_diagnostic(tmp_path, bad):
    samples = tone(0.5)
    samples[100] = bad
    path = str(tmp_path / "broken.wav")
    sf.write(path, samples, SR, subtype="FLOAT")  # a float WAV can store NaN/inf
    plan = Plan("p", "T", (cue("sfx", path),))
    with pytest.raises(CompileError) as info:
        load_sounds(plan, SR)
    (diag,) = info.value.diagnostics
    assert "invalid (NaN/inf) samples" in diag.message and "broken.wav" in diag.message
    assert diag.span.line == 7


def test_a_truncated_wav_is_a_diagnostic_at_its_cue(tmp_path):
    whole = (tmp_path / "whole.wav")
    _write(whole, tone(1.0))
    data = whole.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])  # a copy interrupted half-way: the header still says 1 s
    plan = Plan("p", "T", (cue("sfx", str(whole)), cue("music", str(cut))))
    with pytest.raises(CompileError) as info:
        load_sounds(plan, SR)
    (diag,) = info.value.diagnostics
    assert "cut.wav" in diag.message and "truncated" in diag.message, diag.message
    assert "1.00 s" in diag.message and "0.50 s" in diag.message, diag.message
    assert diag.span.line == 7


def _chunk(name: bytes, body: bytes) -> bytes:
    return name + len(body).to_bytes(4, "little") + body + (b"\0" if len(body) % 2 else b"")


def test_a_streamed_wav_and_chunks_after_the_data_are_not_taken_for_truncation(tmp_path):
    whole = tmp_path / "whole.wav"
    _write(whole, tone(0.25))
    data = whole.read_bytes()
    body = data[data.find(b"data") + 8:]
    # Chunks after the audio (a LIST of tags): the file holds more than the data chunk promises.
    tagged = tmp_path / "tagged.wav"
    tagged.write_bytes(data + _chunk(b"LIST", b"INFOISFT" + (5).to_bytes(4, "little") + b"tool\0"))
    # A recorder writing to a pipe cannot fill in the length: 0xFFFFFFFF means "to the end".
    streamed = tmp_path / "streamed.wav"
    streamed.write_bytes(data[: data.find(b"data") + 4] + b"\xff\xff\xff\xff" + body)
    plan = Plan("p", "T", (cue("sfx", str(tagged)), cue("sfx", str(streamed))))
    sounds, lengths = load_sounds(plan, SR)
    assert lengths[str(tagged)] == pytest.approx(0.25, abs=ONE_SAMPLE)
    assert lengths[str(streamed)] == pytest.approx(0.25, abs=ONE_SAMPLE)
