"""The directive registry (compiler/plugins/): a directive is one module, and the front end, the
stitcher and the mixer find it there without naming it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from compiler import directives, plugins
from compiler.diagnostics import Sink, Span
from compiler.nodes import Node
from compiler.plan_types import Plan, SoundCue
from compiler.project import Project
from compiler.stitch import StitchSettings, assemble, build_timeline

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Beep(Node):
    options: dict


@dataclass(frozen=True)
class BeepPiece:
    start: int
    length: int
    kind = "beep"

    def identity(self, a: int, b: int) -> str:
        return f"beep {self.length}"

    def samples(self, a, b, sources, loop, settings, sample_rate):
        return np.full(b - a, 0.25, np.float32)


class BeepPlugin(plugins.Directive):
    """A directive written for this test only: `[[beep length=0.5s]]`, a held tone the next line waits for."""

    rule = keyword = label = "beep"
    grammar = 'beep: "beep" option*'
    example = "[[beep length=0.5s]]"
    options = {"length": plugins.LENGTH}
    node = Beep
    order = 4

    def build(self, tree, check):
        options = check.options(tree, self.options, self.label)
        return Beep(check.span, options) if options is not None else None

    def place(self, cue, at, placing):
        from compiler.stitch import PlacedSound, cue_number

        end = at + placing.smp(cue_number(cue, "length", 1.0))
        placing.sounds.append(PlacedSound(cue, placing.sec(at), placing.sec(end)))
        placing.hold(end)
        placing.wait_for(end, "sfx")

    def piece(self, placed, start, end, sound, idx, fade, timeline, settings):
        return BeepPiece(start, end - start)


@pytest.fixture
def with_beep(monkeypatch):
    everything = (*plugins.plugins(), BeepPlugin())
    monkeypatch.setattr(plugins, "plugins", lambda: everything)
    for cached in (directives._parser, directives._keyword_re):
        cached.cache_clear()
    yield
    for cached in (directives._parser, directives._keyword_re):
        cached.cache_clear()


def test_a_new_directive_is_one_plugin(with_beep, tmp_path):
    sink = Sink()
    span = Span(str(tmp_path / "play.fountain"), 3, 1, 3, 24)
    node = directives.parse_directive("beep length=0.5s", span, Project(tmp_path), sink)
    assert isinstance(node, Beep) and node.options == {"length": 0.5} and not sink.items
    # Its option checks come from its declaration, with the diagnostic at the option.
    assert directives.parse_directive("beep length=0s", span, Project(tmp_path), sink) is None
    assert "beep option length: must be longer than zero" in sink.items[0].message
    # Placed and mixed through the registry: the stitcher and the mixer do not name it.
    cue = SoundCue("beep", None, (("length", 0.5),), span)
    timeline = build_timeline(Plan("play.fountain", "", (cue,)), {}, 1000, StitchSettings(room_tone=False, lead_in=0.1,
                                                                                          tail=0.1))
    audio = assemble(timeline, {}, StitchSettings(room_tone=False))
    assert len(audio) == 700
    assert np.all(audio[100:600] == np.float32(0.25)) and not audio[:100].any() and not audio[600:].any()


def test_no_stage_names_a_directive():
    """The front ends, planner, stitcher, mixer and plan types ask the registry; `music_stop` (the
    directive the issue counted six modules for) lives in its plugin module only."""
    stages = ["directives.py", "fountain.py", "markdown.py", "nodes.py", "plan.py", "plan_types.py", "pieces.py",
              "stitch.py", "sounds.py", "segments.py"]
    for name in stages:
        assert "music_stop" not in (ROOT / "compiler" / name).read_text(encoding="utf-8"), name
    assert "music_stop" not in (ROOT / "grammars" / "directive.lark").read_text(encoding="utf-8")


def test_registry_lists_the_builtin_directives():
    assert [p.rule for p in plugins.plugins()] == ["pause", "sfx", "music", "music_stop", "ambience",
                                                   "ambience_stop", "take", "room", "move"]
    assert plugins.keywords() == ("pause", "sfx", "music", "ambience", "take", "room", "move")
    assert "start: pause | sfx | music | music_stop | ambience | ambience_stop | take | room | move" in plugins.grammar_rules()
