"""Writing tags and chapters into an encoded audio file, with mutagen (and ffmpeg's muxer for M4B).

Called on the temporary file of each audio output, before it is renamed into place (compiler.emit),
so a reader never sees an untagged file and a failed tagging leaves the old output alone. Each
format gets what its players read:

- MP3 and WAV: ID3v2.3 (the version podcast apps and Windows read), in WAV as an `id3 ` chunk:
  TIT2 title, TPE1 author(s), TCOP copyright, TYER (+TDAT) date, TXXX:CREDIT and TXXX:DRAFT DATE;
  one CHAP frame per chapter (start and end in ms, title in an embedded TIT2) and one top-level,
  ordered CTOC listing them (ID3v2 Chapter Frame Addendum).
- FLAC, Ogg Vorbis, Ogg Opus: Vorbis comments TITLE, ARTIST (one per author), COPYRIGHT, DATE,
  CREDIT, DRAFTDATE, and chapters as CHAPTER001=HH:MM:SS.mmm / CHAPTER001NAME=title (the Vorbis
  chapter extension, which ffmpeg and most players read).
- M4B: chapters muxed by ffmpeg from an ffmetadata file (a QuickTime chapter track and a Nero
  `chpl` atom, stream copied: the audio is not encoded again); ©nam, ©ART, cprt, ©day and a
  `----:com.apple.iTunes:CREDIT` atom written by mutagen.

Nothing here reads a clock or writes a tool's version into the file beyond what mutagen and ffmpeg
(in bit-exact mode) always write, so a build's bytes are the same in every process.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from compiler.chapters import Chapter, Tags, stamp

ID3_VERSION = 3
# ID3 CHAP byte offsets: all ones means "not given; use the times" (the addendum's rule).
_NO_OFFSET = 0xFFFFFFFF


class TaggingFailed(Exception):
    """The file could not be tagged; the message says why, in words for the writer."""


def tag_file(path: str, container: str, subtype: str, tags: Tags, chapters: list[Chapter]) -> None:
    """Write `tags` and `chapters` into the encoded file at `path` (container names as in compiler.emit)."""
    from mutagen import MutagenError

    try:
        if container in ("MP3", "WAV"):
            _tag_id3(path, container, tags, chapters)
        elif container in ("FLAC", "OGG"):
            _tag_vorbis(path, container, subtype, tags, chapters)
        elif container == "M4B":
            _tag_mp4(path, tags, chapters)
        else:
            raise TaggingFailed(f"no tag writer for {container}")
    except (MutagenError, OSError) as exc:
        raise TaggingFailed(f"cannot write tags: {exc}") from None


# --------------------------------------------------------------------------------------------------
# ID3 (MP3, WAV)


def id3_frames(tags: Tags, chapters: list[Chapter]) -> list:
    from mutagen.id3 import CHAP, CTOC, TCOP, TDRC, TIT2, TPE1, TXXX, CTOCFlags

    frames = [TIT2(encoding=3, text=[tags.title])]
    if tags.authors:
        frames.append(TPE1(encoding=3, text=list(tags.authors)))
    if tags.copyright:
        frames.append(TCOP(encoding=3, text=[tags.copyright]))
    if tags.date:
        frames.append(TDRC(encoding=3, text=[tags.date]))
    if tags.credit:
        frames.append(TXXX(encoding=3, desc="CREDIT", text=[tags.credit]))
    if tags.draft_date:
        frames.append(TXXX(encoding=3, desc="DRAFT DATE", text=[tags.draft_date]))
    ids = [f"chp{n}" for n in range(1, len(chapters) + 1)]
    if chapters:
        frames.append(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED, child_element_ids=ids,
                           sub_frames=[TIT2(encoding=3, text=["Chapters"])]))
    for element, chapter in zip(ids, chapters):
        frames.append(CHAP(element_id=element, start_time=_ms(chapter.start), end_time=_ms(chapter.end),
                           start_offset=_NO_OFFSET, end_offset=_NO_OFFSET,
                           sub_frames=[TIT2(encoding=3, text=[chapter.title])]))
    return frames


def _ms(seconds: float) -> int:
    return max(0, int(round(seconds * 1000)))


def _tag_id3(path: str, container: str, tags: Tags, chapters: list[Chapter]) -> None:
    tag = _wav_id3() if container == "WAV" else _mp3_id3()
    for frame in id3_frames(tags, chapters):
        tag.add(frame)
    tag.update_to_v23()  # TDRC becomes TYER (+TDAT): ID3v2.3 has no TDRC
    # A new tag replaces whatever the encoder wrote (an MP3's ID3v2 tag, a WAV's id3 chunk); v1=0
    # removes an ID3v1 tag: the file says only what the script says.
    tag.save(path, v2_version=ID3_VERSION, v1=0, padding=_no_padding)


def _in_written_order(base):
    """`base` (mutagen's ID3 tag class) writing its frames in the order they were added. mutagen
    sorts frames by size, which put CHAP frames out of chapter order, and ffmpeg before 6 and other
    readers that ignore the CTOC list chapters in the order of the file."""
    from mutagen.id3._tags import save_frame

    class Ordered(base):
        def _write(self, config):
            return b"".join(save_frame(frame, config=config) for frame in self.values())

    return Ordered


def _mp3_id3():
    from mutagen.id3 import ID3

    return _in_written_order(ID3)()


def _wav_id3():
    from mutagen.wave import _WaveID3

    return _in_written_order(_WaveID3)()


def _no_padding(info) -> int:
    """No room kept for later edits: the tags are written once, and the size stays a function of them."""
    return 0


# --------------------------------------------------------------------------------------------------
# Vorbis comments (FLAC, Ogg Vorbis, Ogg Opus)


def vorbis_comments(tags: Tags, chapters: list[Chapter]) -> list[tuple[str, str]]:
    pairs = [("TITLE", tags.title)] + [("ARTIST", a) for a in tags.authors]
    for key, value in (("COPYRIGHT", tags.copyright), ("DATE", tags.date), ("CREDIT", tags.credit),
                       ("DRAFTDATE", tags.draft_date)):
        if value:
            pairs.append((key, value))
    for n, chapter in enumerate(chapters, 1):
        pairs += [(f"CHAPTER{n:03d}", stamp(chapter.start)), (f"CHAPTER{n:03d}NAME", chapter.title)]
    return pairs


def _tag_vorbis(path: str, container: str, subtype: str, tags: Tags, chapters: list[Chapter]) -> None:
    if container == "FLAC":
        from mutagen.flac import FLAC as Reader
    elif subtype == "OPUS":
        from mutagen.oggopus import OggOpus as Reader
    else:
        from mutagen.oggvorbis import OggVorbis as Reader
    audio = Reader(path)
    if audio.tags is None:
        audio.add_tags()
    audio.tags.clear()
    audio.tags.extend(vorbis_comments(tags, chapters))
    if container == "FLAC":
        audio.save(padding=_no_padding)
    else:
        audio.save()


# --------------------------------------------------------------------------------------------------
# MP4 (M4B)


def ffmetadata(chapters: list[Chapter]) -> str:
    """ffmpeg's metadata file format with one [CHAPTER] per chapter, times in milliseconds."""
    lines = [";FFMETADATA1"]
    for chapter in chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={_ms(chapter.start)}", f"END={_ms(chapter.end)}",
                  f"title={_ffescape(chapter.title)}"]
    return "\n".join(lines) + "\n"


def _ffescape(text: str) -> str:
    """ffmetadata's escapes: '=', ';', '#', '\\' and a newline are preceded by a backslash."""
    for char in ("\\", "=", ";", "#", "\n"):
        text = text.replace(char, "\\" + char)
    return text


def _tag_mp4(path: str, tags: Tags, chapters: list[Chapter]) -> None:
    if chapters:
        _mux_chapters(path, chapters)
    from mutagen.mp4 import MP4, MP4FreeForm

    audio = MP4(path)
    if audio.tags is None:
        audio.add_tags()
    audio.tags.clear()
    audio.tags["\xa9nam"] = [tags.title]
    if tags.authors:
        audio.tags["\xa9ART"] = [", ".join(tags.authors)]  # players show one artist value
    if tags.copyright:
        audio.tags["cprt"] = [tags.copyright]
    if tags.date:
        audio.tags["\xa9day"] = [tags.date]
    if tags.credit:
        audio.tags["----:com.apple.iTunes:CREDIT"] = [MP4FreeForm(tags.credit.encode())]
    audio.tags["stik"] = [2]  # media kind: audiobook, so players offer chapters and remember the place
    audio.save(padding=_no_padding)


def _mux_chapters(path: str, chapters: list[Chapter]) -> None:
    """Stream-copy `path` through ffmpeg with the chapters added, then put the result in its place."""
    from compiler.encode import M4B_MUXER, ffmpeg_path

    ffmpeg = ffmpeg_path()
    if ffmpeg is None:
        raise TaggingFailed("ffmpeg, which writes M4B chapters, is no longer on the PATH")
    with tempfile.TemporaryDirectory(prefix="dramac-chapters-") as work:
        meta, muxed = Path(work) / "chapters.txt", Path(work) / "muxed.m4b"
        meta.write_text(ffmetadata(chapters), encoding="utf-8")
        command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path, "-f", "ffmetadata",
                   "-i", str(meta), "-map", "0:a", "-map_chapters", "1", "-map_metadata", "1", "-c", "copy",
                   *M4B_MUXER, "-y", str(muxed)]
        child = subprocess.run(command, capture_output=True, check=False)
        if child.returncode != 0:
            reason = child.stderr.decode("utf-8", "replace").strip().splitlines()
            raise TaggingFailed(f"ffmpeg could not add the chapters: {reason[-1] if reason else child.returncode}")
        shutil.copyfile(muxed, path)  # `path` is the output's own temporary file, not yet in place
