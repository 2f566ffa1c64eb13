"""TEST DOUBLE of dia2.runtime.voice_clone: prefix transcription.

The real `transcribe_words` loads openai/whisper-large-v3 through whisper-timestamped on every call
(and re-seeds torch with 1234). Here it raises, so a test that reaches it proves the adapter did not
replace it. The engine looks it up on this module at call time, as the real build_prefix_plan does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional


@dataclass
class WhisperWord:
    text: str
    start: float
    end: float


def transcribe_words(audio_path: str, device, language: Optional[str] = None) -> List[WhisperWord]:
    raise RuntimeError(f"Whisper would be loaded to transcribe {audio_path} (test double)")
