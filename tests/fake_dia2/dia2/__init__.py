"""TEST DOUBLE of the Dia2 runtime (nari-labs/dia2 at 8687268f) for dramac's tests — not Dia2.

It follows the real public signatures (Dia2, Dia2.from_repo, generate(...), GenerationResult,
dia2.runtime.voice_clone.transcribe_words) and reproduces the runtime's traps so the adapter can be
tested without weights or a GPU:
- unknown keyword overrides to generate() are silently ignored;
- words past the frame budget (Dia2.max_context_steps, prefix frames included) are silently dropped;
- an unsupported dtype raises ValueError only at the first generate();
- every voice prefix is "transcribed" through voice_clone.transcribe_words, looked up at call time,
  whose default here raises instead of loading Whisper;
- the waveform is a tensor-like object still "on the model device" (and bf16 on CUDA).
The audio is synthetic: one tone per word, its pitch taken from the speaker's prefix (the dominant
frequency of the prefix file, so cloning "works") or, without a prefix, from the speaker slot and the
torch seed; the seed also varies loudness and phase. Timestamps are the word start times.
"""

from .engine import Dia2
from .generation import GenerationConfig, GenerationResult, PrefixConfig, SamplingConfig

__all__ = ["Dia2", "GenerationConfig", "GenerationResult", "PrefixConfig", "SamplingConfig"]
