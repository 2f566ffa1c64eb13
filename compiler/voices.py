"""A voice is a value: which backend speaks, with which parameters, identified by a hash.

The cast maps every character to exactly one `Voice`; a clip's cache key contains its speakers'
voice keys, so changing a voice re-renders exactly the clips that use it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Voice:
    name: str  # palette or cast name, e.g. "joe-deep"
    backend: str  # backend name, e.g. "embedded", "dia2"
    # Backend-specific settings, e.g. {"pitch_hz": 110, "formant_ratio": 0.97, "tempo": 1.0}.
    # Stored as a sorted tuple so the voice is hashable.
    params: tuple[tuple[str, float | int | str | bool], ...] = ()
    reference: str | None = None  # absolute path to reference audio (Dia2 prefix), inside the project
    transcript: str | None = None  # what the reference says, when known
    # Description for people (`dramac cast`), e.g. "low male".
    description: str = field(default="", compare=False)
    # sha256 of the reference audio: the cache key follows the recording, not its path, so a
    # re-recorded file re-renders and a moved project does not.
    reference_digest: str | None = None
    # "female" or "male" for a palette voice made to sound so; "" where the backend cannot tell (Dia2
    # draws timbre by seed). Automatic casting matches it to a character's likely gender; not part of the key.
    gender: str = field(default="", compare=False)

    def param(self, name: str, default=None):
        for k, v in self.params:
            if k == name:
                return v
        return default

    def with_params(self, **updates) -> "Voice":
        merged = dict(self.params)
        merged.update(updates)
        return Voice(self.name, self.backend, tuple(sorted(merged.items())), self.reference, self.transcript,
                     self.description, self.reference_digest, self.gender)

    @functools.cached_property  # a play asks it thousands of times (every clip's key); the fields are frozen
    def key(self) -> str:
        blob = json.dumps(
            {"backend": self.backend, "params": list(self.params), "reference": self.reference_digest or self.reference,
             "transcript": self.transcript},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_voice(name: str, backend: str, description: str = "", gender: str = "", **params) -> Voice:
    return Voice(name, backend, tuple(sorted(params.items())), description=description, gender=gender)
