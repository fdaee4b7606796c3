"""What the server does, apart from how it is reached: turn audio into jobs and tasks.

The WebSocket session and the HTTP routes both go through ``RecognitionService``; it owns the
scheduler, the worker pool and the metrics, and knows every open task.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import numpy as np

from capswriter.asr.languages import check_language
from capswriter.asr.manifest import ModelManifest, load_manifest
from capswriter.config import Settings
from capswriter.errors import (
    AudioTooLarge,
    CapsWriterError,
    DecodeCancelled,
    QueueFull,
    ShuttingDown,
)
from capswriter.server.admission import Admission, check_wait
from capswriter.server.connections import Connections
from capswriter.server.jobs import Job
from capswriter.server.metrics import ServerMetrics
from capswriter.server.pool import WorkerPool
from capswriter.server.scheduler import Scheduler
from capswriter.server.tasks import Task
from capswriter.server.worker_process import WorkerProcess
from capswriter.wire import health, protocol
from capswriter.wire.health import HealthReport
from capswriter.wire.jobs import JobKind, JobState

if TYPE_CHECKING:
    from capswriter.files.segment import AudioSegment

log = logging.getLogger("capswriter.server")

_task_keys = itertools.count(1)
# How often queued tasks are checked against their client's max wait.
DEADLINE_CHECK_S = 0.5
# Bytes of decoded audio per second (float32 at 16 kHz), charged before a file is decoded.
DECODED_BYTES_PER_SECOND = 4 * protocol.SAMPLE_RATE


class RecognitionService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        s = settings.server
        self.scheduler = Scheduler(
            max_dictation_jobs=s.max_dictation_queue,
            max_file_jobs=s.max_file_segments_queued,
            max_pending_audio_seconds=s.max_pending_audio_seconds,
        )
        self.metrics = ServerMetrics()
        self.pool = WorkerPool(
            settings, self.scheduler,
            on_job_finished=self._job_finished, on_worker_restart=self._worker_restarted,
        )
        self.tasks: dict[str, Task] = {}
        # Read here too, so a language the model does not know is refused before any worker
        # meets it; a missing model is reported by the workers (and /health).
        try:
            self.manifest: ModelManifest | None = load_manifest(
                settings.models_path / settings.asr.model
            )
        except CapsWriterError:
            self.manifest = None
        self.admission = Admission()
        if self.pool.remote is not None:
            from capswriter.server.broker_dispatch import BrokerCollector

            self.metrics.registry.register(BrokerCollector(self.pool.remote))
        self.connections = Connections(s.max_connections, s.connection_idle_timeout_s)
        # Files are decoded a few at a time, off the event loop: each decode is CPU and memory,
        # and the default thread pool would run dozens at once.
        self._decoders = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, s.decode_threads), thread_name_prefix="decode"
        )
        self._deadline_watch: asyncio.Task[None] | None = None
        self.upload_bytes = 0  # file bytes held now, over all connections and HTTP uploads
        self.draining = False
        self._segmenter: Any = None
        self._stats_lock = threading.Lock()
        self.job_counts: collections.Counter[str] = collections.Counter()
        # Recent job records for /jobs (tests and tools look at where segments ran).
        self.recent_jobs: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)

    # ---- lifecycle -------------------------------------------------------------------

    def startup(self) -> None:
        self.pool.startup()
        self._deadline_watch = asyncio.get_running_loop().create_task(self._watch_deadlines())

    async def drain(self, grace_s: float = 0.5) -> None:
        """Stop taking work and tell every open task why it will not finish."""
        self.draining = True
        for task in list(self.tasks.values()):
            task.fail(protocol.SHUTTING_DOWN, "the server is shutting down; resubmit later")
        await asyncio.sleep(grace_s)  # let the sessions flush those errors

    def shutdown(self) -> None:
        if self._deadline_watch is not None:
            self._deadline_watch.cancel()
        self.pool.shutdown()
        self._decoders.shutdown(wait=False, cancel_futures=True)

    async def _watch_deadlines(self) -> None:
        """Answer tasks that have waited longer than their client wanted, instead of leaving
        them queued for a client that has given up."""
        while True:
            await asyncio.sleep(DEADLINE_CHECK_S)
            try:
                self._answer_overdue(time.monotonic())
            except Exception:  # noqa: BLE001 - the watch must outlive any one failure
                log.exception("checking queued tasks against their max wait failed")

    def _answer_overdue(self, now: float) -> None:
        for task in list(self.tasks.values()):
            waited = task.unserved_wait(now)
            if waited is None or waited <= task.max_wait:
                continue
            left = self.expected_wait(task.kind) - task.max_wait
            retry = max(1.0, round(left)) if math.isfinite(left) else 5.0
            log.info("task %s waited %.0f s without a worker; answered queue_timeout",
                     task.key, waited)
            self.metrics.rejected.labels(task.kind).inc()
            task.fail(
                protocol.QUEUE_TIMEOUT,
                f"waited {waited:.0f} s in the queue, longer than the {task.max_wait:g} s "
                f"allowed; the server is overloaded, retry in {retry:.0f} s",
                retry_after=retry,
            )

    # ---- tasks -----------------------------------------------------------------------

    def open_task(
        self, task_id: str, kind: JobKind, language: str,
        emit: Callable[[protocol.Message], None],
        max_wait: float | None = None,
    ) -> Task:
        if self.draining:
            raise ShuttingDown("the server is shutting down")
        if self.manifest is not None:
            check_language(self.manifest, language)
        key = f"{next(_task_keys)}:{task_id}"

        def emit_and_cleanup(message: protocol.Message) -> None:
            if isinstance(message, (protocol.Result, protocol.Error)):
                self.tasks.pop(key, None)
                if isinstance(message, protocol.Error):
                    # One failed piece fails the task: its other queued pieces are waste.
                    self.pool.cancel_task(key, f"task failed: {message.code}")
            emit(message)

        task = Task(
            task_id, key, kind, language, emit_and_cleanup, lambda: self.pool.model,
            on_input_over=lambda: self.pool.recording_stopped(key),
            max_wait=self.settings.server.max_wait_s if max_wait is None else max_wait,
        )
        if kind == JobKind.DICTATION:
            self.pool.recording_started(key)
        self.tasks[key] = task
        return task

    def check_room(self, kind: JobKind, max_wait: float | None = None) -> None:
        """Raise QueueFull now, before a client streams audio we could not queue or would
        keep waiting longer than ``max_wait`` (the server's default when None)."""
        if self.draining:
            raise ShuttingDown("the server is shutting down")
        self.scheduler.check_room(kind)
        limit = self.settings.server.max_wait_s if max_wait is None else max_wait
        check_wait(self.expected_wait(kind), limit, kind)

    def expected_wait(self, kind: JobKind) -> float:
        """Seconds new work of ``kind`` would wait for a worker, from the work ahead of it."""
        return self.admission.expected_wait(kind, self.pool.snapshot())

    def hold_upload(self, nbytes: int) -> None:
        """Count ``nbytes`` more of file data held in memory, or raise QueueFull."""
        limit = self.settings.server.max_buffered_upload_bytes
        if nbytes > limit:
            raise AudioTooLarge(
                f"this audio needs {nbytes // (1024 * 1024)} MiB of memory once decoded, more "
                f"than the server's {limit // (1024 * 1024)} MiB; split it into shorter files"
            )
        if self.upload_bytes + nbytes > limit:
            raise QueueFull(
                f"the server holds {limit // (1024 * 1024)} MiB of uploads already", 5.0
            )
        self.upload_bytes += nbytes

    def release_upload(self, nbytes: int) -> None:
        self.upload_bytes = max(0, self.upload_bytes - nbytes)

    def submit(self, task: Task, jobs: list[Job], admitted: bool = False) -> None:
        try:
            self.pool.submit(jobs, admitted)
        except QueueFull:
            self.metrics.rejected.labels(task.kind).inc()
            task.jobs = [j for j in task.jobs if j not in jobs]
            raise
        # Queued behind other work: the client hears its place in line now, not only at the
        # session's next once-a-second update (which a short wait may never reach).
        status = self.queue_status(task) if task.waiting() else None
        if status is not None and status.jobs_ahead > 0:
            task.tell(status)

    def cancel(self, task: Task, reason: str) -> int:
        """Drop the task's queued work; returns how many queued jobs were dropped."""
        self.tasks.pop(task.key, None)
        task.closed = True
        task.done.set()
        self.pool.recording_stopped(task.key)
        return self.pool.cancel_task(task.key, reason)

    async def submit_file(self, task: Task, data: bytes, name: str | None) -> None:
        """Decode and segment a file's bytes in the decode pool, queueing its segments as the
        segmenter finds them.

        The decoded size is charged to the upload budget before decoding (from the header's
        duration), so a small file holding hours of audio is refused instead of filling memory;
        the whole file is admitted to the queue on its decoded length before its first segment
        is queued; the decode stops when the task is cancelled (the client left).
        """
        loop = asyncio.get_running_loop()
        held = 0

        def on_loop(coroutine: Coroutine[Any, Any, None]) -> None:
            # From the decode thread: budgets, queues and the task belong to the event loop.
            asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=60)

        def charge(seconds: float) -> None:
            nonlocal held
            nbytes = int(seconds * DECODED_BYTES_PER_SECOND)
            on_loop(self._hold_async(nbytes))
            held += nbytes

        try:
            await loop.run_in_executor(
                self._decoders, self._segment, task, data, name, charge, on_loop
            )
        finally:
            self.release_upload(held)
        if task.closed:  # cancelled or the client left while the file was being decoded
            return
        task.end_input()

    async def _hold_async(self, nbytes: int) -> None:
        self.hold_upload(nbytes)

    async def _admit_file(self, task: Task, seconds: float) -> None:
        task.source_seconds = seconds
        try:
            self.scheduler.admit_file(seconds)
        except QueueFull:
            self.metrics.rejected.labels(task.kind).inc()
            raise

    async def _queue_segments(self, task: Task, segments: list[AudioSegment]) -> None:
        if task.closed:
            return
        # Copies, not views: a view would keep the whole decoded file (up to hours of audio,
        # silences included) alive until the last segment is done.
        jobs = [
            task.new_job(len(task.jobs), seg.start, np.array(seg.samples, dtype=np.float32),
                         seg.speech_samples())
            for seg in segments
        ]  # fmt: skip
        self.submit(task, jobs, admitted=True)

    def _segment(
        self, task: Task, data: bytes, name: str | None, charge: Callable[[float], None],
        on_loop: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        from capswriter.files.decode import load_audio
        from capswriter.files.segment import Segmenter

        def cancelled() -> bool:
            return task.closed

        if cancelled():
            raise DecodeCancelled("the client left before its file was decoded")
        s = self.settings.server
        samples = load_audio(
            data, max_bytes=s.max_upload_bytes, max_seconds=s.max_pending_audio_seconds,
            name=name or "uploaded audio", before_decode=charge, cancelled=cancelled,
        )
        on_loop(self._admit_file(task, len(samples) / protocol.SAMPLE_RATE))
        if self._segmenter is None:
            vad = self.settings.models_path / "silero-vad" / "silero_vad.onnx"
            self._segmenter = Segmenter(vad, max_segment_s=self.settings.files.max_segment_s)
        for segments in self._segmenter.stream(samples):
            if cancelled():
                raise DecodeCancelled("the client left while its file was being cut")
            on_loop(self._queue_segments(task, segments))

    def queue_status(self, task: Task) -> protocol.QueueStatus | None:
        pos = self.scheduler.position(task.key)
        if pos is None:
            return None
        eta = self.admission.wait_behind(
            task.kind, pos.jobs_ahead, pos.audio_seconds_ahead, self.pool.snapshot()
        )
        return protocol.QueueStatus(
            task_id=task.id, position=pos.position, jobs_ahead=pos.jobs_ahead,
            audio_seconds_ahead=pos.audio_seconds_ahead, eta_seconds=round(eta, 2),
        )

    # ---- callbacks from the pool's supervisor thread ---------------------------------

    def _job_finished(self, job: Job) -> None:
        self.metrics.job_finished(job)
        if job.state is JobState.DONE and job.transcript is not None:
            self.admission.learn(job.kind, job.audio_seconds, job.transcript.decode_seconds)
        with self._stats_lock:
            self.job_counts[job.state.value] += 1
            self.recent_jobs.append(job.record())

    def _worker_restarted(self, handle: WorkerProcess) -> None:
        self.metrics.worker_restarts.labels(str(handle.id)).inc()

    # ---- reporting -------------------------------------------------------------------

    def job_records(self, task_id: str | None = None) -> list[dict[str, Any]]:
        """Recent job records, optionally of one client task id."""
        with self._stats_lock:
            records = list(self.recent_jobs)
        if task_id is not None:
            records = [r for r in records if r["task_id"].split(":", 1)[1] == task_id]
        return records

    def health(self) -> HealthReport:
        workers = self.pool.worker_health()
        ready = self.pool.ready_count()
        with self._stats_lock:
            counts = dict(self.job_counts)
        return HealthReport(
            status=health.DRAINING if self.draining else (health.OK if ready else health.STARTING),
            model=self.pool.model,
            protocol_version=protocol.PROTOCOL_VERSION,
            workers=workers,
            workers_ready=ready,
            queues=self.scheduler.depths(),
            jobs={
                "running": len(self.pool.running),
                "done": counts.get("done", 0),
                "failed": counts.get("failed", 0),
                "cancelled": counts.get("cancelled", 0),
            },
            open_tasks=len(self.tasks),
            connections=len(self.connections),
            upload_bytes=self.upload_bytes,
            supervisor_errors=self.pool.supervisor_errors,
            broker=self.pool.remote.health() if self.pool.remote is not None else None,
        )
