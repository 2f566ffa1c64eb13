"""What the page draws: the script as screenplay blocks, the scenes' start times, and waveform peaks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compiler import nodes, plugins

PEAK_BUCKETS = 1200  # columns of the overview; the page scales them to its width


def blocks(script: nodes.Script) -> list[dict]:
    """The script as the page shows it, in order: title, scene headings, action, dialogue (cue,
    parentheticals and speech with their script lines), transitions and sound cues."""
    out: list[dict] = []
    if script.title_page is not None and script.title_page.get("Title"):
        out.append({"kind": "title", "text": script.title_page.get("Title"), "line": script.title_page.span.line})
    for index, scene in enumerate(script.scenes):
        if scene.heading is not None:
            out.append({"kind": "scene", "text": scene.heading.text, "line": scene.heading.span.line, "scene": index})
        for element in scene.body:
            block = _block(element)
            if block is not None:
                out.append(block)
    return out


def _block(element) -> dict | None:
    line = element.span.line
    if isinstance(element, nodes.Dialogue):
        parts = []
        for part in element.parts or [nodes.Speech(element.span, element.text)]:
            if isinstance(part, nodes.Speech):
                parts.append({"kind": "speech", "text": part.text, "line": part.span.line, "end_line": part.span.end_line})
            elif isinstance(part, nodes.Parenthetical):
                parts.append({"kind": "paren", "text": part.text, "line": part.span.line})
            else:
                parts.append({"kind": "sound", "text": _directive(part), "line": part.span.line})
        cue = element.character + (f" ({element.extension})" if element.extension else "")
        return {"kind": "dialogue", "character": element.character, "cue": cue, "dual": element.dual,
                "line": element.cue_span.line if element.cue_span else line, "parts": parts}
    if isinstance(element, nodes.Action):
        return {"kind": "action", "text": element.text, "line": line, "end_line": element.span.end_line}
    if isinstance(element, nodes.Transition):
        return {"kind": "transition", "text": element.text, "line": line}
    if isinstance(element, (nodes.Centered, nodes.Lyrics)):
        return {"kind": "action", "text": element.text, "line": line, "end_line": element.span.end_line}
    if isinstance(element, nodes.Section):
        return {"kind": "section", "text": element.text, "line": line}
    if isinstance(element, nodes.DIRECTIVE_TYPES):
        return {"kind": "sound", "text": _directive(element), "line": line}
    return None  # notes, synopses and page breaks are not heard


def _directive(node) -> str:
    return plugins.by_node(node).describe(node)  # each directive's plugin says how it reads


def scene_marks(script: nodes.Script, manifest: dict | None) -> list[dict]:
    """Each scene heading with the time its first heard line starts in the mix (None before a build)."""
    lines = sorted((m["span"]["line"], m["start"]) for m in (manifest or {}).get("lines", []) if m.get("span"))
    marks = []
    for index, scene in enumerate(script.scenes):
        if scene.heading is None:
            continue
        at = scene.heading.span.line
        start = next((t for line, t in lines if line >= at), None)
        marks.append({"scene": index, "line": at, "text": scene.heading.text, "start": start})
    return marks


def peaks(wav: Path, buckets: int = PEAK_BUCKETS) -> dict:
    """The mix's loudest sample (absolute) per column: what a waveform overview draws. Read in blocks
    of whole columns, so an hour-long mix is never held in memory at once."""
    import soundfile

    info = soundfile.info(str(wav))
    frames, rate = info.frames, info.samplerate
    if frames == 0:
        return {"duration": 0.0, "peaks": []}
    width = -(-frames // min(buckets, frames))  # samples per column, rounded up
    values: list[float] = []
    for block in soundfile.blocks(str(wav), blocksize=width * 64, dtype="float32", always_2d=True):
        loudest = np.abs(block).max(axis=1)
        padded = np.pad(loudest, (0, -loudest.size % width))
        values += padded.reshape(-1, width).max(axis=1).tolist()
    return {"duration": frames / rate, "peaks": [round(float(v), 4) for v in values]}
