from compiler.cast import NARRATOR, cast_script, characters
from compiler.diagnostics import Sink, Span

from tests.scripts import palette, resolve, script


def _cast(s, cast_settings=None, narrator=None, pal=None):
    sink = Sink()
    pal = pal or palette()
    c = cast_script(s, pal, cast_settings or {}, resolve, narrator or {}, sink, lambda k: Span.point("dramac.toml", 1, 1))
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


def test_every_character_gets_one_distinct_voice_deterministically():
    a, _ = _cast(PLAY)
    b, _ = _cast(PLAY)
    assert [(m.name, m.voice) for m in a.members] == [(m.name, m.voice) for m in b.members]
    keys = [m.voice.key for m in a.members]
    assert len(set(keys)) == len(keys) == 4


def test_voice_depends_on_name_not_on_position_when_no_collision():
    solo = script([("GRANDPA", "Hello there.")])
    c1, _ = _cast(solo)
    c2, _ = _cast(PLAY)
    # GRANDPA's hash slot is free in both scripts unless taken earlier; either way it is stable per script.
    assert c1.voice_for("GRANDPA") == _cast(solo)[0].voice_for("GRANDPA")
    assert c2.voice_for("GRANDPA").key in {v.key for v in palette()}


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
