"""Transcribe one file in this process: decode, split at pauses, recognise each piece in order.

The server runs the same steps spread over its workers; this module is the plain sequential
form used by the CLI and by tests, and the reference the parallel form must agree with.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from capswriter.asr.engine import join_texts
from capswriter.asr.result import Segment, Transcript
from capswriter.files.decode import SAMPLE_RATE, load_audio
from capswriter.files.segment import AudioSegment, Segmenter

# on_progress(done_segments, total_segments, audio_seconds_done)
ProgressCallback = Callable[[int, int, float], None]


class Recognizer(Protocol):
    """What the pipeline needs of an engine."""

    model_name: str

    def transcribe(self, samples: np.ndarray, language: str | None = None) -> Transcript: ...


@dataclass
class FileTranscript:
    """The transcript of a whole file, with segment times in seconds from its start."""

    path: Path
    segments: list[Segment]
    text: str
    audio_seconds: float
    wall_seconds: float
    model: str
    # Time spent inside the recognizer only, summed over segments.
    decode_seconds: float = 0.0
    language: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "model": self.model,
            "language": self.language,
            "audio_seconds": self.audio_seconds,
            "wall_seconds": self.wall_seconds,
            "decode_seconds": self.decode_seconds,
            "text": self.text,
            "segments": [segment.to_dict() for segment in self.segments],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileTranscript:
        return cls(
            path=Path(data["path"]),
            segments=[Segment.from_dict(s) for s in data.get("segments", [])],
            text=str(data["text"]),
            audio_seconds=float(data["audio_seconds"]),
            wall_seconds=float(data["wall_seconds"]),
            model=str(data["model"]),
            decode_seconds=float(data.get("decode_seconds", 0.0)),
            language=str(data.get("language", "")),
        )


def transcribe_file(
    path: Path,
    engine: Recognizer,
    segmenter: Segmenter,
    on_progress: ProgressCallback | None = None,
    *,
    language: str | None = None,
    max_bytes: int | None = None,
    max_seconds: float | None = None,
) -> FileTranscript:
    """Transcribe the audio or video file at ``path`` with ``engine``.

    Raises UnsupportedAudio / AudioTooLarge from decoding before any recognition starts.
    """
    started = time.perf_counter()
    path = Path(path)
    samples = load_audio(path, max_bytes=max_bytes, max_seconds=max_seconds)
    pieces = segmenter.split(samples)
    if on_progress is not None:
        on_progress(0, len(pieces), 0.0)

    segments: list[Segment] = []
    decode_seconds = 0.0
    languages: list[str] = []
    for done, piece in enumerate(pieces, start=1):
        results, spent = recognize(engine, piece, language)
        decode_seconds += spent
        for part, result in results:
            if result.language:
                languages.append(result.language)
            segments.extend(place_segments(result, part))
        if on_progress is not None:
            on_progress(done, len(pieces), piece.end)

    return FileTranscript(
        path=path,
        segments=segments,
        text=join_texts([segment.text for segment in segments]),
        audio_seconds=len(samples) / SAMPLE_RATE,
        wall_seconds=time.perf_counter() - started,
        model=engine.model_name,
        decode_seconds=decode_seconds,
        # Whisper detects the language per piece; the file's is the most frequent (the first
        # heard on a tie).
        language=Counter(languages).most_common(1)[0][0] if languages else (language or ""),
    )


def recognize(
    engine: Recognizer, piece: AudioSegment, language: str | None = None, retries: int = 2
) -> tuple[list[tuple[AudioSegment, Transcript]], float]:
    """Transcribe ``piece``, re-doing it in halves if Whisper stopped early; also the time spent.

    Whisper decodes a window until it predicts the end of the text, and after a short first
    sentence followed by a pause (or a change of speaker) it sometimes predicts that end with
    most of the window unread. The text is then far too short for the speech the detector
    heard, and splitting the piece at its longest pause gets the rest back. The halves are
    only kept if they hold more text than the first attempt, so a retry never loses words.
    """
    result = engine.transcribe(piece.samples, language=language)
    spent = result.decode_seconds
    if retries <= 0 or not looks_cut_short(result.text, piece.speech_seconds):
        return [(piece, result)], spent
    halves = piece.split_at_longest_pause()
    if halves is None:
        return [(piece, result)], spent
    parts: list[tuple[AudioSegment, Transcript]] = []
    for half in halves:
        half_results, half_spent = recognize(engine, half, language, retries - 1)
        parts.extend(half_results)
        spent += half_spent
    if text_units(" ".join(r.text for _, r in parts)) > text_units(result.text):
        return parts, spent
    return [(piece, result)], spent


# Speech carries at least this many text units (letters, digits; a CJK character counts 3)
# per second; real speech gives 8-15, so only output that stops early falls below.
_MIN_UNITS_PER_SPEECH_SECOND = 2.5
# Short pieces are left alone: a few words of slow speech can be legitimately sparse.
_MIN_SPEECH_SECONDS_TO_CHECK = 4.0


def looks_cut_short(text: str, speech_seconds: float) -> bool:
    """True when ``text`` is far too short for ``speech_seconds`` of detected speech."""
    if speech_seconds < _MIN_SPEECH_SECONDS_TO_CHECK:
        return False
    return text_units(text) < _MIN_UNITS_PER_SPEECH_SECOND * speech_seconds


def text_units(text: str) -> int:
    """Letters and digits, with a CJK character worth 3 (one carries about a syllable)."""
    units = 0
    for char in text:
        if _is_wide(char):
            units += 3
        elif char.isalnum():
            units += 1
    return units


def _is_wide(char: str) -> bool:
    code = ord(char)
    return 0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7AF


def place_segments(result: Transcript, piece: AudioSegment) -> list[Segment]:
    """The recognizer's segments moved to source time; the whole piece if it gave none."""
    text = result.text.strip()
    if not result.segments:
        return [Segment(piece.start, piece.end, text)] if text else []
    placed = []
    for segment in result.segments:
        if not segment.text.strip():
            continue
        # Keep times inside the piece: the recognizer may round past the end of its input.
        start = min(piece.start + max(segment.start, 0.0), piece.end)
        end = min(piece.start + max(segment.end, segment.start, 0.0), piece.end)
        placed.append(Segment(start, end, segment.text.strip()))
    return placed
