"""Planning: the script becomes the steps of a timeline, with dialogue packed into render clips.

1. Walk the AST into utterances (one speaker, one piece of speech, its source span) and hard
   boundaries (scene changes, [[pause]] directives, sound cues). Parentheticals such as (beat) become
   short pauses inside the clip; (laughs)-style cues stay in the text only if the backend says it can
   perform them. Long speeches are split at sentence ends so no single line dominates a clip.
2. Pack each run of utterances between hard boundaries into clips of at most two speakers, sized
   between the backend's minimum and maximum clip length. Boundaries are content-defined (as in
   FastCDC): a clip may end after a line whose own hash meets a condition, so editing one line moves
   at most the boundaries next to it, and scenes never influence each other. The incremental build
   re-renders only clips whose content hash changed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable

from compiler import plugins, rooms
from compiler.backends import Capabilities
from compiler.cast import NARRATOR, Cast
from compiler.nodes import Action, Dialogue, Parenthetical, Script, Speech
from compiler.plan_types import Clip, Plan, PlannedLine, SceneBreak, Step

# Clip sizing only, and fixed: a clip's boundaries, and so its cache key, must not move when the
# voices' measured pace does. The lengths `dramac plan` reports come from compiler/estimate.py.
WORDS_PER_SECOND = 2.6
# A clip boundary is allowed after a line whose hash is 0 modulo this: about one line in three.
BOUNDARY_MODULUS = 3
MAX_LINE_SECONDS = 12.0  # longer speeches are split at sentence ends (also keeps subtitles short)

# Parenthetical directions that mean silence, and how long. Matched on the lowercased text inside
# the parentheses, ignoring a trailing "then …" ("(beat, then)").
PAUSE_DIRECTIONS = {
    "beat": 0.5, "a beat": 0.5, "short beat": 0.35, "pause": 0.8, "a pause": 0.8, "short pause": 0.5,
    "long beat": 1.2, "a long beat": 1.2, "long pause": 1.5, "a long pause": 1.5, "silence": 2.0,
}

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+(?=\S)")
_WORD = re.compile(r"\w", re.UNICODE)


@dataclass(frozen=True)
class Utterance:
    line: PlannedLine
    est: float  # estimated seconds including the pause before it
    scene: int = 0  # its scene's index in Script.scenes (the manifest's rooms and chapters count the same way)


def pause_seconds(parenthetical: str) -> float | None:
    inner = parenthetical.strip().strip("()").strip().lower()
    inner = re.sub(r"[,;]?\s*then\b.*$", "", inner).strip(" ,.;")
    return PAUSE_DIRECTIONS.get(inner)


def estimate_seconds(spoken: str) -> float:
    return max(len(spoken.split()), 1) / WORDS_PER_SECOND


def speakable_heading(text: str) -> str:
    """`INT. KITCHEN - NIGHT` → `Interior. Kitchen, night.` so a narrator reads it naturally."""
    rest = text.strip()
    said = ""
    for prefix, words in (("INT./EXT.", "Interior, exterior."), ("INT/EXT", "Interior, exterior."),
                          ("I/E", "Interior, exterior."), ("INT.", "Interior."), ("EXT.", "Exterior."),
                          ("EST.", "Establishing."), ("INT ", "Interior."), ("EXT ", "Exterior.")):
        if rest.upper().startswith(prefix):
            said, rest = words, rest[len(prefix):].strip()
            break
    rest = re.sub(r"\s+[-–—]+\s+", ", ", rest)
    if rest.isupper():  # headings are written in capitals; read them as words, not as shouting
        rest = rest[:1] + rest[1:].lower()
    out = f"{said} {rest}".strip()
    return out if out.endswith((".", "!", "?")) else out + "."


def split_sentences(text: str, max_seconds: float = MAX_LINE_SECONDS) -> list[str]:
    """Split a long speech at sentence ends into pieces of at most `max_seconds` (estimated)."""
    if estimate_seconds(text) <= max_seconds:
        return [text]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        candidate = f"{current} {sentence}".strip()
        if current and estimate_seconds(candidate) > max_seconds:
            pieces.append(current)
            current = sentence
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


class _Walker:
    """Turns the AST into a flat sequence of utterances and boundary steps."""

    def __init__(self, cast: Cast, caps: Capabilities, normalize: Callable[[str], str], room_settings: rooms.RoomSettings):
        self.cast = cast
        self.caps = caps
        self.normalize = normalize
        self.items: list[Utterance | Step] = []
        self.pending_pause = 0.0
        self.pending_cues: list[str] = []
        self.previous = None  # the element or dialogue part walked last: what a directive follows
        self.rooms = room_settings
        self.room = None  # the room of the lines walked now: the scene heading's, or a [[room]] directive's
        self.scene = 0  # the index of the scene walked now, in Script.scenes

    def utter(self, speaker: str, original: str, span, extension=None) -> None:
        original = " ".join(original.split())
        for piece in split_sentences(original):
            spoken = self.normalize(piece)
            if not _WORD.search(spoken):
                continue
            if self.pending_cues:
                spoken = " ".join(self.pending_cues) + " " + spoken
            line = PlannedLine(speaker, piece, spoken, span, extension, round(self.pending_pause, 3), tuple(self.pending_cues),
                               room=rooms.heard_in(self.room, speaker, extension))
            self.items.append(Utterance(line, estimate_seconds(spoken) + self.pending_pause, self.scene))
            self.pending_pause = 0.0
            self.pending_cues = []

    def boundary(self, step: Step) -> None:
        self.pending_pause = 0.0
        self.pending_cues = []
        self.items.append(step)

    def directive(self, node) -> None:
        """A directive plans itself (compiler/plugins/): a boundary step, or a change to the line before."""
        plugin = plugins.by_node(node)
        if plugin is not None:
            plugin.plan(node, self)

    def dialogue(self, d: Dialogue) -> None:
        for part in d.parts:
            self.walk_part(d, part)
            self.previous = part

    def walk_part(self, d: Dialogue, part) -> None:
        if isinstance(part, Speech):
            self.utter(d.character, part.text, part.span, d.extension)
        elif isinstance(part, Parenthetical):
            seconds = pause_seconds(part.text)
            if seconds is not None:
                self.pending_pause += seconds
            elif part.text.strip().lower() in self.caps.nonverbal:
                self.pending_cues.append(part.text.strip().lower())
            # Other directions ("(whispering)") describe delivery the voice cannot take.
        else:
            self.directive(part)

    def walk(self, script: Script) -> list[Utterance | Step]:
        narrate = self.cast.narrator is not None
        for index, scene in enumerate(script.scenes):
            if self.items:  # no break before the first scene that has anything to play
                self.boundary(SceneBreak(index))
            self.scene = index
            self.previous = scene.heading
            self.room = self.rooms.room(rooms.heading_size(scene.heading.text if scene.heading else None, self.rooms))
            if narrate and scene.heading is not None:
                self.utter(NARRATOR, speakable_heading(scene.heading.text), scene.heading.span)
            for el in scene.body:
                if isinstance(el, Dialogue):
                    self.dialogue(el)
                elif isinstance(el, Action) and narrate:
                    self.utter(NARRATOR, el.text, el.span)
                elif isinstance(el, plugins.node_types()):
                    self.directive(el)
                self.previous = el
        return self.items


def boundary_allowed(line: PlannedLine) -> bool:
    digest = hashlib.sha256(f"{line.speaker}\x00{line.spoken}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % BOUNDARY_MODULUS == 0


def pack(utterances: list[Utterance], caps: Capabilities) -> list[list[Utterance]]:
    """Content-defined packing of one run of utterances (see the module docstring)."""
    groups: list[list[Utterance]] = []
    current: list[Utterance] = []
    length = 0.0
    for u in utterances:
        speakers = {x.line.speaker for x in current} | {u.line.speaker}
        if current and (len(speakers) > caps.max_speakers or length + u.est > caps.max_clip_seconds):
            groups.append(current)
            current, length = [], 0.0
        current.append(u)
        length += u.est
        if length >= caps.min_clip_seconds and boundary_allowed(u.line):
            groups.append(current)
            current, length = [], 0.0
    if current:
        # A short tail joins the clip before it when that stays legal: very short clips sound unnatural.
        if groups and length < caps.min_clip_seconds:
            prev = groups[-1]
            speakers = {x.line.speaker for x in prev + current}
            if len(speakers) <= caps.max_speakers and sum(x.est for x in prev) + length <= caps.max_clip_seconds:
                prev.extend(current)
                return groups
        groups.append(current)
    return groups


def make_clip(scene: int, group: list[Utterance], cast: Cast) -> Clip:
    lines = [u.line for u in group]
    speakers: tuple[str, ...] = tuple(dict.fromkeys(line.speaker for line in lines))
    voices = tuple(cast.voice_for(s) for s in speakers)
    return Clip(scene, speakers, voices, tuple(lines), round(sum(u.est for u in group), 2))


def plan_script(script: Script, cast: Cast, caps: Capabilities, normalize: Callable[[str], str], title: str | None = None,
                room_settings: rooms.RoomSettings | None = None) -> Plan:
    """`room_settings`: the [rooms] table (compiler/rooms.py); None: the defaults."""
    items = _Walker(cast, caps, normalize, room_settings or rooms.RoomSettings()).walk(script)
    steps: list[Step] = []
    run: list[Utterance] = []  # never across a scene break: each clip is of one scene

    def flush():
        for group in pack(run, caps):
            steps.append(make_clip(group[0].scene, group, cast))
        run.clear()

    for item in items:
        if isinstance(item, Utterance):
            run.append(item)
            continue
        flush()
        steps.append(item)
    flush()
    heading = title or (script.title_page.get("title") if script.title_page else None) or ""
    return Plan(script.span.file, heading, tuple(steps))
