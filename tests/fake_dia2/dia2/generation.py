"""TEST DOUBLE of dia2.generation: the config dataclasses and the override merge (see __init__)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import numpy as np


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 0.8
    top_k: int = 50


@dataclass(frozen=True)
class PrefixConfig:
    speaker_1: Optional[str] = None
    speaker_2: Optional[str] = None
    include_audio: bool = False


@dataclass(frozen=True)
class GenerationConfig:
    text: SamplingConfig = field(default_factory=lambda: SamplingConfig(0.6, 50))
    audio: SamplingConfig = field(default_factory=lambda: SamplingConfig(0.8, 50))
    cfg_scale: float = 2.0
    cfg_filter_k: int = 50
    initial_padding: int = 2
    prefix: Optional[PrefixConfig] = None
    use_cuda_graph: bool = False
    use_torch_compile: bool = False


class FakeTensor:
    """Tensor-like stand-in: refuses .numpy() while on a non-CPU device or in bfloat16, as torch does."""

    def __init__(self, data: np.ndarray, device: str = "cpu", dtype: str = "float32"):
        self._data = np.asarray(data)
        self.device = device
        self.dtype = dtype

    @property
    def shape(self) -> Tuple[int, ...]:
        return self._data.shape

    def detach(self) -> "FakeTensor":
        return FakeTensor(self._data, self.device, self.dtype)

    def cpu(self) -> "FakeTensor":
        return FakeTensor(self._data, "cpu", self.dtype)

    def float(self) -> "FakeTensor":
        return FakeTensor(self._data.astype(np.float32), self.device, "float32")

    def numpy(self) -> np.ndarray:
        if self.device != "cpu":
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use Tensor.cpu() first.")
        if self.dtype == "bfloat16":
            raise TypeError("Got unsupported ScalarType BFloat16")
        return self._data


@dataclass(frozen=True)
class GenerationResult:
    audio_tokens: Any
    waveform: Any
    sample_rate: int
    timestamps: List[Tuple[str, float]]


def normalize_script(script: str | Sequence[str]) -> str:
    if isinstance(script, str):
        return script.strip()
    return "\n".join(part.strip() for part in script)


_SAMPLING_KEYS = {"temp_text": ("text", "temperature"), "topk_text": ("text", "top_k"),
                  "temp_audio": ("audio", "temperature"), "topk_audio": ("audio", "top_k")}
_PLAIN_KEYS = ("cfg_scale", "cfg_filter_k", "initial_padding", "use_cuda_graph", "use_torch_compile")


def merge_generation_config(*, base: GenerationConfig, overrides: Mapping[str, object]) -> GenerationConfig:
    """Known override keys replace fields; None values and UNKNOWN KEYS ARE IGNORED, like upstream."""
    given = {k: v for k, v in overrides.items() if v is not None}
    merged = base
    for key, (group, attr) in _SAMPLING_KEYS.items():
        if key in given:
            merged = replace(merged, **{group: replace(getattr(merged, group), **{attr: given[key]})})
    merged = replace(merged, **{k: given[k] for k in _PLAIN_KEYS if k in given})
    prefix_keys = {"prefix_speaker_1": "speaker_1", "prefix_speaker_2": "speaker_2", "include_prefix": "include_audio"}
    if merged.prefix is not None or any(k in given for k in prefix_keys):
        prefix = merged.prefix or PrefixConfig()
        merged = replace(merged, prefix=replace(prefix, **{attr: given[k] for k, attr in prefix_keys.items() if k in given}))
    return merged
