"""Clip cache entries are verified against what they claim to hold before they are played.

Each test spoils one entry of a real cache the way a user, a tool or a disk might, then renders the
same clips again: the spoilt clip must be rendered afresh (and its entry replaced), every other clip
read from the cache, and the audio must equal a clean render's.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from compiler import backends, render
from compiler.plan_types import Clip
from compiler.render import ClipCache, quantize, render_plan
from test_render import CLIPS, copy_cache, same_audio

PLAY = CLIPS[:3]  # all three have two lines, so any entry's line count fits any other clip


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    cache = ClipCache(tmp_path_factory.mktemp("clean") / "cache")
    return cache, render_plan(PLAY, "embedded", {}, cache, jobs=1)


def identity() -> str:
    return backends.shared("embedded").identity()


def entry_of(cache: ClipCache, clip) -> Path:
    return cache.path(cache.key(identity(), clip))


def arrays_of(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def rewrite(path: Path, **changes) -> None:
    """Rewrite an entry with some arrays changed and everything else (key, digest) kept."""
    arrays = arrays_of(path)
    arrays.update(changes)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def rebuild_after(clean, tmp_path, spoil) -> tuple[ClipCache, render.RenderResult]:
    """Copy the clean cache, spoil the entry of PLAY[1], render again: one render, the rest cached."""
    cache = copy_cache(clean[0], tmp_path / "cache")
    spoil(cache, entry_of(cache, PLAY[1]))
    result = render_plan(PLAY, "embedded", {}, cache, jobs=1)
    assert (result.rendered, result.cached) == (1, len(PLAY) - 1)
    assert same_audio(result, clean[1])
    again = render_plan(PLAY, "embedded", {}, cache, jobs=1)  # the spoilt entry was replaced by a good one
    assert (again.rendered, again.cached) == (0, len(PLAY))
    return cache, result


def test_another_clips_entry_copied_onto_this_path_is_a_miss(clean, tmp_path):
    # Same backend, same sample rate, same number of lines: only the stored key tells them apart.
    rebuild_after(clean, tmp_path, lambda cache, path: shutil.copyfile(entry_of(cache, PLAY[0]), path))


def test_scaled_samples_are_a_miss(clean, tmp_path):
    def halve(cache, path):
        rewrite(path, take0=(arrays_of(path)["take0"] // 2).astype(np.int16))

    rebuild_after(clean, tmp_path, halve)


def test_silence_in_place_of_the_samples_is_a_miss(clean, tmp_path):
    def silence(cache, path):
        takes = arrays_of(path)
        rewrite(path, take0=np.zeros_like(takes["take0"]), take1=np.zeros_like(takes["take1"]))

    rebuild_after(clean, tmp_path, silence)


def test_a_two_dimensional_take_is_a_miss(clean, tmp_path):
    # The same bytes as a column: even the digest of the samples matches; the shape does not.
    rebuild_after(clean, tmp_path, lambda cache, path: rewrite(path, take0=arrays_of(path)["take0"].reshape(-1, 1)))


def test_a_float_take_is_a_miss(clean, tmp_path):
    rebuild_after(clean, tmp_path, lambda cache, path: rewrite(path, take0=arrays_of(path)["take0"].astype(np.float32)))


def test_an_entry_of_the_previous_format_is_a_miss(clean, tmp_path):
    rebuild_after(clean, tmp_path, lambda cache, path: rewrite(path, format=np.array("dramac-takes-1")))


# (signature the field's record starts with, offset of the field in it, bytes written there)
ZIP_DAMAGE = {
    "local-signature": (b"PK\x03\x04", 0, b"XX"),
    "local-name-length": (b"PK\x03\x04", 26, b"\xff\x00"),
    "central-signature": (b"PK\x01\x02", 0, b"XX"),
    "central-encrypted-flag": (b"PK\x01\x02", 8, b"\x01\x00"),
    "end-signature": (b"PK\x05\x06", 0, b"XX"),
}


@pytest.mark.parametrize("field", ZIP_DAMAGE)
def test_a_damaged_zip_header_is_a_miss(clean, tmp_path, field):
    signature, offset, damage = ZIP_DAMAGE[field]

    def spoil(cache, path):
        data = bytearray(path.read_bytes())
        start = data.find(signature) + offset
        data[start: start + len(damage)] = damage
        path.write_bytes(bytes(data))

    rebuild_after(clean, tmp_path, spoil)


def test_a_compression_method_it_cannot_read_is_a_miss(clean, tmp_path):
    # Before entries were verified, this ended the build with an internal error (NotImplementedError).
    def unknown_method(cache, path):
        data = bytearray(path.read_bytes())
        central = data.rfind(b"PK\x01\x02")  # the last central directory header: take1
        data[central + 10] = 99
        path.write_bytes(bytes(data))

    rebuild_after(clean, tmp_path, unknown_method)


def test_a_directory_where_the_entry_should_be_is_replaced(clean, tmp_path):
    def directory(cache, path):
        path.unlink()
        (path / "inside").mkdir(parents=True)
        (path / "inside" / "file.txt").write_text("x")

    cache, _ = rebuild_after(clean, tmp_path, directory)
    assert entry_of(cache, PLAY[1]).is_file()
    assert sorted(p.name for p in entry_of(cache, PLAY[1]).parent.iterdir()) == [entry_of(cache, PLAY[1]).name]


def test_a_fifo_where_the_entry_should_be_neither_hangs_nor_fails(clean, tmp_path):
    fifo = entry_of(clean[0], PLAY[1]).relative_to(clean[0].directory)

    def make_fifo(cache, path):
        path.unlink()
        os.mkfifo(path)

    outcome: list[BaseException | None] = []

    def run():
        try:
            rebuild_after(clean, tmp_path, make_fifo)
            outcome.append(None)
        except BaseException as exc:  # handed to the test's thread below
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():  # opening the FIFO blocks until a writer comes: be that writer, then fail
        os.close(os.open(tmp_path / "cache" / fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO in place of a cache entry hung")
    if outcome[0] is not None:
        raise outcome[0]


def test_an_entry_that_is_a_symlink_is_not_followed(clean, tmp_path):
    outside = tmp_path / "outside.npz"

    def link(cache, path):
        shutil.copyfile(path, outside)  # even a good entry, reached through a link, is not read
        path.unlink()
        path.symlink_to(outside)

    cache, _ = rebuild_after(clean, tmp_path, link)
    assert not entry_of(cache, PLAY[1]).is_symlink()
    assert outside.read_bytes() == entry_of(clean[0], PLAY[1]).read_bytes()  # the link target was not written


def test_a_shard_folder_that_is_a_symlink_is_not_written_through(clean, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()

    def link_shard(cache, path):
        shard = path.parent
        shutil.rmtree(shard)
        shard.symlink_to(outside, target_is_directory=True)

    cache, _ = rebuild_after(clean, tmp_path, link_shard)
    assert list(outside.iterdir()) == []
    assert entry_of(cache, PLAY[1]).parent.is_dir() and not entry_of(cache, PLAY[1]).parent.is_symlink()
    assert list(cache.directory.glob("*.tmp")) == []  # the link was moved aside and removed, not left


def test_a_header_promising_a_huge_take_is_refused_before_reading(clean, tmp_path):
    def huge(cache, path):
        data = path.read_bytes()
        take = arrays_of(path)["take0"]
        forged = data.replace(f"'shape': ({len(take)},)".encode(), f"'shape': ({10**15},)".encode().ljust(len(f"'shape': ({len(take)},)")))
        assert forged != data
        path.write_bytes(forged)

    rebuild_after(clean, tmp_path, huge)


def test_every_single_byte_damage_is_a_miss_or_the_exact_takes(tmp_path):
    """Mutation sweep over a small entry: every byte set to three values in turn. A read either
    misses or returns exactly what was stored; it never raises and never returns other samples."""
    cache = ClipCache(tmp_path / "c")
    takes = [np.linspace(-0.5, 0.5, 40, dtype=np.float32), np.full(12, 0.25, dtype=np.float32)]
    cache.put("id", CLIPS[0], takes, 22050)
    path = cache.path(cache.key("id", CLIPS[0]))
    good = path.read_bytes()
    expected = quantize(takes)
    hits = misses = 0
    for position in range(len(good)):
        for value in (good[position] ^ 0xFF, good[position] ^ 0x01):
            damaged = bytearray(good)
            damaged[position] = value
            with open(path, "r+b") as fh:  # same length: overwriting is much faster than truncating
                fh.write(damaged)
            back = cache.get("id", CLIPS[0], 22050)
            if back is None:
                misses += 1
            else:
                hits += 1
                assert len(back) == 2 and all(np.array_equal(a, b) for a, b in zip(back, expected)), position
    for length in range(0, len(good), 7):  # truncated at every 7th byte
        path.unlink()
        path.write_bytes(good[:length])
        assert cache.get("id", CLIPS[0], 22050) is None
    # Bytes outside what is checked (zip timestamps, CRCs zipfile does not verify on a short read)
    # may change without harm; the samples, key and digest may not.
    assert misses > 0 and hits > 0


def test_an_entry_is_bound_to_its_key_sample_rate_and_line_count(tmp_path):
    cache = ClipCache(tmp_path / "c")
    takes = [np.zeros(10, np.float32), np.ones(5, np.float32) / 2]
    cache.put("id", CLIPS[0], takes, 22050)
    assert cache.get("id", CLIPS[0], 22050) is not None
    assert cache.get("id", CLIPS[0], 24000) is None and cache.get("other", CLIPS[0], 22050) is None
    one_line = Clip(0, ("ANNA",), CLIPS[0].voices[:1], CLIPS[0].lines[:1], est_seconds=1.0)
    target = cache.path(cache.key("id", one_line))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cache.path(cache.key("id", CLIPS[0])), target)
    assert cache.get("id", one_line, 22050) is None


def test_a_build_over_spoilt_entries_renders_them_again_and_succeeds(tmp_path):
    """Through the command line: a directory in one entry's place (it failed every later build) and
    a zip flagged as encrypted in another's (an internal error, exit 70) are rendered again."""
    import subprocess
    import sys

    script = tmp_path / "play.fountain"
    script.write_text("INT. ROOM - DAY\n\nANNA\nHello there.\n\nEXT. YARD - NIGHT\n\nBEN\nGood night.\n")
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")

    def build(out: str = "out") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "compiler", "build", str(script), "-o", str(tmp_path / out), "-j", "1"],
                              capture_output=True, text=True, env=env, timeout=300)

    first = build()
    assert first.returncode == 0 and "2 rendered, 0 cached" in first.stdout, first.stdout + first.stderr
    clean_audio = (tmp_path / "out" / "play.wav").read_bytes()
    directory, flagged = sorted((tmp_path / ".dramac-cache").glob("??/*.npz"))
    directory.unlink()
    (directory / "inside").mkdir(parents=True)
    data = bytearray(flagged.read_bytes())
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 0x01  # "encrypted"
    flagged.write_bytes(bytes(data))

    # Into another folder: outputs already up to date in "out" would be a build that reads no clip.
    second = build("again")
    assert second.returncode == 0 and "2 rendered, 0 cached" in second.stdout, second.stdout + second.stderr
    assert (tmp_path / "again" / "play.wav").read_bytes() == clean_audio
    third = build("again")
    assert third.returncode == 0 and "0 rendered, 2 cached" in third.stdout, third.stdout + third.stderr
