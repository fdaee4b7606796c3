"""Pieces' transcripts → one result: segments on the source timeline, sentence case, the text,
the language.

The one assembler of the package: in-process file transcription (``pipeline.transcribe_file``)
and the server's tasks (``server/tasks.py``) both call ``assemble_pieces``, so a file gives the
same text, segments and language either way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from capswriter.asr.result import Segment, Transcript
from capswriter.asr.text import join_texts
from capswriter.sentences import sentence_case


@dataclass
class Assembly:
    segments: list[Segment]
    text: str
    language: str


def assemble_pieces(
    pieces: Iterable[tuple[Transcript, float, float]],
    *,
    starts_sentence: bool = True,
    language: str = "",
) -> Assembly:
    """Join ``(transcript, start, end)`` of consecutive pieces (times in source seconds).

    ``language`` is what the caller asked for; it is the result's language when no piece
    reports one.
    """
    segments: list[Segment] = []
    heard: list[str] = []
    for transcript, start, end in pieces:
        segments.extend(place_segments(transcript, start, end))
        if transcript.language:
            heard.append(transcript.language)
    segments, text = assemble(segments, starts_sentence)
    return Assembly(segments, text, main_language(heard) or language)


def main_language(heard: list[str]) -> str:
    """Whisper detects the language per piece; the whole one's is the most frequent, and the
    first heard on a tie."""
    return Counter(heard).most_common(1)[0][0] if heard else ""


def assemble(
    segments: list[Segment], starts_sentence: bool = True
) -> tuple[list[Segment], str]:
    """Segments with each sentence's first word in reading case, and the text joined from them.

    Every output (txt, srt, vtt, json, the server's result) is made from what this returns, so
    they all agree; ``starts_sentence`` says whether the first segment begins a sentence.
    """
    texts = sentence_case([s.text for s in segments], first_starts_sentence=starts_sentence)
    cased = [Segment(s.start, s.end, text) for s, text in zip(segments, texts, strict=True)]
    return cased, join_texts(texts)


def place_segments(result: Transcript, start: float, end: float) -> list[Segment]:
    """The recognizer's segments of the piece at [start, end] moved to source time; the whole
    piece if it gave none."""
    text = result.text.strip()
    if not result.segments:
        return [Segment(start, end, text)] if text else []
    placed = []
    for segment in result.segments:
        if not segment.text.strip():
            continue
        # Keep times inside the piece: the recognizer may round past the end of its input.
        seg_start = min(start + max(segment.start, 0.0), end)
        seg_end = min(start + max(segment.end, segment.start, 0.0), end)
        placed.append(Segment(seg_start, seg_end, segment.text.strip()))
    return placed
