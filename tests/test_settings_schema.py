"""One declaration of every setting (compiler/settings_schema.py): the documents derived from it stay in
sync, the JSON Schema agrees with dramac's own checks, the typed values take their defaults from it,
and every error points at the key (line and column from parsers that report positions)."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from compiler import settings_doc, settings_schema
from tests.test_cli import assert_no_traceback, dramac

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "INT. KITCHEN - DAY\n\nMOM\nDinner is ready, come and eat.\n\nTOM\nComing, I am washing my hands.\n"


def test_docs_settings_md_is_generated_from_the_declarations():
    assert (ROOT / "docs" / "settings.md").read_text(encoding="utf-8") == settings_doc.markdown(), \
        "run: python -m compiler.settings_doc --write"


def test_docs_json_schema_is_generated_from_the_declarations():
    assert (ROOT / "docs" / "dramac.schema.json").read_text(encoding="utf-8") == settings_doc.schema_text(), \
        "run: python -m compiler.settings_doc --write"


def test_the_writer_reports_stale_documents_and_rewrites_them(tmp_path):
    assert settings_doc.main(["--check", str(tmp_path)]) == 1
    assert settings_doc.main(["--write", str(tmp_path)]) == 0
    assert settings_doc.main(["--check", str(tmp_path)]) == 0
    (tmp_path / "settings.md").write_text("edited by hand\n", encoding="utf-8")
    assert settings_doc.main(["--check", str(tmp_path)]) == 1


def _validator():
    schema = json.loads((ROOT / "docs" / "dramac.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("toml", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").rglob("dramac.toml")))
def test_the_examples_settings_files_are_valid_against_the_json_schema(toml):
    data = tomllib.loads((ROOT / toml).read_text(encoding="utf-8"))
    errors = [e.message for e in _validator().iter_errors(data)]
    assert not errors, errors


# Each document is accepted by both the JSON Schema and dramac, or refused by both.
AGREEMENT = [
    ("[stitch]\nscene_gap = 2.0\nphone_band_hz = [200, 3000]\n[master]\nmax_iterations = 3\n", True),
    ("[build]\nformat = \"FLAC, ogg\"\njobs = 2\n[cast.MOM]\nvoice = \"warm-female\"\ngender = \"Female\"\n", True),
    ("[cast.MOM]\npitch = 180\n[cast.MOM.dia2]\nseed = 4\n[narrator]\nenabled = true\nvoice = \"deep-male\"\n", True),
    ("[dia2]\ncfg_scale = 3.0\ndtype = \"auto\"\n[embedded]\nthreads = 2\n[lexicon]\nNguyen = \"Win\"\n", True),
    ("[render]\ncluster = \"auto\"\n[stage]\nchannels = \"mono\"\nsample_rate = 48000\n[cast.MOM]\npan = -0.4\n", True),
    ("[rooms]\ndefault = \"small\"\n[rooms.locations]\nCHAPEL = \"large\"\n", True),
    ("[stage]\nsample_rate = 12345.5\n", False),
    ("[stitch]\nscene_gap = 61\n", False),
    ("[stitch]\nscene_gapp = 1\n", False),
    ("[master]\ntolerance_lu = 0\n", False),
    ("[build]\nformat = \"aiff\"\n", False),
    ("[build]\njobs = -1\n", False),
    ("[cast.MOM]\npitch = 1000\n", False),
    ("[cast.MOM.dia2]\npitch = 100\n", False),
    ("[cast.MOM]\ngender = \"robot\"\n", False),
    ("[dia2]\ndtype = \"float16\"\n", False),
    ("[dia2]\ncfg_scale = 0\n", False),
    ("[embedded]\nthreads = 0\n", False),
    ("[lexicon]\nHello = \"\"\n", False),
    ("[mixing]\nlevel = 3\n", False),
    ("[dia2]\nproject_root = \"/\"\n", False),
]


@pytest.mark.parametrize("toml,valid", AGREEMENT)
def test_the_json_schema_and_dramac_agree(tmp_path, toml, valid):
    from compiler.config import load_settings
    from compiler.diagnostics import CompileError
    from compiler.project import Project

    schema_ok = not list(_validator().iter_errors(tomllib.loads(toml)))
    (tmp_path / "dramac.toml").write_text(toml, encoding="utf-8")
    try:
        load_settings(Project(tmp_path))
        dramac_ok = True
    except CompileError:
        dramac_ok = False
    assert (schema_ok, dramac_ok) == (valid, valid)


@pytest.mark.parametrize("cls_path,table", [("compiler.stitch:StitchSettings", "stitch"), ("compiler.master:MasterSettings", "master")])
def test_the_typed_settings_are_the_declared_table(cls_path, table):
    import importlib

    module, _, name = cls_path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    fields = {f.name: f.default for f in dataclasses.fields(cls)}
    assert fields == settings_schema.defaults(table)


def test_a_declared_range_is_the_one_the_stage_enforces():
    from compiler.stitch import StitchSettings

    tail = settings_schema.table_settings("stitch")["tail"]
    StitchSettings(tail=tail.high)
    with pytest.raises(ValueError, match="from 0 to 60 s"):
        StitchSettings(tail=tail.high + 0.001)


# ----------------------------------------------------------------------------------------------
# Diagnostics at the key


def _plan(tmp_path, toml: str, *extra):
    (tmp_path / "dramac.toml").write_text(toml, encoding="utf-8")
    script = tmp_path / "play.fountain"
    script.write_text(SCRIPT, encoding="utf-8")
    return dramac("plan", script, *extra)


@pytest.mark.parametrize("toml,where,message", [
    # the key, not the table; columns count characters (é is two bytes)
    ("[stitch]\n# é\ntail = 1\n  scene_gapp = 2.0\n", "4:3", "unknown setting 'scene_gapp' in [stitch]; did you mean 'scene_gap'?"),
    ("[cast.MOM]\nvoice = \"warm-female\"\n[cast.MOM.dia2]\nsead = 3\n", "4:1",
     "[cast.MOM.dia2] unknown voice setting 'sead' for the dia2 backend; did you mean 'seed'?"),
    ("[cast.MOM]\nvoice = \"warm-female\"\ntempo = 9\n", "3:1", "[cast.MOM] tempo must be a number from 0.5 to 2, not 9"),
    ("cast.MOM = { \"é\" = 1, pich = 2 }\n", "1:14", "[cast.MOM] unknown voice setting 'é'"),
    ("cast.MOM = { voice = \"deep-male\", pich = 2 }\n", "1:35", "[cast.MOM] unknown voice setting 'pich'; did you mean 'pitch'?"),
    ("[master]\n\"target_lufs\" = -50\n", "2:1", "[master] target_lufs must be a number from -40 to -5 LUFS, not -50"),
    ("stitch.lead_in = 99\n", "1:8", "[stitch] lead_in must be a number from 0 to 60 s, not 99"),
    ("[stich]\ntail = 1\n", "1:1", "unknown table [stich] in settings; did you mean 'stitch'?"),
    ("[dia2]\ndtype = \"float16\"\n", "2:1", "[dia2] dtype must be one of auto, bfloat16, float32, not \"float16\""),
])
def test_each_error_is_at_its_key_with_a_caret(tmp_path, toml, where, message):
    r = _plan(tmp_path, toml)
    assert_no_traceback(r)
    assert r.returncode == 1
    line, col = map(int, where.split(":"))
    assert f"dramac.toml:{where}: error: {message}" in r.stderr, r.stderr
    text = toml.splitlines()[line - 1]
    caret = next(l for l in r.stderr.splitlines() if l.strip().startswith("|") and "^" in l)
    assert caret.index("^") - caret.index("|") - 2 == col - 1, (caret, text)


def test_every_error_of_both_files_is_reported_at_once(tmp_path):
    (tmp_path / "dramac.toml").write_text("[stitch]\ntail = -1\n[build]\njobs = 1.5\n", encoding="utf-8")
    md = tmp_path / "play.md"
    md.write_text("---\nmaster:\n  target_lufs: 3\ncast:\n  MOM: {tempo: fast}\n---\n\n# Kitchen\n\nMOM: Dinner.\n",
                  encoding="utf-8")
    r = dramac("plan", md)
    assert r.returncode == 1
    errors = [l for l in r.stderr.splitlines() if ": error: " in l]
    assert [e.split(": error: ")[0].rsplit("/", 1)[1] for e in errors] == [
        "dramac.toml:2:1", "dramac.toml:4:1", "play.md:3:3", "play.md:5:9"], r.stderr


def test_toml_front_matter_errors_are_at_the_key(tmp_path):
    md = tmp_path / "play.md"
    md.write_text("+++\ntitle = \"Kitchen\"\n[stitch]\nscene_gap = \"long\"\n+++\n\n# Kitchen\n\nMOM: Dinner.\n",
                  encoding="utf-8")
    r = dramac("plan", md)
    assert r.returncode == 1
    assert f"{md}:4:1: error: [stitch] scene_gap must be a number from 0 to 60 s, not \"long\"" in r.stderr, r.stderr


def test_dramac_settings_lists_every_declaration():
    r = dramac("settings")
    assert r.returncode == 0
    for s in settings_schema.all_settings():
        if s.kind != "driver":
            assert f"{settings_doc.table_title(s)} {s.key}: {s.expected()}" in r.stdout
    assert dramac("settings", "--json-schema").stdout == settings_doc.schema_text()
