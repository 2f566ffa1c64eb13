"""dramac.toml: errors point into the settings file; settings reach the stages that use them."""

import json

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from tests.test_cli import assert_no_traceback, dramac

SCRIPT = "INT. KITCHEN - DAY\n\nMOM\nDinner is ready, come and eat.\n\nTOM\nComing, I am washing my hands.\n"


def project(tmp_path, toml: str, script: str = SCRIPT):
    (tmp_path / "dramac.toml").write_text(toml, encoding="utf-8")
    p = tmp_path / "play.fountain"
    p.write_text(script, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "toml,line,needle",
    [
        ("[cast.MOM]\nvoice = \"warm-female\"\npitch = \n", 3, "invalid settings file"),
        # Cut short (no newline at the end): tomllib says "end of document"; the end of the last line.
        ("[cast.MOM]\nvoice = \"warm-fem", 2, "dramac.toml:2:18: error: invalid settings file: Unterminated string\n"),
        ("[project]\nname = \"x\"\n\n[mixing]\nlevel = 3\n", 4, "unknown table [mixing]"),
        ("[stitch]\nscene_gapp = 2.0\n", 2, "did you mean 'scene_gap'"),
        ("[stitch]\nscene_gap = \"long\"\n", 2, "[stitch] scene_gap must be a number from 0 to 60 s, not \"long\""),
        ("[cast.MOM]\nvoice = \"purple-dragon\"\n", 2, "cast entry 'MOM'"),
        ("[cast.MOM]\nvoice = \"warm-female\"\nloudness = 3\n", 3, "[cast.MOM] unknown voice setting 'loudness'"),
        ("[narrator]\nenabled = \"false\"\n", 2, "must be true or false"),
        ("[lexicon]\nHello = [1, 2]\n", 2, "[lexicon] Hello must be the words to say"),
        ("cast = 5\n", 1, "'cast' must be a table"),
        ("[build]\nbacknd = \"dia2\"\n", 2, "unknown setting 'backnd' in [build]"),
        ("[build]\njobs = -2\n", 2, "[build] jobs must be a whole number"),
        ("[build]\nformat = \"aiff\"\n", 2, "[build] format must be a comma-separated list of wav, flac, mp3, ogg, opus, m4b, not \"aiff\""),
        ("[master]\nmax_iterations = 2.5\n", 2, "[master] max_iterations must be a whole number from 1 to 50, not 2.5"),
        ("[render]\nclustr = \"auto\"\n", 2, "unknown setting 'clustr' in [render]"),
        ("[render]\ncluster = 6379\n", 2, "[render] cluster must be"),
        ("[stitch]\nroom_tone_seed = inf\n", 2, "room_tone_seed"),
        ("[embedded]\nthreadz = 2\n", 2, "[embedded] unknown option 'threadz' for the embedded backend"),
        ("[dia2]\ncfg_scale = -1\n", 2, "[dia2] cfg_scale must be a number above 0, not -1"),
    ],
)
def test_settings_errors_point_into_dramac_toml(tmp_path, toml, line, needle):
    script = project(tmp_path, toml)
    if "format" in toml:
        r = dramac("build", script, "-o", tmp_path / "out")
    else:
        r = dramac("plan", script, *(["--backend", "dia2"] if "[dia2]" in toml else []))
    assert r.returncode == 1, r.stdout
    assert_no_traceback(r)
    assert f"dramac.toml:{line}:" in r.stderr and needle in r.stderr, r.stderr


@pytest.mark.parametrize("toml,line", [
    ('[cast.MOM]\nvoice = "no-such-voice"\n', 2),
    ('[cast]\nMOM = { pitch = 150, voice   =  "no-such-voice" }\n', 2),
    ('[narrator]\nenabled = true\n\nvoice = "no-such-voice"\n', 4),
])
def test_an_unknown_voice_is_refused_at_its_name_with_the_palette_sorted(tmp_path, toml, line):
    script = project(tmp_path, toml)
    r = dramac("plan", script)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    source = toml.split("\n")[line - 1]
    col = source.index('"no-such-voice"') + 1  # the value, quotes and all: not its key
    assert f"dramac.toml:{line}:{col}: error: " in r.stderr, r.stderr
    shown, caret = [l for l in r.stderr.splitlines() if l.endswith(source)][0], \
        [l for l in r.stderr.splitlines() if "^" in l][0]
    assert caret.index("^") == shown.index('"no-such-voice"') and caret.count("~") == len('"no-such-voice"') - 1
    names = r.stderr.split("palette: ")[1].splitlines()[0].split(", ")
    assert names == sorted(names) and "warm-female" in names and "bright-female" in names


def test_an_unknown_voice_in_front_matter_is_refused_at_its_name(tmp_path):
    md = tmp_path / "play.md"
    md.write_text("---\ncast:\n  MOM:\n    voice:   no-such-voice\n---\n\n# Kitchen\n\nMOM: Dinner is ready.\n",
                  encoding="utf-8")
    r = dramac("plan", md)
    assert r.returncode == 1, r.stderr
    assert f"{md}:4:{len('    voice:   ') + 1}: error: cast entry 'MOM': unknown embedded voice" in r.stderr, r.stderr


def test_cast_entry_for_nobody_is_a_warning(tmp_path):
    script = project(tmp_path, "[cast.MOMM]\nvoice = \"warm-female\"\n")
    r = dramac("cast", script, "--json")
    assert r.returncode == 0
    assert "dramac.toml:1:1: warning: cast entry 'MOMM' names no character" in r.stderr
    assert "did you mean MOM?" in r.stderr


def test_voices_from_settings_and_front_matter(tmp_path):
    script = project(tmp_path, "[cast.MOM]\nvoice = \"bright-female\"\n[cast.TOM]\npitch = 100\n")
    rows = {c["character"]: c for c in json.loads(dramac("cast", script, "--json").stdout)["characters"]}
    assert rows["MOM"]["voice"] == "bright-female" and rows["MOM"]["explicit"]
    assert rows["TOM"]["explicit"] and "male" in rows["TOM"]["description"]
    md = tmp_path / "play.md"
    md.write_text("---\ntitle: Kitchen\ncast:\n  MOM: {voice: deep-male}\n---\n\n# Kitchen\n\nMOM: Dinner is ready.\n\nTOM: Coming.\n", encoding="utf-8")
    rows = {c["character"]: c for c in json.loads(dramac("cast", md, "--json").stdout)["characters"]}
    assert rows["MOM"]["voice"] == "deep-male"  # front matter overrides dramac.toml


@pytest.mark.slow
def test_master_and_stitch_settings_reach_the_output(tmp_path):
    script = project(tmp_path, "[master]\ntarget_lufs = -20.0\ntrue_peak_db = -3.0\n[stitch]\nspeaker_change_gap = 1.5\n")
    r = dramac("build", script, "-o", tmp_path / "out", "--json", "--jobs", "1")
    assert r.returncode == 0, r.stderr
    audio, rate = sf.read(tmp_path / "out" / "play.wav", dtype="float64")
    assert pyloudnorm.Meter(rate).integrated_loudness(audio) == pytest.approx(-20.0, abs=0.5)
    lines = json.loads((tmp_path / "out" / "play.json").read_text())["lines"]
    assert lines[1]["start"] - lines[0]["end"] == pytest.approx(1.5, abs=0.01)
    assert np.max(np.abs(audio)) < 10 ** (-3.0 / 20)


def test_front_matter_errors_point_into_the_script(tmp_path):
    md = tmp_path / "play.md"
    md.write_text("---\ntitle: Kitchen\nstitch:\n  tail: long\n---\n\n# Kitchen\n\nMOM: Dinner is ready.\n", encoding="utf-8")
    r = dramac("plan", md)
    assert r.returncode == 1
    assert f"{md}:4:3: error: [stitch] tail must be a number from 0 to 60 s, not \"long\"" in r.stderr, r.stderr


def test_build_settings_are_defaults_for_the_command_line(tmp_path):
    script = project(tmp_path, "[build]\nformat = \"flac\"\njobs = 1\n")
    r = dramac("build", script, "-o", tmp_path / "out", "--json")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "play.flac").exists() and not (tmp_path / "out" / "play.wav").exists()
    r = dramac("build", script, "-o", tmp_path / "out2", "--format", "wav", "--json")
    assert (tmp_path / "out2" / "play.wav").exists() and not (tmp_path / "out2" / "play.flac").exists()


# ---------------------------------------------------------------------------------------------
# Settings that touch the machine: never from a script


@pytest.mark.parametrize(
    "header,line,col,key",
    [
        ("---\ntitle: Kitchen\nbuild: {jobs: 100000}\n---\n", 3, 9, "[build] jobs"),
        ("---\nbuild:\n  format: flac\n  backend: dia2\n---\n", 4, 3, "[build] backend"),
        ("---\ndia2:\n  cfg_scale: 3\n  repo: someone/other-weights\n---\n", 4, 3, "[dia2] repo"),
        ("---\ndia2: {device: cpu}\n---\n", 2, 8, "[dia2] device"),
        ("---\nembedded: {threads: 64}\n---\n", 2, 12, "[embedded] threads"),
        ("---\nrender: {cluster: 'evil.example:6379'}\n---\n", 2, 10, "[render] cluster"),
        ("+++\ntitle = \"Kitchen\"\n[dia2]\nuse_torch_compile = true\n+++\n", 4, 1, "[dia2] use_torch_compile"),
    ],
)
def test_front_matter_cannot_set_machine_settings(tmp_path, header, line, col, key):
    md = tmp_path / "play.md"
    md.write_text(header + "\n# Kitchen\n\nMOM: Dinner is ready.\n", encoding="utf-8")
    r = dramac("plan", md)
    assert_no_traceback(r)
    assert r.returncode == 1, r.stderr
    assert f"{md}:{line}:{col}: error: {key} cannot be set in a script" in r.stderr, r.stderr
    assert "set it in dramac.toml" in r.stderr


def test_every_refusal_is_reported_at_once_and_play_settings_stay_allowed(tmp_path):
    md = tmp_path / "play.md"
    md.write_text("---\nbuild: {format: flac, jobs: 8, backend: dia2}\nstitch: {scene_gap: 1.5}\n"
                  "dia2: {seed: 3, project_root: /, cache_dir: /tmp}\n---\n\n# Kitchen\n\nMOM: Dinner is ready.\n", encoding="utf-8")
    r = dramac("cast", md)
    assert r.returncode == 1
    errors = [l for l in r.stderr.splitlines() if ": error: " in l]
    assert [e.split(": error: ")[1].split(" ")[1] for e in errors] == ["jobs", "backend", "project_root", "cache_dir"]
    assert "[dia2] project_root is not a setting" in r.stderr
    md.write_text("---\nbuild: {format: flac}\nstitch: {scene_gap: 1.5}\ncast:\n  MOM: {voice: deep-male}\n---\n\n"
                  "# Kitchen\n\nMOM: Dinner is ready.\n", encoding="utf-8")
    r = dramac("cast", md, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["characters"][0]["voice"] == "deep-male"


@pytest.mark.parametrize("key", ["project_root", "cache_dir", "workspace"])
def test_the_project_folders_are_not_settings_anywhere(tmp_path, key):
    script = project(tmp_path, f"[dia2]\n{key} = \"/\"\n")
    r = dramac("plan", script, "--backend", "dia2")
    assert_no_traceback(r)
    assert r.returncode == 1 and f"dramac.toml:2:1: error: [dia2] {key} is not a setting" in r.stderr, r.stderr


def test_machine_settings_in_dramac_toml_are_still_read(tmp_path):
    script = project(tmp_path, "[build]\nbackend = \"nonesuch\"\n")
    r = dramac("plan", script)
    assert r.returncode == 1 and "unknown backend 'nonesuch'" in r.stderr, r.stderr


def test_every_backend_option_is_declared_and_every_declaration_is_an_option():
    import inspect

    from compiler import backends, settings_schema

    for name in backends.available():
        if not backends.backend_class(name).__module__.startswith("compiler."):
            continue  # a test double another test registered (tests/cluster_backends.py): not dramac's to declare
        options = {p for p in inspect.signature(backends.backend_class(name).__init__).parameters} - {"self", "workspace"}
        declared = {s.key for s in settings_schema.backend_settings(name) if s.table == name and s.kind != "driver"}
        assert options == declared, f"[{name}]: declare each constructor option once in the backend's `options`"
        signature = inspect.signature(backends.backend_class(name).__init__).parameters
        for s in settings_schema.backend_settings(name):
            if s.table == name and s.kind != "driver":
                assert signature[s.key].default == s.default, f"[{name}] {s.key}: the default comes from the declaration"


def test_worker_count_is_capped_at_the_usable_cores(tmp_path, monkeypatch, capsys):
    from compiler import build as driver, cli
    from compiler.config import usable_cores

    script = project(tmp_path, "[build]\njobs = 100000\n")
    asked = []

    def record(prepared, out_dir, formats, jobs, *rest, **options):
        asked.append(jobs)
        raise driver.CompileError([])

    monkeypatch.setattr(driver, "build", record)
    for flag in (0, 5000):
        with pytest.raises(Exception):
            cli._build_one(script, tmp_path / "out", None, None, flag, None, None, True)
    assert asked == [usable_cores(), usable_cores()]
    err = capsys.readouterr().err
    assert "dramac.toml:2:1: warning: [build] jobs: 100000 render workers asked for" in err
    assert "warning: --jobs: 5000 render workers asked for" in err


def test_cache_folder_must_be_a_folder_of_its_own(tmp_path):
    script = project(tmp_path, "")
    out = tmp_path / "out"
    for cache in (out, tmp_path, tmp_path.parent):
        r = dramac("build", script, "-o", out, "--cache-dir", cache)
        assert_no_traceback(r)
        assert r.returncode == 1 and "give --cache-dir a folder of its own" in r.stderr, r.stderr
    assert not any(p.is_dir() and len(p.name) == 2 for p in tmp_path.iterdir())  # no shard folders scattered


def test_settings_file_is_read_within_a_size_limit(tmp_path):
    script = project(tmp_path, "# padding\n" * 200_000)
    r = dramac("plan", script)
    assert_no_traceback(r)
    assert r.returncode == 1 and "dramac.toml:1:1: error: file is larger than 1 MiB" in r.stderr, r.stderr
