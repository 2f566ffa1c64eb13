"""The Dia2 adapter where no model runs: installation errors, settings, identity, palette, voices.

Everything that runs a model is in tests/test_dia2_real.py, on the real dia2 package with a
random-weight checkpoint; there is no test double of dia2 any more.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from compiler import backends
from compiler.backends import BackendUnavailable, Workspace
from compiler.backends.dia2 import MAX_REFERENCE_SECONDS, Dia2Backend, Dia2ConfigError
from compiler.diagnostics import CompileError, Span
from compiler.plan_types import Clip, PlannedLine
from compiler.voices import Voice

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


def reference_wav(path: Path, freq: float, seconds: float = 1.0) -> Path:
    t = np.arange(int(24000 * seconds)) / 24000
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 24000)
    return path


def workspace(root: Path) -> Workspace:
    return Workspace(str(root), str(root / "cache"))


def two_line_clip(voice: Voice) -> Clip:
    lines = tuple(PlannedLine("ANNA", text, text, Span(FILE, n, 1, n, 9)) for n, text in ((3, "hello there"), (4, "and again")))
    return Clip(0, ("ANNA",), (voice,), lines, 2.0)


# ---- installation ---------------------------------------------------------------------------------

def test_missing_package_raises_backend_unavailable_with_install_steps(clean_dia2, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "dia2", None)  # import dia2 → ModuleNotFoundError
    backend = backends.create("dia2", workspace(tmp_path))
    voice = Voice("me", "dia2", (), str(reference_wav(tmp_path / "me.wav", 200.0)), "hello")
    with pytest.raises(BackendUnavailable) as exc:
        backend.render(two_line_clip(voice))
    message = str(exc.value)
    assert "not installed" in message
    assert "git clone https://github.com/nari-labs/dia2" in message and "pip install --no-deps -e" in message
    assert "torch==" in message and "dramac[dia2]" in message


def test_a_missing_dia2_is_one_error_for_the_whole_build(clean_dia2, monkeypatch, tmp_path):
    """Not one install hint per clip (it was printed 23 times for one play): the build stops once,
    before anything is rendered."""
    from compiler import render
    from compiler.build import prepare

    script = tmp_path / "play.fountain"
    script.write_text("".join(f"INT. ROOM {n} - DAY\n\nANNA\nLine number {n} of the play.\n\n" for n in range(12)))
    monkeypatch.setitem(sys.modules, "dia2", None)
    with pytest.raises(CompileError) as info:
        prepare(script, "dia2")
    (diag,) = info.value.diagnostics
    assert "not installed" in diag.message
    # The render stage too stops at the first clip, once, should the runtime vanish after preparing.
    voice = Voice("me", "dia2", (), str(reference_wav(tmp_path / "me.wav", 200.0)), "hello")
    clips = [Clip(n, ("ANNA",), (voice,), two_line_clip(voice).lines[:1], 1.0 + n) for n in range(12)]
    with pytest.raises(CompileError) as info:
        render.render_plan(clips, "dia2", {"workspace": workspace(tmp_path)}, render.ClipCache(tmp_path / "c"), 1)
    assert len(info.value.diagnostics) == 1


@pytest.mark.parametrize("init", [
    "from .core.model import Dia2Model\n",  # upstream __init__ when dia2.core was not packaged
    "class Dia2:\n    pass\n",  # imports, but dia2.runtime is missing
])
def test_broken_non_editable_install_is_named(clean_dia2, monkeypatch, tmp_path, init):
    (tmp_path / "dia2").mkdir()
    (tmp_path / "dia2" / "__init__.py").write_text(init)
    monkeypatch.syspath_prepend(str(tmp_path))
    # An editable install of the real dia2 maps dia2.* by full name, whatever dia2.__path__ says.
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if "__editable___dia2" not in repr(f)])
    with pytest.raises(BackendUnavailable, match="non-editable install") as exc:
        Dia2Backend().check()
    assert "pip install --no-deps -e ./dia2" in str(exc.value)


def test_float16_is_rejected_at_construction_not_at_first_generate():
    with pytest.raises(Dia2ConfigError, match="dtype must be one of auto, bfloat16, float32, not .float16."):
        Dia2Backend(dtype="float16")
    assert Dia2Backend(dtype="Float32").dtype == "float32"


def test_bad_sampling_values_are_rejected_up_front_with_upstreams_ranges():
    with pytest.raises(Dia2ConfigError, match="topk_text"):
        Dia2Backend(topk_text=-1)
    with pytest.raises(Dia2ConfigError, match="temp_audio"):
        Dia2Backend(temp_audio=-1.0)
    with pytest.raises(Dia2ConfigError, match="temp_text"):
        Dia2Backend(temp_text=float("nan"))
    with pytest.raises(Dia2ConfigError, match="cfg_scale"):
        Dia2Backend(cfg_scale=0.0)
    with pytest.raises(Dia2ConfigError, match="use_cuda_graph"):
        Dia2Backend(use_cuda_graph="yes")
    # Upstream: a temperature of 0 is greedy, a top-k of 0 means no filter.
    Dia2Backend(temp_text=0.0, temp_audio=0, topk_text=0, topk_audio=0, cfg_filter_k=0)


# ---- parameters and cache key ---------------------------------------------------------------------

CHANGED = dict(cfg_scale=4.5, temp_text=0.7, topk_text=40, temp_audio=0.9, topk_audio=30, cfg_filter_k=25,
               initial_padding=3, use_cuda_graph=True, use_torch_compile=True)


def test_identity_changes_with_every_parameter():
    base = Dia2Backend().identity()
    for name, value in {**CHANGED, "repo": "nari-labs/Dia2-1B", "dtype": "float32", "seed": 5}.items():
        assert Dia2Backend(**{name: value}).identity() != base, name
    assert Dia2Backend(device="cuda:1").identity() == base  # which GPU does not change the audio
    assert Dia2Backend(dtype="auto").identity() == base  # auto is bf16 on CUDA


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
    backend = Dia2Backend(workspace=workspace(tmp_path))
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



def test_reference_recording_not_its_path_is_in_the_cache_key(tmp_path):
    """Re-recording a reference under the same name changes the voice key; the same audio elsewhere does not."""
    backend = Dia2Backend(workspace=workspace(tmp_path))
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
