"""Admission by expected wait: how long a new request would queue before a worker takes it.

Counting queued audio seconds is not enough: every job pays a fixed cost (Whisper pads each
input to its window) whatever its length, so a thousand 1 s clips cost far more than 1000 s of
one file. Each kind of job gets a cost model ``fixed + per_second × audio seconds``, learned
from the decodes the pool finishes (least squares over a forgetting window), and the expected
wait of a request is the cost of the work ahead of it spread over the workers that may take it.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from capswriter.errors import QueueFull
from capswriter.wire.jobs import JobKind

# Costs before anything was measured on this machine: an encoder window and a few decoder
# steps per job, a tenth of real time per audio second. The first decodes replace them.
PRIOR_FIXED_S = {JobKind.DICTATION: 0.4, JobKind.FILE: 0.8}
PRIOR_PER_SECOND = {JobKind.DICTATION: 0.05, JobKind.FILE: 0.05}
# How much one finished job moves the fit: about the last 50 jobs count.
FORGET = 0.98


@dataclass
class CostModel:
    """Decode seconds of one job as ``fixed + per_second × audio seconds``, learned online."""

    fixed: float
    per_second: float
    # Exponentially weighted sums for the least-squares fit.
    _n: float = 0.0
    _a: float = 0.0
    _d: float = 0.0
    _aa: float = 0.0
    _ad: float = 0.0

    def cost(self, audio_seconds: float) -> float:
        return self.fixed + self.per_second * audio_seconds

    def learn(self, audio_seconds: float, decode_seconds: float) -> None:
        if audio_seconds <= 0 or decode_seconds <= 0 or not math.isfinite(decode_seconds):
            return
        f = FORGET
        self._n = f * self._n + 1
        self._a = f * self._a + audio_seconds
        self._d = f * self._d + decode_seconds
        self._aa = f * self._aa + audio_seconds * audio_seconds
        self._ad = f * self._ad + audio_seconds * decode_seconds
        mean_a, mean_d = self._a / self._n, self._d / self._n
        var_a = self._aa / self._n - mean_a * mean_a
        if var_a > 1.0 and self._n >= 3:  # lengths differ enough to tell fixed from per-second
            slope = (self._ad / self._n - mean_a * mean_d) / var_a
            self.per_second = min(max(slope, 0.0), 2.0)
        # Whatever the slope, the fit goes through the mean job.
        self.fixed = max(0.0, mean_d - self.per_second * mean_a)


@dataclass(frozen=True)
class RunningJob:
    kind: JobKind
    audio_seconds: float
    started_at: float
    general_worker: bool  # on a worker that also takes file work


@dataclass(frozen=True)
class QueueSnapshot:
    """What waits and what runs, as the scheduler and pool see it now."""

    dictation_jobs: int
    dictation_audio: float
    # Files waiting in the round-robin, and the audio of the job each of them serves next: a
    # new file's first job waits for one job of each, not for whole files.
    waiting_files: int
    next_file_audio: float
    running: tuple[RunningJob, ...]
    # Workers running or loading (a loading one is ready in seconds): all of them take
    # dictation, all but the dictation worker take file work.
    ready_workers: int
    ready_file_workers: int


class Admission:
    """Learns job costs and answers: how long would new work of ``kind`` wait?"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.models = {
            kind: CostModel(PRIOR_FIXED_S[kind], PRIOR_PER_SECOND[kind]) for kind in PRIOR_FIXED_S
        }

    def learn(self, kind: JobKind, audio_seconds: float, decode_seconds: float) -> None:
        with self._lock:
            self.models[kind].learn(audio_seconds, decode_seconds)

    def expected_wait(self, kind: JobKind, queue: QueueSnapshot, now: float | None = None) -> float:
        """Seconds until a worker would take a new job of ``kind`` (dictation goes first)."""
        with self._lock:
            dictation, file = self.models[JobKind.DICTATION], self.models[JobKind.FILE]
            ahead = dictation.fixed * queue.dictation_jobs \
                + dictation.per_second * queue.dictation_audio
            if kind == JobKind.FILE:
                ahead += file.fixed * queue.waiting_files + file.per_second * queue.next_file_audio
            ahead += self._running_left(kind, queue, now)
        workers = queue.ready_file_workers if kind == JobKind.FILE else queue.ready_workers
        if workers <= 0:
            # Nothing would take it: refusing now beats answering busy after the client's wait.
            return math.inf
        return ahead / workers

    def wait_behind(self, kind: JobKind, jobs_ahead: int, audio_ahead: float, queue: QueueSnapshot,
                    now: float | None = None) -> float:
        """Seconds until a queued job of ``kind`` with this much work ahead of it is taken (for
        queue_status; an estimate, so no worker counts as one)."""
        with self._lock:
            file = self.models[JobKind.FILE]
            ahead = file.fixed * jobs_ahead + file.per_second * audio_ahead
            ahead += self._running_left(kind, queue, now)
        workers = queue.ready_file_workers if kind == JobKind.FILE else queue.ready_workers
        return ahead / (workers or 1)

    def _running_left(self, kind: JobKind, queue: QueueSnapshot, now: float | None) -> float:
        """Decode seconds the running jobs that stand before ``kind`` still need."""
        now = time.monotonic() if now is None else now
        left = 0.0
        for job in queue.running:
            if kind == JobKind.FILE and not job.general_worker:
                continue  # the dictation worker never takes file work
            left += max(0.0, self.models[job.kind].cost(job.audio_seconds) - (now - job.started_at))
        return left


def check_wait(wait: float, max_wait: float, kind: JobKind) -> None:
    """Raise QueueFull when new work would wait longer than its client wants to."""
    if wait <= max_wait:
        return
    if math.isinf(wait):
        raise QueueFull("no recognizer is running (being restarted, or no remote worker is "
                        "connected)", 5.0)
    # Room for it should be there once the work that makes it too long has been done.
    retry_after = max(1.0, math.ceil(wait - max_wait))
    raise QueueFull(
        f"the server is busy: about {wait:.0f} s of work waits ahead of this {kind}, more than "
        f"the {max_wait:g} s it may wait",
        retry_after, eta=round(wait, 1),
    )
