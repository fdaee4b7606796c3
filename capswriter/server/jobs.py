"""Jobs and tasks with explicit states; the transition methods are the only way to change them.

A *task* is what a client asked for (one dictation, one file). A *job* is one piece of audio a
worker decodes: a dictation piece or a file segment. A job moves queued → running → done, or
ends failed or cancelled; a running job whose worker died goes back to queued once (retry).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from capswriter.asr.result import Transcript
from capswriter.wire.jobs import FINAL_STATES, JobKind, JobState

__all__ = ["FINAL_STATES", "InvalidTransition", "Job", "JobKind", "JobState"]


class InvalidTransition(RuntimeError):
    """A job was asked to move to a state it cannot reach from where it is."""


_job_ids = itertools.count(1)


@dataclass(eq=False)
class Job:
    """One piece of audio to decode, and everything the pool learns while decoding it."""

    task_id: str
    kind: JobKind
    index: int  # position of the piece within its task
    offset: float  # seconds from the start of the task's audio
    samples: np.ndarray | None  # float32 16 kHz mono; dropped once decoded
    language: str = ""
    # Where the file's segmenter heard speech in `samples` ((start, end) sample offsets), so the
    # worker need not listen again; None for dictation pieces, which it checks itself.
    speech: list[tuple[int, int]] | None = None
    id: int = field(default_factory=lambda: next(_job_ids))
    state: JobState = JobState.QUEUED
    attempts: int = 0
    worker_deaths: int = 0
    worker_id: int | None = None
    workers_tried: list[int] = field(default_factory=list)
    failure_code: str = ""
    failure_reason: str = ""
    transcript: Transcript | None = None
    queued_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    finished_at: float | None = None
    deadline: float | None = None
    queue_wait: float = 0.0  # summed over attempts
    on_finish: Callable[[Job], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.audio_seconds = 0.0 if self.samples is None else len(self.samples) / 16000.0

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    def _require(self, *allowed: JobState) -> None:
        if self.state not in allowed:
            raise InvalidTransition(f"job {self.id} is {self.state.value}")

    def start(self, worker_id: int, deadline: float) -> None:
        self._require(JobState.QUEUED)
        now = time.monotonic()
        self.queue_wait += now - self.queued_at
        self.state = JobState.RUNNING
        self.attempts += 1
        self.worker_id = worker_id
        self.workers_tried.append(worker_id)
        self.started_at = now
        self.deadline = deadline

    def requeue(self) -> None:
        """Back to the queue after the worker holding it died or hung."""
        self._require(JobState.RUNNING)
        self.state = JobState.QUEUED
        self.worker_id = None
        self.deadline = None
        self.queued_at = time.monotonic()

    def succeed(self, transcript: Transcript) -> None:
        self._require(JobState.RUNNING)
        self.transcript = transcript
        self._finish(JobState.DONE)

    def fail(self, code: str, reason: str) -> None:
        self._require(JobState.QUEUED, JobState.RUNNING)
        self.failure_code = code
        self.failure_reason = reason
        self._finish(JobState.FAILED)

    def cancel(self, reason: str = "cancelled") -> None:
        self._require(JobState.QUEUED, JobState.RUNNING)
        self.failure_reason = reason
        self._finish(JobState.CANCELLED)

    def _finish(self, state: JobState) -> None:
        self.state = state
        self.finished_at = time.monotonic()
        self.deadline = None
        self.samples = None  # the audio is no longer needed; don't hold it
        if self.on_finish is not None:
            self.on_finish(self)

    def record(self) -> dict[str, Any]:
        """A plain summary for /health, logs and tests."""
        return {
            "id": self.id,
            "task_id": self.task_id,
            "kind": str(self.kind),
            "index": self.index,
            "state": self.state.value,
            "attempts": self.attempts,
            "worker_deaths": self.worker_deaths,
            "workers_tried": list(self.workers_tried),
            "audio_seconds": round(self.audio_seconds, 3),
            "queue_wait": round(self.queue_wait, 4),
            "decode_seconds": None if self.transcript is None
            else round(self.transcript.decode_seconds, 4),
            "failure_code": self.failure_code,
            "failure_reason": self.failure_reason,
        }
