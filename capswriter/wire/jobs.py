"""A job's kind and state: what the server's queues and records (``/jobs``) say, and what a client
shows of its own file jobs."""

from __future__ import annotations

from enum import Enum


class JobKind(str, Enum):
    """Dictation pieces run ahead of file segments and are decoded with the quick settings."""

    DICTATION = "dictation"
    FILE = "file"

    def __str__(self) -> str:  # the value in logs, metrics labels and messages
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})
