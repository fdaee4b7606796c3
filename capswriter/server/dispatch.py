"""Which idle worker takes which queued job, and how long it may take.

The pool's supervisor asks this policy and does what it says; the scheduler decides the order
of the queue. Kept apart from the process mechanics so the rules read in one place:

- a dictation goes to the dictation worker when it is free, otherwise to the least used worker;
  file segments never go to the dictation worker;
- a retried job goes to a worker it has not crashed yet, when one is free;
- without a dictation worker, one worker is kept out of file work while a dictation is being
  recorded, so its pieces find it free at key release;
- a job must be done within ``job_timeout_s`` + ``job_timeout_per_audio_s`` × its audio seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

from capswriter.config import ServerSettings
from capswriter.server.jobs import Job
from capswriter.server.worker_process import DICTATION, GENERAL, WorkerProcess
from capswriter.wire.jobs import JobKind


def time_limit(settings: ServerSettings, job: Job) -> float:
    """Seconds ``job`` may take on a worker, local or remote, before it counts as hung."""
    return settings.job_timeout_s + settings.job_timeout_per_audio_s * job.audio_seconds


class DispatchPolicy:
    def __init__(self, settings: ServerSettings, size: int, dictation_worker: bool) -> None:
        self.size = size  # general workers (the dictation worker comes on top)
        self.dictation_worker = dictation_worker
        self.settings = settings

    def deadline(self, job: Job, now: float) -> float:
        return now + time_limit(self.settings, job)

    def file_reserve(self, recording: bool) -> int:
        """Local general workers kept from file work now."""
        return 1 if recording and not self.dictation_worker and self.size > 1 else 0

    def remote_reserve(self, recording: bool, local_free: bool, remote_ready: int) -> int:
        """Remote workers kept from file work while a dictation is recorded, if nothing local
        will take it."""
        return 1 if recording and not local_free and not self.dictation_worker \
            and remote_ready > 1 else 0

    def takes_files(self, idle: Sequence[WorkerProcess], reserve: int) -> bool:
        """Whether a file segment may be handed to one of ``idle`` now."""
        return sum(1 for w in idle if w.role == GENERAL) > reserve

    def choose(self, job: Job, idle: Sequence[WorkerProcess]) -> WorkerProcess:
        """The idle worker for ``job`` (the caller took it knowing one can run it)."""
        able = list(idle) if job.kind == JobKind.DICTATION else [
            w for w in idle if w.role == GENERAL
        ]
        fresh = [w for w in able if w.id not in job.workers_tried]
        return min(fresh or able, key=lambda w: (w.role != DICTATION, w.jobs_done))
