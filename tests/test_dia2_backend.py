"""The Dia2 adapter against a TEST DOUBLE of the dia2 package (tests/fake_dia2): no GPU, no weights.

The double reproduces Dia2's traps (silent truncation, ignored unknown overrides, Whisper on every
prefix, late dtype errors, waveform on the device), so these tests show the adapter defuses them.
What they cannot show is how the real model sounds; see docs/dia2.md.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from compiler import backends
from compiler.backends import BackendUnavailable
from compiler.backends.dia2 import (
    DIA2_OVERRIDE_KEYS, MAX_REFERENCE_SECONDS, Dia2Backend, Dia2ConfigError, Sampling, build_script,
    spoken_words,
)
from compiler.diagnostics import CompileError, Span
from compiler.plan_types import Clip, PlannedLine
from compiler.voices import Voice

FAKE_ROOT = Path(__file__).parent / "fake_dia2"
FILE = "play.fountain"


def _dia2_modules() -> list[str]:
    return [k for k in sys.modules if k == "dia2" or k.startswith("dia2.")]


@pytest.fixture
def clean_dia2(monkeypatch):
    """No dia2 module cached before or after the test (a real one, if any, is restored after)."""
    for name in _dia2_modules():
        monkeypatch.delitem(sys.modules, name)
    yield
    for name in _dia2_modules():
        del sys.modules[name]


@pytest.fixture
def fake_dia2(clean_dia2, monkeypatch):
    """The test double importable as `dia2`, with a seeding stand-in for torch when torch is absent."""
    monkeypatch.syspath_prepend(str(FAKE_ROOT))
    if importlib.util.find_spec("torch") is None:
        spec = importlib.util.spec_from_file_location("fake_torch", FAKE_ROOT / "fake_torch.py")
        fake_torch = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fake_torch)
        monkeypatch.setitem(sys.modules, "torch", fake_torch)
    dia2 = importlib.import_module("dia2")
    assert "fake_dia2" in dia2.__file__, "a real dia2 shadows the test double"
    dia2.Dia2.instances.clear()
    return dia2


def span(n: int) -> Span:
    return Span(FILE, n, 1, n, 20)


def line(speaker: str, spoken: str, n: int, pause: float = 0.0) -> PlannedLine:
    return PlannedLine(speaker, spoken, spoken, span(n), pause_before=pause)


def clip_of(lines: list[PlannedLine], voices: dict[str, Voice], est: float | None = None, text: str | None = None) -> Clip:
    speakers = tuple(dict.fromkeys(l.speaker for l in lines))
    words = sum(len(l.spoken.split()) for l in lines)
    return Clip(0, speakers, tuple(voices[s] for s in speakers), tuple(lines),
                text if text is not None else build_script(tuple(lines), speakers),
                est if est is not None else words / 2.6)


def reference_wav(path: Path, freq: float, seconds: float = 1.0) -> Path:
    t = np.arange(int(24000 * seconds)) / 24000
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 24000)
    return path


@pytest.fixture
def voices(tmp_path) -> dict[str, Voice]:
    """Two voices with recorded references and known transcripts (1 s each)."""
    a = reference_wav(tmp_path / "anna.wav", 220.0)
    b = reference_wav(tmp_path / "ben.wav", 130.0)
    return {"ANNA": Voice("anna", "dia2", (), str(a), "this is anna speaking"),
            "BEN": Voice("ben", "dia2", (), str(b), "and ben here")}


def scene(n_lines: int = 4) -> list[PlannedLine]:
    text = ["Where were you last night when the lights went out?",
            "At the station, waiting for a train that never came.",
            "That is not what the porter told me this morning.",
            "Then the porter is a liar, and you know it."]
    return [line("ANNA" if i % 2 == 0 else "BEN", text[i % 4], 10 + i, 0.5 if i == 2 else 0.0) for i in range(n_lines)]


def bursts(take: np.ndarray) -> int:
    """Runs of sound separated by at least 40 ms of silence: one per word in the double's audio."""
    hop = 240
    n = len(take) // hop
    rms = np.sqrt((take[: n * hop].reshape(n, hop).astype(np.float64) ** 2).mean(axis=1))
    voiced = rms > 0.02
    count, silent = 0, 99
    for v in voiced:
        if v:
            if silent >= 4:
                count += 1
            silent = 0
        else:
            silent += 1
    return count


def pitch(take: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(take))
    return float(np.argmax(spectrum) * 24000 / len(take))


# ---- installation ---------------------------------------------------------------------------------

def test_missing_package_raises_backend_unavailable_with_install_steps(clean_dia2, monkeypatch, voices):
    monkeypatch.setitem(sys.modules, "dia2", None)  # import dia2 → ModuleNotFoundError
    backend = backends.create("dia2")
    with pytest.raises(BackendUnavailable) as exc:
        backend.render(clip_of(scene(2), voices))
    message = str(exc.value)
    assert "not installed" in message
    assert "git clone https://github.com/nari-labs/dia2" in message and "pip install -e" in message
    assert "torch==" in message


@pytest.mark.parametrize("init", [
    "from .core.model import Dia2Model\n",  # upstream __init__ when dia2.core was not packaged
    "class Dia2:\n    pass\n",  # imports, but dia2.runtime is missing
])
def test_broken_non_editable_install_is_named(clean_dia2, monkeypatch, tmp_path, init):
    (tmp_path / "dia2").mkdir()
    (tmp_path / "dia2" / "__init__.py").write_text(init)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(BackendUnavailable, match="non-editable install") as exc:
        Dia2Backend().check()
    assert "pip install -e ./dia2" in str(exc.value)


def test_float16_is_rejected_at_construction_not_at_first_generate():
    with pytest.raises(Dia2ConfigError, match="float16.*auto, bfloat16, float32"):
        Dia2Backend(dtype="float16")
    assert Dia2Backend(dtype="Float32").dtype == "float32"


def test_bad_sampling_values_are_rejected_up_front():
    with pytest.raises(Dia2ConfigError, match="topk_text"):
        Dia2Backend(topk_text=0)
    with pytest.raises(Dia2ConfigError, match="temp_audio"):
        Dia2Backend(temp_audio=-1.0)
    with pytest.raises(Dia2ConfigError, match="use_cuda_graph"):
        Dia2Backend(use_cuda_graph="yes")


def test_the_double_fails_late_on_float16_like_dia2(fake_dia2):
    model = fake_dia2.Dia2.from_repo("nari-labs/Dia2-2B", dtype="float16")  # accepted here...
    with pytest.raises(ValueError, match="float16"):
        model.generate("[S1] hello there")  # ...fails only now


# ---- parameters and cache key ---------------------------------------------------------------------

CHANGED = dict(cfg_scale=4.5, temp_text=0.7, topk_text=40, temp_audio=0.9, topk_audio=30, cfg_filter_k=25,
               initial_padding=3, use_cuda_graph=True, use_torch_compile=True)


def test_every_sampling_parameter_reaches_generate_under_its_dia2_name(fake_dia2, voices, tmp_path):
    backend = Dia2Backend(cache_dir=tmp_path, **CHANGED)
    backend.render(clip_of(scene(2), voices))
    call = fake_dia2.Dia2.instances[0].calls[-1]
    assert call["overrides"] == CHANGED
    assert call["include_prefix"] is False
    cfg = call["config"]  # what the double's merge (unknown keys ignored) actually applied
    assert (cfg.cfg_scale, cfg.text.temperature, cfg.text.top_k, cfg.audio.temperature, cfg.audio.top_k) == (4.5, 0.7, 40, 0.9, 30)
    assert (cfg.cfg_filter_k, cfg.initial_padding, cfg.use_cuda_graph, cfg.use_torch_compile) == (25, 3, True, True)


def test_unknown_override_trap_is_avoided(fake_dia2, voices, tmp_path):
    # The trap exists: a generic name changes nothing and raises nothing.
    model = fake_dia2.Dia2.from_repo("nari-labs/Dia2-2B")
    model.generate("[S1] hello there", temperature=0.01, top_k=1)
    assert model.calls[-1]["config"] == fake_dia2.GenerationConfig()
    # The adapter only ever sends names Dia2 knows, and defaults are sent explicitly too.
    assert {f.name for f in fields(Sampling)} <= DIA2_OVERRIDE_KEYS
    Dia2Backend(cache_dir=tmp_path).render(clip_of(scene(2), voices))
    sent = fake_dia2.Dia2.instances[-1].calls[-1]["overrides"]
    assert set(sent) == {f.name for f in fields(Sampling)}
    assert sent["cfg_scale"] == 2.0 and sent["temp_text"] == 0.6 and sent["temp_audio"] == 0.8


def test_identity_changes_with_every_parameter():
    base = Dia2Backend().identity()
    for name, value in {**CHANGED, "repo": "nari-labs/Dia2-1B", "dtype": "float32", "seed": 5}.items():
        assert Dia2Backend(**{name: value}).identity() != base, name
    assert Dia2Backend(device="cuda:1").identity() == base  # which GPU does not change the audio
    assert Dia2Backend(dtype="auto").identity() == base  # auto is bf16 on CUDA


def test_model_is_built_with_repo_device_and_dtype(fake_dia2, voices, tmp_path):
    Dia2Backend(repo="nari-labs/Dia2-1B", device="cuda:0", dtype="float32", cache_dir=tmp_path).render(clip_of(scene(2), voices))
    model = fake_dia2.Dia2.instances[0]
    assert (model.repo, model.device, model.dtype) == ("nari-labs/Dia2-1B", "cuda:0", "float32")


# ---- text and takes -------------------------------------------------------------------------------

def test_script_sent_starts_with_s1_and_is_the_planners_text(fake_dia2, voices, tmp_path):
    backend = Dia2Backend(cache_dir=tmp_path)
    clip = clip_of(scene(4), voices)
    backend.render(clip)
    assert fake_dia2.Dia2.instances[0].calls[-1]["script"] == clip.text
    # A text that does not start with [S1] (or does not match its lines) is rebuilt from the lines.
    untagged = clip_of(scene(2), voices, text="Where were you last night when the lights went out? At the station")
    backend.render(untagged)
    sent = fake_dia2.Dia2.instances[0].calls[-1]["script"]
    assert sent.startswith("[S1] Where") and "[S2] At the station, waiting" in sent


def test_planner_text_form_is_accepted_verbatim(fake_dia2, voices, tmp_path):
    from compiler.plan import dia2_text

    lines = scene(4)
    clip = clip_of(lines, voices, text=dia2_text(lines, ("ANNA", "BEN")))
    Dia2Backend(cache_dir=tmp_path).render(clip)
    assert fake_dia2.Dia2.instances[0].calls[-1]["script"] == clip.text


def test_one_take_per_line_cut_at_word_boundaries(fake_dia2, voices, tmp_path):
    lines = scene(4)
    takes = Dia2Backend(cache_dir=tmp_path).render(clip_of(lines, voices))
    assert len(takes) == len(lines)
    for take, l in zip(takes, lines):
        assert take.dtype == np.float32 and take.ndim == 1 and np.abs(take).max() <= 1.0
        assert bursts(take) == len(spoken_words(l.spoken)), l.spoken
        loud = np.nonzero(np.abs(take) > 0.01)[0]
        assert loud[0] < 0.05 * 24000 and len(take) - loud[-1] < 0.05 * 24000  # silence trimmed both ends
    # Each take is in its speaker's voice (the double clones the prefix's pitch).
    assert abs(pitch(takes[0]) - pitch(takes[2])) < 15 and abs(pitch(takes[1]) - pitch(takes[3])) < 15
    assert abs(pitch(takes[0]) - pitch(takes[1])) > 40


def test_silent_truncation_is_detected_and_the_clip_rerendered_in_halves(fake_dia2, voices, tmp_path):
    fake_dia2.Dia2.context_steps = 110  # 8.8 s, prefixes included: only single lines fit
    lines = scene(8)
    takes = Dia2Backend(cache_dir=tmp_path).render(clip_of(lines, voices, est=5.0))  # estimate far too low
    calls = fake_dia2.Dia2.instances[0].calls
    assert calls[0]["truncated"] and len(calls) > 1
    complete = [c for c in calls[1:] if not c["truncated"]]
    assert sum(c["words_spoken"] for c in complete) == sum(len(spoken_words(l.spoken)) for l in lines)
    assert all(c["script"].startswith("[S1]") for c in calls)
    assert len(takes) == len(lines)
    assert [bursts(t) for t in takes] == [len(spoken_words(l.spoken)) for l in lines]
    # A half that starts with BEN's line makes BEN speaker 1, with his own prefix.
    ben_first = [c for c in calls if c["script"].startswith("[S1] At the station")]
    assert ben_first and ben_first[0]["prefix_speaker_1"] == voices["BEN"].reference


def test_a_single_line_too_long_for_the_context_is_a_diagnostic(fake_dia2, voices, tmp_path):
    fake_dia2.Dia2.context_steps = 120
    long_line = line("ANNA", " ".join(["endlessly"] * 60), 42)
    with pytest.raises(CompileError) as exc:
        Dia2Backend(cache_dir=tmp_path).render(clip_of([long_line], voices))
    diag = exc.value.diagnostics[0]
    assert diag.span.line == 42 and "too long" in diag.message


def test_clip_estimated_past_the_context_is_split_before_generating(fake_dia2, voices, tmp_path):
    takes = Dia2Backend(cache_dir=tmp_path).render(clip_of(scene(4), voices, est=130.0))
    calls = fake_dia2.Dia2.instances[0].calls
    assert len(calls) >= 2 and not any(c["truncated"] for c in calls)
    assert len(takes) == 4


# ---- prefixes, Whisper, seeds ---------------------------------------------------------------------

def test_whisper_is_never_loaded_and_transcripts_are_the_known_ones(fake_dia2, voices, tmp_path):
    from dia2.runtime import voice_clone

    original = voice_clone.transcribe_words
    Dia2Backend(cache_dir=tmp_path, seed=11).render(clip_of(scene(2), voices))
    assert voice_clone.transcribe_words is original  # restored after the call
    call = fake_dia2.Dia2.instances[0].calls[-1]
    (path1, words1), (path2, words2) = call["transcribed"]
    assert (path1, path2) == (voices["ANNA"].reference, voices["BEN"].reference)
    assert [w for w, _, _ in words1] == ["this", "is", "anna", "speaking"]
    assert [w for w, _, _ in words2] == ["and", "ben", "here"]
    for _, start, end in words1 + words2:
        assert 0.0 <= start < end <= 1.0 + 1e-6
    assert call["seed_after_transcribe"] == [11, 11] and call["seed_at_generation"] == 11
    with pytest.raises(RuntimeError, match="Whisper would be loaded"):
        original(voices["ANNA"].reference, "cuda")  # the double's own transcriber does refuse


def test_same_seed_gives_identical_audio_and_another_seed_does_not(fake_dia2, voices, tmp_path):
    clip = clip_of(scene(4), voices)
    a = Dia2Backend(cache_dir=tmp_path, seed=3).render(clip)
    b = Dia2Backend(cache_dir=tmp_path, seed=3).render(clip)
    c = Dia2Backend(cache_dir=tmp_path, seed=4).render(clip)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, c))


def test_reference_without_transcript_is_refused(fake_dia2, voices, tmp_path):
    bad = Voice("anna", "dia2", (), voices["ANNA"].reference, None)
    with pytest.raises(Dia2ConfigError, match="transcript"):
        Dia2Backend(cache_dir=tmp_path).render(clip_of(scene(2), {"ANNA": bad, "BEN": voices["BEN"]}))


def test_overlong_reference_is_refused(fake_dia2, voices, tmp_path):
    long_ref = reference_wav(tmp_path / "long.wav", 200.0, MAX_REFERENCE_SECONDS + 1)
    bad = Voice("long", "dia2", (), str(long_ref), "words")
    with pytest.raises(Dia2ConfigError, match="at most"):
        Dia2Backend(cache_dir=tmp_path).render(clip_of(scene(2), {"ANNA": bad, "BEN": voices["BEN"]}))


# ---- calibrated voices ----------------------------------------------------------------------------

def test_calibration_is_rendered_once_and_reused_from_the_cache(fake_dia2, tmp_path):
    cache = tmp_path / "cache"
    pal = Dia2Backend().palette()
    cast = {"ANNA": pal[0], "BEN": pal[1]}
    calibrations = {str(v.param("calibration")) for v in cast.values()}

    def calibration_calls(model):
        return [c for c in model.calls if c["script"].removeprefix("[S1] ") in calibrations]

    first = Dia2Backend(cache_dir=cache)
    first.render(clip_of(scene(4), cast))
    first.render(clip_of(scene(2), cast))
    model = fake_dia2.Dia2.instances[0]
    assert len(calibration_calls(model)) == 2  # once per voice, not per clip
    assert [c["seed_at_generation"] for c in calibration_calls(model)] == [1103, 2207]  # the voices' own seeds
    files = sorted((cache / "voices").iterdir())
    assert [f.name for f in files] == sorted(f"{v.key}{ext}" for v in cast.values() for ext in (".json", ".wav"))
    clip_call = model.calls[-1]
    assert clip_call["prefix_speaker_1"] == str(cache / "voices" / f"{pal[0].key}.wav")
    assert [w for w, _, _ in clip_call["transcribed"][0][1]] == str(pal[0].param("calibration")).split()

    second = Dia2Backend(cache_dir=cache)  # a later build
    takes = second.render(clip_of(scene(4), cast))
    assert calibration_calls(fake_dia2.Dia2.instances[1]) == []
    assert len(takes) == 4


def test_ensure_reference_returns_the_voice_with_reference_and_transcript(fake_dia2, tmp_path):
    voice = Dia2Backend().palette()[2]
    backend = Dia2Backend(cache_dir=tmp_path / "elsewhere")
    ref = backend.ensure_reference(voice, tmp_path / "cache")
    assert ref.reference == str((tmp_path / "cache" / "voices" / f"{voice.key}.wav").resolve())
    assert ref.transcript == voice.param("calibration") and ref.name == voice.name
    audio, sr = sf.read(ref.reference)
    assert sr == 24000 and 0.5 < len(audio) / sr <= MAX_REFERENCE_SECONDS
    assert backend.ensure_reference(voice, tmp_path / "cache") == ref
    assert len(fake_dia2.Dia2.instances[0].calls) == 1
    assert not list((tmp_path / "cache" / "voices").glob("*.tmp"))


# ---- palette, capabilities, settings --------------------------------------------------------------

def test_palette_and_capabilities():
    backend = Dia2Backend()
    pal = backend.palette()
    assert len(pal) >= 8 and all(v.backend == "dia2" and v.description for v in pal)
    assert len({v.param("seed") for v in pal}) == len(pal) and len({v.key for v in pal}) == len(pal)
    caps = backend.capabilities
    assert caps.max_clip_seconds + 2 * MAX_REFERENCE_SECONDS < 120 and caps.max_clip_seconds >= 90
    assert caps.min_clip_seconds == 5.0 and caps.parallel is False and caps.max_speakers == 2
    assert {"(laughs)", "(clears throat)", "(whistles)"} <= caps.nonverbal
    assert (backend.name, backend.sample_rate) == ("dia2", 24000)


def test_voice_from_settings(tmp_path):
    reference_wav(tmp_path / "me.wav", 180.0)
    backend = Dia2Backend(project_root=tmp_path)
    pal = backend.palette()
    assert backend.voice_from_settings({"voice": pal[3].name}, pal) == pal[3]
    assert backend.voice_from_settings({"voice": pal[3].name, "seed": 99}, pal).param("seed") == 99
    mine = backend.voice_from_settings({"reference": "me.wav", "transcript": "hello there"}, pal)
    assert mine.reference == str(tmp_path / "me.wav") and mine.transcript == "hello there"
    with pytest.raises(ValueError, match="transcript"):
        backend.voice_from_settings({"reference": "me.wav"}, pal)
    with pytest.raises(ValueError, match="outside the project"):
        backend.voice_from_settings({"reference": "../x.wav", "transcript": "x"}, pal)
    with pytest.raises(ValueError, match="unknown voice"):
        backend.voice_from_settings({"voice": "nobody"}, pal)
    with pytest.raises(ValueError, match="pitch"):
        backend.voice_from_settings({"pitch": 3}, pal)


def test_known_transcriber_reseeds_after_transcribing(fake_dia2, voices):
    # whisper-timestamped seeds torch with 1234 inside transcribe; the stand-in must leave the take's seed.
    import torch

    from compiler.backends.dia2 import _known_transcriber, load_runtime

    path = voices["ANNA"].reference
    transcribe = _known_transcriber({str(Path(path).resolve()): [("hi", 0.1, 0.4)]}, 77, load_runtime())
    torch.manual_seed(1234)
    words = transcribe(path, "cuda", language=None)
    assert [(w.text, w.start, w.end) for w in words] == [("hi", 0.1, 0.4)]
    assert type(words[0]).__name__ == "WhisperWord" and torch.initial_seed() == 77
    with pytest.raises(RuntimeError, match="refusing to load Whisper"):
        transcribe(voices["BEN"].reference, "cuda")


def test_a_model_that_cannot_load_is_reported_as_unavailable(fake_dia2, voices, tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("couldn't connect to huggingface.co")

    monkeypatch.setattr(fake_dia2.Dia2, "from_repo", offline)
    with pytest.raises(BackendUnavailable, match="nari-labs/Dia2-2B.*huggingface.co"):
        Dia2Backend(cache_dir=tmp_path).render(clip_of(scene(2), voices))


# ---- the whole pipeline through the adapter ---------------------------------------------------------


def test_full_build_through_the_dia2_adapter(fake_dia2, tmp_path):
    """`dramac build --backend dia2` end to end against the test double: same plan, per-backend cast
    settings, one generate() per clip, outputs with the same timeline shape as the embedded build."""
    import json
    import shutil

    from compiler.build import build, prepare

    project = tmp_path / "ferry"
    shutil.copytree(Path(__file__).resolve().parent.parent / "examples" / "night-ferry", project,
                    ignore=shutil.ignore_patterns(".dramac-cache"))
    with open(project / "dramac.toml", "a", encoding="utf-8") as f:
        f.write('\n[cast.ROSA.dia2]\nvoice = "dia2-brisk"\n')
    prepared = prepare(project / "night-ferry.fountain", "dia2", backend_options={"device": "cpu", "dtype": "float32"})
    assert prepared.cast.voice_for("ROSA").name == "dia2-brisk"
    assert all(m.voice.backend == "dia2" for m in prepared.cast.members)
    result = build(prepared, tmp_path / "out", ["wav"], jobs=2)
    manifest = json.loads((tmp_path / "out" / "night-ferry.json").read_text())
    planned = [line for clip in prepared.plan.clips for line in clip.lines]
    assert [l["spoken"] for l in manifest["lines"]] == [l.spoken for l in planned]
    assert manifest["backend"] == "dia2" and result.rendered == len(prepared.plan.clips)
    audio, rate = sf.read(tmp_path / "out" / "night-ferry.wav")
    assert rate == 24000 and len(audio) / rate == pytest.approx(result.duration, abs=0.01)


def test_reference_recording_not_its_path_is_in_the_cache_key(tmp_path):
    """Re-recording a reference under the same name changes the voice key; the same audio elsewhere does not."""
    backend = Dia2Backend(project_root=tmp_path, cache_dir=tmp_path / "cache")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    reference_wav(tmp_path / "a" / "mom.wav", 200.0)
    reference_wav(tmp_path / "b" / "mom.wav", 200.0)
    first = backend.voice_from_settings({"reference": "a/mom.wav", "transcript": "hello there"})
    moved = backend.voice_from_settings({"reference": "b/mom.wav", "transcript": "hello there"})
    assert first.key == moved.key
    reference_wav(tmp_path / "a" / "mom.wav", 230.0)
    rerecorded = backend.voice_from_settings({"reference": "a/mom.wav", "transcript": "hello there"})
    assert rerecorded.key != first.key
