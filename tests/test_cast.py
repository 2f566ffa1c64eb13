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
