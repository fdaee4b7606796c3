"""Transcripts out: plain text, SubRip (.srt), WebVTT (.vtt) and JSON.

``srt_text`` and ``vtt_text`` only format; the server uses them for its OpenAI-compatible
``response_format``. ``write_transcript`` puts NAME.txt / NAME.srt / NAME.json beside the
input, each written to a temporary file and renamed, so a crash or a full disk never leaves a
half-written subtitle that a player would silently show. A file of that name that CapsWriter
did not write (the user's own notes, subtitles from elsewhere) is never replaced: the
transcript goes to "NAME (2).txt" instead. Which files are ours is remembered in the data dir.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from capswriter.asr.result import Segment
from capswriter.config import FILE_FORMATS, data_dir
from capswriter.errors import ConfigError
from capswriter.files.cues import CueLimits, cues_of

if TYPE_CHECKING:
    from capswriter.files.pipeline import FileTranscript

FORMATS = FILE_FORMATS
# How many written files are remembered as ours (the oldest are forgotten first).
REMEMBERED_OUTPUTS = 5000


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Transcripts are documents like any other: readable as the user's umask allows, not private
# (a temporary file is created 0600).
_FILE_MODE = 0o666 & ~_umask()


def srt_text(
    segments: Sequence[Segment], limits: CueLimits | None = None,
    audio_seconds: float | None = None,
) -> str:
    """SubRip subtitles, numbered from 1, in cues within ``limits`` and the audio (see cues)."""
    cues = []
    for number, (start, end, text) in enumerate(cues_of(segments, limits, audio_seconds),
                                                 start=1):
        cues.append(f"{number}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n{text}\n")
    return "\n".join(cues)


def vtt_text(
    segments: Sequence[Segment], limits: CueLimits | None = None,
    audio_seconds: float | None = None,
) -> str:
    """WebVTT subtitles; text is escaped because cue text is parsed as markup."""
    cues = ["WEBVTT\n"]
    for start, end, text in cues_of(segments, limits, audio_seconds):
        cues.append(f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{_vtt_escape(text)}\n")
    return "\n".join(cues)


def plain_text(transcript: FileTranscript) -> str:
    return transcript.text.strip() + "\n"


def json_text(transcript: FileTranscript) -> str:
    return json.dumps(transcript.to_dict(), ensure_ascii=False, indent=2) + "\n"


def output_path(source: Path, fmt: str, keep_suffix: bool = False) -> Path:
    """NAME.fmt beside ``source`` (NAME.ext.fmt with ``keep_suffix``)."""
    if keep_suffix:
        return source.with_name(f"{source.name}.{fmt}")
    return source.with_suffix(f".{fmt}")


def sharing_a_name(sources: Iterable[Path]) -> set[Path]:
    """Sources whose NAME.fmt outputs would collide (talk.mp3 and talk.mp4 in one folder).

    Those keep their extension in the output name, so one transcript never replaces another.
    """
    groups: dict[Path, list[Path]] = {}
    for source in sources:
        groups.setdefault(Path(source).with_suffix(""), []).append(Path(source))
    return {s for group in groups.values() if len(group) > 1 for s in group}


def write_transcript(
    transcript: FileTranscript,
    formats: Iterable[str] = ("txt", "srt", "json"),
    keep_suffix: bool = False,
    cue_limits: CueLimits | None = None,
) -> list[Path]:
    """Write the requested formats beside the transcribed file; return the paths written."""
    formats = list(formats)
    unknown = [fmt for fmt in formats if fmt not in FORMATS]
    if unknown:
        raise ConfigError(
            f"Unknown output format {', '.join(unknown)}; choose from {', '.join(FORMATS)}."
        )
    render = {
        "txt": plain_text,
        "srt": lambda t: srt_text(t.segments, cue_limits, t.audio_seconds),
        "vtt": lambda t: vtt_text(t.segments, cue_limits, t.audio_seconds),
        "json": json_text,
    }
    written = []
    ours = OutputRegistry()
    for fmt in formats:
        target = output_path(transcript.path, fmt, keep_suffix)
        if target.resolve() == transcript.path.resolve():
            # An input called talk.srt would otherwise be replaced by its own transcript.
            raise ConfigError(
                f"Writing {fmt} output would overwrite the input {transcript.path}; "
                "rename the input file or choose other formats."
            )
        target = ours.free_name(target)
        atomic_write_text(target, render[fmt](transcript))
        ours.remember(target)
        written.append(target)
    ours.save()
    return written


class OutputRegistry:
    """The transcripts CapsWriter wrote (path, size and time): those it may replace."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / "written-outputs.json"
        try:
            self.files: dict[str, list[int]] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.files = {}

    def is_ours(self, target: Path) -> bool:
        try:
            st = target.stat()
        except OSError:
            return False
        return self.files.get(str(target.resolve())) == [st.st_size, st.st_mtime_ns]

    def free_name(self, target: Path) -> Path:
        """``target`` if it is free or ours; otherwise the first free "NAME (n).ext"."""
        candidate, n = target, 1
        while candidate.exists() and not self.is_ours(candidate):
            n += 1
            candidate = target.with_name(f"{target.stem} ({n}){target.suffix}")
        return candidate

    def remember(self, target: Path) -> None:
        st = target.stat()
        key = str(target.resolve())
        self.files.pop(key, None)  # re-inserted last: the most recent is kept longest
        self.files[key] = [st.st_size, st.st_mtime_ns]

    def save(self) -> None:
        while len(self.files) > REMEMBERED_OUTPUTS:
            self.files.pop(next(iter(self.files)))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(self.files))
        except OSError:  # forgetting costs only a "(2)" name next time, not a transcript
            pass


# How long a replace waits for a file another program holds open (Windows).
REPLACE_WAIT_S = 3.0


def replace_when_free(source: Path, target: Path, wait_s: float = REPLACE_WAIT_S) -> None:
    """``os.replace``, retried while Windows refuses it because the target is open elsewhere.

    An antivirus scanning the last version or a player showing the subtitles holds the file
    without sharing delete; the scan ends within moments. A file held longer raises a
    PermissionError that names it, and the old file stays.
    """
    end = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            os.replace(source, target)
            return
        except PermissionError as exc:
            if time.monotonic() + delay > end:
                raise PermissionError(
                    exc.errno, f"{target} is open in another program (a player or an "
                    f"antivirus?); close it and try again", str(target)) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) in one step; on failure the old file stays."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed into place, then closed
        "w", encoding="utf-8", newline="\n", dir=path.parent, prefix=f".{path.name}.",
        suffix=".tmp", delete=False,
    )
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, _FILE_MODE)
        replace_when_free(Path(handle.name), path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _timestamp(seconds: float, decimal: str) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def _vtt_escape(text: str) -> str:
    # "-->" inside cue text would be read as a new timing line; the escaped ">" prevents it.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
