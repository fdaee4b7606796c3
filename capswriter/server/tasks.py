"""A client's task (one dictation or one file) as the event loop sees it.

The pool finishes jobs on its supervisor thread; ``Task`` carries each finished job onto the
event loop and turns it into protocol messages: a segment and progress per job, then one result
(or one error) when the last job is in and no more audio will come.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np

from capswriter.files.assemble import assemble_pieces
from capswriter.server.jobs import Job
from capswriter.wire import protocol
from capswriter.wire.jobs import JobKind, JobState


class Task:
    def __init__(
        self,
        task_id: str,
        key: str,
        kind: JobKind,
        language: str,
        emit: Callable[[protocol.Message], None],
        model: Callable[[], str],
        on_input_over: Callable[[], None] = lambda: None,
        max_wait: float = float("inf"),
    ) -> None:
        self.id = task_id  # as the client named it
        self.key = key  # unique across connections; what jobs and the scheduler use
        self.kind = kind
        self.language = language
        self._emit = emit
        self._model = model
        self._on_input_over = on_input_over
        self._loop = asyncio.get_running_loop()
        self.jobs: list[Job] = []
        # Jobs whose segment message has gone out. A job turns DONE on the pool's thread
        # before its callback reaches the loop; the result waits for every segment message.
        self._delivered: set[int] = set()
        self.input_done = False
        self.closed = False
        self.created = time.monotonic()
        self.ended_at: float | None = None  # when the client sent `end`
        self.done = asyncio.Event()
        self.outcome: protocol.Message | None = None
        # Length of the audio the client sent; the jobs cover only its speech.
        self.source_seconds = 0.0
        # How long its client is willing to wait for a worker to take its first job.
        self.max_wait = max_wait
        self.retry_after: float | None = None  # set when it failed for waiting too long
        # When the server had all of a file's bytes: decoding it counts against the max wait.
        self.waiting_since: float | None = None

    def new_job(
        self, index: int, offset: float, samples: np.ndarray | None,
        speech: list[tuple[int, int]] | None = None,
    ) -> Job:
        job = Job(
            task_id=self.key, kind=self.kind, index=index, offset=offset, samples=samples,
            language=self.language, speech=speech, on_finish=self._on_finish_threadsafe,
        )
        self.jobs.append(job)
        return job

    def _on_finish_threadsafe(self, job: Job) -> None:
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._job_finished, job)

    def _job_finished(self, job: Job) -> None:
        if self.closed:
            return
        if job.state is JobState.FAILED:
            self.fail(job.failure_code, job.failure_reason)
            return
        if job.state is not JobState.DONE or job.transcript is None:
            return
        t = job.transcript
        self._delivered.add(job.id)
        self._emit(
            protocol.SegmentResult(
                task_id=self.id, index=job.index, start=round(job.offset, 3),
                end=round(job.offset + job.audio_seconds, 3), text=t.text.strip(),
                worker_id=job.worker_id if job.worker_id is not None else -1,
            )
        )
        done = [j for j in self.jobs if j.state is JobState.DONE]
        total = sum(j.audio_seconds for j in self.jobs)
        if self.kind == JobKind.FILE and not self.input_done:
            # Segments are still being found: the file's length bounds the speech to come, so
            # the share done only ever grows.
            total = max(total, self.source_seconds)
        self._emit(
            protocol.Progress(
                task_id=self.id, segments_done=len(done), segments_total=len(self.jobs),
                audio_seconds_done=round(sum(j.audio_seconds for j in done), 3),
                audio_seconds_total=round(total, 3),
            )
        )
        self.maybe_complete()

    def end_input(self) -> None:
        self.input_done = True
        self.ended_at = time.monotonic()
        self._on_input_over()
        self.maybe_complete()

    def maybe_complete(self) -> None:
        if self.closed or not self.input_done:
            return
        if any(j.id not in self._delivered for j in self.jobs):
            return
        jobs = sorted(self.jobs, key=lambda j: j.index)
        # The same assembly as in-process file transcription, so both agree. A dictation may
        # continue a sentence already in the window: its first word keeps the case it was
        # heard with.
        assembly = assemble_pieces(
            [(j.transcript, j.offset, j.offset + j.audio_seconds) for j in jobs
             if j.transcript is not None],
            starts_sentence=self.kind == JobKind.FILE, language=self.language,
        )
        now = time.monotonic()
        self._close(
            protocol.Result(
                task_id=self.id,
                text=assembly.text,
                segments=[
                    {"start": round(seg.start, 3), "end": round(seg.end, 3), "text": seg.text}
                    for seg in assembly.segments
                ],
                language=assembly.language,
                audio_seconds=round(self.source_seconds, 3),
                timings={
                    "queue_wait": round(sum(j.queue_wait for j in jobs), 4),
                    "decode": round(sum(j.transcript.decode_seconds for j in jobs
                                        if j.transcript), 4),
                    "total": round(now - self.created, 4),
                    "after_end": round(now - (self.ended_at or now), 4),
                    "workers": sorted({w for j in jobs for w in j.workers_tried}),
                },
                model=self._model(),
            )
        )

    def fail(self, code: str, message: str, retry_after: float | None = None) -> None:
        if not self.closed:
            self.retry_after = retry_after
        self._close(protocol.Error(code=code, message=message, task_id=self.id))

    def start_waiting(self) -> None:
        """The server has the whole input; from now on the task waits for the server."""
        if self.waiting_since is None:
            self.waiting_since = time.monotonic()

    def unserved_wait(self, now: float) -> float | None:
        """How long the task has waited (being decoded, then queued) with none of its jobs taken
        by a worker; None once one was (from then on it is served and its client sees
        progress), and None while the client is still sending."""
        if self.closed:
            return None
        if any(j.state is not JobState.QUEUED or j.attempts for j in self.jobs):
            return None
        since = [j.queued_at for j in self.jobs]
        if self.waiting_since is not None:
            since.append(self.waiting_since)
        return now - min(since) if since else None

    def _close(self, message: protocol.Message) -> None:
        if self.closed:
            return
        self.closed = True
        self._on_input_over()
        self.outcome = message
        self._emit(message)
        self.done.set()

    def waiting(self) -> bool:
        return not self.closed and any(j.state is JobState.QUEUED for j in self.jobs)

    def tell(self, message: protocol.Message) -> None:
        """Send the task's client a message about its progress (e.g. its place in line)."""
        if not self.closed:
            self._emit(message)
