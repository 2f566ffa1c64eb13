"""Directive plugins: each `[[...]]` directive is one module of this package.

A plugin module holds everything about its directive, the way mistune keeps a plugin's syntax and
rendering in one file:

- its syntax: the keyword, a Lark rule (joined into the directive grammar, grammars/directive.lark
  holds only what all directives share: paths, options, terminals), an example for diagnostics,
  and its options (`OptionSpec`: kind and range);
- its checks: `build(tree, check)` turns the parsed rule into an AST node, reporting problems at
  the directive's span through `check` (compiler.directives.Checker);
- how it is planned: `plan(node, walker)` (compiler.plan's walker: a boundary step, or a change to
  the line before it);
- how it is placed on the timeline: `place(cue, at, placing)` (compiler.stitch.Placing);
- how it is mixed: `piece(placed, ...)`, the piece (compiler.pieces) it becomes.

A module exports its directive as `PLUGIN`, or a family of directives as `PLUGINS` (ambience.py
holds `[[ambience: PATH]]` and `[[ambience stop]]`).

The front ends (compiler.directives), the planner, the stitcher and the mixer ask this registry
instead of naming directives. Adding a directive is adding a module and its name to `BUILTIN`
(docs/directives.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from lark import Tree

# The directive modules, in the order their rules are tried in the grammar (music_stop before
# music would not matter to LALR, but the order also fixes docs and error listings).
BUILTIN = ("pause", "sfx", "music", "music_stop", "ambience", "take", "room", "move")


@dataclass(frozen=True)
class OptionSpec:
    kind: str  # "duration" | "db" | "bool" | "number" ("name": a word the plugin checks itself)
    low: float | None = None  # inclusive bounds for numbers
    high: float | None = None
    positive: bool = False  # durations that must be > 0, not just >= 0


# Option kinds several directives share.
LEVEL = OptionSpec("db", -60.0, 24.0)
FADE = OptionSpec("duration", 0.0, 60.0)
START = OptionSpec("duration", 0.0, None)
LENGTH = OptionSpec("duration", 0.0, None, positive=True)
BOOL = OptionSpec("bool")
PAN = OptionSpec("number", -1.0, 1.0)  # a place on the stereo stage: -1 left, 0 centre, 1 right (compiler/stage.py)


class Directive:
    """The base of a directive plugin. Subclasses set the class attributes and override what their
    directive does; the defaults suit a directive that is a sound cue between lines."""

    rule: ClassVar[str]  # the grammar rule and the plan's SoundCue.kind, e.g. "music_stop"
    keyword: ClassVar[str]  # the word that starts it, lowercase, e.g. "music"
    label: ClassVar[str]  # how messages name it, e.g. "music stop"
    grammar: ClassVar[str]  # the Lark rule(s); may use path, option, VALUE, _COLON
    example: ClassVar[str]
    options: ClassVar[dict[str, OptionSpec]] = {}
    node: ClassVar[type]  # the AST node class it builds (compiler.nodes.Node)
    reads_file: ClassVar[bool] = False  # its cue names a sound file that compiler.sounds loads
    order: ClassVar[int] = 9  # where its pieces are added in the mix (tone 0, takes 1)

    # -- syntax and checks ---------------------------------------------------------------------
    def build(self, tree: Tree, check) -> Any:
        """The AST node for a parsed directive, or None after reporting its errors to `check`."""
        raise NotImplementedError

    bare_words: ClassVar[tuple[str, ...]] = ()  # literal words of its rule besides the keyword (`stop`)

    def argument(self) -> str | None:
        """What the one word after the keyword is ("duration"), for a directive that takes one: the
        messages for a missing or an extra word name it. None: the generic messages."""
        return None

    def describe(self, node) -> str:
        """How the studio's page shows the directive (compiler/studio/screenplay.py)."""
        path = getattr(node, "path", None)
        return f"{self.label}: {path}" if path else self.label

    def missing_argument(self, example: str) -> str | None:
        """The message when the directive ends too early, or None for the generic one."""
        what = self.argument()
        return f"{self.label} needs a {what}, e.g. {example}" if what else None

    def unexpected(self, word: str, example: str) -> str | None:
        """The message for an unexpected `word`, or None for the generic one."""
        what = self.argument()
        return f"unexpected '{word}' in {self.label}; write one {what}, e.g. {example}" if what else None

    def check_script(self, script, sink) -> None:
        """Checks of its nodes against the whole script (compiler.checks), e.g. names it refers to."""

    # -- planning ------------------------------------------------------------------------------
    def plan(self, node, walker) -> None:
        """By default a directive is a sound cue between clips (compiler.plan_types.SoundCue)."""
        from compiler.plan_types import SoundCue

        walker.boundary(SoundCue(self.rule, getattr(node, "resolved", None), tuple(sorted(node.options.items())),
                                 node.span))

    def input_files(self, plan) -> list[str]:
        """Files whose bytes the outputs depend on (compiler.build_record) beside cue paths."""
        return []

    # -- timeline and mix ----------------------------------------------------------------------
    def place(self, cue, at: int, placing) -> None:
        raise NotImplementedError(f"{self.rule} is not placed on the timeline")

    def scene_change(self, at: int, placing) -> None:
        """A scene ends and the next begins at sample `at` (the middle of the scene gap); by default
        nothing that a directive placed depends on scenes."""

    def piece(self, placed, start: int, end: int, sound: str, idx, fade: int, timeline, settings):
        raise NotImplementedError(f"{self.rule} has no piece")



class FileDirective(Directive):
    """A directive whose argument is a file of the project (`[[sfx: PATH …]]`): its node holds the
    path as written, the path resolved inside the project, and the checked options."""

    def build(self, tree: Tree, check) -> Any:
        options = check.options(tree, self.options, self.label)
        written, resolved = check.path(tree.children[0].children[0])
        if resolved is None or options is None:
            return None
        return self.node(check.span, written, resolved, options)


class StopDirective(Directive):
    """`[[KIND stop]]`: ends the open sound of kind `stops` (music, an ambience bed) with its own
    fade-out or `fade_out`. A cue on the timeline that makes no piece of its own."""

    stops: ClassVar[str]  # the rule of the sound it ends
    options = {"fade_out": FADE}
    # `stop` is a keyword only when written bare: a file called stop.wav is still a path.
    bare_words = ("stop",)

    def build(self, tree: Tree, check) -> Any:
        options = check.options(tree, self.options, self.label)
        return self.node(check.span, options) if options is not None else None

    def describe(self, node) -> str:
        return f"{self.stops} stops"

    def place(self, cue, at: int, placing) -> None:
        from compiler.diagnostics import warning
        from compiler.stitch import cue_number

        if not placing.open.get(self.stops):
            placing.diagnostics.append(warning(f"{self.rule} but no {self.stops} is playing here", cue.span))
        fade = cue_number(cue, "fade_out", -1.0, minimum=None)
        placing.close(self.stops, at, fade if fade >= 0 else None)


@lru_cache(maxsize=1)
def plugins() -> tuple[Directive, ...]:
    found = []
    for name in BUILTIN:
        module = importlib.import_module(f"compiler.plugins.{name}")
        # A module holds one directive (PLUGIN) or a family of them (PLUGINS: a sound and its stop).
        found.extend(getattr(module, "PLUGINS", None) or (module.PLUGIN,))
    return tuple(found)


def by_rule(rule: str) -> Directive | None:
    return next((p for p in plugins() if p.rule == rule), None)


def by_node(node) -> Directive | None:
    return next((p for p in plugins() if type(node) is p.node), None)


def keywords() -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.keyword for p in plugins()))


def for_keyword(keyword: str) -> list[Directive]:
    return [p for p in plugins() if p.keyword == keyword]


def node_types() -> tuple[type, ...]:
    return tuple(p.node for p in plugins())


def grammar_rules() -> str:
    """The `start` rule and every plugin's rules, to be joined with grammars/directive.lark."""
    rules = [f"start: {' | '.join(p.rule for p in plugins())}"]
    rules += [p.grammar.strip() for p in plugins()]
    return "\n".join(rules) + "\n"


def piece_order(kind: str) -> int:
    """Where pieces of `kind` are added in the mix: room tone, then takes, then each plugin's."""
    fixed = {"tone": 0, "take": 1}
    if kind in fixed:
        return fixed[kind]
    return next(p.order for p in plugins() if p.rule == kind)


def input_files(plan) -> list[str]:
    return sorted({path for p in plugins() for path in p.input_files(plan)})
