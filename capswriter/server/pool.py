"""A supervised pool of recognizer processes.

Life of the pool: ``startup()`` spawns N workers and the supervisor thread; ``run()`` (that
thread) waits on every worker's pipe and process sentinel at once, so a death is seen the moment
it happens; it hands queued jobs to idle workers, kills workers past their job deadline and
restarts dead ones with backoff; ``shutdown()`` fails what is left and stops the workers.

The pool knows which job each worker holds. When a worker dies or hangs, its job is retried once
on another worker; a job that took down two workers is a poison job and fails.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

import psutil

from capswriter.asr.result import Transcript
from capswriter.config import Settings
from capswriter.server import protocol
from capswriter.server.admission import QueueSnapshot, RunningJob
from capswriter.server.jobs import Job
from capswriter.server.scheduler import Scheduler
from capswriter.server.worker import run_worker

if TYPE_CHECKING:
    from capswriter.server.broker import BrokerResult
    from capswriter.server.broker_dispatch import BrokerDispatcher

log = logging.getLogger("capswriter.pool")

# A worker slot's role: any job, or kept for dictations (see ServerSettings.dictation_worker).
GENERAL = "general"
DICTATION = "dictation"

LOAD_TIMEOUT_S = 180.0
MAX_BACKOFF_S = 30.0
# A worker that lived this long before dying is not part of a crash loop.
STABLE_AFTER_S = 60.0
# A slot whose replacement could not be started (no memory, processes or files) tries again.
SPAWN_RETRY_S = 5.0
# Why a worker past its job deadline died (it was killed), as recorded and reported.
HUNG = "hung past the job deadline"


@dataclass
class WorkerHandle:
    """One worker slot; the process in it is replaced when it dies, the slot stays."""

    id: int
    role: str = GENERAL
    process: Any = None
    conn: Connection | None = None
    state: str = "stopped"  # starting | idle | busy | dead | stopped
    job: Job | None = None
    # When the running job must be done. Kept on the slot, not only on the job: a job cancelled
    # while it runs clears its own deadline, but a hung worker must still be killed.
    deadline: float | None = None
    pid: int | None = None
    jobs_done: int = 0
    restarts: int = 0
    crashes_in_a_row: int = 0
    started_at: float = 0.0
    ready_at: float | None = None
    load_seconds: float | None = None
    restart_at: float | None = None
    last_death: str = ""
    load_error: str = ""
    death_times: list[float] = field(default_factory=list)

    def rss(self) -> int | None:
        try:
            return psutil.Process(self.pid).memory_info().rss if self.pid else None
        except psutil.Error:
            return None


def default_worker_count() -> int:
    return max(1, os.cpu_count() or 1)


class WorkerPool:
    def __init__(
        self,
        settings: Settings,
        scheduler: Scheduler,
        on_job_finished: Callable[[Job], None] | None = None,
        on_worker_restart: Callable[[WorkerHandle], None] | None = None,
    ) -> None:
        self.settings = settings
        self.scheduler = scheduler
        # Workers that take any job; the dictation worker, when there is one, comes on top.
        # With a broker, 0 means none here: remote workers do the work.
        broker_url = settings.server.broker
        self.size = settings.server.workers if broker_url else (
            settings.server.workers or default_worker_count())
        self.dictation_worker = settings.server.dictation_worker and self.size > 0
        self.asr = dict(vars(settings.asr))
        cores = os.cpu_count() or 1
        # The general workers share the cores: N workers × threads ≈ cores, since more threads
        # than cores only adds contention. The dictation worker runs while they step back (they
        # are at a lower priority then), so it may use every core.
        self.threads = {
            GENERAL: self.asr.get("num_threads") or max(1, cores // max(1, self.size)),
            DICTATION: self.asr.get("num_threads") or cores,
        }
        # A job is retried job_retry_limit times after worker deaths; the next death makes it
        # a poison job.
        self.poison_deaths = settings.server.job_retry_limit + 1
        self.deadline_base = settings.server.job_timeout_s
        self.deadline_per_audio_s = settings.server.job_timeout_per_audio_s
        self.on_job_finished = on_job_finished
        self.on_worker_restart = on_worker_restart
        roles = [GENERAL] * self.size + ([DICTATION] if self.dictation_worker else [])
        self.workers = [WorkerHandle(id=i, role=role) for i, role in enumerate(roles)]
        self.model = settings.asr.model
        self.running: dict[int, Job] = {}
        # Dictations still being recorded. Without a dictation worker, one worker is kept out
        # of file work while any is, so the pieces decoded at key release find it free instead
        # of waiting behind a 28 s file segment.
        self.recording: set[str] = set()
        # Wall seconds of decoding per second of audio, per worker (moving average).
        self.decode_rtf = 0.1
        self._ctx = mp.get_context("spawn")
        self._lock = threading.RLock()
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.supervisor_errors = 0
        # Workers on other processes or machines, fed through Redis (None in local mode).
        self.remote: BrokerDispatcher | None = None
        if broker_url:
            from capswriter.server.broker_dispatch import BrokerDispatcher

            self.remote = BrokerDispatcher(
                settings, on_result=self._remote_result, on_expired=self._remote_expired,
                wake=self._wake,
            )

    # ---- lifecycle -------------------------------------------------------------------

    def startup(self) -> None:
        if self.remote is not None:
            self.remote.startup()
        for handle in self.workers:
            self._spawn(handle)
        self._thread = threading.Thread(target=self.run, name="worker-pool", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """The supervisor loop: one place that keeps workers alive and busy."""
        while not self._stopping:
            try:
                self._supervise_once()
            except Exception:  # noqa: BLE001 - the loop must outlive any one failure
                # A failed spawn (no memory, no file handles) or a bug in a callback must not
                # leave the server accepting work that nothing dispatches; log and go on.
                log.exception("worker pool supervisor error; retrying")
                self.supervisor_errors += 1
                time.sleep(0.5)

    def _supervise_once(self) -> None:
        """Wait for a worker message, death or deadline, then handle it and dispatch."""
        waitables: list[Any] = [self._wake_r]
        by_object: dict[Any, WorkerHandle] = {}
        with self._lock:
            for h in self.workers:
                if h.state in ("starting", "idle", "busy"):
                    by_object[h.conn] = h
                    by_object[h.process.sentinel] = h
        waitables.extend(by_object)
        ready = wait(waitables, timeout=self._next_timeout())
        with self._lock:
            if self._stopping:
                return
            try:
                for obj in ready:
                    if obj is self._wake_r:
                        self._drain_wake()
                    elif obj in by_object and isinstance(obj, Connection):
                        self._read(by_object[obj])
                for obj in ready:
                    h = by_object.get(obj)
                    if h is not None and not isinstance(obj, Connection):
                        if h.state not in ("dead", "stopped") and not h.process.is_alive():
                            self._on_death(h, f"exit code {h.process.exitcode}")
                self._check_deadlines()
                self._restart_due()
            finally:
                # Whatever went wrong above, queued work still goes to the idle workers.
                self._dispatch()

    def shutdown(self, reason: str = "the server is shutting down") -> None:
        """Fail queued and running jobs with a clear error, then stop every worker."""
        with self._lock:
            self._stopping = True
            for job in self.scheduler.drain():
                job.fail(protocol.SHUTTING_DOWN, reason)
                self._finished(job)
            for job in list(self.running.values()):
                if not job.finished:
                    job.fail(protocol.SHUTTING_DOWN, reason)
                    self._finished(job)
            self.running.clear()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.remote is not None:
            self.remote.shutdown()
        for h in self.workers:
            if h.process is not None and h.process.is_alive():
                try:
                    h.conn.send(None)
                except (OSError, ValueError):
                    pass
        deadline = time.monotonic() + 3.0
        for h in self.workers:
            if h.process is not None:
                h.process.join(timeout=max(0.0, deadline - time.monotonic()))
                if h.process.is_alive():
                    h.process.kill()
                    h.process.join(timeout=2)
            h.state = "stopped"

    # ---- submitting and cancelling (called from the event loop) -----------------------

    def submit(self, jobs: list[Job]) -> None:
        """Queue jobs (all or none; QueueFull when they don't fit) and wake the supervisor."""
        with self._lock:
            if self._stopping:
                raise RuntimeError("the pool is shutting down")
            self.scheduler.submit(jobs)
        self._wake()

    def cancel_task(self, task_id: str, reason: str = "cancelled by the client") -> int:
        """Drop a task's queued jobs; a running one is left to finish and then discarded."""
        with self._lock:
            dropped = self.scheduler.drop_task(task_id)
            for job in dropped:
                job.cancel(reason)
                self._finished(job)
            for job in self.running.values():
                if job.task_id == task_id and not job.finished:
                    job.cancel(reason)
                    self._finished(job)
            return len(dropped)

    def wait_ready(self, timeout: float) -> bool:
        """Block until every worker has loaded its model (used by tools and tests)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(h.state in ("idle", "busy") for h in self.workers):
                return True
            time.sleep(0.05)
        return False

    # ---- inside the supervisor --------------------------------------------------------

    def _spawn(self, handle: WorkerHandle) -> None:
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=run_worker,
            args=(
                handle.id, {**self.asr, "num_threads": self.threads[handle.role]},
                str(self.settings.models_path), child_conn, os.getpid(),
                self.settings.log_level,
                # With a worker kept for dictations, the others yield the CPU to it.
                self.dictation_worker and handle.role == GENERAL,
            ),
            name=f"capswriter-worker-{handle.id}",
            daemon=True,
        )
        process.start()
        child_conn.close()  # so our end sees EOF when the worker dies
        handle.process, handle.conn, handle.pid = process, parent_conn, process.pid
        handle.state, handle.job, handle.load_error = "starting", None, ""
        handle.started_at, handle.ready_at, handle.restart_at = time.monotonic(), None, None

    def _read(self, h: WorkerHandle) -> None:
        try:
            while h.conn is not None and h.conn.poll():
                self._handle_message(h, h.conn.recv())
        except (EOFError, OSError):
            # The pipe broke: the sentinel fires too; the process may still be exiting.
            h.process.join(timeout=1)
            if h.state not in ("dead", "stopped"):
                self._on_death(h, f"pipe closed (exit code {h.process.exitcode})")

    def _handle_message(self, h: WorkerHandle, message: tuple) -> None:
        kind = message[0]
        if kind == "ready":
            info = message[1]
            h.state, h.ready_at = "idle", time.monotonic()
            h.load_seconds = info["load_seconds"]
            self.model = info["model"]
            log.info("worker %d ready (pid %d, model loaded in %.2f s)",
                     h.id, info["pid"], info["load_seconds"])
        elif kind == "load_failed":
            log.error("worker %d could not load the model: %s", h.id, message[1])
            h.load_error = f"load failed: {message[1]}"
        elif kind in ("done", "error"):
            job = h.job
            h.job, h.state, h.deadline = None, "idle", None
            h.jobs_done += 1
            h.crashes_in_a_row = 0
            if job is None or job.id != message[1]:
                return
            self._complete(job, message[2] if kind == "done" else None, str(message[2]))

    def _complete(self, job: Job, result: dict | None, failure: str = "") -> None:
        """A worker (local or remote) answered: the job succeeds with ``result`` or fails."""
        self.running.pop(job.id, None)
        if job.finished:  # cancelled while it ran
            return
        transcript = None
        if result is not None:
            try:
                transcript = Transcript.from_dict(result)
            except (KeyError, TypeError, ValueError) as exc:
                failure = f"unreadable result: {exc}"
        if transcript is not None:
            self._learn_speed(job, transcript)
            job.succeed(transcript)
        else:
            job.fail(protocol.WORKER_ERROR, f"the recognizer failed: {failure}")
        self._finished(job)

    def _remote_result(self, job_id: int, result: BrokerResult, worker_number: int) -> None:
        """A remote worker's answer (from the broker's results thread)."""
        from capswriter.server.broker import DEAD, DONE

        with self._lock:
            assert self.remote is not None
            job = self.remote.forget(job_id)
            if job is None:  # a duplicate after a reclaim, or the job was given up
                self.remote.duplicates += 1
                return
            job.worker_id = worker_number
            if job.workers_tried:
                job.workers_tried[-1] = worker_number
            if result.status == DEAD:
                self.running.pop(job.id, None)
                if not job.finished:
                    job.worker_deaths = self.poison_deaths
                    job.fail(protocol.POISON_JOB, result.reason)
                    self._finished(job)
            else:
                self._complete(job, result.transcript if result.status == DONE else None,
                               result.reason)
        self._wake()

    def _remote_expired(self, job_id: int) -> None:
        """No result came for a published job long after its deadline: Redis lost it."""
        with self._lock:
            assert self.remote is not None
            job = self.remote.forget(job_id)
            if job is None:
                return
            self.running.pop(job.id, None)
            if job.finished:
                return
            job.worker_deaths += 1
            log.warning("job %d got no result from the broker in time; %s", job.id,
                        "failing it" if job.worker_deaths >= self.poison_deaths else "retrying")
            if job.worker_deaths >= self.poison_deaths:
                job.fail(protocol.JOB_TIMEOUT, "no remote worker answered for this audio in "
                         "time; it will not be retried")
                self._finished(job)
            else:
                job.requeue()
                self.scheduler.requeue(job)
        self._wake()

    def _on_death(self, h: WorkerHandle, why: str) -> None:
        """A worker is gone: retry or fail its job, and schedule its replacement."""
        now = time.monotonic()
        h.process.join(timeout=1)
        h.state, h.last_death = "dead", h.load_error or why
        if h.conn is not None:
            h.conn.close()
        job, h.job, h.deadline = h.job, None, None
        lived = now - h.started_at
        h.crashes_in_a_row = 1 if lived > STABLE_AFTER_S else h.crashes_in_a_row + 1
        # First death restarts at once; a crash loop backs off 1, 2, 4 ... 30 s.
        delay = 0.0 if h.crashes_in_a_row <= 1 else min(
            MAX_BACKOFF_S, 2.0 ** (h.crashes_in_a_row - 2)
        )
        h.restart_at = now + delay
        h.death_times.append(now)
        log.warning("worker %d (pid %s) died: %s; restart in %.1f s", h.id, h.pid, why, delay)
        if job is None:
            return
        self.running.pop(job.id, None)
        if job.finished:
            return
        job.worker_deaths += 1
        if job.worker_deaths >= self.poison_deaths:
            # Same treatment either way; the code tells a client which of the two it was.
            code = protocol.JOB_TIMEOUT if why == HUNG else protocol.POISON_JOB
            job.fail(
                code,
                f"this audio took down {job.worker_deaths} recognizer processes "
                f"(last: {why}); it will not be retried",
            )
            self._finished(job)
        else:
            job.requeue()
            self.scheduler.requeue(job)

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for h in self.workers:
            if h.state == "busy" and h.deadline is not None:
                if now > h.deadline:
                    log.warning("worker %d hung on job %s past its deadline; killing it",
                                h.id, h.job.id if h.job else "?")
                    h.process.kill()
                    self._on_death(h, HUNG)
            elif h.state == "starting" and now - h.started_at > LOAD_TIMEOUT_S:
                h.process.kill()
                self._on_death(h, "model load timed out")

    def _restart_due(self) -> None:
        now = time.monotonic()
        for h in self.workers:
            if h.state == "dead" and h.restart_at is not None and now >= h.restart_at:
                try:
                    self._spawn(h)
                except Exception as exc:  # noqa: BLE001 - out of memory, processes or files
                    # Try this slot again later; the other workers must keep being dispatched.
                    h.restart_at = now + SPAWN_RETRY_S
                    h.last_death = f"could not start a replacement: {exc}"
                    log.error("worker %d could not be restarted: %s; retrying in %.0f s",
                              h.id, exc, SPAWN_RETRY_S)
                    continue
                h.restarts += 1
                if self.on_worker_restart is not None:
                    self.on_worker_restart(h)

    def recording_started(self, task_key: str) -> None:
        self.recording.add(task_key)

    def recording_stopped(self, task_key: str) -> None:
        if task_key in self.recording:
            self.recording.discard(task_key)
            self._wake()  # file work held back for the dictation may go now

    def _dispatch(self) -> None:
        self._dispatch_local()
        if self.remote is not None:
            # Kept from file work while a dictation is recorded, if nothing local will take it.
            local_free = any(h.state == "idle" for h in self.workers)
            reserve = 1 if self.recording and not local_free and not self.dictation_worker \
                and self.remote.ready_count() > 1 else 0
            for job in self.remote.dispatch(self.scheduler, reserve):
                self.running[job.id] = job

    def _dispatch_local(self) -> None:
        idle = [h for h in self.workers if h.state == "idle"]
        reserve = 1 if self.recording and not self.dictation_worker and self.size > 1 else 0
        while idle:
            general = [h for h in idle if h.role == GENERAL]
            job = self.scheduler.take(files=len(general) > reserve)
            if job is None:
                return
            if job.finished:  # cancelled after it was taken from the queue
                continue
            able = idle if job.kind == "dictation" else general
            # A retried job goes to a worker it has not crashed yet, when one is free.
            fresh = [h for h in able if h.id not in job.workers_tried]
            # A dictation goes to the dictation worker if it is free; otherwise the least used
            # worker, so light load still spreads over every worker.
            h = min(fresh or able, key=lambda w: (w.role != DICTATION, w.jobs_done))
            idle.remove(h)
            deadline = (
                time.monotonic() + self.deadline_base
                + self.deadline_per_audio_s * job.audio_seconds
            )
            job.start(h.id, deadline)
            h.deadline = deadline
            try:
                h.conn.send(
                    ("job", job.id, job.samples.tobytes(), job.language, job.kind, job.speech)
                )
            except (OSError, ValueError):
                h.job = job
                self._on_death(h, "pipe broken while sending a job")
                continue
            h.state, h.job = "busy", job
            self.running[job.id] = job

    def _learn_speed(self, job: Job, transcript: Transcript) -> None:
        if job.audio_seconds > 0.5:
            rtf = transcript.decode_seconds / job.audio_seconds
            self.decode_rtf = 0.8 * self.decode_rtf + 0.2 * rtf
            self.scheduler.seconds_per_audio_second = self.decode_rtf / (self.ready_count() or 1)

    def _finished(self, job: Job) -> None:
        decode = job.transcript.decode_seconds if job.transcript else 0.0
        log.info(
            "job %d %s %s#%d %s: audio %.2f s, queue wait %.3f s, decode %.3f s, worker %s%s",
            job.id, job.task_id, job.kind, job.index, job.state.value, job.audio_seconds,
            job.queue_wait, decode, job.worker_id if job.worker_id is not None
            else (job.workers_tried[-1] if job.workers_tried else "-"),
            f" ({job.failure_reason})" if job.failure_reason else "",
        )
        if self.on_job_finished is not None:
            self.on_job_finished(job)

    def _next_timeout(self) -> float:
        now = time.monotonic()
        soonest = 1.0
        with self._lock:
            for h in self.workers:
                if h.state == "busy" and h.deadline is not None:
                    soonest = min(soonest, h.deadline - now)
                if h.state == "dead" and h.restart_at is not None:
                    soonest = min(soonest, h.restart_at - now)
        return max(0.01, soonest)

    def _wake(self) -> None:
        try:
            self._wake_w.send_bytes(b"!")
        except (OSError, ValueError):
            pass

    def _drain_wake(self) -> None:
        while self._wake_r.poll():
            self._wake_r.recv_bytes()

    # ---- reporting -------------------------------------------------------------------

    def snapshot(self) -> QueueSnapshot:
        """What waits and what runs now, for the admission estimate."""
        dictation_jobs, dictation_audio, files, head_audio = self.scheduler.ahead_of_new_work()
        with self._lock:
            running = tuple(
                RunningJob(h.job.kind, h.job.audio_seconds, h.job.started_at or time.monotonic(),
                           h.role == GENERAL)
                for h in self.workers if h.state == "busy" and h.job is not None
            )
            alive = [h for h in self.workers if h.state in ("starting", "idle", "busy")]
            remote = 0
            if self.remote is not None:
                # Jobs out on remote workers run on workers that take file work too.
                running += tuple(
                    RunningJob(job.kind, job.audio_seconds, job.started_at or time.monotonic(),
                               True)
                    for job, _ in self.remote.in_flight.values()
                )
                remote = self.remote.ready_count()
        return QueueSnapshot(
            dictation_jobs, dictation_audio, files, head_audio, running,
            ready_workers=len(alive) + remote,
            ready_file_workers=sum(1 for h in alive if h.role == GENERAL) + remote,
        )

    def ready_count(self, files: bool = False) -> int:
        """Workers up and running (only those that take file work, if `files`)."""
        local = sum(
            1 for h in self.workers
            if h.state in ("idle", "busy") and not (files and h.role == DICTATION)
        )  # fmt: skip
        return local + (self.remote.ready_count() if self.remote is not None else 0)

    def health(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "id": h.id,
                    "role": h.role,
                    "pid": h.pid,
                    "state": h.state,
                    "job": None if h.job is None else h.job.id,
                    "task": None if h.job is None else h.job.task_id,
                    "jobs_done": h.jobs_done,
                    "restarts": h.restarts,
                    "rss_bytes": h.rss() if h.state != "dead" else None,
                    "load_seconds": h.load_seconds,
                    "last_death": h.last_death,
                }
                for h in self.workers
            ]

