"""dramac.lock (compiler/lock.py): created, honoured, updated, conflicts, damaged; and casting that
never changes a voice behind the writer's back."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from compiler import lock as lockfile
from compiler.build import prepare
from compiler.cast import Locked, stable_index
from compiler.diagnostics import CompileError
from compiler.backends.embedded import palette

from tests.test_cast import _embedded_cast
from tests.scripts import script

PLAY = """Title: Lock test

INT. KITCHEN - NIGHT

ELENA (40s) checks her watch.

ELENA
You are late.

SAMUEL
Traffic.

MARTA
Sit down, both of you.

THOMAS
Is there tea?
"""


def _project(tmp_path: Path, text: str = PLAY, toml: str = "") -> Path:
    (tmp_path / "dramac.toml").write_text(toml)
    play = tmp_path / "play.fountain"
    play.write_text(text)
    return play


def _voices(prepared) -> dict[str, str]:
    return {m.name: m.voice.name for m in prepared.cast.members}


def _write_lock(prepared) -> None:
    scripts = lockfile.updated(prepared.lock, lockfile.script_key(prepared.parsed.project, prepared.parsed.source.path),
                               prepared.backend_name, prepared.cast, None)
    lockfile.write(prepared.lock, scripts)


def test_lock_is_created_as_toml_with_every_voice(tmp_path):
    play = _project(tmp_path)
    prepared = prepare(play)
    _write_lock(prepared)
    data = tomllib.loads((tmp_path / "dramac.lock").read_text())
    locked = data["scripts"]["play.fountain"]["embedded"]["voices"]
    assert {n: v["voice"] for n, v in locked.items()} == _voices(prepared)
    assert all(v["key"] == m.voice.key for m in prepared.cast.members for n, v in locked.items() if n == m.name)


def _newcomer(wanted, what: str) -> str:
    """The first name AARON0, AARON1, … for which wanted(name) holds ("Aaron…" is not a first name:
    automatic casting may give it any voice of the palette)."""
    for i in range(2000):
        if wanted(f"AARON{i}"):
            return f"AARON{i}"
    raise AssertionError(f"no newcomer {what}")


def _newcomer_that_displaces(existing: list[str], victim: str) -> str:
    """A name, first in the script, that takes `victim`'s voice when nothing is locked."""
    lines = [(n, "Hi.") for n in existing]
    before = {m.name: m.voice.key for m in _embedded_cast(script(lines))[0].members}

    def displaces(name: str) -> bool:  # sorts before everyone
        after = {m.name: m.voice.key for m in _embedded_cast(script([(name, "Hi.")] + lines))[0].members}
        return after[victim] != before[victim]

    return _newcomer(displaces, "displaces " + victim)


def test_adding_a_character_at_the_top_changes_no_other_voice(tmp_path):
    play = _project(tmp_path)
    first = prepare(play)
    _write_lock(first)
    newcomer = _newcomer_that_displaces(["ELENA", "SAMUEL", "MARTA", "THOMAS"], "SAMUEL")
    play.write_text(PLAY.replace("INT. KITCHEN - NIGHT\n", f"INT. KITCHEN - NIGHT\n\n{newcomer}\nEvening.\n"))
    # Without the lock SAMUEL would be re-cast (the newcomer takes his voice) ...
    (tmp_path / "dramac.lock").rename(tmp_path / "aside.lock")
    unlocked = prepare(play)
    assert _voices(unlocked)["SAMUEL"] != _voices(first)["SAMUEL"]
    (tmp_path / "aside.lock").rename(tmp_path / "dramac.lock")
    # ... with it nobody is.
    second = prepare(play)
    assert {n: v for n, v in _voices(second).items() if n != newcomer} == _voices(first)
    assert not [d for d in second.diagnostics if "lock" in d.message]


def test_a_locked_voice_is_honoured_over_automatic_casting(tmp_path):
    play = _project(tmp_path)
    prepared = prepare(play)
    _write_lock(prepared)
    text = (tmp_path / "dramac.lock").read_text()
    other_female = next(v for v in palette() if v.gender == "female" and v.name != _voices(prepared)["ELENA"])
    old = _voices(prepared)["ELENA"]
    (tmp_path / "dramac.lock").write_text(
        text.replace(f'voice = "{old}"', f'voice = "{other_female.name}"', 1)
        .replace(f'key = "{prepared.cast.voice_for("ELENA").key}"', f'key = "{other_female.key}"', 1))
    assert _voices(prepare(play))["ELENA"] == other_female.name


def test_a_change_the_lock_prevents_is_a_warning_that_says_how_to_accept_it(tmp_path):
    play = _project(tmp_path)
    first = prepare(play)
    male = next(v for v in palette() if v.gender == "male" and v.name not in _voices(first).values())
    scripts = lockfile.updated(first.lock, "play.fountain", "embedded", first.cast, None)
    scripts["play.fountain"]["embedded"]["voices"]["ELENA"] = {"voice": male.name, "key": male.key, "gender": "male",
                                                               "source": "auto"}
    lockfile.write(first.lock, scripts)
    prepared = prepare(play)
    assert _voices(prepared)["ELENA"] == male.name  # the lock wins over the evidence ...
    warning = next(d for d in prepared.diagnostics if "ELENA keeps" in d.message)
    assert "female" in warning.message and "dramac lock --update" in " ".join(warning.notes) and "ELENA" in " ".join(warning.notes)
    assert warning.span.line == 7  # at ELENA's first cue
    # ... until the writer accepts the change.
    updated = prepare(play, relock={"ELENA"})
    assert updated.cast.voice_for("ELENA").gender == "female"
    assert {n: v for n, v in _voices(updated).items() if n != "ELENA"} == {n: v for n, v in _voices(prepared).items() if n != "ELENA"}


def test_explicit_settings_win_over_the_lock_and_update_it(tmp_path):
    play = _project(tmp_path)
    _write_lock(prepare(play))
    (tmp_path / "dramac.toml").write_text('[cast.SAMUEL]\nvoice = "deep-male"\n')
    prepared = prepare(play)
    assert _voices(prepared)["SAMUEL"] == "deep-male"
    _write_lock(prepared)
    assert 'voice = "deep-male"' in (tmp_path / "dramac.lock").read_text()
    # A gender the locked voice does not have re-casts the character too (the writer said so).
    (tmp_path / "dramac.toml").write_text('[cast.THOMAS]\ngender = "female"\n')
    assert prepare(play).cast.voice_for("THOMAS").gender == "female"


@pytest.mark.parametrize("damage, expected", [
    ('version = 1\n[scripts."play.fountain".embedded.voices.ELENA]\nvoice = 3\nkey = "x"\n', "voice, key"),
    ("version = 1\n[scripts\n", "invalid lock file"),
    ("version = 7\n", "version must be 1"),
    ('version = 1\n[[scripts."play.fountain".embedded.clips]]\nline = "one"\n', "clips must be records"),
])
def test_a_damaged_lock_is_a_diagnostic_in_the_lock(tmp_path, damage, expected):
    play = _project(tmp_path)
    (tmp_path / "dramac.lock").write_text(damage)
    with pytest.raises(CompileError) as caught:
        prepare(play)
    d = caught.value.diagnostics[0]
    assert expected in d.message and d.span.file.endswith("dramac.lock")


def test_a_lock_cut_short_is_reported_where_it_ends(tmp_path):
    """A copy interrupted mid-string: tomllib says "at end of document"; the diagnostic points
    there (the end of the last line), not at the top of the file."""
    play = _project(tmp_path)
    _write_lock(prepare(play))
    whole = (tmp_path / "dramac.lock").read_text()
    cut = whole[: whole.index('voice = "') + len('voice = "') + 3]
    (tmp_path / "dramac.lock").write_text(cut)
    with pytest.raises(CompileError) as caught:
        prepare(play)
    d = caught.value.diagnostics[0]
    last = cut.split("\n")
    assert "invalid lock file" in d.message and "end of document" not in d.message
    assert (d.span.line, d.span.col) == (len(last), len(last[-1]) + 1)


def test_a_lock_voice_that_names_no_palette_voice_is_cast_again_with_a_warning(tmp_path):
    play = _project(tmp_path)
    (tmp_path / "dramac.lock").write_text(lockfile.render(
        {"play.fountain": {"embedded": {"voices": {"MARTA": {"voice": "../../etc", "key": "0", "gender": "",
                                                             "source": "auto"}}}}}))
    prepared = prepare(play)
    assert prepared.cast.voice_for("MARTA").gender == "female"
    assert any("not a voice of this backend" in d.message for d in prepared.diagnostics)


_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_names, st.fixed_dictionaries({"voice": _names, "key": _names, "gender": _names, "source": _names}),
                       min_size=1, max_size=4), _names)
def test_the_lock_writer_round_trips_any_name(voices, script_name):
    clip = {"line": 3, "speakers": [script_name], "voices": ["k"], "text": script_name, "spoken": "s", "identity": script_name,
            "key": "c"}
    scripts = {script_name: {"embedded": {"voices": voices, "clips": [clip]}}}
    assert tomllib.loads(lockfile.render(scripts))["scripts"] == scripts


# ---- the commands: `dramac lock [--update [NAME]]` and what `dramac cast` shows ----

import json as json_module  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _dramac(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "compiler", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)


def test_lock_command_writes_then_update_recasts_only_the_named_character(tmp_path):
    _project(tmp_path)
    first = _dramac(tmp_path, "lock", "play.fountain")
    assert first.returncode == 0, first.stderr
    locked = tomllib.loads((tmp_path / "dramac.lock").read_text())["scripts"]["play.fountain"]["embedded"]["voices"]
    assert set(locked) == {"ELENA", "SAMUEL", "MARTA", "THOMAS"}
    # Lock ELENA to a male voice nobody else has, as an older dramac might have.
    male = next(v for v in palette() if v.gender == "male" and v.name not in {e["voice"] for e in locked.values()})
    text = (tmp_path / "dramac.lock").read_text()
    (tmp_path / "dramac.lock").write_text(text.replace(f'key = "{locked["ELENA"]["key"]}"', f'key = "{male.key}"')
                                          .replace(f'voice = "{locked["ELENA"]["voice"]}"', f'voice = "{male.name}"'))
    shown = _dramac(tmp_path, "cast", "play.fountain", "--json")
    rows = {r["character"]: r for r in json_module.loads(shown.stdout)["characters"]}
    assert rows["ELENA"]["voice"] == male.name and rows["ELENA"]["locked"] and rows["ELENA"]["gender"] == "female"
    assert "ELENA keeps" in shown.stderr and "dramac lock --update play.fountain ELENA" in shown.stderr
    update = _dramac(tmp_path, "lock", "--update", "play.fountain", "elena")
    assert update.returncode == 0, update.stderr
    assert f"ELENA: {male.name} -> " in update.stdout
    after = tomllib.loads((tmp_path / "dramac.lock").read_text())["scripts"]["play.fountain"]["embedded"]["voices"]
    assert after["ELENA"]["gender"] == "female"
    assert {n: v for n, v in after.items() if n != "ELENA"} == {n: v for n, v in locked.items() if n != "ELENA"}


def test_lock_update_of_a_name_nobody_speaks_is_a_diagnostic(tmp_path):
    _project(tmp_path)
    run = _dramac(tmp_path, "lock", "--update", "play.fountain", "NOBODY")
    assert run.returncode == 1 and "no character named NOBODY" in run.stderr and "Traceback" not in run.stderr


def test_cast_says_when_evidence_is_split_and_how_to_decide(tmp_path):
    _project(tmp_path, PLAY.replace("ELENA (40s) checks her watch.", "ELENA (40s) checks his watch, fixes his tie."))
    run = _dramac(tmp_path, "cast", "play.fountain")
    assert run.returncode == 0, run.stderr
    assert "ELENA: evidence is split" in run.stdout and '[cast.ELENA] gender = "female" | "male" | "neutral"' in run.stdout
    assert "No dramac.lock yet" in run.stdout


def test_a_lock_in_the_way_of_a_folder_is_a_diagnostic_not_a_traceback(tmp_path):
    _project(tmp_path)
    (tmp_path / "dramac.lock").mkdir()
    run = _dramac(tmp_path, "lock", "play.fountain")
    assert run.returncode == 1 and "dramac.lock:1:1: error: is a directory" in run.stderr and "Traceback" not in run.stderr


def test_a_lock_that_cannot_be_written_is_a_diagnostic(tmp_path, monkeypatch):
    import errno

    import compiler.atomic

    play = _project(tmp_path)
    prepared = prepare(play)

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(compiler.atomic, "write_atomically", full_disk)
    with pytest.raises(CompileError) as caught:
        lockfile.save(prepared.lock, lockfile.updated(prepared.lock, "play.fountain", "embedded", prepared.cast, None))
    assert "cannot write dramac.lock: No space left on device" in caught.value.diagnostics[0].message


def test_a_locked_cast_never_loads_the_name_dictionary(tmp_path, monkeypatch):
    from compiler import gender

    play = _project(tmp_path)
    first = prepare(play)
    _write_lock(first)

    def no_dictionary():
        raise AssertionError("the name dictionary was loaded for a locked cast")

    monkeypatch.setattr(gender, "_detector", no_dictionary)
    again = prepare(play)
    assert _voices(again) == _voices(first)
    assert [m.guess for m in again.cast.members] == [m.guess for m in first.cast.members]


def test_locked_variants_are_rebuilt_from_the_palette_without_warnings(tmp_path):
    women = ["ELENA", "MARTA", "ROSA", "ANNA", "MARIA", "SOFIA"]  # six women, four female palette voices
    play = _project(tmp_path, "INT. ROOM - DAY\n\n" + "".join(f"{n}\nHi.\n\n" for n in women))
    first = prepare(play)
    assert any("~" in v for v in _voices(first).values())
    _write_lock(first)
    again = prepare(play, backend_name=None)
    assert {m.name: m.voice.key for m in again.cast.members} == {m.name: m.voice.key for m in first.cast.members}
    assert all(m.locked for m in again.cast.members) and not again.diagnostics


# --- the CI cache key (`dramac cache-key`) ----------------------------------------------------------


def _cache_key(*args, cwd):
    from tests.test_cli import dramac

    r = dramac("cache-key", *args, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_the_cache_key_is_the_same_from_any_directory_and_follows_the_locked_voices(tmp_path):
    from tests.test_cli import dramac

    (tmp_path / "dramac.toml").write_text("[cast.ELENA]\nvoice = \"low-female\"\n", encoding="utf-8")
    episodes = tmp_path / "season1"
    episodes.mkdir()
    for n in (1, 2):
        (episodes / f"ep{n}.fountain").write_text(PLAY, encoding="utf-8")
    assert dramac("lock", episodes / "ep1.fountain").returncode == 0
    key = _cache_key("season1/ep1.fountain", "season1/ep2.fountain", cwd=tmp_path)
    assert key.startswith("dramac-clips-embedded-") and len(key) == len("dramac-clips-embedded-") + 32
    # Another working directory, absolute paths, another order, another process: the same key.
    assert _cache_key(episodes / "ep2.fountain", episodes / "ep1.fountain", cwd="/") == key
    assert _cache_key("ep1.fountain", "ep2.fountain", cwd=episodes) == key
    # A comment in the settings changes nothing the lock records.
    (tmp_path / "dramac.toml").write_text("# voices\n[cast.ELENA]\nvoice = \"low-female\"\n", encoding="utf-8")
    assert _cache_key("season1/ep1.fountain", "season1/ep2.fountain", cwd=tmp_path) == key
    # A locked voice that changes changes the key; going back restores it.
    (tmp_path / "dramac.toml").write_text("[cast.ELENA]\nvoice = \"high-female\"\n", encoding="utf-8")
    assert dramac("lock", episodes / "ep1.fountain").returncode == 0
    changed = _cache_key("season1/ep1.fountain", "season1/ep2.fountain", cwd=tmp_path)
    assert changed != key
    (tmp_path / "dramac.toml").write_text("[cast.ELENA]\nvoice = \"low-female\"\n", encoding="utf-8")
    assert dramac("lock", episodes / "ep1.fountain").returncode == 0
    assert _cache_key("season1/ep1.fountain", "season1/ep2.fountain", cwd=tmp_path) == key
    # Only the scripts named count.
    assert _cache_key("season1/ep1.fountain", cwd=tmp_path) != key


def test_the_cache_key_follows_the_backend_identity(tmp_path):
    from tests.test_cli import dramac

    (tmp_path / "play.fountain").write_text(PLAY, encoding="utf-8")
    (tmp_path / "dramac.toml").write_text("[dia2]\nseed = 1\n", encoding="utf-8")
    one = _cache_key("play.fountain", "--backend", "dia2", cwd=tmp_path)
    assert one.startswith("dramac-clips-dia2-") and one != _cache_key("play.fountain", cwd=tmp_path)
    (tmp_path / "dramac.toml").write_text("[dia2]\nseed = 2\n", encoding="utf-8")  # part of Dia2's identity
    assert _cache_key("play.fountain", "--backend", "dia2", cwd=tmp_path) != one
    (tmp_path / "dramac.toml").write_text("[dia2]\nseed = -2\n", encoding="utf-8")
    r = dramac("cache-key", "play.fountain", cwd=tmp_path)
    assert r.returncode == 1 and "dramac.toml:2:1: error: [dia2] seed must be a whole number" in r.stderr, r.stderr


def test_the_episodes_of_a_series_share_their_characters_voices(tmp_path):
    """A character the first episode locked keeps that voice in another episode of the project that
    has not locked it yet, whatever else that episode holds (here its first speaker is a newcomer
    who would otherwise take another voice); characters new to it are cast around those voices."""
    ep1 = _project(tmp_path)
    first = prepare(ep1)
    _write_lock(first)
    ep2 = tmp_path / "ep2.fountain"
    newcomer = _newcomer_that_displaces(["ELENA", "SAMUEL", "MARTA", "THOMAS"], "SAMUEL")
    ep2.write_text(PLAY.replace("ELENA (40s) checks her watch.\n", f"{newcomer}\nMorning.\n\nELENA (40s) checks her watch.\n")
                   .replace("Sit down", "Sit, please"))
    second = prepare(ep2)
    voices = _voices(second)
    assert {n: voices[n] for n in _voices(first)} == _voices(first)
    assert voices[newcomer] not in _voices(first).values()
    # Without the first episode's lock, the newcomer would have displaced SAMUEL: the test is not vacuous.
    (tmp_path / "dramac.lock").unlink()
    assert _voices(prepare(ep2))["SAMUEL"] != _voices(first)["SAMUEL"]


def test_a_lock_is_read_as_tomllib_reads_it_by_the_quick_reader_or_by_tomllib():
    """lock.parse reads dramac's own layout without tomllib, and must give exactly what tomllib gives,
    for any text: what it cannot vouch for by rendering it again goes to tomllib."""
    odd = 'A "quoted" name\\ with\ttab, é, \x01 and a.dot'
    scripts = {
        "act 1/play.fountain": {"embedded": {
            "voices": {odd: {"voice": "low-male", "key": "k1", "gender": "male", "source": "auto"},
                       "ELENA": {"voice": "high-female", "key": "k2", "gender": "", "source": "settings"}},
            "takes": {"3f2a9c0d1e4b": {"take": 2, "count": 3, "line": 12, "speaker": odd, "text": "Hi."}},
            "clips": [{"line": 3, "lines": ["aa"], "speakers": [odd], "voices": ["k1"], "text": "t", "spoken": "s",
                       "identity": "i", "key": "c1", "takes": [1, 2]},
                      {"line": 9, "lines": [], "speakers": [], "voices": [], "text": "", "spoken": "",
                       "identity": "", "key": "c2"}]}},
        "b.md": {"dia2": {"voices": {}, "clips": []}},
    }
    text = lockfile.render(scripts)
    assert lockfile._read_rendered(text) is not None  # dramac's own text takes the quick way ...
    assert lockfile.parse(text) == tomllib.loads(text)  # ... and reads as tomllib reads it
    edits = [text.replace("version = 1\n", "version = 1  # edited\n"),  # a comment tomllib drops
             text.replace('line = 3\n', 'line   =   3\n'),  # other spacing
             text.replace('take = 2\n', 'take = 0x2\n'),  # TOML, not JSON
             text.replace('key = "c1"\n', 'key = "c1"\nkey2 = 1.5\n'),  # a value render would not write so
             text.replace('[[scripts.', '[[ scripts.', 1),
             text + '\n[scripts."x"]\nvoices = "not a table"\n']
    for edited in edits:
        assert edited != text and lockfile.parse(edited) == tomllib.loads(edited), edited
    for broken in (text.replace('text = "t"', 'text = "t'), text + "\nversion = 2\n", text.replace("version = 1", "version = 2")):
        try:
            expected = tomllib.loads(broken)
        except tomllib.TOMLDecodeError:
            with pytest.raises(tomllib.TOMLDecodeError):
                lockfile.parse(broken)
        else:
            assert lockfile.parse(broken) == expected


# ---- characters who stop speaking: their voices stay locked and reserved until `lock --update` ----

SAMUEL_SPEECH = "SAMUEL\nTraffic.\n\n"


def _locked_voices(root: Path) -> dict[str, str]:
    data = tomllib.loads((root / "dramac.lock").read_text())
    return {n: v["voice"] for n, v in data["scripts"]["play.fountain"]["embedded"]["voices"].items()}


def test_a_character_cut_for_one_build_gets_the_same_voice_back(tmp_path):
    """The trial's case: delete a character's only speech, build, paste it back, build."""
    _project(tmp_path)
    assert _dramac(tmp_path, "lock", "play.fountain").returncode == 0
    locked = tomllib.loads((tmp_path / "dramac.lock").read_text())["scripts"]["play.fountain"]["embedded"]["voices"]
    auto = locked["SAMUEL"]["voice"]
    # SAMUEL holds a male voice automatic casting would not give him today (cast before a newcomer came, say).
    male = next(v for v in palette() if v.gender == "male" and v.name not in {e["voice"] for e in locked.values()})
    text = (tmp_path / "dramac.lock").read_text()
    (tmp_path / "dramac.lock").write_text(text.replace(f'key = "{locked["SAMUEL"]["key"]}"', f'key = "{male.key}"')
                                          .replace(f'voice = "{auto}"', f'voice = "{male.name}"'))
    build = ("build", "play.fountain", "--format", "wav", "-o", "out")
    assert _dramac(tmp_path, *build).returncode == 0
    before = _locked_voices(tmp_path)
    assert before["SAMUEL"] == male.name != auto
    play = tmp_path / "play.fountain"
    play.write_text(PLAY.replace(SAMUEL_SPEECH, ""))
    cut = _dramac(tmp_path, *build)
    assert cut.returncode == 0, cut.stderr
    assert _locked_voices(tmp_path) == before  # kept, though SAMUEL does not speak now
    shown = _dramac(tmp_path, "cast", "play.fountain")
    row = next(line for line in shown.stdout.splitlines() if "SAMUEL" in line)
    assert f"{male.name} (locked," in row and "-" in row  # lines and words: none
    assert "keeps the voices of SAMUEL, not in the script" in shown.stdout
    data = json_module.loads(_dramac(tmp_path, "cast", "play.fountain", "--json").stdout)
    assert [(r["character"], r["voice"]) for r in data["locked_not_in_script"]] == [("SAMUEL", male.name)]
    assert "SAMUEL" not in {r["character"] for r in data["characters"]}
    play.write_text(PLAY)
    back = _dramac(tmp_path, *build)
    assert back.returncode == 0, back.stderr
    assert _locked_voices(tmp_path) == before  # SAMUEL has his voice again, and nobody else changed
    assert "lock" not in back.stderr


def _newcomer_on(voice_key: str, others: dict[str, Locked]) -> str:
    """A name that automatic casting gives `voice_key` in a play of `others` (locked) and itself."""
    def lands(name: str) -> bool:
        cast, _ = _embedded_cast(script([(name, "Hi.")] + [(n, "Hi.") for n in others]), locked=others)
        return cast.voice_for(name).key == voice_key

    return _newcomer(lands, "lands on " + voice_key)


def test_a_newcomer_does_not_take_the_voice_of_a_character_who_stopped_speaking(tmp_path):
    play = _project(tmp_path)
    first = prepare(play)
    _write_lock(first)
    samuel = first.cast.voice_for("SAMUEL")
    others = {m.name: Locked(m.voice.name, m.voice.key, m.voice.gender) for m in first.cast.members if m.name != "SAMUEL"}
    newcomer = _newcomer_on(samuel.key, others)  # without SAMUEL's lock entry, this one would get his voice
    with_newcomer = PLAY.replace("THOMAS\nIs there tea?\n", f"THOMAS\nIs there tea?\n\n{newcomer}\nEvening.\n")
    play.write_text(with_newcomer.replace(SAMUEL_SPEECH, ""))
    cut = prepare(play)
    assert cut.cast.voice_for(newcomer).key != samuel.key
    assert {n: v for n, v in _voices(cut).items() if n != newcomer} == {n: v for n, v in _voices(first).items() if n != "SAMUEL"}
    _write_lock(cut)
    play.write_text(with_newcomer)
    back = prepare(play)
    assert _voices(back) == {**_voices(first), newcomer: _voices(cut)[newcomer]}
    assert not [d for d in back.diagnostics if "lock" in d.message]


def test_lock_update_drops_characters_no_longer_in_the_script_and_says_so(tmp_path):
    play = _project(tmp_path)
    assert _dramac(tmp_path, "lock", "play.fountain").returncode == 0
    voices = _locked_voices(tmp_path)
    play.write_text(PLAY.replace(SAMUEL_SPEECH, "").replace("MARTA\nSit down, both of you.\n\n", ""))
    kept = _dramac(tmp_path, "lock", "play.fountain")  # without --update nothing is dropped
    assert kept.returncode == 0 and _locked_voices(tmp_path) == voices and "dropped" not in kept.stdout
    assert "kept for MARTA, SAMUEL, not in the script" in kept.stdout
    one = _dramac(tmp_path, "lock", "--update", "play.fountain", "marta")  # touches MARTA only
    assert one.returncode == 0, one.stderr
    assert f"MARTA: {voices['MARTA']} dropped (not in the script)" in one.stdout
    assert "SAMUEL: " not in one.stdout and "kept for SAMUEL, not in the script" in one.stdout
    assert _locked_voices(tmp_path) == {n: v for n, v in voices.items() if n != "MARTA"}
    every = _dramac(tmp_path, "lock", "--update", "play.fountain")
    assert every.returncode == 0, every.stderr
    assert f"SAMUEL: {voices['SAMUEL']} dropped (not in the script)" in every.stdout
    assert set(_locked_voices(tmp_path)) == {"ELENA", "THOMAS"}


def test_a_setting_that_takes_a_locked_voice_names_the_new_voice_and_how_to_keep_the_old(tmp_path):
    play = _project(tmp_path)
    first = prepare(play)
    _write_lock(first)
    samuel = _voices(first)["SAMUEL"]
    (tmp_path / "dramac.toml").write_text(f'[cast.THOMAS]\nvoice = "{samuel}"\n')
    prepared = prepare(play)
    new = _voices(prepared)["SAMUEL"]
    assert new != samuel
    warning = next(d for d in prepared.diagnostics if "SAMUEL's locked voice" in d.message)
    assert f"is now THOMAS's" in warning.message and f"SAMUEL: {samuel} -> {new}" in warning.message
    notes = " ".join(warning.notes)
    assert "[cast.THOMAS]" in notes and f'[cast.SAMUEL] voice = "{samuel}"' in notes
    assert warning.span.line == PLAY.splitlines().index("SAMUEL") + 1  # at SAMUEL's first cue
