"""Word times from the backend to the timeline: the embedded voice's times against the audio itself,
the clip cache keeping them, the stitcher moving them with their take (compiler/words.py)."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import backends, render
from compiler.backends.embedded import EmbeddedBackend, palette
from compiler.diagnostics import Span
from compiler.plan_types import Clip, Plan, PlannedLine, SceneBreak
from compiler.render import ClipCache, render_plan
from compiler.stitch import build_timeline
from compiler.words import Word, checked

SR = 22050


def onsets(audio: np.ndarray, sr: int, floor_db: float = -35.0) -> list[float]:
    """Where sound starts after at least 40 ms below `floor_db` dBFS (5 ms frames)."""
    frame = int(0.005 * sr)
    seg = audio[: len(audio) // frame * frame].reshape(-1, frame).astype(np.float64)
    loud = 20 * np.log10(np.sqrt((seg ** 2).mean(axis=1)) + 1e-12) > floor_db
    return [k * 0.005 for k in range(8, len(loud)) if loud[k] and not loud[k - 8: k].any()]


@pytest.mark.parametrize("voice", [palette()[0], palette()[1].with_params(tempo=1.25)], ids=["warm-male", "female-fast"])
def test_embedded_word_times_start_where_the_audio_does(voice):
    """Sentences that end in a pause: every word after a pause starts within 60 ms of a speech onset
    measured on the take, through Praat's pitch change, time-stretch and the trim."""
    text = "Stop. Listen now. Somebody is knocking. Open the door!"
    take = EmbeddedBackend().speak_timed(text, voice)
    assert [w.text for w in take.words] == text.split()
    seconds = len(take.audio) / SR
    assert all(0 <= w.start <= w.end <= seconds for w in take.words)
    assert [w.start for w in take.words] == sorted(w.start for w in take.words)
    heard = onsets(take.audio, SR)
    after_pause = [w for prev, w in zip(take.words, take.words[1:]) if prev.text.endswith((".", "!"))]
    assert len(after_pause) == 3
    for w in after_pause:
        nearest = min(heard, key=lambda t: abs(t - w.start))
        assert abs(nearest - w.start) <= 0.06, (w, nearest)
    # The end of the last word is the end of the speech: within 60 ms of the take's end.
    assert take.words[-1].end == pytest.approx(seconds, abs=0.06)


def test_words_that_do_not_pair_with_phonemes_are_not_guessed():
    backend = EmbeddedBackend()
    take = backend.speak_timed("In 1945.", palette()[0])  # espeak says one written word as two
    assert take.audio.size and take.words == ()
    assert np.array_equal(backend.speak("In 1945.", palette()[0]), take.audio)
    # A text word espeak does not say ("—") joins its neighbour's phoneme word and gets no time.
    assert [w.text for w in backend.speak_timed("Well — maybe.", palette()[0]).words] == ["Well", "maybe."]


def line(speaker: str, text: str, n: int) -> PlannedLine:
    return PlannedLine(speaker, text, text.lower(), Span("p.fountain", n, 1, n, 10))


def test_the_cache_keeps_word_times_and_its_digest_covers_them(tmp_path):
    clip = Clip(0, ("ANNA",), (palette()[0],), (line("ANNA", "Good evening.", 1), line("ANNA", "Anyone?", 2)), 2.0)
    cache = ClipCache(tmp_path)
    audio = [np.full(SR, 0.1, np.float32), np.full(SR // 2, 0.1, np.float32)]
    words = [(Word("good", 0.02, 0.4), Word("evening.", 0.45, 0.98)), ()]
    cache.put("id", clip, audio, SR, words)
    takes, got = cache.read("id", clip, SR)
    assert got == [(Word("good", 0.02, 0.4), Word("evening.", 0.45, 0.98)), ()]
    assert all(np.array_equal(a, b) for a, b in zip(takes, render.quantize(audio)))
    # A time edited inside the entry no longer matches its digest: the entry is a miss.
    path = cache.path(cache.key("id", clip))
    blob = path.read_bytes()
    assert blob.count(b"0.45") == 1 or blob.count("0.45".encode("utf-32-le")) == 1
    path.write_bytes(blob.replace("0.45".encode("utf-32-le"), "0.55".encode("utf-32-le")))
    assert cache.read("id", clip, SR) is None


def test_render_plan_and_the_timeline_carry_the_embedded_word_times(tmp_path):
    clip = Clip(0, ("ANNA", "BEN"), tuple(palette()[:2]),
                (line("ANNA", "Where were you?", 1), line("BEN", "Out at the harbour.", 2)), 3.0)
    fresh = render_plan([clip], "embedded", {}, ClipCache(tmp_path), jobs=1)
    again = render_plan([clip], "embedded", {}, ClipCache(tmp_path), jobs=1)
    assert again.cached == 1 and again.takes.words == fresh.takes.words
    words = fresh.takes.words[clip.key]
    assert [w.text for w in words[0]] == "where were you?".split()
    plan = Plan("p.fountain", "T", (SceneBreak(0), clip))
    tl = build_timeline(plan, fresh.takes, SR, words=fresh.takes.words)
    for placed, timed in zip(tl.lines, words):
        assert placed.words == tuple(w.shifted(placed.start) for w in timed)
        assert placed.start <= placed.words[0].start and placed.words[-1].end <= placed.end + 1e-9


def test_bad_word_times_from_a_backend_are_dropped_whole():
    good = (Word("a", 0.0, 0.2), Word("b", 0.3, 0.5))
    assert checked(good, 1.0) == good
    assert checked((Word("a", 0.3, 0.5), Word("b", 0.1, 0.2)), 1.0) == ()  # going back
    assert checked((Word("a", 0.0, float("nan")),), 1.0) == ()
    assert checked((Word("a", 0.0, 2.0),), 1.0) == ()  # past the take
    assert checked((Word("", 0.0, 0.1),), 1.0) == ()
    assert checked(None, 1.0) == ()


class PlainEmbedded:
    """The embedded voice behind a backend that has only render(), as a backend without word times has."""

    name = "plain-embedded"

    def __init__(self, workspace=None):
        self._inner = EmbeddedBackend()
        self.sample_rate, self.capabilities = self._inner.sample_rate, self._inner.capabilities

    def identity(self) -> str:
        return "plain;" + self._inner.identity()

    def render(self, clip):
        return self._inner.render(clip)


def test_a_backend_without_render_timed_renders_without_word_times(tmp_path, monkeypatch):
    monkeypatch.setitem(backends._REGISTRY, "plain-embedded", "test_word_times:PlainEmbedded")
    clip = Clip(0, ("ANNA",), (palette()[0],), (line("ANNA", "Hello there.", 1),), 1.0)
    plain = render_plan([clip], "plain-embedded", {}, ClipCache(tmp_path), jobs=1)
    timed = render_plan([clip], "embedded", {}, ClipCache(tmp_path), jobs=1)
    assert plain.takes.words == {} and [w.text for w in timed.takes.words[clip.key][0]] == ["hello", "there."]
    assert np.array_equal(plain.takes[clip.key][0], timed.takes[clip.key][0])  # the same audio either way
    tl = build_timeline(Plan("p.fountain", "T", (SceneBreak(0), clip)), plain.takes, SR, words=plain.takes.words)
    assert tl.lines[0].words == ()


def test_words_espeak_says_as_one_keep_the_first_words_time():
    """espeak says "I am" as one phoneme word: "I" gets that word's time, "am" none; the rest pair one to one."""
    take = EmbeddedBackend().speak_timed("Captain. I am ready when you are.", palette()[0])
    assert [w.text for w in take.words] == ["Captain.", "I", "ready", "when", "you", "are."]
    starts = [w.start for w in take.words]
    assert starts == sorted(starts) and take.words[1].end <= take.words[2].start + 1e-9
