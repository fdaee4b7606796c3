"""Which queued job runs next: dictation first, then file segments round-robin between files.

Every queue is bounded. A file is admitted whole, on its decoded length, before its first
segment is queued (its segments then arrive while the detector still listens, see
files/segment.py), so it is either accepted entirely or refused with QueueFull before any of
it runs.
The scheduler is shared by the event loop (submitting) and the pool's supervisor thread
(taking), hence the lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass

from capswriter.errors import QueueFull
from capswriter.server.jobs import Job
from capswriter.wire.jobs import JobKind


@dataclass
class QueuePosition:
    position: int  # 1 = next to run
    jobs_ahead: int
    audio_seconds_ahead: float


class Scheduler:
    def __init__(
        self,
        max_dictation_jobs: int = 32,
        max_file_jobs: int = 2000,
        max_pending_audio_seconds: float = 4 * 3600.0,
    ) -> None:
        self.max_dictation_jobs = max_dictation_jobs
        self.max_file_jobs = max_file_jobs
        self.max_pending_audio_seconds = max_pending_audio_seconds
        # Wall seconds of decoding per second of audio, per worker (moving average), and what
        # the whole pool needs per second of queued audio: the basis of `retry_after`.
        self.decode_rtf = 0.1
        self.seconds_per_audio_second = 0.1
        self._lock = threading.Lock()
        self._dictation: deque[Job] = deque()
        self._files: OrderedDict[str, deque[Job]] = OrderedDict()
        self._file_jobs = 0
        self._pending_audio = 0.0

    def learn_speed(self, audio_seconds: float, decode_seconds: float, workers: int) -> None:
        """A job of ``audio_seconds`` took ``decode_seconds`` on one of ``workers``."""
        if audio_seconds > 0.5:
            rtf = decode_seconds / audio_seconds
            self.decode_rtf = 0.8 * self.decode_rtf + 0.2 * rtf
            self.seconds_per_audio_second = self.decode_rtf / (workers or 1)

    # ---- admission -------------------------------------------------------------------

    def submit(self, jobs: list[Job], admitted: bool = False) -> None:
        """Queue all of ``jobs`` or none of them; raise QueueFull when they don't fit, unless
        their task was ``admitted`` whole already (see admit_file)."""
        with self._lock:
            if not admitted:
                self._check_room(jobs)
            for job in jobs:
                self._append(job)

    def admit_file(self, audio_seconds: float) -> None:
        """Raise QueueFull unless a file of ``audio_seconds`` fits now: its segments hold at
        most that much audio, and at least one more segment must fit."""
        probe = Job(task_id="", kind=JobKind.FILE, index=0, offset=0.0, samples=None)
        probe.audio_seconds = audio_seconds
        with self._lock:
            self._check_room([probe])

    def check_room(self, kind: JobKind) -> None:
        """Raise QueueFull if not even one more job of ``kind`` fits right now."""
        probe = Job(task_id="", kind=kind, index=0, offset=0.0, samples=None)
        with self._lock:
            self._check_room([probe])

    def _check_room(self, jobs: list[Job]) -> None:
        dictation = sum(1 for j in jobs if j.kind == JobKind.DICTATION)
        files = len(jobs) - dictation
        audio = sum(j.audio_seconds for j in jobs)
        retry_after = round(max(1.0, self._pending_audio * self.seconds_per_audio_second), 1)
        if dictation and len(self._dictation) + dictation > self.max_dictation_jobs:
            raise QueueFull(
                f"dictation queue is full ({self.max_dictation_jobs} pieces)", retry_after
            )
        if files and self._file_jobs + files > self.max_file_jobs:
            raise QueueFull(
                f"file queue is full ({self.max_file_jobs} segments)", retry_after
            )
        # The audio budget is for files: dictation is bounded by its own queue above, and a
        # dictation accepted at the start must not be refused half-way because files filled it.
        if files and self._pending_audio + audio > self.max_pending_audio_seconds:
            raise QueueFull(
                f"too much audio waiting ({self._pending_audio:.0f} s queued, limit "
                f"{self.max_pending_audio_seconds:.0f} s)",
                retry_after,
            )

    def _append(self, job: Job, front: bool = False) -> None:
        if job.kind == JobKind.DICTATION:
            queue = self._dictation
        else:
            queue = self._files.setdefault(job.task_id, deque())
            self._file_jobs += 1
        queue.appendleft(job) if front else queue.append(job)
        self._pending_audio += job.audio_seconds

    def requeue(self, job: Job) -> None:
        """Put a retried job at the front of its queue; it was accepted once, so no limits."""
        with self._lock:
            self._append(job, front=True)
            if job.kind != JobKind.DICTATION:
                # It already waited its turn once; its file goes first in the rotation.
                self._files.move_to_end(job.task_id, last=False)

    # ---- taking ----------------------------------------------------------------------

    def take(self, files: bool = True) -> Job | None:
        """The next job to run, or None when nothing waits (or only file work, if not `files`)."""
        with self._lock:
            if self._dictation:
                job = self._dictation.popleft()
            elif self._files and files:
                # Round-robin: take from the first file, then move it to the back.
                task_id, queue = next(iter(self._files.items()))
                job = queue.popleft()
                self._file_jobs -= 1
                if queue:
                    self._files.move_to_end(task_id)
                else:
                    del self._files[task_id]
            else:
                return None
            self._pending_audio -= job.audio_seconds
            return job

    def drop_task(self, task_id: str) -> list[Job]:
        """Remove every queued job of a task (client gone or cancelled) and return them."""
        with self._lock:
            dropped = [j for j in self._dictation if j.task_id == task_id]
            if dropped:
                self._dictation = deque(j for j in self._dictation if j.task_id != task_id)
            file_jobs = self._files.pop(task_id, None)
            if file_jobs:
                self._file_jobs -= len(file_jobs)
                dropped.extend(file_jobs)
            self._pending_audio -= sum(j.audio_seconds for j in dropped)
            return dropped

    def drain(self) -> list[Job]:
        """Remove and return everything queued (shutdown)."""
        with self._lock:
            jobs = list(self._dictation)
            for queue in self._files.values():
                jobs.extend(queue)
            self._dictation.clear()
            self._files.clear()
            self._file_jobs = 0
            self._pending_audio = 0.0
            return jobs

    # ---- reporting -------------------------------------------------------------------

    def position(self, task_id: str) -> QueuePosition | None:
        """Where the task's next queued job stands, or None if none of its jobs waits."""
        with self._lock:
            ahead: list[Job] = []
            for job in self._dictation:
                if job.task_id == task_id:
                    return self._position(ahead)
                ahead.append(job)
            if task_id not in self._files:
                return None
            # Round-robin serves one job of every file before ours comes up.
            for other, queue in self._files.items():
                if other == task_id:
                    return self._position(ahead)
                ahead.append(queue[0])
            return None

    @staticmethod
    def _position(ahead: list[Job]) -> QueuePosition:
        return QueuePosition(
            position=len(ahead) + 1,
            jobs_ahead=len(ahead),
            audio_seconds_ahead=round(sum(j.audio_seconds for j in ahead), 3),
        )

    def ahead_of_new_work(self) -> tuple[int, float, int, float]:
        """What new work waits behind: the queued dictation jobs and their audio seconds, then
        the files in the rotation and the audio of the job each serves next. Round-robin takes
        one job of every waiting file before a new file's first, not all of them."""
        with self._lock:
            dictation_audio = sum(j.audio_seconds for j in self._dictation)
            head_audio = sum(queue[0].audio_seconds for queue in self._files.values() if queue)
            return len(self._dictation), dictation_audio, len(self._files), head_audio

    def depths(self) -> dict[str, float]:
        with self._lock:
            return {
                "dictation": len(self._dictation),
                "file_segments": self._file_jobs,
                "files": len(self._files),
                "pending_audio_seconds": round(max(0.0, self._pending_audio), 3),
            }

    def __len__(self) -> int:
        with self._lock:
            return len(self._dictation) + self._file_jobs
