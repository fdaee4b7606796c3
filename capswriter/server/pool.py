"""A supervised pool of recognizer processes.

Life of the pool: ``startup()`` spawns N workers and the supervisor thread; ``run()`` (that
thread) waits on every worker's pipe and process sentinel at once, so a death is seen the moment
it happens; it hands queued jobs to idle workers, kills workers past their job deadline and
restarts dead ones with backoff; ``shutdown()`` fails what is left and stops the workers.

A worker's own life (spawn, ready, busy, dead, restart backoff) is ``WorkerProcess``; which
worker takes which job is ``DispatchPolicy``. The pool knows which job each worker holds. When a
worker dies or hangs, its job is retried once on another worker; a job that took down two
workers is a poison job and fails.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from capswriter.asr.result import Transcript
from capswriter.config import Settings
from capswriter.server.admission import QueueSnapshot, RunningJob
from capswriter.server.dispatch import DispatchPolicy
from capswriter.server.jobs import Job
from capswriter.server.scheduler import Scheduler
from capswriter.server.waiting import wait_any
from capswriter.server.worker import run_worker
from capswriter.server.worker_messages import Decoded, DecodeFailed, LoadFailed, Ready, Taken
from capswriter.server.worker_process import (
    DICTATION,
    GENERAL,
    LOADED,
    RUNNING,
    WorkerProcess,
    WorkerState,
)
from capswriter.wire import protocol
from capswriter.wire.health import WorkerHealth

if TYPE_CHECKING:
    from capswriter.server.broker_dispatch import BrokerDispatcher
    from capswriter.wire.broker import BrokerResult

log = logging.getLogger("capswriter.pool")

LOAD_TIMEOUT_S = 180.0
# A slot whose replacement could not be started (no memory, processes or files) tries again.
SPAWN_RETRY_S = 5.0
# Why a worker past its job deadline died (it was killed), as recorded and reported.
HUNG = "hung past the job deadline"


def default_worker_count() -> int:
    return max(1, os.cpu_count() or 1)


class WorkerPool:
    def __init__(
        self,
        settings: Settings,
        scheduler: Scheduler,
        on_job_finished: Callable[[Job], None] | None = None,
        on_worker_restart: Callable[[WorkerProcess], None] | None = None,
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
        self.policy = DispatchPolicy(settings.server, self.size, self.dictation_worker)
        self.on_job_finished = on_job_finished
        self.on_worker_restart = on_worker_restart
        roles = [GENERAL] * self.size + ([DICTATION] if self.dictation_worker else [])
        self.workers = [WorkerProcess(id=i, role=role) for i, role in enumerate(roles)]
        self.model = settings.asr.model
        self.running: dict[int, Job] = {}
        # Dictations still being recorded. Without a dictation worker, one worker is kept out
        # of file work while any is, so the pieces decoded at key release find it free instead
        # of waiting behind a 28 s file segment.
        self.recording: set[str] = set()
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
                wake=self._wake, on_lost=self._remote_lost,
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
        by_object: dict[Any, WorkerProcess] = {}
        with self._lock:
            for w in self.workers:
                if w.state in RUNNING:
                    by_object[w.conn] = w
                    by_object[w.sentinel] = w
        waitables.extend(by_object)
        ready = wait_any(waitables, timeout=self._next_timeout())
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
                    gone = by_object.get(obj)
                    if gone is not None and not isinstance(obj, Connection):
                        if gone.state in RUNNING and not gone.alive():
                            self._on_death(gone, f"exit code {gone.process.exitcode}")
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
        for w in self.workers:
            w.ask_to_stop()
        deadline = time.monotonic() + 3.0
        for w in self.workers:
            w.stop(deadline)

    # ---- submitting and cancelling (called from the event loop) -----------------------

    def submit(self, jobs: list[Job], admitted: bool = False) -> None:
        """Queue jobs (all or none; QueueFull when they don't fit, unless their file was
        admitted whole) and wake the supervisor."""
        with self._lock:
            if self._stopping:
                raise RuntimeError("the pool is shutting down")
            self.scheduler.submit(jobs, admitted)
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
            if all(w.state in LOADED for w in self.workers):
                return True
            time.sleep(0.05)
        return False

    # ---- inside the supervisor --------------------------------------------------------

    def _spawn(self, worker: WorkerProcess) -> None:
        worker.spawn(self._ctx, run_worker, (
            worker.id, {**self.asr, "num_threads": self.threads[worker.role]},
            str(self.settings.models_path), os.getpid(), self.settings.log_level,
            # With a worker kept for dictations, the others yield the CPU to it.
            self.dictation_worker and worker.role == GENERAL,
        ))

    def _read(self, w: WorkerProcess) -> None:
        try:
            for reply in w.replies():
                self._on_reply(w, reply)
        except (EOFError, OSError):
            # The pipe broke: the sentinel fires too; the process may still be exiting.
            w.join(1)
            if w.state in RUNNING:
                self._on_death(w, f"pipe closed (exit code {w.process.exitcode})")

    def _on_reply(self, w: WorkerProcess, reply: Any) -> None:
        if isinstance(reply, Ready):
            w.ready(reply)
            self.model = reply.model
            log.info("worker %d ready (pid %d, model loaded in %.2f s)",
                     w.id, reply.pid, reply.load_seconds)
        elif isinstance(reply, Taken):
            w.taken(reply.job_id)
        elif isinstance(reply, LoadFailed):
            log.error("worker %d could not load the model: %s", w.id, reply.message)
            w.load_error = f"load failed: {reply.message}"
        elif isinstance(reply, (Decoded, DecodeFailed)):
            job = w.release()
            if job is None or job.id != reply.job_id:
                return
            if isinstance(reply, Decoded):
                self._complete(job, reply.transcript)
            else:
                self._complete(job, None, reply.message)

    def _complete(self, job: Job, result: dict[str, Any] | None, failure: str = "") -> None:
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
            self.scheduler.learn_speed(job.audio_seconds, transcript.decode_seconds,
                                       self.ready_count())
            job.succeed(transcript)
        else:
            job.fail(protocol.WORKER_ERROR, f"the recognizer failed: {failure}")
        self._finished(job)

    def _remote_result(self, job_id: int, result: BrokerResult, worker_number: int) -> None:
        """A remote worker's answer (from the broker's results thread)."""
        from capswriter.wire.broker import DEAD, DONE

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
                self._queue_again(job)
        self._wake()

    def _remote_lost(self, job_id: int) -> None:
        """Redis lost a published job (it restarted without its data): queue it again, first.
        No worker failed on it, so it counts no attempt."""
        with self._lock:
            assert self.remote is not None
            job = self.remote.forget(job_id)
            if job is None:
                return
            self.running.pop(job.id, None)
            if not job.finished:
                self._queue_again(job)
        self._wake()

    def _on_death(self, w: WorkerProcess, why: str) -> None:
        """A worker is gone: retry or fail its job, and schedule its replacement."""
        job, taken, delay = w.died(why, time.monotonic())
        log.warning("worker %d (pid %s) died: %s; restart in %.1f s", w.id, w.pid, why, delay)
        if job is None:
            return
        self.running.pop(job.id, None)
        if job.finished:
            return
        if not taken:
            # The worker was gone before the job reached it: the audio is not to blame.
            log.info("job %d never reached worker %d; sending it to another", job.id, w.id)
            self._queue_again(job)
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
            self._queue_again(job)

    def _queue_again(self, job: Job) -> None:
        """Back to the front of its queue, for another worker."""
        job.requeue()
        self.scheduler.requeue(job)

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for w in self.workers:
            if w.state is WorkerState.BUSY and w.deadline is not None:
                if now > w.deadline:
                    log.warning("worker %d hung on job %s past its deadline; killing it",
                                w.id, w.job.id if w.job else "?")
                    w.kill()
                    self._on_death(w, HUNG)
            elif w.state is WorkerState.STARTING and now - w.started_at > LOAD_TIMEOUT_S:
                w.kill()
                self._on_death(w, "model load timed out")

    def _restart_due(self) -> None:
        now = time.monotonic()
        for w in self.workers:
            if w.state is WorkerState.DEAD and w.restart_at is not None and now >= w.restart_at:
                try:
                    self._spawn(w)
                except Exception as exc:  # noqa: BLE001 - out of memory, processes or files
                    # Try this slot again later; the other workers must keep being dispatched.
                    w.restart_at = now + SPAWN_RETRY_S
                    w.last_death = f"could not start a replacement: {exc}"
                    log.error("worker %d could not be restarted: %s; retrying in %.0f s",
                              w.id, exc, SPAWN_RETRY_S)
                    continue
                w.restarts += 1
                if self.on_worker_restart is not None:
                    self.on_worker_restart(w)

    def recording_started(self, task_key: str) -> None:
        self.recording.add(task_key)

    def recording_stopped(self, task_key: str) -> None:
        if task_key in self.recording:
            self.recording.discard(task_key)
            self._wake()  # file work held back for the dictation may go now

    def _dispatch(self) -> None:
        self._dispatch_local()
        if self.remote is not None:
            local_free = any(w.state is WorkerState.IDLE for w in self.workers)
            reserve = self.policy.remote_reserve(bool(self.recording), local_free,
                                                 self.remote.ready_count())
            for job in self.remote.dispatch(self.scheduler, reserve):
                self.running[job.id] = job

    def _dispatch_local(self) -> None:
        idle = [w for w in self.workers if w.state is WorkerState.IDLE]
        reserve = self.policy.file_reserve(bool(self.recording))
        while idle:
            job = self.scheduler.take(files=self.policy.takes_files(idle, reserve))
            if job is None:
                return
            if job.finished:  # cancelled after it was taken from the queue
                continue
            w = self.policy.choose(job, idle)
            idle.remove(w)
            deadline = self.policy.deadline(job, time.monotonic())
            job.start(w.id, deadline)
            try:
                w.assign(job, deadline)
            except (OSError, ValueError):
                self._on_death(w, "pipe broken while sending a job")
                continue
            self.running[job.id] = job

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
            for w in self.workers:
                if w.state is WorkerState.BUSY and w.deadline is not None:
                    soonest = min(soonest, w.deadline - now)
                if w.state is WorkerState.DEAD and w.restart_at is not None:
                    soonest = min(soonest, w.restart_at - now)
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
                RunningJob(w.job.kind, w.job.audio_seconds, w.job.started_at or time.monotonic(),
                           w.role == GENERAL)
                for w in self.workers if w.state is WorkerState.BUSY and w.job is not None
            )
            alive = [w for w in self.workers if w.state in RUNNING]
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
            ready_file_workers=sum(1 for w in alive if w.role == GENERAL) + remote,
        )

    def ready_count(self, files: bool = False) -> int:
        """Workers up and running (only those that take file work, if `files`)."""
        local = sum(
            1 for w in self.workers
            if w.state in LOADED and not (files and w.role == DICTATION)
        )  # fmt: skip
        return local + (self.remote.ready_count() if self.remote is not None else 0)

    def worker_health(self) -> list[WorkerHealth]:
        with self._lock:
            return [w.health() for w in self.workers]

    def health(self) -> list[dict[str, Any]]:
        """The workers as plain dicts, for logs and tests."""
        return [asdict(w) for w in self.worker_health()]
