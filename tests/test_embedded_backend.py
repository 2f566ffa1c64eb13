"""The embedded backend, checked by listening: offline ASR for intelligibility, Praat for pitch."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from compiler.backends import create
from compiler.backends.embedded import EmbeddedBackend, palette, voice_from_settings
from compiler.diagnostics import Span
from compiler.plan_types import Clip, PlannedLine
from compiler.voices import Voice
from tests import listen

# Short, homophone-free sentences ("rowed"/"road" would be the recogniser's fault, not ours).
SENTENCES = (
    "I found the letter under the kitchen table this morning.",
    "We should leave before the storm reaches the village.",
    "Nobody remembers why the clock tower stopped at midnight.",
    "Tell your brother the train leaves at seven.",
)


def make_clip(*lines: tuple[str, Voice, str]) -> Clip:
    """A clip of (speaker, voice, text) lines; speakers in order of first appearance."""
    speakers: list[str] = []
    voices: list[Voice] = []
    planned = []
    for i, (speaker, voice, text) in enumerate(lines, start=1):
        if speaker not in speakers:
            speakers.append(speaker)
            voices.append(voice)
        planned.append(PlannedLine(speaker, text, text, Span("test.fountain", i, 1, i, len(text) + 1)))
    return Clip(0, tuple(speakers), tuple(voices), tuple(planned), est_seconds=3.0 * len(lines))


@pytest.fixture(scope="module")
def backend() -> EmbeddedBackend:
    return EmbeddedBackend()


@pytest.fixture(scope="module")
def palette_takes(backend):
    """Every palette voice saying one sentence (rotating through SENTENCES), rendered once."""
    out = []
    for i, voice in enumerate(backend.palette()):
        text = SENTENCES[i % len(SENTENCES)]
        (take,) = backend.render(make_clip(("X", voice, text)))
        out.append((voice, text, take))
    return out


def test_create_by_name_and_capabilities():
    b = create("embedded")
    assert b.name == "embedded" and b.sample_rate == 22050
    caps = b.capabilities
    assert caps.nonverbal == frozenset() and caps.parallel
    assert caps.min_clip_seconds < caps.max_clip_seconds <= 60


def test_identity_names_versions_and_is_stable(backend):
    ident = backend.identity()
    for part in ("piper-tts=", "praat-parselmouth=", "en_US-joe-medium.onnx", "algorithm="):
        assert part in ident
    assert EmbeddedBackend().identity() == ident


def test_palette_has_eight_distinct_described_voices(backend):
    voices = backend.palette()
    assert len(voices) >= 8
    assert len({v.key for v in voices}) == len(voices)
    assert len({v.name for v in voices}) == len(voices)
    assert all(v.backend == "embedded" and v.description for v in voices)
    assert any("female" in v.description for v in voices)
    assert any("male" in v.description.replace("female", "") for v in voices)
    # Casting order gives the first two characters contrasting voices.
    first, second = voices[0].param("pitch_hz"), voices[1].param("pitch_hz")
    assert max(first, second) / min(first, second) > 1.5


@pytest.mark.slow
def test_every_palette_voice_is_intelligible(palette_takes):
    report = []
    for voice, text, take in palette_takes:
        heard = listen.heard(take, 22050)
        report.append((voice.name, listen.wer(text, heard), heard))
    bad = [r for r in report if r[1] > 0.10]
    assert not bad, f"unintelligible voices: {bad}"


@pytest.mark.slow
def test_palette_pitches_span_male_and_female_and_are_distinct(palette_takes):
    measured = {voice.name: listen.median_f0(take, 22050) for voice, _, take in palette_takes}
    declared = {voice.name: voice.param("pitch_hz") for voice, _, _ in palette_takes}
    # Each voice lands near the pitch it promises (Praat's measure, ±8%).
    for name, f0 in measured.items():
        assert abs(f0 / declared[name] - 1) < 0.08, (name, f0, declared[name])
    f0s = sorted(measured.values())
    assert f0s[0] < 100 and f0s[-1] > 220, f0s  # low male … high female
    # Neighbours in pitch differ by at least 15%, so every pair does: all voices pairwise distinct.
    ratios = [b / a for a, b in itertools.pairwise(f0s)]
    assert min(ratios) >= 1.15, dict(zip(sorted(measured, key=measured.get), f0s))


def test_takes_are_mono_float_in_range_and_trimmed(palette_takes):
    for voice, _, take in palette_takes:
        assert take.dtype == np.float32 and take.ndim == 1
        assert np.max(np.abs(take)) <= 1.0
        audible = np.flatnonzero(np.abs(take) > 0.02)
        assert audible[0] < 0.050 * 22050, f"{voice.name}: {audible[0] / 22050:.3f} s of leading silence"
        assert take.size - audible[-1] < 0.100 * 22050, f"{voice.name}: trailing silence"
        assert 1.0 < take.size / 22050 < 6.0


def test_each_line_uses_its_speakers_voice(backend):
    low, high = palette()[2], palette()[5]  # deep-male, high-female
    clip = make_clip(("ANNA", high, "Where were you?"), ("BEN", low, "Out walking."), ("ANNA", high, "All night?"))
    takes = backend.render(clip)
    assert len(takes) == 3
    f0 = [listen.median_f0(t, 22050) for t in takes]
    assert f0[0] > 200 and f0[2] > 200 and f0[1] < 110, f0


@pytest.mark.slow
def test_tempo_shortens_and_stays_intelligible(backend):
    text = SENTENCES[1]
    base = palette()[0]
    normal = backend.speak(text, base)
    fast = backend.speak(text, base.with_params(tempo=1.25))
    assert len(fast) <= 0.85 * len(normal), (len(fast), len(normal))
    for take in (normal, fast):
        heard = listen.heard(take, 22050)
        assert listen.wer(text, heard) <= 0.10, heard


def test_same_clip_renders_identically(backend):
    clip = make_clip(("A", palette()[1], "Same words, same sound."), ("B", palette()[0], "Every time."))
    # Across instances and processes: tests/test_render.py compares worker output with this one's.
    first = backend.render(clip)
    second = backend.render(clip)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_empty_line_gives_short_silence(backend):
    (take,) = backend.render(make_clip(("A", palette()[0], "  ")))
    assert take.size < 0.1 * 22050 and not np.any(take)


def test_voice_of_another_backend_is_refused(backend):
    foreign = Voice("dia", "dia2", (("seed", 1),))
    with pytest.raises(ValueError, match="dia2"):
        backend.render(make_clip(("A", foreign, "Hello.")))


# --- cast settings --------------------------------------------------------------------------------


def test_settings_by_palette_name():
    assert voice_from_settings({"voice": "bright-female"}) == next(v for v in palette() if v.name == "bright-female")


def test_settings_pitch_alone_picks_matching_formants():
    v = voice_from_settings({"pitch": 200})
    assert v.param("pitch_hz") == 200 and v.param("formant_ratio") > 1.1  # female formants
    low = voice_from_settings({"pitch": 90})
    assert low.param("formant_ratio") <= 1.0


def test_settings_overrides_change_the_voice_key():
    base = voice_from_settings({"voice": "warm-male"})
    v = voice_from_settings({"voice": "warm-male", "tempo": 1.1, "formant": 1.05})
    assert v.param("tempo") == 1.1 and v.param("formant_ratio") == 1.05
    assert v.param("pitch_hz") == base.param("pitch_hz")
    assert v.key != base.key and "tempo 1.1" in v.description


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"voice": "bright-femal"}, "did you mean 'bright-female'"),
        ({"voice": 3}, "unknown embedded voice"),
        ({"pich": 120}, "did you mean 'pitch'"),
        ({"pitch": 1000}, "voice setting 'pitch' must be a number from 65 to 320 Hz, not 1000"),
        ({"pitch": "high"}, "must be a number from 65 to 320 Hz"),
        ({"tempo": True}, "must be a number from 0.5 to 2"),
        ({"tempo": 0}, "must be a number from 0.5 to 2, not 0"),
        ({"formant": float("nan")}, "must be a number from 0.8 to 1.3"),
    ],
)
def test_bad_settings_are_clear_errors(settings, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        voice_from_settings(settings)


def test_settings_voice_speaks_at_its_pitch(backend):
    v = voice_from_settings({"voice": "warm-male", "pitch": 150})
    take = backend.speak("This is my own voice.", v)
    assert math.isclose(listen.median_f0(take, 22050), 150, rel_tol=0.08)


def test_settings_name_is_case_blind_and_uses_the_given_palette():
    assert voice_from_settings({"voice": "Deep-Male"}).name == "deep-male"
    custom = [palette()[3]]
    assert voice_from_settings({"voice": "warm-female"}, custom) == custom[0]
    with pytest.raises(ValueError, match="palette: warm-female"):
        voice_from_settings({"voice": "deep-male"}, custom)


def test_caster_variant_params_do_not_break_rendering(backend):
    # The caster derives extra voices with a "variant" counter when the palette runs out.
    variant = palette()[0].with_params(variant=1, pitch_hz=123.0)
    take = backend.speak("A variant voice.", variant)
    assert math.isclose(listen.median_f0(take, 22050), 123, rel_tol=0.08)


# --- the listening helpers themselves (tests/listen.py, shared with the end-to-end tests) ---------


@pytest.mark.parametrize(
    "reference, hypothesis",
    [
        ("Tell your brother the train leaves at seven.", "tell your brother the train leaves at 7"),
        ("The colour of the theatre!", "The color of the theater."),
        ("Twenty-one years, well-known.", "21 years well known"),
        ("He realised it on the second.", "He realized it on the 2nd"),
        ("It cost five dollars, and fifty percent.", "It cost $5 and 50%."),
        ("Isn't it one thousand two hundred?", "Isn’t it 1,200?"),
    ],
)
def test_wer_normalises_whisper_spelling(reference, hypothesis):
    assert listen.wer(reference, hypothesis) == 0.0


def test_wer_counts_real_errors():
    assert listen.wer("the cat sat down", "the dog sat") == 0.5
    assert listen.wer("hello there", "") == 1.0
