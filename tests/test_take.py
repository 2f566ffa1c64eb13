"""Recorded lines: `[[take: PATH]]` replaces the synthetic take of the line before it
(compiler/plugins/take.py). Heard audio, level and subtitles are checked on the built outputs with
independent tools (scipy's resampler, pyloudnorm, a plain SRT reading)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from scipy import signal

from tests.stereo_meter import downmix

REC_RATE = 44100  # not the play's rate: the recording must be resampled
LEAD, TAIL = 0.5, 0.7  # seconds of silence around the speech in the recording

SCRIPT = """Title: Take test

INT. ROOM - NIGHT

ELENA
The ferry leaves at nine, and I will be on it.

TOM
Then go.

ELENA
I will, whatever it costs.
{take}

TOM
Good luck.
"""


def dramac(*args):
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", PYTHONHASHSEED="0")
    r = subprocess.run([sys.executable, "-m", "compiler", *map(str, args)], capture_output=True, text=True, env=env,
                       timeout=900)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def speech_signal() -> np.ndarray:
    """A voice-like test signal: a gliding, wobbling tone with breath noise."""
    t = np.arange(int(1.6 * REC_RATE)) / REC_RATE
    rng = np.random.default_rng(7)
    tone = 0.3 * np.sin(2 * np.pi * (180 + 250 * t) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (tone + 0.04 * rng.normal(size=len(t))).astype(np.float32)


def project(root: Path, take: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dramac.toml").write_text("", encoding="utf-8")
    (root / "recordings").mkdir(exist_ok=True)
    quiet = np.zeros(int(LEAD * REC_RATE), np.float32), np.zeros(int(TAIL * REC_RATE), np.float32)
    # Recorded 20 dB quieter than a synthetic take: level matching has work to do.
    sf.write(root / "recordings" / "elena.wav", np.concatenate([quiet[0], 0.1 * speech_signal(), quiet[1]]), REC_RATE)
    script = root / "play.fountain"
    script.write_text(SCRIPT.format(take=take), encoding="utf-8")
    return script


def build(script: Path):
    out = script.parent / "out"
    r = dramac("build", script, "-o", out, "--cache-dir", script.parent / "cache")
    assert r.returncode == 0, r.stdout + r.stderr
    audio, sr = sf.read(out / "play.wav", dtype="float64")
    assert audio.ndim == 2  # the stereo stage places the voices; these checks hear the mono downmix of the play
    audio = downmix(audio).astype(np.float64)
    manifest = json.loads((out / "play.json").read_text(encoding="utf-8"))
    return audio, sr, manifest, (out / "play.srt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    base = tmp_path_factory.mktemp("take")
    synthetic = build(project(base / "synthetic", ""))
    recorded = build(project(base / "recorded", "[[take: recordings/elena.wav]]"))
    return synthetic, recorded


def _line(manifest: dict, words: str) -> dict:
    return next(line for line in manifest["lines"] if line["original"].startswith(words))


def _span(audio: np.ndarray, sr: int, line: dict) -> np.ndarray:
    return audio[int(round(line["start"] * sr)): int(round(line["end"] * sr))]


def test_heard_audio_is_the_recording(builds):
    _, (audio, sr, manifest, _) = builds
    line = _line(manifest, "I will")
    assert line["recording"] == "recordings/elena.wav"
    heard = _span(audio, sr, line)
    expected = signal.resample_poly(speech_signal().astype(np.float64), sr, REC_RATE)
    # The recording's speech, without its silence, fills the line (trim margins of a few frames).
    assert abs(len(heard) / sr - len(expected) / sr) < 0.1
    corr = signal.correlate(heard, expected, mode="full")
    norm = np.sqrt(np.sum(heard ** 2) * np.sum(expected ** 2))
    best = np.max(np.abs(corr)) / norm
    lag = (np.argmax(np.abs(corr)) - (len(expected) - 1)) / sr
    print(f"recorded line: correlation {best:.4f} at lag {lag * 1000:.1f} ms, {len(heard) / sr:.3f} s heard")
    assert best > 0.95, best
    assert abs(lag) < 0.05, lag


def test_level_matches_the_synthetic_take(builds):
    (a_audio, sr, a_manifest, _), (b_audio, _, b_manifest, _) = builds
    meter = pyloudnorm.Meter(sr)
    # The same line in both builds, each taken back to before the master gain of its play.
    target = meter.integrated_loudness(_span(a_audio, sr, _line(a_manifest, "I will"))) - a_manifest["loudness"]["gain_db"]
    heard = meter.integrated_loudness(_span(b_audio, sr, _line(b_manifest, "I will"))) - b_manifest["loudness"]["gain_db"]
    print(f"recorded line {heard:.2f} LUFS, the synthetic take it replaces {target:.2f} LUFS (before master gain)")
    assert abs(heard - target) <= 1.0, (heard, target)


def test_subtitle_keeps_the_scripts_words(builds):
    _, (_, _, _, srt) = builds
    cues = [block.splitlines() for block in srt.strip().split("\n\n")]
    texts = [" ".join(cue[2:]) for cue in cues]
    assert "ELENA: I will, whatever it costs." in texts  # the speaker named where it changes (subtitles.py)


def test_other_lines_keep_their_synthetic_takes(builds):
    (a_audio, sr, a_manifest, _), (b_audio, _, b_manifest, _) = builds
    first_a = _span(a_audio, sr, _line(a_manifest, "The ferry")) / 10 ** (a_manifest["loudness"]["gain_db"] / 20)
    first_b = _span(b_audio, sr, _line(b_manifest, "The ferry")) / 10 ** (b_manifest["loudness"]["gain_db"] / 20)
    n = min(len(first_a), len(first_b))
    assert np.corrcoef(first_a[:n], first_b[:n])[0, 1] > 0.99


def _fails_at(tmp_path: Path, take: str, message: str, setup=None) -> None:
    script = project(tmp_path, take)
    if setup:
        setup(tmp_path)
    r = dramac("build", script, "-o", tmp_path / "out", "--cache-dir", tmp_path / "cache")
    assert r.returncode != 0
    text = r.stdout + r.stderr
    line = SCRIPT.format(take=take).splitlines().index(take) + 1
    assert f"play.fountain:{line}:" in text, text
    assert message in text, text


def test_missing_recording_is_a_diagnostic_at_the_directive(tmp_path):
    _fails_at(tmp_path, "[[take: recordings/nobody.wav]]", "no such file")


def test_recording_outside_the_project_is_refused(tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-outside.wav"
    sf.write(outside, speech_signal(), REC_RATE)
    _fails_at(tmp_path / "p", f"[[take: ../{outside.name}]]", "outside")


def test_unreadable_recording_is_a_diagnostic_at_the_directive(tmp_path):
    def garbage(root: Path) -> None:
        (root / "recordings" / "broken.wav").write_bytes(b"this is not audio at all" * 10)

    _fails_at(tmp_path, "[[take: recordings/broken.wav]]", "cannot read sound file", garbage)


def test_silent_recording_is_refused(tmp_path):
    def silent(root: Path) -> None:
        sf.write(root / "recordings" / "silent.wav", np.zeros(REC_RATE, np.float32), REC_RATE)

    _fails_at(tmp_path, "[[take: recordings/silent.wav]]", "silent", silent)


def test_take_must_follow_dialogue(tmp_path):
    script = tmp_path / "play.fountain"
    project(tmp_path, "")
    script.write_text("INT. ROOM\n\n[[take: recordings/elena.wav]]\n\nTOM\nHello.\n", encoding="utf-8")
    r = dramac("build", script, "-o", tmp_path / "out", "--cache-dir", tmp_path / "cache")
    assert r.returncode != 0
    assert "play.fountain:3:1" in r.stdout + r.stderr and "must follow a line of dialogue" in r.stdout + r.stderr


def test_recording_bytes_are_build_inputs(tmp_path):
    """Editing the recording changes the build record digest and the recorded piece's identity (the
    mix cache key), though the script and its plan stay the same."""
    from compiler import build, build_record
    from compiler.plugins import take

    script = project(tmp_path, "[[take: recordings/elena.wav]]")
    prepared = build.prepare(script)
    sr = prepared.backend.sample_rate
    synthetic = {key: [np.full(sr, 0.1, np.float32)] * 4 for key in (c.key for c in prepared.plan.clips)}

    def state():
        recorded = take.prepare(prepared.plan, synthetic, sr)
        (piece_id,) = [r.piece(0, len(r.samples), "none", 10).identity(0, 10) for r in recorded.values()]
        return build_record.inputs_digest(prepared, ["wav"]), piece_id

    digest, piece_id = state()
    path = tmp_path / "recordings" / "elena.wav"
    data, rate = sf.read(path, dtype="float32")
    sf.write(path, data * 0.5, rate)  # the same speech, recorded 6 dB quieter
    new_digest, new_piece_id = state()
    assert new_digest != digest
    assert new_piece_id != piece_id
