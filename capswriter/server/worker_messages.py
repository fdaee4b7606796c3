"""What crosses the pipe between the pool and a worker process, one dataclass per message.

Only plain data crosses: float32 bytes in, a Transcript dict out, so a native crash in the
recognizer takes down the worker and nothing else. The classes are pickled by multiprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from capswriter.wire.jobs import JobKind

# ---- pool → worker ----------------------------------------------------------------------


@dataclass(frozen=True)
class DecodeRequest:
    """Decode one job's audio. ``speech``: the VAD's spans in samples, when already known."""

    job_id: int
    samples: bytes  # float32, 16 kHz mono
    language: str
    kind: JobKind  # a dictation is decoded with the quick settings, a file with beam search
    speech: list[tuple[int, int]] | None = None


@dataclass(frozen=True)
class Stop:
    """Finish and exit."""


# ---- worker → pool ----------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    """The model is loaded; the worker takes jobs from now on."""

    pid: int
    load_seconds: float
    model: str


@dataclass(frozen=True)
class LoadFailed:
    """The model could not be loaded; the worker exits after sending this."""

    message: str


@dataclass(frozen=True)
class Taken:
    """The worker has the job and starts on it. Only a death after this counts against the
    job's audio: a worker killed before the job reached it says nothing about the audio."""

    job_id: int


@dataclass(frozen=True)
class Decoded:
    job_id: int
    transcript: dict[str, Any]


@dataclass(frozen=True)
class DecodeFailed:
    """The recognizer raised on this job; the worker lives on."""

    job_id: int
    message: str


WorkerReply = Ready | LoadFailed | Taken | Decoded | DecodeFailed
