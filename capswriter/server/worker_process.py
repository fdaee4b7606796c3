"""One worker slot as the pool sees it: the process in it, its pipe, its state and its job.

The life of a worker, and the only ways its state changes::

    STOPPED ─spawn─▶ STARTING ─ready─▶ IDLE ─assign─▶ BUSY ─release─▶ IDLE
                        │                │               │
                        └──── died ──────┴───── died ────┴──▶ DEAD ─spawn (after backoff)─▶ STARTING
    any state ─stop─▶ STOPPED

The slot stays when its process dies: a new process is spawned into it, at once after the first
death and with growing backoff (1, 2, 4 … 30 s) when it keeps dying young. What the pool does with
the job a dead worker held is the pool's business (``WorkerPool._on_death``).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import psutil

from capswriter.server.jobs import Job
from capswriter.server.worker_messages import DecodeRequest, Ready, Stop, WorkerReply
from capswriter.wire.health import WorkerHealth

# A worker slot's role: any job, or kept for dictations (see ServerSettings.dictation_worker).
GENERAL = "general"
DICTATION = "dictation"

MAX_BACKOFF_S = 30.0
# A worker that lived this long before dying is not part of a crash loop.
STABLE_AFTER_S = 60.0


class WorkerState(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"  # spawned, loading the model
    IDLE = "idle"
    BUSY = "busy"  # decoding the job it holds
    DEAD = "dead"  # waiting for its restart


_TRANSITIONS: dict[WorkerState, frozenset[WorkerState]] = {
    WorkerState.STOPPED: frozenset({WorkerState.STARTING, WorkerState.STOPPED}),
    WorkerState.STARTING: frozenset({WorkerState.IDLE, WorkerState.DEAD, WorkerState.STOPPED}),
    WorkerState.IDLE: frozenset({WorkerState.BUSY, WorkerState.DEAD, WorkerState.STOPPED}),
    WorkerState.BUSY: frozenset({WorkerState.IDLE, WorkerState.DEAD, WorkerState.STOPPED}),
    WorkerState.DEAD: frozenset({WorkerState.STARTING, WorkerState.STOPPED}),
}
# A process runs in these states: its pipe and sentinel are worth waiting on.
RUNNING = frozenset({WorkerState.STARTING, WorkerState.IDLE, WorkerState.BUSY})
# The model is loaded: the worker counts as ready for work.
LOADED = frozenset({WorkerState.IDLE, WorkerState.BUSY})


class InvalidWorkerTransition(RuntimeError):
    pass


@dataclass
class WorkerProcess:
    """One worker slot; the process in it is replaced when it dies, the slot stays."""

    id: int
    role: str = GENERAL
    process: Any = None
    conn: Connection | None = None
    state: WorkerState = WorkerState.STOPPED
    job: Job | None = None
    # The worker said it has its job (``Taken``): from then on a death is the job's doing.
    job_taken: bool = False
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

    def _move(self, to: WorkerState) -> None:
        if to not in _TRANSITIONS[self.state]:
            raise InvalidWorkerTransition(f"worker {self.id}: {self.state.value} → {to.value}")
        self.state = to

    # ---- the process ---------------------------------------------------------------------

    def spawn(self, ctx: Any, target: Callable[..., None], args: tuple[Any, ...]) -> None:
        """Start ``target(pipe, *args)`` in this slot; it says Ready once its model is loaded."""
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(target=target, args=(child_conn, *args),
                              name=f"capswriter-worker-{self.id}", daemon=True)
        process.start()
        child_conn.close()  # so our end sees EOF when the worker dies
        self._move(WorkerState.STARTING)
        self.process, self.conn, self.pid = process, parent_conn, process.pid
        self.job, self.load_error = None, ""
        self.started_at, self.ready_at, self.restart_at = time.monotonic(), None, None

    @property
    def sentinel(self) -> Any:
        return self.process.sentinel

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def replies(self) -> Iterator[WorkerReply]:
        """The replies waiting on the pipe; EOFError or OSError when the pipe broke."""
        while self.conn is not None and self.conn.poll():
            yield self.conn.recv()

    def kill(self) -> None:
        self.process.kill()

    def join(self, timeout: float) -> None:
        self.process.join(timeout=timeout)

    def rss(self) -> int | None:
        try:
            return psutil.Process(self.pid).memory_info().rss if self.pid else None
        except psutil.Error:
            return None

    # ---- its life ------------------------------------------------------------------------

    def ready(self, reply: Ready) -> None:
        self._move(WorkerState.IDLE)
        self.ready_at, self.load_seconds = time.monotonic(), reply.load_seconds

    def assign(self, job: Job, deadline: float) -> None:
        """Send ``job`` down the pipe; OSError or ValueError if the pipe is broken."""
        assert self.conn is not None and job.samples is not None
        self.deadline = deadline
        self.job, self.job_taken = job, False  # held even if the send fails
        self.conn.send(DecodeRequest(job.id, job.samples.tobytes(), job.language, job.kind,
                                     job.speech))
        self._move(WorkerState.BUSY)

    def taken(self, job_id: int) -> None:
        """The worker received the job it holds and starts decoding it."""
        if self.job is not None and self.job.id == job_id:
            self.job_taken = True

    def release(self) -> Job | None:
        """The worker answered its job: it is idle again. Returns the job it held."""
        job, self.job, self.deadline, self.job_taken = self.job, None, None, False
        self._move(WorkerState.IDLE)
        self.jobs_done += 1
        self.crashes_in_a_row = 0
        return job

    def died(self, why: str, now: float) -> tuple[Job | None, bool, float]:
        """The process is gone: note why, plan the restart. Returns its job, whether the worker
        had taken that job, and the delay."""
        self.process.join(timeout=1)
        self._move(WorkerState.DEAD)
        self.last_death = self.load_error or why
        if self.conn is not None:
            self.conn.close()
        job, taken = self.job, self.job_taken
        self.job, self.deadline, self.job_taken = None, None, False
        lived = now - self.started_at
        self.crashes_in_a_row = 1 if lived > STABLE_AFTER_S else self.crashes_in_a_row + 1
        # First death restarts at once; a crash loop backs off 1, 2, 4 ... 30 s.
        delay = 0.0 if self.crashes_in_a_row <= 1 else min(
            MAX_BACKOFF_S, 2.0 ** (self.crashes_in_a_row - 2)
        )
        self.restart_at = now + delay
        self.death_times.append(now)
        return job, taken, delay

    def stop(self, deadline: float) -> None:
        """Ask the process to finish, wait until ``deadline`` (monotonic), then kill it."""
        if self.process is not None:
            self.join(max(0.0, deadline - time.monotonic()))
            if self.process.is_alive():
                self.kill()
                self.join(2)
        self._move(WorkerState.STOPPED)

    def ask_to_stop(self) -> None:
        if self.alive() and self.conn is not None:
            try:
                self.conn.send(Stop())
            except (OSError, ValueError):
                pass

    def health(self) -> WorkerHealth:
        return WorkerHealth(
            id=self.id,
            role=self.role,
            pid=self.pid,
            state=self.state.value,
            job=None if self.job is None else self.job.id,
            task=None if self.job is None else self.job.task_id,
            jobs_done=self.jobs_done,
            restarts=self.restarts,
            rss_bytes=self.rss() if self.state is not WorkerState.DEAD else None,
            load_seconds=self.load_seconds,
            last_death=self.last_death,
        )
