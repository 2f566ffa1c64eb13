"""The render stage: cache hits and misses, atomic entries, parallel workers, identical audio."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from compiler.backends.embedded import palette
from compiler.diagnostics import CompileError, Span
from compiler.plan_types import Clip, PlannedLine
from compiler import backends, render
from compiler.render import CACHE_DIR_NAME, ClipCache, RenderResult, quantize, render_plan

VOICES = palette()


def clip(n: int, first: str, second: str = "I see.", voices=(VOICES[0], VOICES[1])) -> Clip:
    span = Span("play.fountain", n, 1, n, 20)
    lines = (PlannedLine("ANNA", first, first, span), PlannedLine("BEN", second, second, span))
    return Clip(0, ("ANNA", "BEN"), voices, lines, est_seconds=2.5)


CLIPS = [clip(i, f"This is clip number {i}.") for i in range(1, 5)]


def entries(cache: ClipCache) -> list[Path]:
    return sorted(cache.directory.glob("??/*.npz"))


def same_audio(a: RenderResult, b: RenderResult) -> bool:
    return a.takes.keys() == b.takes.keys() and all(
        len(a.takes[k]) == len(b.takes[k]) and all(np.array_equal(x, y) for x, y in zip(a.takes[k], b.takes[k]))
        for k in a.takes
    )


@pytest.fixture(scope="module")
def first_build(tmp_path_factory):
    """CLIPS rendered once, in-process, into a fresh cache; later tests copy this cache."""
    cache = ClipCache(tmp_path_factory.mktemp("cache") / CACHE_DIR_NAME)
    seen = []
    result = render_plan(CLIPS, "embedded", {}, cache, jobs=1, on_clip=lambda c, hit: seen.append((c.key, hit)))
    return cache, result, seen


def test_first_build_renders_everything_and_reports_each_clip(first_build):
    cache, result, seen = first_build
    assert (result.rendered, result.cached) == (len(CLIPS), 0)
    assert result.sample_rate == 22050 and result.seconds > 0
    assert seen == [(c.key, False) for c in CLIPS]
    assert len(entries(cache)) == len(CLIPS)
    for c in CLIPS:
        takes = result.takes[c.key]
        assert len(takes) == 2 and all(t.dtype == np.float32 and t.ndim == 1 and t.size > 2000 for t in takes)
    # The cache directory keeps itself out of git.
    assert (cache.directory / ".gitignore").read_text().strip() == "*"


def test_takes_are_held_as_16_bit_and_given_as_the_cached_float32(first_build, tmp_path):
    """An hour of takes must not be held as float32 (320 MB) while the mix is assembled: they are
    kept as the cache stores them, and handed out as exactly the samples a cache hit reads."""
    cache, result, _ = first_build
    samples = sum(len(t) for c in CLIPS for t in result.takes[c.key])
    assert result.takes.nbytes == 2 * samples
    for c in CLIPS:
        from_cache = cache.get(backends.shared("embedded").identity(), c, 22050)
        assert all(np.array_equal(a, b) and a.dtype == np.float32 for a, b in zip(result.takes[c.key], from_cache))


def test_second_build_reads_everything_from_cache(first_build):
    cache, first, _ = first_build
    seen = []
    again = render_plan(CLIPS, "embedded", {}, cache, jobs=1, on_clip=lambda c, hit: seen.append(hit))
    assert (again.rendered, again.cached) == (0, len(CLIPS))
    assert seen == [True] * len(CLIPS)
    assert same_audio(first, again)  # fresh takes are rounded like stored ones: bit-identical


def copy_cache(cache: ClipCache, target: Path) -> ClipCache:
    for entry in entries(cache):
        dest = target / entry.relative_to(cache.directory)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(entry.read_bytes())
    return ClipCache(target)


def test_editing_one_line_rerenders_only_its_clip(first_build, tmp_path):
    cache = copy_cache(first_build[0], tmp_path / "c")
    edited = list(CLIPS)
    edited[2] = clip(3, "This clip was rewritten.")
    result = render_plan(edited, "embedded", {}, cache, jobs=1)
    assert (result.rendered, result.cached) == (1, len(CLIPS) - 1)
    assert len(entries(cache)) == len(CLIPS) + 1
    for i in (0, 1, 3):
        assert all(np.array_equal(x, y) for x, y in zip(result.takes[CLIPS[i].key], first_build[1].takes[CLIPS[i].key]))


def test_changing_a_voice_rerenders_its_clips(first_build, tmp_path):
    cache = copy_cache(first_build[0], tmp_path / "c")
    recast = [clip(1, "This is clip number 1.", voices=(VOICES[2], VOICES[1]))] + CLIPS[1:]
    result = render_plan(recast, "embedded", {}, cache, jobs=1)
    assert (result.rendered, result.cached) == (1, len(CLIPS) - 1)


def test_stray_temp_files_and_damaged_entries_are_ignored(first_build, tmp_path):
    cache = copy_cache(first_build[0], tmp_path / "c")
    victim = entries(cache)[0]
    # A build killed mid-write leaves a temporary file next to the entries ...
    (victim.parent / f".{victim.stem[:16]}.abcd.tmp").write_bytes(victim.read_bytes()[:100])
    # ... and a foreign tool may have truncated an entry itself.
    truncated = entries(cache)[1]
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    result = render_plan(CLIPS, "embedded", {}, cache, jobs=1)
    assert (result.rendered, result.cached) == (1, len(CLIPS) - 1)
    assert same_audio(result, first_build[1])
    assert render_plan(CLIPS, "embedded", {}, cache, jobs=1).rendered == 0  # the damaged entry was rewritten


def test_interrupted_write_leaves_no_entry_and_no_temp_file(tmp_path, monkeypatch):
    cache = ClipCache(tmp_path / "c")
    takes = [np.zeros(100, dtype=np.float32), np.full(50, 0.5, dtype=np.float32)]

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.put("id", CLIPS[0], takes, 22050)
    monkeypatch.undo()
    assert cache.get("id", CLIPS[0], 22050) is None
    assert [p.name for p in cache.directory.rglob("*") if p.is_file() and p.parent != cache.directory] == []
    cache.put("id", CLIPS[0], takes, 22050)
    back = cache.get("id", CLIPS[0], 22050)
    assert all(np.array_equal(a, b) for a, b in zip(back, quantize(takes)))
    # Another backend version (identity) or sample rate never sees this entry.
    assert cache.get("id2", CLIPS[0], 22050) is None and cache.get("id", CLIPS[0], 24000) is None


def test_identical_clips_render_once(first_build, tmp_path):
    cache = copy_cache(first_build[0], tmp_path / "c")
    new = clip(9, "Say it again.")
    plan = [new, CLIPS[0], new, CLIPS[0]]
    seen = []
    result = render_plan(plan, "embedded", {}, cache, jobs=1, on_clip=lambda c, hit: seen.append((c.key, hit)))
    assert (result.rendered, result.cached) == (1, 1)
    # Progress hears about every clip of the plan, duplicates included.
    assert sorted(seen) == sorted([(new.key, False)] * 2 + [(CLIPS[0].key, True)] * 2)
    assert result.takes[new.key] is not None and len(result.takes) == 2


@pytest.mark.slow
def test_two_workers_give_the_same_audio_as_one(first_build, tmp_path, monkeypatch):
    monkeypatch.setattr(render, "MIN_CLIPS_PER_WORKER", 1)  # 4 clips: still use 2 worker processes
    spawned = []
    real_parallel = render._render_parallel
    monkeypatch.setattr(render, "_render_parallel", lambda *a: (spawned.append(a[3]), real_parallel(*a)))
    seen = []
    parallel = render_plan(CLIPS, "embedded", {}, ClipCache(tmp_path / "c"), jobs=2, on_clip=lambda c, hit: seen.append(c.key))
    assert spawned == [2]
    assert (parallel.rendered, parallel.cached) == (len(CLIPS), 0)
    assert sorted(seen) == sorted(c.key for c in CLIPS)
    assert same_audio(parallel, first_build[1])


def test_backend_failure_is_a_diagnostic_at_the_clip(tmp_path):
    from compiler.voices import Voice

    good = clip(6, "Fine.", "Yes.")
    bad = clip(7, "Hello.", voices=(Voice("x", "dia2"), VOICES[1]))
    with pytest.raises(CompileError) as info:
        render_plan([bad, good], "embedded", {}, ClipCache(tmp_path / "c"), jobs=1)
    (diag,) = info.value.diagnostics
    assert diag.span.line == 7 and "could not render" in diag.message and "dia2" in diag.message
    # The good clip after it was still rendered and kept.
    assert render_plan([good], "embedded", {}, ClipCache(tmp_path / "c"), jobs=1).cached == 1


def test_interrupted_build_keeps_finished_clips(first_build, tmp_path):
    cache = copy_cache(first_build[0], tmp_path / "c")
    for c in CLIPS[:2]:
        cache.path(cache.key(backends.shared("embedded").identity(), c)).unlink()

    def ctrl_c_after_first_render(clip, from_cache):
        if not from_cache:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_plan(CLIPS, "embedded", {}, cache, jobs=1, on_clip=ctrl_c_after_first_render)
    resumed = render_plan(CLIPS, "embedded", {}, cache, jobs=1)
    assert (resumed.rendered, resumed.cached) == (1, len(CLIPS) - 1)
    assert same_audio(resumed, first_build[1])
