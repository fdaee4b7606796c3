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
from capswriter.asr.text import looks_cut_short, text_units  # noqa: F401 - public here too
from capswriter.audio import SAMPLE_RATE
from capswriter.files.decode import load_audio
from capswriter.files.segment import AudioSegment, Segmenter
from capswriter.sentences import sentence_case

# on_progress(done_segments, total_segments, audio_seconds_done)
ProgressCallback = Callable[[int, int, float], None]


class Recognizer(Protocol):
    """What the pipeline needs of an engine."""

    model_name: str

    def transcribe(
        self, samples: np.ndarray, language: str | None = None, dictation: bool = False,
        speech: list[tuple[int, int]] | None = None,
    ) -> Transcript: ...


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
        result = engine.transcribe(piece.samples, language=language, speech=piece.speech_samples())
        decode_seconds += result.decode_seconds
        if result.language:
            languages.append(result.language)
        segments.extend(place_segments(result, piece))
        if on_progress is not None:
            on_progress(done, len(pieces), piece.end)

    segments, text = assemble(segments)
    return FileTranscript(
        path=path,
        segments=segments,
        text=text,
        audio_seconds=len(samples) / SAMPLE_RATE,
        wall_seconds=time.perf_counter() - started,
        model=engine.model_name,
        decode_seconds=decode_seconds,
        # Whisper detects the language per piece; the file's is the most frequent (the first
        # heard on a tie).
        language=Counter(languages).most_common(1)[0][0] if languages else (language or ""),
    )


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
