"""dramac driven the way a CI job drives it: long Ogg files, one JSON record per run (validated against
docs/build-record.schema.json), outputs that do not depend on the working directory, a series in one
run, and the example workflow's own commands."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from compiler import emit, encode
from compiler.diagnostics import CompileError

ROOT = Path(__file__).resolve().parent.parent
SR = 22050


def noise(seconds: float) -> np.ndarray:
    return (np.random.default_rng(7).standard_normal(int(SR * seconds)) * 0.1).astype(np.float32)


# --- audio files -----------------------------------------------------------------------------------


def test_three_minute_ogg_is_written_and_reads_back(tmp_path):
    """libsndfile crashed (SIGSEGV) writing more than ~95 s of Vorbis in one call."""
    audio = noise(180.0)
    target = tmp_path / "long.ogg"
    emit.write_audio(target, audio, SR, "ogg")
    info = sf.info(target)
    assert (info.format, info.subtype, info.samplerate) == ("OGG", "VORBIS", SR)
    decoded, rate = sf.read(target, dtype="float32")
    assert rate == SR and abs(len(decoded) - len(audio)) <= SR // 100
    # Lossy, but the same signal: correlated over the whole length, not a truncated or silent file.
    tail = slice(len(audio) - 10 * SR, len(audio) - SR)
    assert np.corrcoef(decoded[tail], audio[tail])[0, 1] > 0.9
    assert [p.name for p in tmp_path.iterdir()] == ["long.ogg"]


def _reference_ogg_crc(data: bytes) -> int:
    """Ogg's checksum bit by bit, as the specification (RFC 3533) describes it."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def test_ogg_files_are_reproducible_with_valid_page_checksums(tmp_path):
    """libsndfile draws each stream's serial number from the clock: two builds differed in every page."""
    audio = noise(3.0)
    first, second = tmp_path / "a.ogg", tmp_path / "b.ogg"
    emit.write_audio(first, audio, SR, "ogg")
    emit.write_audio(second, audio, SR, "ogg")
    assert first.read_bytes() == second.read_bytes()
    data, offset, pages = first.read_bytes(), 0, 0
    while offset < len(data):
        segments = data[offset + 26]
        length = 27 + segments + sum(data[offset + 27: offset + 27 + segments])
        page = data[offset: offset + length]
        assert int.from_bytes(page[14:18], "little") == encode.OGG_SERIAL
        assert int.from_bytes(page[22:26], "little") == _reference_ogg_crc(page[:22] + bytes(4) + page[26:])
        offset, pages = offset + length, pages + 1
    assert pages > 2 and sf.info(first).frames == len(audio)


def _crashing_python(tmp_path: Path) -> str:
    """An 'interpreter' that dies of SIGSEGV, as libsndfile's encoder did."""
    fake = tmp_path / "crashing-python"
    fake.write_text("#!/bin/sh\ncat > /dev/null\nkill -SEGV $$\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return str(fake)


def test_encoder_crash_is_a_diagnostic_and_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "play.ogg"
    target.write_bytes(b"previous build")
    monkeypatch.setattr(encode.sys, "executable", _crashing_python(tmp_path))
    with pytest.raises(CompileError) as info:
        emit.write_audio(target, noise(1.0), SR, "ogg")
    assert "crashed (SIGSEGV)" in str(info.value)
    assert target.read_bytes() == b"previous build"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crashing-python", "play.ogg"]  # no temp file


def test_a_crashing_codec_costs_no_other_format(tmp_path, monkeypatch):
    monkeypatch.setattr(encode.sys, "executable", _crashing_python(tmp_path))
    written, failures = emit.write_audio_files(tmp_path, "play", noise(2.0), SR, ["wav", "ogg", "flac"])
    assert [p.name for p in written] == ["play.wav", "play.flac"]
    assert len(failures) == 1 and failures[0].span.file == str(tmp_path / "play.ogg")
    assert sf.info(tmp_path / "play.flac").frames == int(SR * 2.0)
    assert not (tmp_path / "play.ogg").exists()


# --- the build record ------------------------------------------------------------------------------

SCHEMA = json.loads((ROOT / "docs" / "build-record.schema.json").read_text(encoding="utf-8"))


def dramac(*args, cwd=None):
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    return subprocess.run([sys.executable, "-m", "compiler", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def scene_play(title: str, lines: int) -> str:
    """A script of `lines` scenes of one short speech each: one clip per scene."""
    scenes = [f"INT. ROOM {n} - DAY\n\nANNA\n{title} part {n}.\n" for n in range(1, lines + 1)]
    return f"Title: {title}\n\n" + "\n".join(scenes)


def make_project(root: Path, toml: str = "", **scripts: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dramac.toml").write_text(toml, encoding="utf-8")
    for name, text in scripts.items():
        (root / name.replace("_", ".")).write_text(text, encoding="utf-8")
    return root


def validated(stdout: str) -> dict:
    import jsonschema

    record = json.loads(stdout)
    jsonschema.validate(record, SCHEMA)
    return record


def test_record_of_a_build_that_succeeds(tmp_path):
    project = make_project(tmp_path / "p", "[build]\njobs = 100000\n", play_fountain=scene_play("Dawn", 2))
    r = dramac("build", project / "play.fountain", "-o", tmp_path / "out", "--format", "wav,ogg", "--json")
    assert r.returncode == 0, r.stderr
    record = validated(r.stdout)
    assert record["ok"] and record["exit_code"] == 0 and record["summary"]["built"] == 1
    (entry,) = record["builds"]
    assert entry["ok"] and entry["clips_rendered"] + entry["clips_cached"] == 2
    assert entry["backend"]["name"] == "embedded" and "piper-tts=" in entry["backend"]["identity"]
    assert {"render", "write", "total"} <= set(entry["seconds"])
    # The warning went to the record too, at its key in dramac.toml.
    (warning,) = entry["diagnostics"]
    assert (warning["severity"], warning["file"], warning["line"]) == ("warning", str(project / "dramac.toml"), 2)
    assert [Path(o["path"]).name for o in entry["outputs"]] == ["play.wav", "play.ogg", "play.srt", "play.vtt", "play.json"]
    for output in entry["outputs"]:
        data = Path(output["path"]).read_bytes()
        assert output["bytes"] == len(data) and output["sha256"] == hashlib.sha256(data).hexdigest()
    manifest = json.loads((tmp_path / "out" / "play.json").read_text())
    assert entry["duration"] == pytest.approx(manifest["duration"], abs=0.001)
    assert entry["integrated_lufs"] == pytest.approx(manifest["loudness"]["integrated_lufs"], abs=0.01)


def test_record_of_a_bad_script(tmp_path):
    project = make_project(tmp_path / "p", bad_fountain="INT. ROOM - DAY\n\nANNA\nWait.\n\n[[pause forever]]\n")
    r = dramac("build", project / "bad.fountain", "-o", tmp_path / "out", "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    record = validated(r.stdout)
    assert not record["ok"] and record["exit_code"] == 1 and record["summary"] == {
        "scripts": 1, "built": 0, "failed": 1, "clips_rendered": 0, "clips_cached": 0, "seconds": record["summary"]["seconds"]}
    (entry,) = record["builds"]
    assert not entry["ok"] and entry["outputs"] == [] and entry["duration"] is None
    (diag,) = entry["diagnostics"]
    assert (diag["severity"], diag["file"], diag["line"], diag["column"]) == ("error", str(project / "bad.fountain"), 6, 9)
    assert "'forever' is not a duration" in diag["message"]
    assert f"{project / 'bad.fountain'}:6:9: error:" in r.stderr  # still printed for people
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_record_of_a_mixed_batch_builds_every_good_script(tmp_path):
    project = make_project(tmp_path / "p", one_fountain=scene_play("One", 1),
                           two_fountain="INT. ROOM - DAY\n\n[[sfx: missing.wav]]\n", three_fountain=scene_play("Three", 1))
    out = tmp_path / "out"
    r = dramac("build", *(project / f"{n}.fountain" for n in ("one", "two", "three")), "-o", out, "--json")
    assert r.returncode == 1
    record = validated(r.stdout)
    assert [(e["file"], e["ok"]) for e in record["builds"]] == [
        (str(project / "one.fountain"), True), (str(project / "two.fountain"), False), (str(project / "three.fountain"), True)]
    assert record["summary"]["built"] == 2 and record["summary"]["failed"] == 1
    errors = [d for d in record["builds"][1]["diagnostics"] if d["severity"] == "error"]
    assert [(d["line"], d["column"]) for d in errors] == [(3, 8)] and "missing.wav" in errors[0]["message"]
    # The script after the failing one was built all the same.
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.{x}" for n in ("one", "three") for x in ("wav", "srt", "vtt", "json"))


def test_record_names_scripts_that_would_overwrite_each_other(tmp_path):
    a = make_project(tmp_path / "a", play_fountain=scene_play("A", 1))
    b = make_project(tmp_path / "b", play_fountain=scene_play("B", 1))
    r = dramac("build", a / "play.fountain", b / "play.fountain", "-o", tmp_path / "out", "--json")
    assert r.returncode == 1
    record = validated(r.stdout)
    assert record["builds"] == [] and "would both write play.*" in record["diagnostics"][0]["message"]


# --- outputs independent of the working directory --------------------------------------------------


def test_outputs_are_byte_identical_from_two_working_directories(tmp_path):
    """The manifest's source and every span's file are relative to the project root."""
    project = make_project(tmp_path / "show" / "season1", play_fountain=scene_play("Harbour", 2))
    first, second = tmp_path / "first", tmp_path / "second"
    r = dramac("build", "play.fountain", "-o", first, "--format", "wav,flac", cwd=project)
    assert r.returncode == 0, r.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = dramac("build", os.path.relpath(project / "play.fountain", elsewhere), "-o", "../second", "--format", "wav,flac",
               cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir()) == ["play.flac", "play.json", "play.srt", "play.vtt", "play.wav"]
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    manifest = json.loads((first / "play.json").read_text())
    assert manifest["source"] == "play.fountain"
    assert {line["span"]["file"] for line in manifest["lines"]} == {"play.fountain"}


# --- a series in one run ---------------------------------------------------------------------------


def test_a_series_loads_its_backend_once_and_shares_one_worker_pool(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from compiler import cli, render
    from compiler.backends import embedded

    season = make_project(tmp_path / "season1", **{f"ep{n}_fountain": scene_play(f"Episode {n}", 6) for n in (1, 2, 3)})
    constructed, pools = [], []
    real_init = embedded.EmbeddedBackend.__init__

    def counting_init(self, *args, **kwargs):
        constructed.append(self)
        real_init(self, *args, **kwargs)

    class CountingPool(render.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(embedded.EmbeddedBackend, "__init__", counting_init)
    monkeypatch.setattr(render, "ProcessPoolExecutor", CountingPool)
    scripts = [str(season / f"ep{n}.fountain") for n in (1, 2, 3)]
    result = CliRunner().invoke(cli.app, ["build", *scripts, "-o", str(tmp_path / "out"), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert len(constructed) == 1  # in this process; each worker builds its own once
    assert len(pools) == 1 and render._pools == {}  # one pool for the run, ended with it
    assert "3 of 3 scripts built" in result.output
    assert all((tmp_path / "out" / f"ep{n}.wav").exists() for n in (1, 2, 3))


def test_a_codec_crash_fails_the_build_with_exit_1_and_keeps_the_other_outputs(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from compiler import cli

    project = make_project(tmp_path / "p", play_fountain=scene_play("Crash", 1))
    monkeypatch.setattr(encode.sys, "executable", _crashing_python(tmp_path))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli.app, ["build", str(project / "play.fountain"), "-o", str(out), "--format", "wav,ogg,flac",
                                          "--json", "--jobs", "1"])
    assert result.exit_code == 1
    record = validated(result.stdout)
    (entry,) = record["builds"]
    (diag,) = entry["diagnostics"]
    assert diag["file"] == str(out / "play.ogg") and "crashed (SIGSEGV)" in diag["message"]
    assert sorted(p.name for p in out.iterdir()) == ["play.flac", "play.json", "play.srt", "play.vtt", "play.wav"]


# --- the example workflow --------------------------------------------------------------------------

EXAMPLE = ROOT / "examples" / "ci"
WORKFLOW = EXAMPLE / ".github" / "workflows" / "render.yml"


def workflow_jobs() -> dict:
    import yaml

    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert set(workflow[True]) >= {"push", "pull_request"}  # YAML 1.1 reads the key `on` as true
    return workflow["jobs"]


def dramac_lines(job: dict) -> list[str]:
    """The lines of a job's `run` steps that call dramac (also inside `$(…)`)."""
    return [line.strip() for step in job["steps"] for line in step.get("run", "").splitlines()
            if line.strip().startswith("dramac ") or "$(dramac " in line]


def dramac_steps(job: dict) -> list[dict]:
    return [step for step in job["steps"] if dramac_lines({"steps": [step]})]


def run_steps(steps: list[dict], cwd: Path) -> dict[str, dict[str, str]]:
    """Each step's `run` script as the runner's bash runs it (globs, redirections, set -e), with this
    dramac first on PATH; returns the outputs each step wrote to $GITHUB_OUTPUT, by step id."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", NO_COLOR="1")
    outputs: dict[str, dict[str, str]] = {}
    for number, step in enumerate(steps):
        output = cwd / f".github-output-{number}"
        output.write_text("", encoding="utf-8")
        r = subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=cwd, capture_output=True, text=True,
                           env=dict(env, GITHUB_OUTPUT=str(output)), timeout=600)
        assert r.returncode == 0, f"{step['run']}\n{r.stderr}"
        written = dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines() if "=" in line)
        output.unlink()
        if "id" in step:
            outputs[step["id"]] = written
    return outputs


def run_lines(lines: list[str], cwd: Path) -> None:
    run_steps([{"run": line} for line in lines], cwd)


def _cache_steps(job: dict) -> tuple[dict, dict]:
    uses = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    return uses["actions/cache/restore"], uses["actions/cache/save"]


def _key_step(job: dict, expression: str) -> dict:
    """The step whose output `${{ steps.ID.outputs.key }}` names."""
    step_id = expression.removeprefix("${{ steps.").removesuffix(".outputs.key }}")
    return next(step for step in job["steps"] if step.get("id") == step_id)


def test_the_workflow_has_a_cpu_render_a_cache_keyed_by_dramac_artifacts_and_a_gpu_job():
    jobs = workflow_jobs()
    assert jobs["render"]["needs"] == "check" and "gpu" in jobs["render-dia2"]["runs-on"]
    for name, backend in (("render", "embedded"), ("render-dia2", "dia2")):
        job = jobs[name]
        restore, save = _cache_steps(job)
        assert restore["with"]["path"] == save["with"]["path"] == ".dramac-cache"
        assert restore["with"]["restore-keys"].split() == [f"dramac-clips-{backend}-"]
        steps = [s["id"] for s in job["steps"] if "id" in s]
        for cache_step, when in ((restore, "before"), (save, "after")):
            key_step = _key_step(job, cache_step["with"]["key"])  # dramac prints the key
            assert "$(dramac cache-key season1/*.fountain" in key_step["run"], key_step
            build_at = next(i for i, s in enumerate(job["steps"]) if "dramac build" in s.get("run", ""))
            at = job["steps"].index(key_step)
            assert (at < build_at) if when == "before" else (at > build_at and key_step["if"] == "always()")
        assert len(steps) == len(set(steps))
    restore, save = _cache_steps(jobs["render"])
    uses = {step.get("uses", "").split("@")[0]: step for step in jobs["render"]["steps"]}
    assert save["if"] == "always()" and uses["actions/upload-artifact"]["if"] == "always()"
    assert all("--backend dia2" in line for line in dramac_lines(jobs["render-dia2"]))
    assert not any("dia2" in line for name in ("check", "render") for line in dramac_lines(jobs[name]))


def test_the_workflow_commands_render_the_example_and_its_cache_serves_the_next_run(tmp_path):
    import yaml  # noqa: F401  (the workflow is read with PyYAML)

    jobs = workflow_jobs()
    render = jobs["render"]
    restore, save = _cache_steps(render)
    restore_id, save_id = (_key_step(render, step["with"]["key"])["id"] for step in (restore, save))
    first = tmp_path / "first"
    shutil.copytree(EXAMPLE, first, ignore=shutil.ignore_patterns(".dramac-cache", "outputs", "dramac.lock"))
    run_lines(dramac_lines(jobs["check"]), first)
    keys = run_steps(dramac_steps(render), first)
    record = validated((first / "build-record.json").read_text(encoding="utf-8"))
    assert record["ok"] and record["summary"]["built"] == 2 and record["summary"]["clips_rendered"] > 0
    uses = {step.get("uses", "").split("@")[0]: step for step in render["steps"]}
    for path in uses["actions/upload-artifact"]["with"]["path"].split():
        assert (first / path).exists(), path
    assert sorted(p.name for p in (first / "outputs").glob("*.ogg")) == ["ep1.ogg", "ep2.ogg"]
    # The build recorded its clips in the lock: the cache is saved under a new key, which dramac
    # prints again from anywhere (another directory, absolute paths).
    saved = keys[save_id]["key"]
    assert keys[restore_id]["key"] != saved and saved.startswith(restore["with"]["restore-keys"].strip())
    elsewhere = dramac("cache-key", *sorted((first / "season1").glob("*.fountain")), cwd=tmp_path)
    assert elsewhere.returncode == 0 and elsewhere.stdout.strip() == saved, elsewhere.stderr
    # The next run, with the lock committed: its key before the build is the key saved, an exact hit,
    # and nothing is rendered again.
    second = tmp_path / "second"
    shutil.copytree(EXAMPLE, second, ignore=shutil.ignore_patterns(".dramac-cache", "outputs", "dramac.lock"))
    shutil.copy(first / "dramac.lock", second / "dramac.lock")
    shutil.copytree(first / save["with"]["path"], second / restore["with"]["path"])
    again_keys = run_steps(dramac_steps(render), second)
    assert again_keys[restore_id]["key"] == again_keys[save_id]["key"] == saved
    again = validated((second / "build-record.json").read_text(encoding="utf-8"))
    assert again["summary"]["clips_rendered"] == 0 and again["summary"]["clips_cached"] == record["summary"]["clips_rendered"]
    for name in ("ep1.flac", "ep2.ogg", "ep1.json"):
        assert (first / "outputs" / name).read_bytes() == (second / "outputs" / name).read_bytes(), name


def test_a_dramac_bug_in_one_script_is_exit_70_with_a_record_after_the_others(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from compiler import build as driver, cli

    project = make_project(tmp_path / "p", one_fountain=scene_play("One", 1), two_fountain=scene_play("Two", 1))
    real_build = driver.build

    def buggy_for_one(prepared, *args, **kwargs):
        if prepared.plan.source.endswith("one.fountain"):
            raise ZeroDivisionError("a bug")
        return real_build(prepared, *args, **kwargs)

    monkeypatch.setattr(driver, "build", buggy_for_one)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli.app, ["build", str(project / "one.fountain"), str(project / "two.fountain"), "-o", str(out),
                                          "--json", "--jobs", "1"])
    assert result.exit_code == 70
    record = validated(result.stdout)
    assert record["exit_code"] == 70 and [(e["ok"], e["internal_error"]) for e in record["builds"]] == [(False, True), (True, False)]
    assert "internal compiler error: ZeroDivisionError: a bug" in record["builds"][0]["diagnostics"][0]["message"]
    assert (out / "two.wav").exists() and not (out / "one.wav").exists()


def test_a_refused_command_line_still_prints_one_record(tmp_path):
    project = make_project(tmp_path / "p", play_fountain=scene_play("Usage", 1))
    r = dramac("build", project / "play.fountain", "--format", "oog", "--json")
    assert r.returncode == 2 and "unknown audio format oog" in r.stderr
    record = validated(r.stdout)
    assert record["exit_code"] == 2 and record["builds"] == [] and record["diagnostics"][0]["file"] == "<command line>"
    r = dramac("build", project / "play.fountain", "--format", "oog")  # without --json, stdout stays empty
    assert r.returncode == 2 and r.stdout == ""


def test_an_output_hashed_early_is_hashed_again_if_it_changed_since(tmp_path):
    """`build --json` starts hashing the audio as soon as its temporary file is complete, before it is
    moved into place (compiler.record.hash_soon); the record takes that digest only for the file as
    it was hashed."""
    from compiler import record

    path, tmp = tmp_path / "play.wav", tmp_path / "play.wav.tmp"
    tmp.write_bytes(b"first" * 100000)
    record.hash_soon(str(tmp), path)
    os.replace(tmp, path)  # the build moves it into place while it is hashed
    os.chmod(path, 0o644)
    assert record.file_json(path)["sha256"] == hashlib.sha256(b"first" * 100000).hexdigest()
    assert str(path) not in record._hashing  # taken from the thread
    tmp.write_bytes(b"first" * 100000)
    record.hash_soon(str(tmp), path)
    record._hashing[str(path)][0].join()
    os.replace(tmp, path)
    path.write_bytes(b"second" * 1000)  # rewritten after it was hashed
    entry = record.file_json(path)
    assert entry["sha256"] == hashlib.sha256(b"second" * 1000).hexdigest() and entry["bytes"] == 6000
