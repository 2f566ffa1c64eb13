import os
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.cast import NARRATOR, cast_script, characters, stable_index
from compiler.diagnostics import Sink, Span

from tests.scripts import palette, resolve, script

ROOT = Path(__file__).resolve().parent.parent


def _cast(s, cast_settings=None, narrator=None, pal=None):
    sink = Sink()
    pal = pal or palette()
    c = cast_script(s, pal, cast_settings or {}, resolve, narrator or {}, sink, lambda *k: Span.point("dramac.toml", 1, 1))
    return c, sink


PLAY = script(
    [("MOM", "Dinner is ready."), ("TOM", "Coming!"), ("MOM", "Wash your hands first.")],
    [("GRANDPA", "In my day we ate at six."), ("ANNA", "Yes, Grandpa."), ("TOM", "Can I have more?")],
)


def test_counts_lines_and_words_in_order_of_appearance():
    apps = characters(PLAY)
    assert [a.name for a in apps] == ["MOM", "TOM", "GRANDPA", "ANNA"]
    assert (apps[0].lines, apps[0].words) == (2, 7)
    assert (apps[1].lines, apps[1].words) == (2, 5)


def test_every_character_gets_one_distinct_voice():
    a, _ = _cast(PLAY)
    keys = [m.voice.key for m in a.members]
    assert len(set(keys)) == len(keys) == 4


# What `_cast(PLAY)` assigns, computed in a fresh interpreter: a string hash (randomised per process)
# anywhere in casting would give another answer under another PYTHONHASHSEED.
_CAST_IN_A_CHILD = (
    "from tests.test_cast import PLAY, _cast\n"
    "print(';'.join(f'{m.name}={m.voice.name}' for m in _cast(PLAY)[0].members))\n"
)


@pytest.mark.parametrize("hash_seed", ["1", "2", "random"])
def test_casting_is_the_same_in_every_process(hash_seed):
    here = ";".join(f"{m.name}={m.voice.name}" for m in _cast(PLAY)[0].members)
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    child = subprocess.run([sys.executable, "-c", _CAST_IN_A_CHILD], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == here


def _slot(name: str) -> int:
    return stable_index(name, len(palette()))


def test_voice_depends_on_name_not_on_position_when_no_collision():
    alone = _cast(script([("GRANDPA", "Hello there.")]))[0].voice_for("GRANDPA")
    others = [n for n in ("MOM", "TOM", "ANNA", "BOB", "EVE", "ZED", "KIM", "LEO") if _slot(n) != _slot("GRANDPA")]
    first, second = others[0], next(n for n in others if _slot(n) != _slot(others[0]))
    late = _cast(script([(first, "Hi."), (second, "Hi."), ("GRANDPA", "Hello there.")]))[0]
    assert late.voice_for("GRANDPA") == alone


def test_a_collision_moves_the_later_character_to_the_next_free_voice():
    pal = palette()
    alone = _cast(script([("GRANDPA", "Hello there.")]))[0].voice_for("GRANDPA")
    rival = next(f"C{i}" for i in range(1000) if _slot(f"C{i}") == _slot("GRANDPA"))
    both = _cast(script([(rival, "Hi."), ("GRANDPA", "Hello there.")]))[0]
    assert both.voice_for(rival) == alone
    assert both.voice_for("GRANDPA") == pal[(_slot("GRANDPA") + 1) % len(pal)]


def test_more_characters_than_palette_voices_stay_distinct():
    many = script([(f"P{i}", "Hello.") for i in range(10)])
    c, _ = _cast(many, pal=palette(3))
    keys = [m.voice.key for m in c.members]
    assert len(set(keys)) == 10


def test_explicit_voice_from_settings_wins_and_is_case_insensitive():
    c, sink = _cast(PLAY, {"mom": {"voice": "v5"}})
    assert c.voice_for("MOM").name == "v5"
    assert all(m.voice.name != "v5" for m in c.members if m.name != "MOM")
    assert not sink.items


def test_cast_entry_for_unknown_character_warns_with_suggestion():
    _, sink = _cast(PLAY, {"GRANDPAA": {"voice": "v1"}})
    assert sink.items and "names no character" in sink.items[0].message
    assert "GRANDPA" in sink.items[0].notes[0]


def test_narrator_gets_its_own_voice_and_counts_action():
    s = script([("MOM", "Hi."), "The door opens slowly."])
    c, _ = _cast(s, narrator={"enabled": True})
    assert c.narrator is not None and c.narrator.name == NARRATOR
    assert c.narrator.voice.key != c.voice_for("MOM").key
    assert c.narrator.words == 4 + 4  # heading "INT. ROOM 1 - DAY" + action


# ---- casting by gender (compiler/gender.py) ----

from compiler import gender as gender_mod  # noqa: E402
from compiler.backends.embedded import palette as embedded_palette  # noqa: E402
from compiler.diagnostics import CompileError  # noqa: E402


def _embedded_cast(s, cast_settings=None, locked=None):
    sink = Sink()
    from compiler.backends.embedded import voice_from_settings

    c = cast_script(s, embedded_palette(), cast_settings or {}, voice_from_settings, {}, sink,
                    lambda *k: Span.point("dramac.toml", 1, 1), "embedded", locked)
    return c, sink


def test_the_issue_four_characters_get_voices_of_their_gender():
    # Before casting by gender all four got a voice of the other gender.
    c, _ = _embedded_cast(script([("ELENA", "Hi."), ("MARTA", "Hi."), ("SAMUEL", "Hi."), ("THOMAS", "Hi.")]))
    assert {m.name: m.voice.gender for m in c.members} == {"ELENA": "female", "MARTA": "female", "SAMUEL": "male",
                                                           "THOMAS": "male"}


def test_every_embedded_palette_voice_has_a_gender_and_dia2_claims_none():
    assert {v.gender for v in embedded_palette()} == {"female", "male"}
    from compiler.voices import make_voice

    assert make_voice("x", "dia2").gender == ""


@pytest.mark.parametrize("cue, expected", [
    ("MRS. THOMAS", "female"), ("FATHER BROWN", "male"), ("QUEEN", "female"), ("LADY MACBETH", "female"),
    ("SIR TOBY", "male"), ("SGT. PEPPER", None), ("DR. AMES", None), ("DR. ELENA VOSS", "female"),
    # a word that describes the character is no title: the name after it is a first name
    ("OLD TOM", "male"), ("LITTLE ANNA", "female"), ("YOUNG DR. AMES", None),
])
def test_honorifics_decide_and_titles_say_nothing(cue, expected):
    assert gender_mod.guess(cue).gender == expected


def test_pronouns_after_the_introduction_decide_an_unknown_name():
    from compiler.nodes import Action

    intro = Action(Span("t.fountain", 2, 1, 2, 10), "ZORBLAT (40s) checks her watch. She frowns.")
    s = script([intro, ("ZORBLAT", "Late again.")])
    c, _ = _embedded_cast(s)
    member = c.members[0]
    assert member.guess.gender == "female" and member.guess.certainty == "clear"
    assert member.voice.gender == "female"
    assert any("pronoun" in r for r in member.guess.reasons)


def test_pronouns_stop_at_the_next_character_introduced():
    from compiler.nodes import Action

    intro = Action(Span("t.fountain", 2, 1, 2, 10), "ZORBLAT waits. QUIMBY enters, his coat wet, his hat gone.")
    s = script([intro, ("ZORBLAT", "Late."), ("QUIMBY", "Sorry.")])
    c, _ = _embedded_cast(s)
    assert c.members[0].guess.gender is None
    assert c.members[1].guess.gender == "male"


def test_split_evidence_is_said_and_not_hidden():
    from compiler.nodes import Action

    intro = Action(Span("t.fountain", 2, 1, 2, 10), "SAMUEL (30s) adjusts her scarf.")
    c, _ = _embedded_cast(script([intro, ("SAMUEL", "Ready.")]))
    g = c.members[0].guess
    assert g.certainty == "split" and "split" in g.summary and "Samuel" in g.summary


def test_gender_setting_wins_and_a_bad_one_is_a_diagnostic():
    c, _ = _embedded_cast(script([("THOMAS", "Hi.")]), {"THOMAS": {"gender": "female"}})
    assert c.members[0].voice.gender == "female" and c.members[0].guess.certainty == "set"
    with pytest.raises(CompileError) as caught:
        _embedded_cast(script([("THOMAS", "Hi.")]), {"THOMAS": {"gender": "feminine"}})
    assert "gender must be" in caught.value.diagnostics[0].message


def test_reordering_characters_changes_no_voice():
    lines = [("ELENA", "Hi."), ("MARTA", "Hi."), ("ROSA", "Hi."), ("ANNA", "Hi."), ("MARIA", "Hi."), ("SAMUEL", "Hi.")]
    forward = {m.name: m.voice.key for m in _embedded_cast(script(lines))[0].members}
    backward = {m.name: m.voice.key for m in _embedded_cast(script(lines[::-1]))[0].members}
    assert forward == backward


def test_a_gender_out_of_voices_gets_variants_of_its_own_gender():
    names = ["ELENA", "MARTA", "ROSA", "ANNA", "MARIA", "SOFIA"]  # six women, four female palette voices
    c, _ = _embedded_cast(script([(n, "Hi.") for n in names]))
    assert all(m.voice.gender == "female" for m in c.members)
    assert len({m.voice.key for m in c.members}) == 6


def test_casting_time_grows_linearly_with_the_number_of_characters(tmp_path):
    """Thousands of characters, each introduced in capitals, all of one gender: the introductions'
    search and the variants of an exhausted gender stay linear (a variant search from step 1 for
    every character was quadratic)."""
    from compiler.parser import parse_file
    from tests.timing import assert_linear

    def make(size: int) -> str:
        blocks, i = [], 0
        while sum(map(len, blocks)) < size:
            blocks.append(f"MRS. X{i} waits, her hat on. DR. DR. DR.\n\nMRS. X{i}\nHello.\n\n")
            i += 1
        return "INT. ROOM - DAY\n\n" + "".join(blocks)

    def cast_of(text: str):
        path = tmp_path / "many.fountain"
        path.write_text(text)
        c, _ = _embedded_cast(parse_file(path).script)
        assert len({m.voice.key for m in c.members}) == len(c.members)

    assert_linear(cast_of, make, small_bytes=10_000, limit_s=20.0)


# ---- relationship nouns in the introduction; what `dramac cast` says ----

def _introduced(text: str, *names: str):
    """The guesses for `names`, each speaking once, after one action `text` that introduces them."""
    from compiler.nodes import Action

    intro = Action(Span("t.fountain", 2, 1, 2, 10), text)
    c, _ = _embedded_cast(script([intro, *[(n, "Hello.") for n in names]]))
    return {m.name: m.guess for m in c.members}


# Names the dictionary does not know, so the script's words alone decide; the expected gender is the
# relationship noun's, as the trial's script wrote it ("MARK, her husband", "CHRIS, her son").
@pytest.mark.parametrize("text, expected", [
    ("ZORBLAT, her husband, reads the paper.", "male"),
    ("ZORBLAT, her son, slouches in the doorway.", "male"),
    ("ZORBLAT, her nephew, raids the fridge.", "male"),
    ("ZORBLAT, her grandson, naps on the couch.", "male"),
    ("ZORBLAT (70s), his grandmother, knits in silence.", "female"),
    ("ZORBLAT, his niece, waves.", "female"),
    ("ZORBLAT, her uncle, nods.", "male"),
    ("ZORBLAT, his aunt, nods.", "female"),
    ("ZORBLAT, Linda's teenage son, shrugs.", "male"),
    ("ZORBLAT, a widow, waits.", "female"),
    ("ZORBLAT, his ex-wife, waits.", "female"),
    ("ZORBLAT, her son's wife, waits.", "female"),  # the apposition is the wife, not the son
])
def test_a_relationship_noun_right_after_the_name_is_the_characters_gender(text, expected):
    g = _introduced(text, "ZORBLAT")["ZORBLAT"]
    assert (g.gender, g.certainty) == (expected, "clear"), g.reasons
    assert not any("pronoun" in r for r in g.reasons), g.reasons  # the possessive is someone else's


@pytest.mark.parametrize("text", [
    "ZORBLAT, their cousin, waits.",  # a noun of no gender
    "ZORBLAT, her friend, waits.",
    "ZORBLAT waits. Her son is late.",  # not in apposition: the son is someone else
    "ZORBLAT, whose son is late, waits.",
    "ZORBLAT calls his teenage daughter.",
    "ZORBLAT hugs Linda's son.",
])
def test_a_relationship_noun_elsewhere_or_without_gender_says_nothing(text):
    assert _introduced(text, "ZORBLAT")["ZORBLAT"].gender is None


def test_the_trials_family_gets_voices_of_the_genders_the_script_gives():
    # "CHRIS, her son" got a female voice: the "her" was counted for Chris.
    guesses = _introduced("LINDA (50s) checks her watch. MARK, her husband, reads. CHRIS, her son, slouches. "
                          "DANIEL, her grandson, naps.", "LINDA", "MARK", "CHRIS", "DANIEL")
    assert {n: (g.gender, g.certainty) for n, g in guesses.items()} == {
        "LINDA": ("female", "clear"), "MARK": ("male", "clear"), "CHRIS": ("male", "clear"), "DANIEL": ("male", "clear")}


def test_each_reason_is_said_once():
    g = _introduced("ZORBLAT adjusts her scarf and his tie.", "ZORBLAT")["ZORBLAT"]
    assert g.certainty == "split"
    assert g.summary.count("after the introduction") == 1, g.summary
    assert "1 female pronoun and 1 male pronoun" in g.summary


def _dramac(*args, cwd):
    env = dict(os.environ, COLUMNS="300", NO_COLOR="1", TERM="dumb")
    return subprocess.run([sys.executable, "-m", "compiler", *args], capture_output=True, text=True, cwd=cwd,
                          env=dict(env, PYTHONPATH=str(ROOT)), timeout=120)


def test_cast_says_a_set_voice_overrides_and_a_locked_voice_is_locked(tmp_path):
    (tmp_path / "dramac.toml").write_text('[cast.PETER]\nvoice = "high-female"\n', encoding="utf-8")
    (tmp_path / "play.fountain").write_text("INT. KITCHEN - NIGHT\n\nDR. AMES waits.\n\nPETER\nHi.\n\n"
                                            "DR. AMES\nHello.\n", encoding="utf-8")
    assert _dramac("lock", "play.fountain", cwd=tmp_path).returncode == 0
    r = _dramac("cast", "play.fountain", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    peter = next(line for line in r.stdout.splitlines() if "PETER" in line)
    assert "voice set in the settings; it overrides the script's evidence: Peter is a male first name" in peter
    ames = next(line for line in r.stdout.splitlines() if line.startswith("DR. AMES:"))
    assert "is locked in dramac.lock" in ames and "chosen" not in ames, ames
