"""What the server does, apart from how it is reached: turn audio into jobs and tasks.

The WebSocket session and the HTTP routes both go through ``RecognitionService``; it owns the
scheduler, the worker pool and the metrics, and knows every open task.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from capswriter.asr.languages import UnsupportedLanguage, check_language
from capswriter.asr.manifest import ModelManifest, load_manifest
from capswriter.config import Settings
from capswriter.errors import AudioTooLarge, CapsWriterError, QueueFull, UnsupportedAudio
from capswriter.server import protocol
from capswriter.server.jobs import Job
from capswriter.server.metrics import ServerMetrics
from capswriter.server.pool import WorkerHandle, WorkerPool
from capswriter.server.scheduler import Scheduler
from capswriter.server.tasks import Task

log = logging.getLogger("capswriter.server")

_task_keys = itertools.count(1)


class ShuttingDown(CapsWriterError):
    """The server is stopping and takes no new work."""


def error_code(exc: Exception) -> str:
    """The protocol error code a client gets for an exception raised while queueing audio."""
    if isinstance(exc, AudioTooLarge):
        return protocol.TOO_LARGE
    if isinstance(exc, UnsupportedAudio):
        return protocol.UNSUPPORTED_AUDIO
    if isinstance(exc, ShuttingDown):
        return protocol.SHUTTING_DOWN
    if isinstance(exc, UnsupportedLanguage):
        return protocol.BAD_MESSAGE
    return protocol.INTERNAL


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
        self.connections = 0
        self.upload_bytes = 0  # file bytes held now, over all connections and HTTP uploads
        self.draining = False
        self._segmenter: Any = None
        self._stats_lock = threading.Lock()
        self.job_counts: collections.Counter[str] = collections.Counter()
        # Recent job records for /jobs (tests and tools look at where segments ran).
        self.recent_jobs: collections.deque[dict] = collections.deque(maxlen=1000)

    # ---- lifecycle -------------------------------------------------------------------

    def startup(self) -> None:
        self.pool.startup()

    async def drain(self, grace_s: float = 0.5) -> None:
        """Stop taking work and tell every open task why it will not finish."""
        self.draining = True
        for task in list(self.tasks.values()):
            task.fail(protocol.SHUTTING_DOWN, "the server is shutting down; resubmit later")
        await asyncio.sleep(grace_s)  # let the sessions flush those errors

    def shutdown(self) -> None:
        self.pool.shutdown()

    # ---- tasks -----------------------------------------------------------------------

    def open_task(
        self, task_id: str, kind: str, language: str, emit: Callable[[protocol.Message], None]
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
        )
        if kind == "dictation":
            self.pool.recording_started(key)
        self.tasks[key] = task
        return task

    def check_room(self, kind: str) -> None:
        """Raise QueueFull now, before a client streams audio we could not queue."""
        self.scheduler.check_room(kind)

    def hold_upload(self, nbytes: int) -> None:
        """Count ``nbytes`` more of file data held in memory, or raise QueueFull."""
        limit = self.settings.server.max_buffered_upload_bytes
        if self.upload_bytes + nbytes > limit:
            raise QueueFull(
                f"the server holds {limit // (1024 * 1024)} MiB of uploads already", 5.0
            )
        self.upload_bytes += nbytes

    def release_upload(self, nbytes: int) -> None:
        self.upload_bytes = max(0, self.upload_bytes - nbytes)

    def submit(self, task: Task, jobs: list[Job]) -> None:
        try:
            self.pool.submit(jobs)
        except QueueFull:
            self.metrics.rejected.labels(task.kind).inc()
            task.jobs = [j for j in task.jobs if j not in jobs]
            raise

    def cancel(self, task: Task, reason: str) -> int:
        """Drop the task's queued work; returns how many queued jobs were dropped."""
        self.tasks.pop(task.key, None)
        task.closed = True
        task.done.set()
        self.pool.recording_stopped(task.key)
        return self.pool.cancel_task(task.key, reason)

    async def submit_file(self, task: Task, data: bytes, name: str | None) -> None:
        """Decode and segment a file's bytes off the event loop, then queue its segments."""
        segments, task.source_seconds = await asyncio.to_thread(self._segment, data, name)
        if task.closed:  # cancelled or the client left while the file was being decoded
            return
        # Copies, not views: a view would keep the whole decoded file (up to hours of audio,
        # silences included) alive until the last segment is done.
        jobs = [
            task.new_job(
                i, seg.start, np.array(seg.samples, dtype=np.float32), seg.speech_samples()
            )
            for i, seg in enumerate(segments)
        ]
        del segments
        if jobs:
            self.submit(task, jobs)
        task.end_input()

    def _segment(self, data: bytes, name: str | None) -> tuple[list, float]:
        from capswriter.files.decode import load_audio
        from capswriter.files.segment import Segmenter

        s = self.settings.server
        samples = load_audio(
            data, max_bytes=s.max_upload_bytes, max_seconds=s.max_pending_audio_seconds,
            name=name or "uploaded audio",
        )
        if self._segmenter is None:
            vad = self.settings.models_path / "silero-vad" / "silero_vad.onnx"
            self._segmenter = Segmenter(vad, max_segment_s=self.settings.files.max_segment_s)
        return self._segmenter.split(samples), len(samples) / protocol.SAMPLE_RATE

    def queue_status(self, task: Task) -> protocol.QueueStatus | None:
        pos = self.scheduler.position(task.key)
        if pos is None:
            return None
        # Work ahead plus what the workers are busy with, spread over the ready workers.
        running = sum(j.audio_seconds for j in list(self.pool.running.values()))
        ready = self.pool.ready_count(files=task.kind == "file") or 1
        eta = (pos.audio_seconds_ahead + running) * self.pool.decode_rtf / ready
        return protocol.QueueStatus(
            task_id=task.id, position=pos.position, jobs_ahead=pos.jobs_ahead,
            audio_seconds_ahead=pos.audio_seconds_ahead, eta_seconds=round(eta, 2),
        )

    # ---- callbacks from the pool's supervisor thread ---------------------------------

    def _job_finished(self, job: Job) -> None:
        self.metrics.job_finished(job)
        with self._stats_lock:
            self.job_counts[job.state.value] += 1
            self.recent_jobs.append(job.record())

    def _worker_restarted(self, handle: WorkerHandle) -> None:
        self.metrics.worker_restarts.labels(str(handle.id)).inc()

    # ---- reporting -------------------------------------------------------------------

    def job_records(self, task_id: str | None = None) -> list[dict[str, Any]]:
        """Recent job records, optionally of one client task id."""
        with self._stats_lock:
            records = list(self.recent_jobs)
        if task_id is not None:
            records = [r for r in records if r["task_id"].split(":", 1)[1] == task_id]
        return records

    def health(self) -> dict[str, Any]:
        workers = self.pool.health()
        ready = sum(1 for w in workers if w["state"] in ("idle", "busy"))
        with self._stats_lock:
            counts = dict(self.job_counts)
        return {
            "status": "draining" if self.draining else ("ok" if ready else "starting"),
            "model": self.pool.model,
            "protocol_version": protocol.PROTOCOL_VERSION,
            "workers": workers,
            "workers_ready": ready,
            "queues": self.scheduler.depths(),
            "jobs": {
                "running": len(self.pool.running),
                "done": counts.get("done", 0),
                "failed": counts.get("failed", 0),
                "cancelled": counts.get("cancelled", 0),
            },
            "open_tasks": len(self.tasks),
            "connections": self.connections,
            "upload_bytes": self.upload_bytes,
            "supervisor_errors": self.pool.supervisor_errors,
        }
