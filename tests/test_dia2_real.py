"""The Dia2 adapter on the REAL dia2 package (nari-labs, 8687268) with a random-weight checkpoint.

Nothing of dia2 is replaced: the model, tokenizer, Mimi codec, state machine and generation loop
are upstream's own code, running on the CPU. Spies wrap upstream functions (they call the original)
to see what reached the runtime and what the generator consumed. What this tier cannot show
(speech quality, pacing of the trained model, CUDA graphs, bf16 on a GPU) is for
benchmarks/dia2_gpu.py on a GPU.

`make test` installs the tier (dia2 from ../shared/vendor/dia2 or $DIA2_SOURCE, editable,
--no-deps, with upstream's pinned dependencies) whenever that source is present.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

dia2 = pytest.importorskip("dia2", reason="the Dia2 tier is not installed (see docs/dia2.md: make test installs it)")
torch = pytest.importorskip("torch")
pytest.importorskip("dia2.runtime.voice_clone")

import dia2_checkpoint  # noqa: E402  (tests/ is on the path)
from compiler.backends import Workspace  # noqa: E402
from compiler.backends.dia2 import Dia2Backend, spoken_words  # noqa: E402
from compiler.backends.dia2_takes import build_script  # noqa: E402
from compiler.diagnostics import CompileError, Span  # noqa: E402
from compiler.plan_types import Clip, PlannedLine  # noqa: E402
from compiler.voices import Voice  # noqa: E402
from subtitle_rules import read_srt, read_vtt, violations  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FILE = "play.fountain"
CPU = {"device": "cpu", "dtype": "float32"}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Two threads on two cores run this tiny model 3-10x slower than one.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return dia2_checkpoint.build(tmp_path_factory.mktemp("dia2-tiny"))


@pytest.fixture
def make_backend(checkpoint, tmp_path):
    def make(**options) -> Dia2Backend:
        return Dia2Backend(repo=str(checkpoint), workspace=Workspace(str(tmp_path), str(tmp_path / "cache")),
                           **{**CPU, **options})
    return make


def line(speaker: str, spoken: str, n: int, pause: float = 0.0) -> PlannedLine:
    return PlannedLine(speaker, spoken, spoken, Span(FILE, n, 1, n, 20), pause_before=pause)


def clip_of(lines: list[PlannedLine], voices: dict[str, Voice], est: float | None = None) -> Clip:
    speakers = tuple(dict.fromkeys(l.speaker for l in lines))
    words = sum(len(l.spoken.split()) for l in lines)
    return Clip(0, speakers, tuple(voices[s] for s in speakers), tuple(lines), est if est is not None else words / 2.6)


def reference_wav(path: Path, freq: float, seconds: float = 1.0) -> Path:
    t = np.arange(int(24000 * seconds)) / 24000
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 24000)
    return path


@pytest.fixture
def voices(tmp_path) -> dict[str, Voice]:
    """Two recorded 1 s references with known transcripts."""
    return {"ANNA": Voice("anna", "dia2", (), str(reference_wav(tmp_path / "anna.wav", 220.0)), "this is anna speaking"),
            "BEN": Voice("ben", "dia2", (), str(reference_wav(tmp_path / "ben.wav", 130.0)), "and ben here")}


SCENE = ["where were you last night when the light went out",
         "at the house waiting for a boat that never came",
         "that is not what the old man told me this morning",
         "then he is wrong and you know it"]


def scene(n_lines: int = 4) -> list[PlannedLine]:
    return [line("ANNA" if i % 2 == 0 else "BEN", SCENE[i % 4], 10 + i) for i in range(n_lines)]


class Spy:
    """Wraps `owner.name` (keeps calling it) and records each call's arguments and result."""

    def __init__(self, monkeypatch, owner, name):
        self.calls: list[tuple[tuple, dict, object]] = []
        original = getattr(owner, name)

        def spy(*args, **kwargs):
            result = original(*args, **kwargs)
            self.calls.append((args, kwargs, result))
            return result

        monkeypatch.setattr(owner, name, spy)


# ---- what reaches the runtime ---------------------------------------------------------------------

def test_every_sampling_parameter_reaches_the_runtime_config(make_backend, voices, monkeypatch):
    import dia2.engine

    merged = Spy(monkeypatch, dia2.engine, "merge_generation_config")
    backend = make_backend(cfg_scale=3.0, temp_text=0.5, topk_text=7, temp_audio=0.9, topk_audio=11,
                           cfg_filter_k=13, initial_padding=3, use_cuda_graph=True, use_torch_compile=True)
    backend.render(clip_of(scene(2), voices))
    config = merged.calls[-1][2]
    assert (config.text.temperature, config.text.top_k) == (0.5, 7)
    assert (config.audio.temperature, config.audio.top_k) == (0.9, 11)
    assert (config.cfg_scale, config.cfg_filter_k, config.initial_padding) == (3.0, 13, 3)
    assert config.use_cuda_graph and config.use_torch_compile  # upstream ignores both off CUDA
    prefixes = (config.prefix.speaker_1, config.prefix.speaker_2)
    assert prefixes == (backend._prefix_file(voices["ANNA"]), backend._prefix_file(voices["BEN"]))
    assert config.prefix.include_audio is False


def test_greedy_and_unfiltered_sampling_are_accepted_as_upstream_does(make_backend, voices):
    backend = make_backend(temp_text=0.0, temp_audio=0.0, topk_text=0, topk_audio=0, cfg_filter_k=0)
    takes = backend.render(clip_of(scene(2), voices))
    assert len(takes) == 2 and all(t.size for t in takes)


def test_result_types_and_one_timestamp_per_word_sent(make_backend, voices, monkeypatch):
    generated = Spy(monkeypatch, dia2.Dia2, "generate")
    clip = clip_of(scene(4), voices, est=2.0)  # planned to fit: one generate() call
    takes = make_backend().render(clip)
    assert len(takes) == 4
    for take in takes:
        assert isinstance(take, np.ndarray) and take.dtype == np.float32 and take.ndim == 1 and take.size
        assert np.all(np.isfinite(take)) and np.abs(take).max() <= 1.0
    (args, kwargs, result), = generated.calls
    script = args[1]
    assert script == build_script(clip.lines, clip.speakers) and script.startswith("[S1] ")
    assert [w for w, _ in result.timestamps] == spoken_words(script)
    assert result.sample_rate == 24000


def test_takes_keep_dia2s_own_word_times(make_backend, voices, monkeypatch):
    """render_timed: each take is Dia2's waveform from its own offset, and its words are Dia2's words
    with Dia2's timestamps moved by that same offset; render() gives the very same audio."""
    generated = Spy(monkeypatch, dia2.Dia2, "generate")
    clip = clip_of(scene(4), voices, est=2.0)
    backend = make_backend()
    takes = backend.render_timed(clip)
    (_, _, result), = generated.calls
    wave = result.waveform.detach().cpu().numpy().reshape(-1).astype(np.float32)
    stamps = [(str(w), float(t)) for w, t in result.timestamps]
    k = 0
    for take, planned in zip(takes, clip.lines):
        said = spoken_words(planned.spoken)
        assert [w.text for w in take.words] == said
        mine = stamps[k: k + len(said)]
        k += len(said)
        assert [w for w, _ in mine] == said
        offset = round((mine[0][1] - take.words[0].start) * 24000)  # where the take begins in the wave
        assert np.array_equal(wave[offset: offset + len(take.audio)], take.audio)
        seconds = len(take.audio) / 24000
        for word, (_, t) in zip(take.words, mine):
            assert word.start == pytest.approx(min(max(t - offset / 24000, 0.0), seconds), abs=1 / 24000)
            assert 0.0 <= word.start <= word.end <= seconds
    assert k == len(stamps)
    again = make_backend().render(clip)
    assert all(np.array_equal(a, t.audio) for a, t in zip(again, takes))


def test_whisper_is_never_called_and_transcribe_words_is_restored_even_on_error(make_backend, voices, monkeypatch):
    import dia2.engine
    import dia2.runtime.voice_clone as vc

    class NoWhisper:
        def __getattr__(self, name):
            raise AssertionError(f"whisper_timestamped.{name} was used")

    monkeypatch.setitem(sys.modules, "whisper_timestamped", NoWhisper())
    original = vc.transcribe_words
    backend = make_backend()
    backend.render(clip_of(scene(2), voices))
    assert vc.transcribe_words is original

    def broken(*args, **kwargs):
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr(dia2.engine, "parse_script", broken)
    with pytest.raises(RuntimeError, match="tokenizer exploded"):
        backend.render(clip_of(scene(3), voices))
    assert vc.transcribe_words is original


def test_same_seed_same_takes_with_prefixes_and_another_seed_differs(make_backend, voices):
    clip = clip_of(scene(2), voices)
    first = make_backend(seed=5).render(clip)
    again = make_backend(seed=5).render(clip)
    other = make_backend(seed=6).render(clip)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(first, other))


def test_same_seed_same_takes_across_processes(checkpoint, tmp_path):
    """Two fresh interpreters with different hash seeds render the same prefixed clip bit for bit."""
    reference_wav(tmp_path / "anna.wav", 220.0)
    program = textwrap.dedent(f"""
        import sys, numpy as np, torch
        sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]
        torch.set_num_threads(1)
        from compiler.backends import Workspace
        from compiler.backends.dia2 import Dia2Backend
        from compiler.voices import Voice
        from test_dia2_real import clip_of, scene
        anna = Voice("anna", "dia2", (), {str(tmp_path / 'anna.wav')!r}, "this is anna speaking")
        backend = Dia2Backend(repo={str(checkpoint)!r}, device="cpu", dtype="float32", seed=9,
                              workspace=Workspace({str(tmp_path)!r}, {str(tmp_path / 'cache')!r}))
        takes = backend.render(clip_of(scene(2), {{"ANNA": anna, "BEN": anna}}))
        np.savez(sys.argv[1], *takes)
    """)
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"takes-{hash_seed}.npz"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
        subprocess.run([sys.executable, "-c", program, str(out)], check=True, env=env, timeout=300)
        with np.load(out) as data:
            outputs.append([data[k] for k in sorted(data.files)])
    assert len(outputs[0]) == 2
    assert all(np.array_equal(a, b) for a, b in zip(*outputs))


# ---- the context ----------------------------------------------------------------------------------

LONG_LINES = [" ".join(["the old house was dark and the sea was quiet"] * 3)] * 6  # 180 words


def test_an_overlong_prefixed_clip_is_split_never_an_exception(make_backend, voices, monkeypatch):
    """Planned as short (so the adapter does not split first), the clip runs past the 200-frame
    context beside the prefixes. Upstream then indexes past its rotary table (IndexError; a
    device-side assert on CUDA); the adapter must get a truncation and render the halves."""
    generated = Spy(monkeypatch, dia2.Dia2, "generate")
    lines = [line("ANNA" if i % 2 == 0 else "BEN", text, 10 + i) for i, text in enumerate(LONG_LINES)]
    takes = make_backend().render(clip_of(lines, voices, est=1.0))
    assert len(takes) == 6 and all(t.size for t in takes)
    assert len(generated.calls) > 1  # truncated, then re-rendered in parts
    for args, _, result in generated.calls:
        assert len(result.timestamps) <= len(spoken_words(args[1]))


def test_a_single_line_too_long_for_the_context_is_a_diagnostic_at_its_line(make_backend, voices):
    words = " ".join(LONG_LINES)
    with pytest.raises(CompileError) as info:
        make_backend().render(clip_of([line("ANNA", words, 42)], voices, est=1.0))
    (diag,) = info.value.diagnostics
    assert diag.span.line == 42 and "too long for one Dia2 generation" in diag.message


def test_the_context_is_read_from_the_loaded_model(checkpoint, tmp_path, voices, monkeypatch):
    wider = dia2_checkpoint.build(tmp_path / "wide", dia2_checkpoint.Size(
        **{**dia2_checkpoint.TINY.__dict__, "name": "tiny-300", "context_steps": 300}))
    workspace = Workspace(str(tmp_path), str(tmp_path / "cache"))
    assert Dia2Backend(repo=str(checkpoint), workspace=workspace, **CPU).context_seconds() == 16.0
    assert Dia2Backend(repo=str(wider), workspace=workspace, **CPU).context_seconds() == 24.0
    # An 18 s clip beside 2 s of prefixes fits the 300-frame model whole but not the 200-frame one.
    for repo, calls in ((checkpoint, 2), (wider, 1)):
        generated = Spy(monkeypatch, dia2.Dia2, "generate")
        Dia2Backend(repo=str(repo), workspace=workspace, **CPU).render(clip_of(scene(2), voices, est=14.0))
        assert len(generated.calls) == calls
        monkeypatch.undo()


# ---- prefixes -------------------------------------------------------------------------------------

PREFIX_WORDS = "one two three four five six seven eight nine ten eleven"


def consumed_words(monkeypatch) -> list[tuple[bool, str]]:
    """(forced, word) for every transcript entry the state machine consumes, in order."""
    from dia2.runtime.state_machine import StateMachine

    seen: list[tuple[bool, str]] = []
    original = StateMachine.process

    def process(self, step, state, token, is_forced=False):
        before = len(state.transcript)
        result = original(self, step, state, token, is_forced)
        seen.extend((is_forced, word) for word, _ in state.transcript[before:])
        return result

    monkeypatch.setattr(StateMachine, "process", process)
    return seen


@pytest.mark.parametrize("transcript", [PREFIX_WORDS, "hello there friend"])
def test_no_prefix_word_is_spoken_in_the_clip(make_backend, tmp_path, monkeypatch, transcript):
    """Every prefix word is consumed while the prefix plays (forced); the generator then consumes
    exactly the script's words. A 1 s reference whose words run to its end spilled before."""
    ref = reference_wav(tmp_path / "tight.wav", 200.0)
    voice = Voice("tight", "dia2", (), str(ref), transcript)
    seen = consumed_words(monkeypatch)
    clip = clip_of([line("ANNA", "hello there friend how are you", 10)], {"ANNA": voice})
    make_backend().render(clip)
    assert [w for forced, w in seen if forced] == transcript.split()
    assert [w for forced, w in seen if not forced] == spoken_words("hello there friend how are you")


def test_a_calibrated_voice_is_rendered_once_and_spills_nothing(make_backend, tmp_path, monkeypatch):
    backend = make_backend()
    voice = backend.palette()[0]
    calibrated = backend.ensure_reference(voice)
    assert Path(calibrated.reference).is_file() and calibrated.transcript == voice.param("calibration")
    mtime = Path(calibrated.reference).stat().st_mtime_ns
    seen = consumed_words(monkeypatch)
    make_backend().render(clip_of(scene(2), {"ANNA": voice, "BEN": voice}))
    assert Path(calibrated.reference).stat().st_mtime_ns == mtime  # reused, not rendered again
    assert [w for forced, w in seen if not forced] == spoken_words(SCENE[0] + " " + SCENE[1])


# ---- the whole pipeline ---------------------------------------------------------------------------

def test_dramac_build_with_the_dia2_backend_through_the_real_package(checkpoint, tmp_path):
    """`dramac build --backend dia2` of an example, the weights resolved by repository id from a
    Hugging Face cache with the hub offline, exactly as a user's machine would."""
    hf_home = tmp_path / "hf"
    dia2_checkpoint.lay_out_as_hub_cache(checkpoint, hf_home, "dramac-test/Dia2-tiny")
    project = tmp_path / "lighthouse"
    shutil.copytree(ROOT / "examples" / "lighthouse", project, ignore=shutil.ignore_patterns(".dramac-cache"))
    with open(project / "dramac.toml", "a", encoding="utf-8") as f:
        f.write('\n[dia2]\nrepo = "dramac-test/Dia2-tiny"\ndevice = "cpu"\ndtype = "float32"\n')
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    dramac = Path(sys.executable).with_name("dramac")
    run = subprocess.run([str(dramac), "build", str(project / "lighthouse.md"), "--backend", "dia2",
                          "-o", str(tmp_path / "out"), "--json"], capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    out = tmp_path / "out"
    audio, rate = sf.read(out / "lighthouse.wav")
    assert rate == 24000 and len(audio) > rate
    manifest = json.loads((out / "lighthouse.json").read_text())
    assert manifest["backend"] == "dia2" and "repo=dramac-test/Dia2-tiny" in manifest["backend_identity"]
    srt_cues, vtt_cues = read_srt(out / "lighthouse.srt"), read_vtt(out / "lighthouse.vtt")
    assert [(c.start, c.lines) for c in srt_cues] == [(c.start, c.lines) for c in vtt_cues]
    assert len(srt_cues) >= len(manifest["lines"]) > 10
    assert not violations(srt_cues)["line over 42 chars"] and not violations(srt_cues)["over 2 lines"]
    # Dia2 times every word it speaks: the WebVTT carries them as timestamp tags.
    assert (out / "lighthouse.vtt").read_text().count("<00:") > len(manifest["lines"])


# ---- voices and loading -----------------------------------------------------------------------------

def test_calibrations_are_rendered_once_per_voice_and_reused_by_a_later_build(make_backend, monkeypatch):
    generated = Spy(monkeypatch, dia2.Dia2, "generate")
    first = make_backend()
    pal = first.palette()
    cast = {"ANNA": pal[0], "BEN": pal[1]}
    calibrations = {f"[S1] {v.param('calibration')}" for v in cast.values()}
    first.render(clip_of(scene(2), cast))
    first.render(clip_of(scene(4)[2:], cast))
    scripts = [args[1] for args, _, _ in generated.calls]
    assert sorted(s for s in scripts if s in calibrations) == sorted(calibrations)  # once per voice
    generated.calls.clear()
    assert len(make_backend().render(clip_of(scene(2), cast))) == 2  # a later build: same cache folder
    assert not [args for args, _, _ in generated.calls if args[1] in calibrations]


def test_references_without_transcript_or_too_long_are_refused(make_backend, voices, tmp_path):
    bad = Voice("anna", "dia2", (), voices["ANNA"].reference, None)
    with pytest.raises(ValueError, match="transcript"):
        make_backend().render(clip_of(scene(2), {"ANNA": bad, "BEN": voices["BEN"]}))
    long_ref = reference_wav(tmp_path / "long.wav", 200.0, 9.0)
    with pytest.raises(ValueError, match="at most"):
        make_backend().render(clip_of(scene(2), {"ANNA": Voice("long", "dia2", (), str(long_ref), "words"),
                                                 "BEN": voices["BEN"]}))


def test_a_model_that_cannot_load_is_one_clear_error(tmp_path, voices):
    from compiler.backends import BackendUnavailable

    (tmp_path / "weights").mkdir()  # a folder without config.json
    backend = Dia2Backend(repo="weights", workspace=Workspace(str(tmp_path), str(tmp_path / "cache")), **CPU)
    with pytest.raises(BackendUnavailable, match="could not load Dia2 model weights"):
        backend.render(clip_of(scene(2), voices))


def test_the_transcript_stand_in_returns_upstreams_word_type_and_reseeds(voices):
    from compiler.backends.dia2 import _known_transcriber, load_runtime

    path = voices["ANNA"].reference
    transcribe = _known_transcriber({str(Path(path).resolve()): [("hi", 0.1, 0.4)]}, 77, load_runtime())
    torch.manual_seed(1234)  # what whisper-timestamped does inside transcribe
    words = transcribe(path, "cpu", language=None)
    assert [(w.text, w.start, w.end) for w in words] == [("hi", 0.1, 0.4)]
    assert type(words[0]) is dia2.runtime.voice_clone.WhisperWord and torch.initial_seed() == 77
    with pytest.raises(RuntimeError, match="refusing to load Whisper"):
        transcribe(voices["BEN"].reference, "cpu")


def test_cache_dir_from_the_command_line_also_holds_the_calibrated_voices(tmp_path):
    from compiler.build import prepare

    script = tmp_path / "play.fountain"
    script.write_text("INT. ROOM - DAY\n\nANNA\nHello there.\n")
    (tmp_path / "dramac.toml").write_text("")
    elsewhere = tmp_path / "elsewhere"
    assert prepare(script, "dia2", cache_dir=elsewhere).backend.cache_dir == elsewhere.resolve()
    assert prepare(script, "dia2").backend.cache_dir == (tmp_path / ".dramac-cache").resolve()
