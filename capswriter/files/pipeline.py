"""Transcribe one file in this process: decode, split at pauses, recognise each piece in order.

The server runs the same steps spread over its workers; this module is the plain sequential
form used by the CLI and by tests, and the reference the parallel form must agree with.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from capswriter.asr.result import Segment, Transcript
from capswriter.audio import SAMPLE_RATE
from capswriter.config import Settings
from capswriter.errors import CapsWriterError
from capswriter.files.assemble import assemble_pieces
from capswriter.files.decode import load_audio
from capswriter.files.segment import Segmenter
from capswriter.text import TextStage

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

    def rewritten(self, stage: TextStage | None) -> FileTranscript:
        """The transcript with each segment and the whole text through the text stage."""
        if stage is None:
            return self
        segments = [Segment(s.start, s.end, stage.apply(s.text).text) for s in self.segments]
        return dataclasses.replace(self, segments=segments, text=stage.apply(self.text).text)

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

    decoded: list[tuple[Transcript, float, float]] = []
    for done, piece in enumerate(pieces, start=1):
        result = engine.transcribe(piece.samples, language=language, speech=piece.speech_samples())
        decoded.append((result, piece.start, piece.end))
        if on_progress is not None:
            on_progress(done, len(pieces), piece.end)

    assembly = assemble_pieces(decoded, language=language or "")
    return FileTranscript(
        path=path,
        segments=assembly.segments,
        text=assembly.text,
        audio_seconds=len(samples) / SAMPLE_RATE,
        wall_seconds=time.perf_counter() - started,
        model=engine.model_name,
        decode_seconds=sum(result.decode_seconds for result, _, _ in decoded),
        language=assembly.language,
    )


@dataclass
class FileRun:
    """One file of ``transcribe_files``: its transcript and outputs, or why it failed."""

    path: Path
    transcript: FileTranscript | None = None
    outputs: list[Path] = field(default_factory=list)
    error: str = ""


def transcribe_files(
    settings: Settings,
    paths: list[Path],
    *,
    formats: list[str],
    language: str | None = None,
    progress_for: Callable[[Path], ProgressCallback] | None = None,
    stage: TextStage | None = None,
) -> Iterator[FileRun]:
    """Load the engine once, then transcribe each file in turn in this process and write its
    outputs beside it; yields each file as it is done (a failed one does not stop the rest)."""
    from capswriter.asr.engine import Engine, vad_model_path
    from capswriter.files.cues import CueLimits
    from capswriter.files.write import sharing_a_name, write_transcript

    limits = CueLimits(settings.files.subtitle_max_chars, settings.files.subtitle_max_seconds)
    engine = Engine.load(settings.asr, settings.models_path)
    segmenter = Segmenter(vad_model_path(settings.models_path), settings.files.max_segment_s)
    colliding = sharing_a_name(paths)
    for path in paths:
        progress = progress_for(path) if progress_for is not None else None
        try:
            result = transcribe_file(path, engine, segmenter, progress, language=language)
            result = result.rewritten(stage)
        except CapsWriterError as exc:
            yield FileRun(path, error=str(exc))
            continue
        yield FileRun(path, result, write_transcript(result, formats, path in colliding, limits))
