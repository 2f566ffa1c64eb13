"""Casting by gender: the share of first names of known gender that automatic casting gives a voice
of that gender, and how many voices change when a character is added at the top of a play.

    .venv/bin/python benchmarks/casting.py

The names: given names that rank high for one sex only in the US Social Security Administration's
lists of the most popular baby names by decade, 1950s to 2010s (ssa.gov/oact/babynames/decades),
typed for this benchmark from those published rankings. Names the lists give to both sexes in number
(Jordan, Taylor, Casey…) are left out: their gender is not known from the name. "Before" is
casting as it was before gender counted: a stable hash of the name over the whole palette, measured
here by casting against the same palette with its genders hidden.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compiler import lock as lockfile  # noqa: E402
from compiler.backends.embedded import palette, voice_from_settings  # noqa: E402
from compiler.build import prepare  # noqa: E402
from compiler.cast import cast_script  # noqa: E402
from compiler.diagnostics import Sink, Span  # noqa: E402
from compiler.nodes import Dialogue, Scene, Script, Speech  # noqa: E402

FEMALE = """Mary Patricia Linda Barbara Elizabeth Jennifer Maria Susan Margaret Dorothy Lisa Nancy Karen Betty
Helen Sandra Donna Carol Ruth Sharon Michelle Laura Sarah Kimberly Deborah Jessica Shirley Cynthia Angela
Melissa Brenda Amy Anna Rebecca Virginia Kathleen Pamela Martha Debra Amanda Stephanie Carolyn Christine
Marie Janet Catherine Frances Ann Joyce Diane Alice Julie Heather Teresa Doris Gloria Evelyn Cheryl
Mildred Katherine Joan Ashley Judith Rose Janice Nicole Judy Christina Kathy Theresa Beverly Denise Tammy
Irene Jane Lori Rachel Marilyn Andrea Kathryn Louise Sara Anne Jacqueline Wanda Bonnie Julia Ruby Lois
Tina Phyllis Norma Paula Diana Annie Lillian Emily Robin Peggy Crystal Gladys Rita Dawn Connie Florence
Tracy Edna Tiffany Carmen Rosa Cindy Grace Wendy Victoria Edith Kim Sherry Sylvia Josephine Thelma
Shannon Sheila Ethel Ellen Elaine Marjorie Carrie Charlotte Monica Esther Pauline Emma Juanita Anita
Rhonda Hazel Amber Eva Debbie April Clara Lucille Joanne Eleanor Valerie Danielle Megan Alicia Suzanne
Michele Gail Bertha Darlene Veronica Jill Erin Geraldine Lauren Cathy Joann Lorraine Lynn Sally Regina
Erica Beatrice Dolores Bernice Audrey Yvonne Annette June Samantha Marion Dana Stacy Ana Renee Ida Vivian
Roberta Holly Brittany Melanie Loretta Yolanda Jeanette Laurie Katie Kristen Vanessa Alma Sue Elsie Beth
Jeanne Olivia Sophia Isabella Ava Mia Abigail Madison Chloe Ella Avery Harper Evelyn Scarlett Hannah
Natalie Zoe Lily Addison Aubrey Brooklyn Leah Savannah Audrey Claire Elena Marta""".split()

MALE = """James John Robert Michael William David Richard Charles Joseph Thomas Christopher Daniel Paul Mark
Donald George Kenneth Steven Edward Brian Ronald Anthony Kevin Jason Matthew Gary Timothy Jose Larry
Jeffrey Frank Scott Eric Stephen Andrew Raymond Gregory Joshua Jerry Dennis Walter Patrick Peter Harold
Douglas Henry Carl Arthur Ryan Roger Joe Juan Jack Albert Jonathan Justin Terry Gerald Keith Samuel Willie
Ralph Lawrence Nicholas Roy Benjamin Bruce Brandon Adam Harry Fred Wayne Billy Steve Louis Jeremy Aaron
Randy Howard Eugene Carlos Russell Bobby Victor Martin Ernest Phillip Todd Jesse Craig Alan Shawn Clarence
Sean Philip Chris Johnny Earl Jimmy Antonio Danny Bryan Tony Luis Mike Stanley Leonard Nathan Dale Manuel
Rodney Curtis Norman Allen Marvin Vincent Glenn Jeffery Travis Jeff Chad Jacob Lee Melvin Alfred Kyle
Francis Bradley Jesus Herbert Frederick Ray Joel Edwin Don Eddie Ricky Troy Randall Barry Alexander
Bernard Mario Leroy Francisco Marcus Micheal Theodore Clifford Miguel Oscar Jay Jim Tom Calvin Alex Jon
Ronnie Bill Lloyd Tommy Leon Derek Warren Darrell Jerome Floyd Leo Alvin Tim Wesley Gordon Dean Greg Jorge
Dustin Pedro Derrick Dan Lewis Zachary Corey Herman Maurice Vernon Roberto Clyde Glen Hector Shane Ricardo
Sam Rick Lester Brent Ramon Charlie Tyler Gilbert Gene Liam Noah Oliver Elijah Lucas Mason Logan Ethan
Sebastian Mateo Jackson Levi Owen Wyatt Isaac Gabriel Julian Caleb Luke Grayson Hudson Lincoln""".split()

TARGET_SHARE = 0.95

# Characters whose names no dictionary knows, introduced as writers introduce them: the gender is in
# the writer's words (a pronoun in the action, a relationship noun in apposition), and some sentences
# hold a possessive that is someone else's ("her son" says nothing of the woman speaking it).
INTRODUCTIONS = [
    ("female", "ZORBLAT (40s) checks her watch and sighs."),
    ("male", "KELDRAN (60s) rubs his eyes."),
    ("female", "VASHTI, a nurse, pulls off her gloves."),
    ("male", "ORREK wipes his hands on his apron."),
    ("male", "QUILLON, her son, slouches in the doorway."),
    ("female", "MIRABETH (70s), his grandmother, knits by the fire."),
    ("male", "TASSO, her husband, carries the bags."),
    ("female", "YLVENE, their daughter, reads on the stairs."),
    ("male", "BRANNOCK, Ellen's nephew, waves from the car."),
    ("female", "SORRELINE, his widow, stands apart from the others."),
    ("male", "DUVESSEN, a widower, tends his roses."),
    ("female", "PELLIDA, his aunt, pours the tea. She says nothing."),
    ("male", "GRAVIN, her grandson, kicks a ball against the wall."),
    ("female", "ANSELKA (30s) lets herself in and drops her keys."),
    ("male", "VORIN (50s) straightens his tie. He looks tired."),
    ("female", "TRESSALY, her sister, laughs at the joke."),
    ("male", "HOLLAND, their father, reads the paper. He frowns."),
    ("female", "CORVELLE, a queen without a country, surveys her court."),
]


def _play(names: list[str]) -> Script:
    scenes = []
    body = []
    for i, name in enumerate(names):
        at = Span("bench.fountain", 2 + 3 * i, 1, 2 + 3 * i, 10)
        body.append(Dialogue(at, name, None, [], "Hello.", parts=[Speech(at, "Hello.", "Hello.")], cue=name, cue_span=at))
    scenes.append(Scene(Span("bench.fountain", 1, 1, 1, 1), None, body))
    return Script(Span("bench.fountain", 1, 1, 1, 1), "fountain", None, scenes)


def _cast(names: list[str], voices) -> dict[str, str]:
    c = cast_script(_play(names), voices, {}, voice_from_settings, {}, Sink(), lambda k: Span.point("dramac.toml", 1, 1),
                    "embedded")
    return {m.name: m.voice for m in c.members}


def share_right(voices, names: list[str], gender: str, by_gender: dict) -> float:
    """One character per play, so no collision hides a wrong guess."""
    right = sum(by_gender[_cast([n.upper()], voices)[n.upper()].key] == gender for n in names)
    return right / len(names)


def introductions_right(by_gender: dict) -> tuple[int, list[str]]:
    """How many INTRODUCTIONS are cast a voice of the gender the writer's words give, each in a play
    of its own (parsed from Fountain, as a writer's script is); the names of those that are not."""
    wrong = []
    for gender, action in INTRODUCTIONS:
        name = action.split(",")[0].split(" (")[0].split(" ")[0]
        with tempfile.TemporaryDirectory() as folder:
            script = Path(folder) / "play.fountain"
            script.write_text(f"INT. HOUSE - DAY\n\n{action}\n\n{name}\nHello.\n")
            voice = prepare(script).cast.voice_for(name)
        if by_gender[voice.key] != gender:
            wrong.append(name)
    return len(INTRODUCTIONS) - len(wrong), wrong


def voices_changed_by_a_newcomer(locked: bool) -> int:
    """The issue's four-character play, then a one-line character added at the top; how many of the
    four voices change. With the lock: written after the first cast, as a build writes it."""
    play = "INT. KITCHEN - NIGHT\n\n{top}ELENA\nHello.\n\nMARTA\nHello.\n\nSAMUEL\nHello.\n\nTHOMAS\nHello.\n"
    changed = []
    for top in ("AARON", "BOB", "CLARA", "DAVE", "EVE", "FRANK", "GRACE", "HANK", "IDA", "JOE"):
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            (root / "dramac.toml").write_text("")
            script = root / "play.fountain"
            script.write_text(play.format(top=""))
            first = prepare(script)
            if locked:
                key = lockfile.script_key(first.parsed.project, first.parsed.source.path)
                lockfile.write(first.lock, lockfile.updated(first.lock, key, "embedded", first.cast, None))
            script.write_text(play.format(top=f"{top}\nEvening.\n\n"))
            second = prepare(script)
            changed.append(sum(second.cast.voice_for(m.name).key != m.voice.key for m in first.cast.members))
    return sum(changed)


def main() -> None:
    female, male = sorted(set(FEMALE)), sorted(set(MALE))
    pal = palette()
    by_gender = {v.key: v.gender for v in pal}
    hidden = [replace(v, gender="") for v in pal]
    now = (share_right(pal, female, "female", by_gender), share_right(pal, male, "male", by_gender))
    before = (share_right(hidden, female, "female", by_gender), share_right(hidden, male, "male", by_gender))
    total = len(female) + len(male)
    share_now = (now[0] * len(female) + now[1] * len(male)) / total
    share_before = (before[0] * len(female) + before[1] * len(male)) / total
    print(f"names: {len(female)} female, {len(male)} male (US SSA top names by decade, 1950s-2010s)")
    print(f"{'figure':<58}{'target':>10}{'before':>10}{'now':>10}")
    print(f"{'female names given a female voice':<58}{'':>10}{before[0]:>10.1%}{now[0]:>10.1%}")
    print(f"{'male names given a male voice':<58}{'':>10}{before[1]:>10.1%}{now[1]:>10.1%}")
    print(f"{'names given a voice of their gender':<58}{'>= 95%':>10}{share_before:>10.1%}{share_now:>10.1%}"
          f"   {'MET' if share_now >= TARGET_SHARE else 'NOT MET'}")
    issue = ["ELENA", "MARTA", "SAMUEL", "THOMAS"]
    wrong_before = sum(by_gender[v.key] != g for (n, v), g in zip(_cast(issue, hidden).items(), ["female", "female", "male", "male"]))
    wrong_now = sum(by_gender[v.key] != g for (n, v), g in zip(_cast(issue, pal).items(), ["female", "female", "male", "male"]))
    print(f"{'ELENA, MARTA, SAMUEL, THOMAS: voices of the other gender':<58}{'0':>10}{wrong_before:>10}{wrong_now:>10}")
    right, wrong = introductions_right(by_gender)
    print(f"{'unknown names introduced by pronoun or relationship noun':<58}{'':>10}{'':>10}"
          f"{right:>7}/{len(INTRODUCTIONS)}" + (f"   wrong: {', '.join(wrong)}" if wrong else ""))
    unlocked, locked = voices_changed_by_a_newcomer(False), voices_changed_by_a_newcomer(True)
    print(f"{'voices changed by adding a character at the top (10 tries)':<58}{'0':>10}{unlocked:>10}{locked:>10}"
          "   (before: no lock; now: with dramac.lock)")
    missed = [n for n in female if by_gender[_cast([n.upper()], pal)[n.upper()].key] != "female"]
    missed += [n for n in male if by_gender[_cast([n.upper()], pal)[n.upper()].key] != "male"]
    print(f"given a voice of the other gender: {', '.join(missed) or 'none'}")


if __name__ == "__main__":
    main()
