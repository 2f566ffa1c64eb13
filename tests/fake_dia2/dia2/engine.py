"""TEST DOUBLE of dia2.engine.Dia2 (see dia2/__init__.py for what it reproduces)."""

from __future__ import annotations

import math
import re
import zlib
from typing import Optional, Sequence

import numpy as np
import soundfile as sf
import torch  # the real dia2 imports torch too; tests supply a stand-in when it is not installed

from .generation import FakeTensor, GenerationConfig, GenerationResult, merge_generation_config, normalize_script
from .runtime import voice_clone

FRAME_RATE = 12.5
SAMPLE_RATE = 24000
SAMPLES_PER_FRAME = int(SAMPLE_RATE / FRAME_RATE)
_BREAK = re.compile(r"(?:<break\s+time=\"([0-9]+(?:.[0-9]*)?)s\"\s*/?>)")


class Dia2:
    context_steps = 1500  # what max_context_steps reports; tests lower it to provoke truncation
    instances: list = []  # every model built, so tests can inspect what reached generate()

    def __init__(self, *, repo=None, config_path=None, weights_path=None, tokenizer_id=None, mimi_id=None,
                 device: str = "cuda", dtype: str = "auto", default_config: Optional[GenerationConfig] = None):
        if repo and (config_path or weights_path):
            raise ValueError("give either repo or config_path + weights_path")
        if not repo and not (config_path and weights_path):
            raise ValueError("repo or config_path + weights_path is required")
        self.repo = repo
        self.device = device
        self._dtype_pref = dtype or "auto"
        self.default_config = default_config or GenerationConfig()
        self._compute: Optional[str] = None
        self.calls: list[dict] = []
        Dia2.instances.append(self)

    @classmethod
    def from_repo(cls, repo: str, *, device: str = "cuda", dtype: str = "auto", tokenizer_id=None, mimi_id=None):
        return cls(repo=repo, device=device, dtype=dtype, tokenizer_id=tokenizer_id, mimi_id=mimi_id)

    @classmethod
    def from_local(cls, config_path, weights_path, *, device="cuda", dtype="auto", tokenizer_id=None, mimi_id=None):
        return cls(config_path=config_path, weights_path=weights_path, device=device, dtype=dtype,
                   tokenizer_id=tokenizer_id, mimi_id=mimi_id)

    @property
    def dtype(self) -> str:
        return self._dtype_pref

    @property
    def sample_rate(self) -> int:
        self._ensure_runtime()
        return SAMPLE_RATE

    @property
    def max_context_steps(self) -> int:
        self._ensure_runtime()  # like upstream, reading it loads the model
        return self.context_steps

    def _ensure_runtime(self) -> None:
        # Like the real runtime: the dtype is checked only when the model is first loaded.
        if self._compute is None:
            kind = self._dtype_pref.lower()
            on_cuda = str(self.device).startswith("cuda")
            if kind == "auto":
                kind = "bfloat16" if on_cuda else "float32"
            if kind not in ("bfloat16", "float32"):
                raise ValueError(f"Unsupported dtype '{self._dtype_pref}'")
            self._compute = kind if on_cuda else "float32"

    def generate(self, script: str | Sequence[str], *, config: Optional[GenerationConfig] = None,
                 output_wav=None, prefix_speaker_1: Optional[str] = None, prefix_speaker_2: Optional[str] = None,
                 include_prefix: Optional[bool] = None, verbose: bool = False, **overrides) -> GenerationResult:
        self._ensure_runtime()
        merged_overrides = dict(overrides)
        for key, value in (("prefix_speaker_1", prefix_speaker_1), ("prefix_speaker_2", prefix_speaker_2),
                           ("include_prefix", include_prefix)):
            if value is not None:
                merged_overrides[key] = value
        merged = merge_generation_config(base=config or self.default_config, overrides=merged_overrides)
        text = normalize_script(script)
        call = {"script": text, "overrides": dict(overrides), "prefix_speaker_1": prefix_speaker_1,
                "prefix_speaker_2": prefix_speaker_2, "include_prefix": include_prefix, "config": merged,
                "seed_after_transcribe": [], "transcribed": []}
        self.calls.append(call)

        prefix_audio, prefix_pitch, prefix_words = self._prefixes(merged, call)
        seed = int(torch.initial_seed())
        call["seed_at_generation"] = seed
        rng = np.random.default_rng(seed % 2**63)
        pitch = [prefix_pitch.get(slot, 90.0 + (seed * 7919 % 97) * 1.5 + 55.0 * slot) for slot in (0, 1)]

        events = _parse(text)
        call["words_sent"] = sum(1 for e in events if e[0] == "word")
        steps = sum(len(a) for a in prefix_audio) // SAMPLES_PER_FRAME + merged.initial_padding
        pieces = [np.zeros(merged.initial_padding * SAMPLES_PER_FRAME, dtype=np.float32)]
        position = merged.initial_padding * SAMPLES_PER_FRAME
        timestamps: list[tuple[str, float]] = []
        for event in events:
            frames = event[1] if event[0] == "break" else 2 + math.ceil(len(event[2]) / 4)
            gap = 0 if event[0] == "break" else 1
            if steps + frames + gap > self.context_steps:
                break  # silently, like the real context limit
            steps += frames + gap
            if event[0] == "break":
                chunk = np.zeros(frames * SAMPLES_PER_FRAME, dtype=np.float32)
            else:
                _, slot, word = event
                timestamps.append((word, position / SAMPLE_RATE))
                freq = pitch[slot] * (1 + 0.02 * (zlib.crc32(word.encode()) % 5))
                chunk = np.concatenate([_tone(freq, frames, 0.25 + 0.1 * rng.random(), rng.random() * 6.28),
                                        np.zeros(gap * SAMPLES_PER_FRAME, dtype=np.float32)])
            pieces.append(chunk)
            position += len(chunk)
        call["words_spoken"] = len(timestamps)
        call["truncated"] = len(timestamps) < call["words_sent"]

        wave = np.concatenate(pieces).astype(np.float32)
        if merged.prefix is not None and merged.prefix.include_audio and prefix_audio:
            head = np.concatenate(prefix_audio)
            offset = len(head) / SAMPLE_RATE
            timestamps = prefix_words + [(w, t + offset) for w, t in timestamps]
            wave = np.concatenate([head, wave])
        if output_wav is not None:
            sf.write(str(output_wav), wave, SAMPLE_RATE)
        tokens = FakeTensor(np.zeros((32, len(wave) // SAMPLES_PER_FRAME), dtype=np.int64), self.device, "int64")
        return GenerationResult(tokens, FakeTensor(wave, self.device, self._compute), SAMPLE_RATE, timestamps)

    def _prefixes(self, merged: GenerationConfig, call: dict):
        """Transcribe (through the module-level function, as upstream) and "encode" each prefix."""
        prefix = merged.prefix
        if prefix is None or not prefix.speaker_1:
            if prefix is not None and prefix.speaker_2:
                raise ValueError("speaker_2 requires speaker_1 to be provided")
            return [], {}, []
        audio, pitch, words = [], {}, []
        for slot, path in enumerate(p for p in (prefix.speaker_1, prefix.speaker_2) if p):
            said = voice_clone.transcribe_words(path, self.device)
            call["transcribed"].append((path, [(w.text, w.start, w.end) for w in said]))
            call["seed_after_transcribe"].append(int(torch.initial_seed()))
            data, sr = sf.read(str(path), dtype="float32", always_2d=True)
            mono = data.mean(axis=1)
            if sr != SAMPLE_RATE:
                mono = np.interp(np.arange(0, len(mono), sr / SAMPLE_RATE), np.arange(len(mono)), mono).astype(np.float32)
            frames = math.ceil(len(mono) / SAMPLES_PER_FRAME)
            audio.append(np.pad(mono, (0, frames * SAMPLES_PER_FRAME - len(mono))))
            pitch[slot] = _dominant_frequency(mono, SAMPLE_RATE)
            words += [(w.text, w.start) for w in said]
        return audio, pitch, words


def _parse(text: str) -> list[tuple]:
    """("word", slot, word) and ("break", frames) events, with Dia2's normalisation."""
    normalized = text.replace("’", "'").replace(":", " ")
    events: list[tuple] = []
    slot = 0
    pos = 0
    for match in list(_BREAK.finditer(normalized)) + [None]:
        segment = normalized[pos: match.start() if match else len(normalized)]
        for token in segment.split():
            if token in ("[S1]", "[S2]"):
                slot = 0 if token == "[S1]" else 1
            else:
                events.append(("word", slot, token))
        if match:
            frames = int(round(float(match.group(1)) * FRAME_RATE))
            if frames > 0:
                events.append(("break", frames))
            pos = match.end()
    return events


def _tone(freq: float, frames: int, amplitude: float, phase: float) -> np.ndarray:
    n = frames * SAMPLES_PER_FRAME
    t = np.arange(n) / SAMPLE_RATE
    tone = amplitude * np.sin(2 * np.pi * freq * t + phase)
    ramp = min(n // 2, int(0.005 * SAMPLE_RATE))
    env = np.ones(n)
    env[:ramp] = np.linspace(0, 1, ramp)
    env[n - ramp:] = np.linspace(1, 0, ramp)
    return (tone * env).astype(np.float32)


def _dominant_frequency(audio: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    spectrum[0] = 0
    return float(np.argmax(spectrum) * sr / len(audio)) if len(audio) else 150.0
