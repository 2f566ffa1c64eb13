"""Front matter YAML is plain data: aliases are refused at the alias, so no header can expand to
gigabytes or loop forever."""

import time

import pytest

from compiler.parser import parse_file
from tests.test_cli import assert_no_traceback, dramac

BODY = "\n# One\n\nANNA: Hello there.\n"


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "---\n" + "\n".join(lines) + "\n---\n" + BODY


def test_billion_laughs_is_refused_at_the_first_alias_in_linear_time(tmp_path):
    p = tmp_path / "bomb.md"
    p.write_text(billion_laughs(), encoding="utf-8")
    assert len(p.read_bytes()) < 600
    started = time.perf_counter()
    parsed = parse_file(p)  # the old loader expanded 9**9 strings when the metadata was walked
    assert time.perf_counter() - started < 2.0
    errors = [d for d in parsed.diagnostics if d.is_error]
    assert errors and errors[0].span.line == 3 and errors[0].span.col == 10
    assert "aliases (*a0) are not allowed in front matter" in errors[0].message


def test_a_self_referencing_alias_is_a_diagnostic_not_exit_70(tmp_path):
    p = tmp_path / "loop.md"
    p.write_text("---\ntitle: &t [*t]\n---\n" + BODY, encoding="utf-8")
    for command in ("check", "ast", "cast", "plan"):
        r = dramac(command, p)  # the old loader built a list that contains itself: RecursionError, exit 70
        assert_no_traceback(r)
        assert r.returncode == 1, (command, r.stderr)
        assert f"{p}:2:12: error: front matter is not valid YAML: aliases (*t) are not allowed" in r.stderr


@pytest.mark.parametrize("header", ["---\ndefaults: &d {voice: warm-female}\ncast:\n  ANNA: *d\n---\n",
                                    "---\nbase: &b {tempo: 1.1}\ncast:\n  ANNA:\n    <<: *b\n---\n"])
def test_merge_keys_and_plain_aliases_are_refused_too(tmp_path, header):
    p = tmp_path / "alias.md"
    p.write_text(header + BODY, encoding="utf-8")
    errors = [d for d in parse_file(p).diagnostics if d.is_error]
    assert len(errors) == 1 and "are not allowed in front matter" in errors[0].message


def test_anchors_without_aliases_and_ordinary_yaml_still_read(tmp_path):
    p = tmp_path / "ok.md"
    p.write_text("---\ntitle: &t The Lighthouse\ncast:\n  ANNA: {voice: warm-female}\n---\n" + BODY, encoding="utf-8")
    parsed = parse_file(p)
    assert parsed.ok, parsed.diagnostics
    assert parsed.script.metadata["title"] == "The Lighthouse"
    assert parsed.script.metadata["cast"] == {"ANNA": {"voice": "warm-female"}}
