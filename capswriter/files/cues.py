"""Subtitle cues from a transcript's segments: none longer than a viewer can read, split between
words, and none past the end of the audio.

Whisper's segments run up to a whole 30 s window and a few hundred characters; a subtitle that
long covers the picture and is gone before it is read. A segment over the limits is cut into
as few cues as bring each under them, of about equal length, at spaces (between any two
characters in Chinese and Japanese, punctuation kept with the character before it), with its
time shared out by the characters each cue holds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from capswriter.asr.result import Segment

Cue = tuple[float, float, str]  # (start, end, text) in seconds

# A word with the space after it, or one CJK character with the punctuation after it.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_PIECE = re.compile(f"[{_CJK}][^\\s{_CJK}]*\\s*|[^\\s{_CJK}]+\\s*|\\s+")


@dataclass(frozen=True)
class CueLimits:
    """The longest cue: characters (two lines of 42, the usual broadcast rule) and seconds."""

    max_chars: int = 84
    max_seconds: float = 7.0

    def __post_init__(self) -> None:
        if self.max_chars < 1 or self.max_seconds <= 0:
            raise ValueError("cue limits must be positive")


def cues_of(
    segments: Sequence[Segment],
    limits: CueLimits | None = None,
    audio_seconds: float | None = None,
) -> list[Cue]:
    """The cues of ``segments``: blank ones left out, long ones split, all within the audio."""
    limits = limits or CueLimits()
    cues: list[Cue] = []
    for segment in segments:
        # A blank line ends a cue in SubRip and WebVTT, so text keeps single line breaks only.
        text = re.sub(r"\n\s*\n+", "\n", segment.text.strip().replace("\r", ""))
        if not text:
            continue
        start = max(0.0, segment.start)
        cues += split_cue(start, max(start, segment.end), text, limits)
    if audio_seconds is not None:
        cues = [(min(a, audio_seconds), min(b, audio_seconds), t) for a, b, t in cues]
    return cues


def split_cue(start: float, end: float, text: str, limits: CueLimits) -> list[Cue]:
    """One segment as the fewest cues within ``limits``, its time shared by characters (a
    single word longer than the limits stays one cue)."""
    pieces = _PIECE.findall(text)
    fewest = max(math.ceil(len(text) / limits.max_chars),
                 math.ceil((end - start) / limits.max_seconds))
    cues = [(start, end, text)]
    for parts in range(max(2, fewest), len(pieces) + 1):
        if all(len(t) <= limits.max_chars and b - a <= limits.max_seconds for a, b, t in cues):
            break
        cues = _timed(start, end, text, _group(pieces, parts, limits.max_chars))
    return cues


def _timed(start: float, end: float, text: str, groups: list[list[str]]) -> list[Cue]:
    cues: list[Cue] = []
    done = 0
    seconds_per_char = (end - start) / len(text)
    for group in groups:
        chunk = "".join(group)
        cue_start = start + done * seconds_per_char
        done += len(chunk)
        cue_end = end if done >= len(text) else start + done * seconds_per_char
        if chunk.strip():
            cues.append((cue_start, cue_end, chunk.strip()))
    return cues


def _group(pieces: list[str], parts: int, max_chars: int) -> list[list[str]]:
    """``pieces`` in about ``parts`` runs of near-equal length, none over ``max_chars`` unless
    one piece is."""
    target = min(max_chars, math.ceil(sum(len(p) for p in pieces) / parts))
    groups: list[list[str]] = [[]]
    length = 0
    for piece in pieces:
        if groups[-1] and length + len(piece.rstrip()) > target:
            groups.append([])
            length = 0
        groups[-1].append(piece)
        length += len(piece)
    return groups
