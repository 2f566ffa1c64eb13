"""Dia2 render backend: one clip of up to two speakers per `generate()` call, split into per-line takes.

Written against nari-labs/dia2 at 8687268 and tested on that real package (tests/test_dia2_real.py,
a random-weight checkpoint on the CPU). The adapter defuses the runtime's traps (docs/dia2.md):
- every sampling parameter is passed explicitly under Dia2's own override names (unknown keyword
  overrides are silently ignored upstream) and is part of `identity()`, the cache key;
- the dtype is checked at construction ("float16" would only fail at the first generate);
- a voice prefix's frames come on top of the context, past the rotary table: the context is lowered
  by the prefix for the call (`_context_reserved`), so an over-long clip truncates instead of
  crashing (a device-side assert on CUDA), and truncation is caught by counting the word
  timestamps against the words sent, the clip then re-rendered as two halves;
- prefix words whose forced step would fall past the prefix audio are spoken as the clip's first
  words: each prefix gets the trailing silence its words need (`_prefix_file`);
- Whisper is never loaded: `dia2.runtime.voice_clone.transcribe_words` is replaced during the call
  by one that returns the voice's known transcript, and it re-seeds torch afterwards because
  whisper-timestamped would have overwritten the seed;
- the waveform is moved off the GPU to CPU float32 numpy;
- one model, one clip at a time (a lock; `parallel=False`).

A voice without a reference gets one rendered once from a calibration line with a fixed seed and
stored under `<cache>/voices/<voice.key>.wav`, so the character sounds the same in every clip.

Dia2's text form (speaker tags, break tags) and the cutting of a generated clip into per-line takes
are in dia2_takes.py; the planner knows neither.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import ModuleType

import numpy as np

from compiler.backends import BackendUnavailable, Capabilities, Take, Workspace
from compiler.backends.dia2_takes import build_script, spoken_words, spread_words, take_spans, take_words, voiced_bounds
from compiler.diagnostics import CompileError, error
from compiler.plan_types import Clip, PlannedLine
from compiler.settings_schema import Setting, SettingError, Who, check, suggest
from compiler.voices import Voice, file_digest

ADAPTER_VERSION = "1"
SAMPLE_RATE = 24000
FRAME_RATE = 12.5  # Mimi frames per second
CONTEXT_FRAMES = 1500  # the published models' context; the planner sizes clips by it, renders use the model's own
FORCED_STEP_OFFSET = 3  # dia2 runtime/voice_clone.py: a prefix word is forced at its start frame + 3
MAX_REFERENCE_SECONDS = 8.0  # per speaker; two prefixes may take 16 s of the 120 s context
SAFETY_SECONDS = 4.0  # room for pacing the planner's estimate does not foresee
DTYPES = ("auto", "bfloat16", "float32")

# Dia 1 documented these cues; Dia2's code gives them no special handling (unverified whether honoured).
NONVERBAL = frozenset({
    "(laughs)", "(clears throat)", "(sighs)", "(gasps)", "(coughs)", "(singing)", "(sings)",
    "(mumbles)", "(beep)", "(groans)", "(sniffs)", "(claps)", "(screams)", "(inhales)", "(exhales)",
    "(applause)", "(burps)", "(humming)", "(sneezes)", "(chuckle)", "(whistles)",
})

# Override names Dia2's generate() understands; anything else would be dropped without a word.
DIA2_OVERRIDE_KEYS = frozenset({
    "temp_text", "topk_text", "temp_audio", "topk_audio", "cfg_scale", "cfg_filter_k",
    "initial_padding", "use_cuda_graph", "use_torch_compile", "prefix_speaker_1",
    "prefix_speaker_2", "include_prefix",
})

DEFAULT_CALIBRATION = "I have been waiting for you all evening, and now we can finally begin."

INSTALL_HELP = (
    "Dia2 is not on PyPI; install it editable from a clone, without its unpinned dependencies:\n"
    "  pip install 'dramac[dia2]'   # upstream's pinned versions (transformers 4.57.1, huggingface-hub 0.36.0, ...)\n"
    "  pip install 'torch==2.9.1' --index-url https://download.pytorch.org/whl/cu128   # torch for your CUDA\n"
    "  git clone https://github.com/nari-labs/dia2 && pip install --no-deps -e ./dia2\n"
    "A non-editable install (pip install git+..., a built wheel) lacks dia2.core and dia2.runtime. "
    "See docs/dia2.md."
)


class Dia2ConfigError(SettingError):
    """A backend option or a voice setting Dia2 cannot use; the message says which and why."""


def _option(key, kind, default, low=None, high=None, who=Who.SCRIPT, help="", low_open=False, choices=()):
    return Setting("dia2", key, kind, default, low, high, low_open, choices, help=help, who=who, backend="dia2")


# Every [dia2] option, declared once (compiler/settings_schema.py collects them through the registry).
# Sampling defaults are Dia2's GenerationConfig defaults (its CLI says cfg 1.0, its README 6.0); the
# ranges are upstream's own: a temperature of 0 is greedy, a top-k of 0 means no filter.
OPTIONS = (
    _option("repo", "text", "nari-labs/Dia2-2B", who=Who.MACHINE,
            help="A Hugging Face repository id, or a folder (from the project root) holding config.json, "
                 "model.safetensors and the tokenizer files, for weights kept offline."),
    _option("device", "string", "cuda", who=Who.MACHINE, help="The torch device, e.g. \"cuda\", \"cuda:1\", \"cpu\"; not part of the cache key."),
    _option("dtype", "choice", "bfloat16", who=Who.MACHINE, choices=DTYPES,
            help="Weights' precision; \"auto\" is bfloat16 on CUDA, float32 elsewhere."),
    _option("cfg_scale", "number", 2.0, 0.0, low_open=True, help="Classifier-free guidance; 1.0 turns it off (upstream CLI 1.0, GenerationConfig 2.0, README 6.0)."),
    _option("temp_text", "number", 0.6, 0.0, help="Temperature of the text stream; 0 is greedy."),
    _option("topk_text", "integer", 50, 0, help="Top-k of the text stream; 0 means no filter."),
    _option("temp_audio", "number", 0.8, 0.0, help="Temperature of the audio streams; 0 is greedy."),
    _option("topk_audio", "integer", 50, 0, help="Top-k of the audio streams; 0 means no filter."),
    _option("cfg_filter_k", "integer", 50, 0, help="Top-k filter applied with guidance."),
    _option("initial_padding", "integer", 2, 0, help="Frames of padding Dia2 generates before the first word."),
    _option("use_cuda_graph", "boolean", False, who=Who.MACHINE, help="Capture CUDA graphs (faster on a GPU; re-captured every clip)."),
    _option("use_torch_compile", "boolean", False, who=Who.MACHINE, help="torch.compile the model (the first run is slow)."),
    _option("seed", "integer", 0, 0, 2**63 - 1, help="Seed of every generation; part of the cache key."),
)
_OPTION = {s.key: s for s in OPTIONS}
_DEFAULT = {s.key: s.default for s in OPTIONS}


def _voice(key, kind, help, low=None):
    return Setting("cast", key, kind, None, low, help=help, backend="dia2")


VOICE_SETTINGS = (
    _voice("seed", "integer", "The seed a palette-less voice's timbre is drawn with.", 0),
    _voice("calibration", "text", "The line rendered once to fix the voice (its reference), when no reference is given."),
    _voice("reference", "string", "A WAV recording of the voice (path from the project root, at most 8 s); needs `transcript`."),
    _voice("transcript", "text", "What the reference recording says (Whisper is never run)."),
    _voice("description", "string", "A description for people, shown by `dramac cast`."),
)
_VOICE = {s.key: s for s in VOICE_SETTINGS}


@dataclass(frozen=True)
class Sampling:
    """Generation settings. Field names are exactly Dia2's override keywords, so they can be passed
    as `**overrides` without a mapping that could drift (a misspelt key would be ignored upstream).
    Defaults and ranges are the OPTIONS declarations."""

    cfg_scale: float = _DEFAULT["cfg_scale"]
    temp_text: float = _DEFAULT["temp_text"]
    topk_text: int = _DEFAULT["topk_text"]
    temp_audio: float = _DEFAULT["temp_audio"]
    topk_audio: int = _DEFAULT["topk_audio"]
    cfg_filter_k: int = _DEFAULT["cfg_filter_k"]
    initial_padding: int = _DEFAULT["initial_padding"]
    use_cuda_graph: bool = _DEFAULT["use_cuda_graph"]
    use_torch_compile: bool = _DEFAULT["use_torch_compile"]

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, check(_OPTION[f.name], getattr(self, f.name), f.name, Dia2ConfigError))

    def overrides(self) -> dict:
        return asdict(self)


@dataclass
class _Runtime:
    dia2: ModuleType
    voice_clone: ModuleType
    torch: ModuleType


def load_runtime() -> _Runtime:
    """Import dia2 and check that the pieces the adapter uses exist; BackendUnavailable otherwise."""
    try:
        dia2 = importlib.import_module("dia2")
        voice_clone = importlib.import_module("dia2.runtime.voice_clone")
        importlib.import_module("dia2.core")
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == "dia2":
            raise BackendUnavailable(f"the Dia2 runtime is not installed.\n{INSTALL_HELP}") from None
        if missing.startswith("dia2."):
            raise BackendUnavailable(
                f"the installed dia2 package is incomplete ({missing} is missing): this is the known "
                f"broken non-editable install.\n{INSTALL_HELP}"
            ) from None
        raise BackendUnavailable(f"dia2 is installed but its dependency '{missing}' is missing.\n{INSTALL_HELP}") from None
    except ImportError as exc:
        raise BackendUnavailable(f"dia2 failed to import: {exc}\n{INSTALL_HELP}") from None
    if not hasattr(dia2, "Dia2") or not callable(getattr(voice_clone, "transcribe_words", None)):
        raise BackendUnavailable(
            "the installed dia2 does not provide Dia2 and dia2.runtime.voice_clone.transcribe_words; "
            f"this adapter was written against nari-labs/dia2 at 8687268f.\n{INSTALL_HELP}"
        )
    try:
        torch = importlib.import_module("torch")
    except ModuleNotFoundError:
        raise BackendUnavailable(f"dia2 needs torch, which is missing.\n{INSTALL_HELP}") from None
    return _Runtime(dia2, voice_clone, torch)


@dataclass(frozen=True)
class _Generated:
    wave: np.ndarray  # mono float32 on the CPU at SAMPLE_RATE
    timestamps: list[tuple[str, float]]


class Dia2Backend:
    name = "dia2"
    options = OPTIONS
    voice_settings = VOICE_SETTINGS
    sample_rate = SAMPLE_RATE
    capabilities = Capabilities(
        max_clip_seconds=CONTEXT_FRAMES / FRAME_RATE - 2 * MAX_REFERENCE_SECONDS - SAFETY_SECONDS,
        min_clip_seconds=5.0,
        nonverbal=NONVERBAL,
        max_speakers=2,
        parallel=False,
    )

    def __init__(
        self,
        *,
        repo: str = _DEFAULT["repo"],
        device: str = _DEFAULT["device"],
        dtype: str = _DEFAULT["dtype"],
        cfg_scale: float = _DEFAULT["cfg_scale"],
        temp_text: float = _DEFAULT["temp_text"],
        topk_text: int = _DEFAULT["topk_text"],
        temp_audio: float = _DEFAULT["temp_audio"],
        topk_audio: int = _DEFAULT["topk_audio"],
        cfg_filter_k: int = _DEFAULT["cfg_filter_k"],
        initial_padding: int = _DEFAULT["initial_padding"],
        use_cuda_graph: bool = _DEFAULT["use_cuda_graph"],
        use_torch_compile: bool = _DEFAULT["use_torch_compile"],
        seed: int = _DEFAULT["seed"],
        workspace: Workspace | None = None,
    ):
        """`repo`: a Hugging Face repository id, or a folder (relative to the project root) holding
        config.json, model.safetensors and the tokenizer files, for weights kept offline."""
        repo, device, dtype, seed = (check(_OPTION[k], v, k, Dia2ConfigError)
                                     for k, v in (("repo", repo), ("device", device), ("dtype", dtype), ("seed", seed)))
        workspace = workspace or Workspace(str(Path.cwd()), str(Path.cwd() / ".dramac-cache"))
        self.root = Path(workspace.root).resolve()
        self.cache_dir = Path(workspace.cache_dir).resolve()
        self.repo = repo
        self.device = device
        self.dtype = dtype
        self.sampling = Sampling(cfg_scale, temp_text, topk_text, temp_audio, topk_audio, cfg_filter_k,
                                 initial_padding, use_cuda_graph, use_torch_compile)
        self.seed = seed
        self._runtime: _Runtime | None = None
        self._model = None
        self._lock = threading.Lock()  # Dia2 is not thread-safe; one clip at a time
        self._word_times: dict[tuple[str, float], list[tuple[str, float, float]]] = {}
        self._prefixes: dict[tuple[str, float], str] = {}

    # ---- protocol -------------------------------------------------------------------------------

    def palette(self) -> list[Voice]:
        return [
            Voice(name, "dia2", (("calibration", line), ("seed", seed)), description=f"{desc} (timbre drawn by seed {seed})")
            for name, seed, line, desc in _PALETTE
        ]

    def identity(self) -> str:
        params = " ".join(f"{k}={v}" for k, v in self.sampling.overrides().items())
        return f"dia2 adapter={ADAPTER_VERSION} repo={self.repo} dtype={self.effective_dtype} seed={self.seed} {params}"

    @property
    def effective_dtype(self) -> str:
        # "auto" means bf16 on CUDA, fp32 elsewhere; bf16 off CUDA computes in fp32 anyway.
        on_cuda = self.device.startswith("cuda")
        if self.dtype == "auto":
            return "bfloat16" if on_cuda else "float32"
        return self.dtype if on_cuda else "float32"

    def check(self) -> None:
        """Fail early, once for the build (BackendUnavailable) when the runtime is missing; loads no weights."""
        self._load()

    def render(self, clip: Clip) -> list[np.ndarray]:
        return [take.audio for take in self.render_timed(clip)]

    def render_timed(self, clip: Clip) -> list[Take]:
        """The clip's takes, each with the times Dia2 gave its words."""
        if len(clip.speakers) > 2:
            third = next(l for l in clip.lines if l.speaker == clip.speakers[2])
            raise CompileError(error("Dia2 renders at most two speakers per clip", third.span))
        rt = self._load()
        with self._lock:
            self._ensure_model(rt)  # its context length sizes the clip
        voice_of = {s: self.with_reference(v) for s, v in zip(clip.speakers, clip.voices)}
        return self._render_lines(tuple(clip.lines), voice_of, clip.est_seconds)

    def context_seconds(self) -> float:
        """The loaded model's context (its config's max_context_steps), prefix frames included."""
        rt = self._load()
        with self._lock:
            model = self._ensure_model(rt)
        return int(model.max_context_steps) / FRAME_RATE

    # ---- voices ---------------------------------------------------------------------------------

    def voice_from_settings(self, settings: dict, palette: list[Voice] | None = None) -> Voice:
        """A `[cast.NAME]` table → Voice. Keys: voice (palette name), seed, calibration, reference
        (WAV path inside the project), transcript, description. Raises ValueError with a message."""
        known = {"voice", *_VOICE}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise Dia2ConfigError(f"unknown Dia2 voice setting(s) {', '.join(unknown)}{suggest(unknown[0], known)}", unknown[0])
        settings = {k: v if k == "voice" else check(_VOICE[k], v, k, Dia2ConfigError) for k, v in settings.items()}
        pal = palette if palette is not None else self.palette()
        base = Voice("custom", "dia2")
        if "voice" in settings:
            match = [v for v in pal if v.name == settings["voice"]]
            if not match:
                raise Dia2ConfigError(f"unknown voice '{settings['voice']}'; the Dia2 palette has "
                                      f"{', '.join(sorted(v.name for v in pal))}", "voice", at_value=True)
            base = match[0]
        params = dict(base.params)
        if "seed" in settings:
            params["seed"] = settings["seed"]
        if "calibration" in settings:
            if not spoken_words(settings["calibration"]):
                raise Dia2ConfigError("calibration must be a line of words to say", "calibration")
            params["calibration"] = settings["calibration"]
        reference = transcript = None
        if "reference" in settings:
            reference = str(self._resolve_reference(str(settings["reference"])))
            transcript = settings.get("transcript")
            if not isinstance(transcript, str) or not transcript.split():
                raise Dia2ConfigError("a reference needs its transcript (what the recording says), so Whisper is never run")
            params = {}
        elif "transcript" in settings:
            raise Dia2ConfigError("transcript given without a reference")
        name = base.name if base.name != "custom" else (Path(reference).stem if reference else f"seed-{params.get('seed', 0)}")
        voice = Voice(name, "dia2", tuple(sorted(params.items())), reference, transcript,
                      str(settings.get("description", base.description)))
        if reference:
            self._check_reference(voice)
            voice = dataclasses.replace(voice, reference_digest=file_digest(reference))
        return voice

    def with_reference(self, voice: Voice) -> Voice:
        """The voice with a usable prefix: its own reference (checked) or its cached calibration."""
        if voice.reference:
            self._check_reference(voice)
            return voice
        return self.ensure_reference(voice)

    def ensure_reference(self, voice: Voice) -> Voice:
        """Render the voice's calibration line once with its fixed seed and store it as
        `<cache_dir>/voices/<voice.key>.wav` (+ .json with transcript and word times); later calls and
        later builds reuse the file, so the voice never drifts. Returns the voice with reference set."""
        if voice.reference:
            self._check_reference(voice)
            return voice
        folder = self.cache_dir / "voices"
        wav_path, meta_path = self._calibration_files(voice)
        line = str(voice.param("calibration") or DEFAULT_CALIBRATION)
        if self._calibrated(voice):
            return self._referenced(voice, wav_path, line)
        seed = voice_seed(voice)
        out = self._generate(f"[S1] {line}", (), seed)
        sent = spoken_words(line)
        if len(out.timestamps) != len(sent):
            raise Dia2ConfigError(f"the calibration line of voice '{voice.name}' came out incomplete "
                                  f"({len(out.timestamps)} of {len(sent)} words); choose a shorter line")
        start, end = voiced_bounds(out.wave, SAMPLE_RATE)
        wave = out.wave[start:end]
        seconds = len(wave) / SAMPLE_RATE
        if seconds > MAX_REFERENCE_SECONDS:
            raise Dia2ConfigError(f"the calibration of voice '{voice.name}' lasts {seconds:.1f} s, over the "
                                  f"{MAX_REFERENCE_SECONDS:g} s a prefix may take; choose a shorter calibration line")
        offset = start / SAMPLE_RATE
        starts = [max(0.0, t - offset) for _, t in out.timestamps]
        ends = starts[1:] + [seconds]
        words = [[w, round(s, 3), round(e, 3)] for w, s, e in zip(line.split(), starts, ends)] \
            if len(line.split()) == len(starts) else []
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"transcript": line, "seed": seed, "words": words, "rendered_by": self.identity()}
        _atomic_write(meta_path, lambda p: Path(p).write_text(json.dumps(meta, indent=1)))
        _atomic_write(wav_path, lambda p: _write_wav(p, wave))
        return self._referenced(voice, wav_path, line)

    def _calibration_files(self, voice: Voice) -> tuple[Path, Path]:
        folder = self.cache_dir / "voices"
        return folder / f"{voice.key}.wav", folder / f"{voice.key}.json"

    def _calibrated(self, voice: Voice) -> bool:
        """Whether the cache holds this voice's calibration, made from its current line."""
        wav_path, meta_path = self._calibration_files(voice)
        if not (wav_path.is_file() and meta_path.is_file()):
            return False
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return False
        return meta.get("transcript") == str(voice.param("calibration") or DEFAULT_CALIBRATION)

    # ---- the render farm (compiler/cluster.py) ---------------------------------------------------

    def cluster_resources(self) -> dict[str, float]:
        """One GPU per worker on CUDA (Ray sets CUDA_VISIBLE_DEVICES, so "cuda" is that GPU); else a CPU."""
        return {"num_gpus": 1} if self.device.startswith("cuda") else {"num_cpus": 1}

    def voices_to_prepare(self, clips: list[Clip]) -> list[Voice]:
        """Voices of `clips` without a reference whose calibration is not in the cache yet: a farm
        calibrates each once, before the clips, instead of every worker rendering its own."""
        found: dict[str, Voice] = {}
        for clip in clips:
            for voice in clip.voices:
                if not voice.reference and voice.key not in found and not self._calibrated(voice):
                    found[voice.key] = voice
        return list(found.values())

    def prepare_voice(self, voice: Voice) -> dict[str, bytes]:
        """Calibrate `voice` (ensure_reference) and return its files, relative to the cache folder."""
        self.ensure_reference(voice)
        return {str(path.relative_to(self.cache_dir)): path.read_bytes() for path in self._calibration_files(voice)}

    @staticmethod
    def _referenced(voice: Voice, wav_path: Path, transcript: str) -> Voice:
        return Voice(voice.name, voice.backend, voice.params, str(wav_path), transcript, voice.description)

    def _resolve_reference(self, relative: str) -> Path:
        from compiler.project import Project, resolve_inside

        return resolve_inside(Project(self.root), relative)  # PathEscapes is a ValueError

    def _check_reference(self, voice: Voice) -> None:
        path = Path(voice.reference)
        if not path.is_file():
            raise Dia2ConfigError(f"voice '{voice.name}': reference {path} does not exist")
        if not voice.transcript or not voice.transcript.split():
            raise Dia2ConfigError(f"voice '{voice.name}': the reference has no transcript; give one so Whisper is never run")
        seconds = _duration(path)
        if seconds > MAX_REFERENCE_SECONDS:
            raise Dia2ConfigError(f"voice '{voice.name}': reference lasts {seconds:.1f} s; at most "
                                  f"{MAX_REFERENCE_SECONDS:g} s fit beside a clip in Dia2's 120 s context")

    # ---- rendering ------------------------------------------------------------------------------

    def _render_lines(self, lines: tuple[PlannedLine, ...], voice_of: dict[str, Voice],
                      est_seconds: float) -> list[Take]:
        speakers = tuple(dict.fromkeys(line.speaker for line in lines))
        counts = [len(spoken_words(line.spoken)) for line in lines]
        if sum(counts) == 0:
            return [Take(np.zeros(0, dtype=np.float32)) for _ in lines]
        voices = tuple(voice_of[s] for s in speakers)
        prefix_seconds = sum(_duration(Path(self._prefix_file(v))) for v in voices)
        budget = self._context_seconds() - SAFETY_SECONDS
        if len(lines) > 1 and prefix_seconds + est_seconds > budget:
            return self._render_halves(lines, counts, voice_of, est_seconds)
        from compiler.takes import take_seed

        # Another take of a line draws the whole generation with another seed (compiler/takes.py).
        out = self._generate(build_script(lines, speakers), voices, take_seed(self.seed, [line.take for line in lines]))
        sent = sum(counts)
        if len(out.timestamps) > sent:
            raise RuntimeError(f"Dia2 returned {len(out.timestamps)} word timestamps for {sent} words sent; "
                               "this dia2 version is not the one the adapter was written for")
        if len(out.timestamps) < sent:  # truncated at the context limit
            if len(lines) == 1:
                raise CompileError(error(
                    f"this line is too long for one Dia2 generation: {len(out.timestamps)} of {sent} words fit "
                    f"in the {self._context_seconds():.0f} s context beside a {prefix_seconds:.1f} s voice prefix",
                    lines[0].span, "help: split the speech into shorter lines"))
            return self._render_halves(lines, counts, voice_of, est_seconds)
        starts = [t for _, t in out.timestamps]
        takes, k = [], 0
        for line, count, (a, b) in zip(lines, counts, take_spans(out.wave, SAMPLE_RATE, starts, counts)):
            audio = np.ascontiguousarray(out.wave[a:b], dtype=np.float32)
            takes.append(Take(audio, take_words(spoken_words(line.spoken), starts[k: k + count], (a, b), SAMPLE_RATE)))
            k += count
        return takes

    def _render_halves(self, lines, counts, voice_of, est_seconds) -> list[Take]:
        total = sum(counts)
        cut = _balanced_cut(counts)
        first_share = sum(counts[:cut]) / total if total else 0.5
        return (self._render_lines(lines[:cut], voice_of, est_seconds * first_share)
                + self._render_lines(lines[cut:], voice_of, est_seconds * (1 - first_share)))

    def _generate(self, script: str, voices: tuple[Voice, ...], seed: int) -> _Generated:
        rt = self._load()
        prefixes = [self._prefix_file(v) for v in voices]
        known = {os.path.realpath(p): self._reference_words(v) for p, v in zip(prefixes, voices)}
        vc = rt.voice_clone
        with self._lock:
            model = self._ensure_model(rt)
            context = _runtime_context(model)
            original = vc.transcribe_words
            vc.transcribe_words = _known_transcriber(known, seed, rt)
            try:
                with _context_reserved(context, _prefix_frames(context, prefixes)):
                    rt.torch.manual_seed(seed)
                    result = model.generate(
                        script,
                        prefix_speaker_1=prefixes[0] if prefixes else None,
                        prefix_speaker_2=prefixes[1] if len(prefixes) > 1 else None,
                        include_prefix=False,
                        verbose=False,
                        **self.sampling.overrides(),
                    )
            finally:
                vc.transcribe_words = original
        wave = to_numpy(result.waveform)
        if int(result.sample_rate) != SAMPLE_RATE:
            from compiler.sounds import resample

            wave = resample(wave, int(result.sample_rate), SAMPLE_RATE)
        return _Generated(wave, [(str(w), float(t)) for w, t in result.timestamps])

    def _prefix_file(self, voice: Voice) -> str:
        """The voice's reference as Dia2 should get it: with enough trailing silence that every
        transcript word's forced step falls inside the prefix audio. Dia2 forces each prefix word at
        its start frame + 3 and only during the prefix; a word forced later stays queued and is
        spoken as the clip's first word (with timestamps that still look right). A reference that
        already has the room is used as it is; otherwise a padded copy is kept in the cache."""
        path = Path(voice.reference)
        key = (str(path), path.stat().st_mtime)
        if key in self._prefixes:
            return self._prefixes[key]
        rt = self._load()
        with self._lock:
            context = _runtime_context(self._ensure_model(rt))
        audio, rate = _read_mono(path)
        spf = context.mimi.samples_per_frame * rate / context.mimi.sample_rate  # samples per frame at `rate`
        have = math.ceil(len(audio) / spf)
        need = _frames_for_words(rt, context, self._reference_words(voice))
        chosen = str(path)
        if need > have:
            padded = np.concatenate([audio, np.zeros(int(math.ceil(need * spf)) - len(audio), dtype=np.float32)])
            target = self.cache_dir / "voices" / "padded" / f"{file_digest(str(path))[:24]}-{need}.wav"
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                _atomic_write(target, lambda p: _write_wav(p, padded, rate))
            chosen = str(target)
        self._prefixes[key] = chosen
        return chosen

    def _reference_words(self, voice: Voice) -> list[tuple[str, float, float]]:
        """Word times of the reference: stored ones for calibrations, else the transcript's words
        spread over the voiced part of the recording in proportion to their length."""
        path = Path(voice.reference)
        key = (str(path), path.stat().st_mtime)
        if key in self._word_times:
            return self._word_times[key]
        words = voice.transcript.split()
        stored = []
        meta_path = path.with_suffix(".json")
        if meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text())
                if meta.get("rendered_by") and meta.get("transcript") == voice.transcript:
                    stored = [(str(w), float(s), float(e)) for w, s, e in meta.get("words", [])]
            except (OSError, ValueError, TypeError):
                stored = []
        if len(stored) != len(words):
            mono, sr = _read_mono(path)
            start, end = voiced_bounds(mono, sr)
            stored = spread_words(words, start / sr, max(end, start + 1) / sr)
        self._word_times[key] = stored
        return stored

    def _context_seconds(self) -> float:
        return int(self._model.max_context_steps) / FRAME_RATE

    def _load(self) -> _Runtime:
        if self._runtime is None:
            self._runtime = load_runtime()
        return self._runtime

    def _ensure_model(self, rt: _Runtime):
        if self._model is None:
            # Reading max_context_steps loads config, weights, tokenizer and codec, so a missing
            # download, GPU or driver shows up here as one clear error, not mid-render.
            try:
                model = self._open_model(rt)
                int(model.max_context_steps)
            except Exception as exc:  # noqa: BLE001 - hub, CUDA and torch raise many kinds
                raise BackendUnavailable(f"could not load Dia2 model {self.repo} on {self.device} ({self.dtype}): "
                                         f"{type(exc).__name__}: {exc}") from exc
            self._model = model
        return self._model

    def _open_model(self, rt: _Runtime):
        folder = self.root / self.repo
        if folder.is_dir():  # weights kept in a folder: config.json, model.safetensors, tokenizer files
            return rt.dia2.Dia2.from_local(folder / "config.json", folder / "model.safetensors",
                                           tokenizer_id=str(folder), device=self.device, dtype=self.dtype)
        return rt.dia2.Dia2.from_repo(self.repo, device=self.device, dtype=self.dtype)


# ---- helpers ------------------------------------------------------------------------------------

def _runtime_context(model):
    """The loaded runtime of a Dia2 instance (dia2 8687268: `Dia2._ensure_runtime()`). The adapter
    needs two things the public API lacks: the tokenizer, to place prefix words exactly as Dia2 will,
    and the runtime config, to keep a prefixed generation inside the rotary table."""
    ensure = getattr(model, "_ensure_runtime", None)
    if not callable(ensure):
        raise BackendUnavailable("this dia2 has no Dia2._ensure_runtime(); the adapter was written against "
                                 f"nari-labs/dia2 at 8687268f.\n{INSTALL_HELP}")
    return ensure()


def _prefix_frames(context, prefixes: list[str]) -> int:
    """Steps a prefix occupies before the script starts: Mimi frames of each prefix (upper bound:
    one partial frame each) plus the largest codebook delay, as dia2's build_initial_state counts."""
    if not prefixes:
        return 0
    frames = 0
    for path in prefixes:
        audio, rate = _read_mono(Path(path))
        frames += math.ceil(len(audio) * context.mimi.sample_rate / rate / context.mimi.samples_per_frame) + 1
    return frames + max(context.audio_delays, default=0)


@contextmanager
def _context_reserved(context, frames: int):
    """Dia2 sizes its rotary table to max_context_steps, but with a prefix it runs up to
    max_context_steps steps after the prefix: past the table it raises IndexError (on CUDA a
    device-side assert that poisons the process). Lowering max_context_steps by the prefix's frames
    for this call makes an over-long script truncate instead, which the word count detects."""
    if frames <= 0:
        yield
        return
    original = context.config
    limit = original.runtime.max_context_steps - frames
    if limit < FRAME_RATE:
        raise Dia2ConfigError(f"the voice prefixes take {frames} of the model's {original.runtime.max_context_steps} "
                              "context frames; use shorter references")
    context.config = dataclasses.replace(original, runtime=dataclasses.replace(original.runtime, max_context_steps=limit))
    try:
        yield
    finally:
        context.config = original


def _frames_for_words(rt: _Runtime, context, words: list[tuple[str, float, float]]) -> int:
    """Prefix frames needed so every word's forced step lands inside the prefix with a frame to
    spare, computed by dia2's own words_to_entries with the loaded tokenizer (subword counts push
    later words back). The speaker token does not change the steps' spacing beyond its own token."""
    whisper_word = getattr(rt.voice_clone, "WhisperWord", _Word)
    _, steps = rt.voice_clone.words_to_entries(
        words=[whisper_word(text=w, start=s, end=e) for w, s, e in words], tokenizer=context.tokenizer,
        speaker_token=context.constants.spk1, frame_rate=context.frame_rate)
    return (max(steps) + FORCED_STEP_OFFSET + 2) if steps else 0


def _read_mono(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return audio.mean(axis=1), int(rate)


def _known_transcriber(known: dict[str, list[tuple[str, float, float]]], seed: int, rt: _Runtime):
    """Stand-in for dia2.runtime.voice_clone.transcribe_words(path, device, language=None)."""
    word_cls = getattr(rt.voice_clone, "WhisperWord", None)

    def transcribe(audio_path, device=None, language=None):
        key = os.path.realpath(str(audio_path))
        if key not in known:
            raise RuntimeError(f"dramac has no transcript for prefix {audio_path}; refusing to load Whisper")
        words = [word_cls(text=w, start=s, end=e) if word_cls else _Word(w, s, e) for w, s, e in known[key]]
        # whisper-timestamped would have re-seeded torch here; seed again so takes are reproducible.
        rt.torch.manual_seed(seed)
        return words

    return transcribe


@dataclass
class _Word:
    text: str
    start: float
    end: float


def voice_seed(voice: Voice) -> int:
    seed = voice.param("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    return int(voice.key[:8], 16)  # stable for voices that name no seed


def to_numpy(waveform) -> np.ndarray:
    """Dia2 returns the waveform on the model device, maybe in bf16: detach, float32, CPU, 1-D."""
    t = waveform.detach() if hasattr(waveform, "detach") else waveform
    if hasattr(t, "float"):
        t = t.float()
    if hasattr(t, "cpu"):
        t = t.cpu()
    arr = np.asarray(t.numpy() if hasattr(t, "numpy") else t, dtype=np.float32).reshape(-1)
    return np.clip(np.nan_to_num(arr), -1.0, 1.0)


def _balanced_cut(counts: list[int]) -> int:
    """Index splitting lines into two non-empty halves with word counts as equal as possible."""
    total, best, best_gap, acc = sum(counts), 1, None, 0
    for i in range(1, len(counts)):
        acc += counts[i - 1]
        gap = abs(total - 2 * acc)
        if best_gap is None or gap < best_gap:
            best, best_gap = i, gap
    return best


def _duration(path: Path) -> float:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except RuntimeError as exc:
        raise Dia2ConfigError(f"cannot read reference {path}: {exc}") from None
    return info.frames / float(info.samplerate)


def _write_wav(path: str, wave: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    import soundfile as sf

    sf.write(path, wave, rate, subtype="PCM_16", format="WAV")


def _atomic_write(target: Path, write) -> None:
    """Write through `write(temporary_path)`, then rename: readers never see half a file."""
    from compiler.atomic import atomic_path

    with atomic_path(target) as tmp:
        write(tmp)


# Calibration lines set a register the model may carry into the character's clips; the timbre
# itself is whatever the seed draws, so descriptions name only the register.
_PALETTE = (
    ("dia2-calm", 1103, "The evening was quiet, and the old house settled into the dark.", "calm, measured"),
    ("dia2-brisk", 2207, "Right, listen carefully, we have ten minutes and not one more.", "brisk, businesslike"),
    ("dia2-warm", 3301, "Come in and sit by the fire, and tell me everything.", "warm, friendly"),
    ("dia2-wry", 4409, "Well, that went about as well as anyone could have expected.", "wry, dry"),
    ("dia2-earnest", 5503, "I promise you, I checked every single door before I left.", "earnest, sincere"),
    ("dia2-gruff", 6607, "Keep your voice down and your hands where I can see them.", "gruff, guarded"),
    ("dia2-bright", 7703, "Oh, good morning! I brought coffee, and you will love this news.", "bright, upbeat"),
    ("dia2-weary", 8803, "It has been a very long week, and I just want to sleep.", "weary, tired"),
    ("dia2-urgent", 9907, "We have to go now, right now, before they find the car.", "urgent, tense"),
    ("dia2-gentle", 10009, "It is all right, nobody is angry with you, I promise.", "gentle, soft"),
)
