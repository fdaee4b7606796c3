"""A worker slot's life with a real process: spawn, ready, a job, death, backoff, stop."""

from __future__ import annotations

import multiprocessing as mp
import time
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np
import pytest

from capswriter.server.jobs import Job
from capswriter.server.worker_messages import Decoded, DecodeRequest, Ready, WorkerReply
from capswriter.server.worker_process import (
    InvalidWorkerTransition,
    WorkerProcess,
    WorkerState,
)


def echo_worker(conn: Connection, model: str) -> None:
    """A stand-in recognizer: says Ready, answers each request with its sample count."""
    import os

    conn.send(Ready(os.getpid(), 0.0, model))
    while isinstance(request := conn.recv(), DecodeRequest):
        conn.send(Decoded(request.job_id, {"samples": len(request.samples) // 4}))


def next_reply(worker: WorkerProcess) -> WorkerReply:
    assert wait([worker.conn], timeout=30), "the worker did not answer"
    return next(worker.replies())


@pytest.fixture
def ctx() -> Any:
    return mp.get_context("spawn")


def test_a_worker_goes_from_starting_to_idle_to_busy_and_back(ctx: Any) -> None:
    worker = WorkerProcess(id=0)
    worker.spawn(ctx, echo_worker, ("tiny",))
    assert worker.state is WorkerState.STARTING and worker.alive()
    reply = next_reply(worker)
    assert isinstance(reply, Ready) and reply.model == "tiny"
    worker.ready(reply)
    assert worker.state is WorkerState.IDLE

    job = Job(task_id="t", kind="file", index=0, offset=0.0,
              samples=np.zeros(1600, dtype=np.float32))
    worker.assign(job, time.monotonic() + 10)
    assert worker.state is WorkerState.BUSY and worker.job is job
    reply = next_reply(worker)
    assert reply == Decoded(job.id, {"samples": 1600})
    assert worker.release() is job
    assert worker.state is WorkerState.IDLE and worker.jobs_done == 1

    worker.ask_to_stop()
    worker.stop(time.monotonic() + 10)
    assert worker.state is WorkerState.STOPPED and not worker.alive()


def test_an_idle_worker_cannot_become_ready_again(ctx: Any) -> None:
    worker = WorkerProcess(id=0)
    worker.spawn(ctx, echo_worker, ("tiny",))
    reply = next_reply(worker)
    assert isinstance(reply, Ready)
    worker.ready(reply)
    with pytest.raises(InvalidWorkerTransition):
        worker.ready(reply)
    worker.kill()
    worker.stop(time.monotonic() + 10)


def test_a_worker_that_keeps_dying_young_is_restarted_later_each_time(ctx: Any) -> None:
    worker = WorkerProcess(id=3)
    delays = []
    for _ in range(3):
        worker.spawn(ctx, echo_worker, ("tiny",))
        worker.kill()
        job, taken, delay = worker.died("killed", time.monotonic())
        assert job is None and not taken and worker.state is WorkerState.DEAD
        delays.append(delay)
    assert delays == [0.0, 1.0, 2.0]
    assert worker.last_death == "killed" and len(worker.death_times) == 3
    worker.stop(time.monotonic())
    assert worker.state is WorkerState.STOPPED
