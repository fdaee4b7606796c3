"""Job states change only through their transitions."""

from __future__ import annotations

import numpy as np
import pytest

from capswriter.asr.result import Transcript
from capswriter.server.jobs import InvalidTransition, Job, JobState


def make_job(seconds: float = 1.0) -> Job:
    return Job(task_id="t", kind="file", index=0, offset=0.0,
               samples=np.zeros(int(seconds * 16000), dtype=np.float32))


def test_a_job_runs_from_queued_to_done_and_lets_go_of_its_audio() -> None:
    finished: list[Job] = []
    job = make_job(2.0)
    job.on_finish = finished.append
    assert job.state is JobState.QUEUED and job.audio_seconds == 2.0
    job.start(worker_id=1, deadline=1e9)
    assert job.state is JobState.RUNNING and job.attempts == 1 and job.workers_tried == [1]
    job.succeed(Transcript("hi", 2.0, 0.1))
    assert job.state is JobState.DONE and job.samples is None
    assert finished == [job]
    assert job.record()["decode_seconds"] == 0.1


def test_a_retried_job_remembers_every_worker_and_its_deaths() -> None:
    job = make_job()
    job.start(0, 1e9)
    job.worker_deaths += 1
    job.requeue()
    assert job.state is JobState.QUEUED and job.worker_id is None
    job.start(1, 1e9)
    assert job.attempts == 2 and job.workers_tried == [0, 1]


def test_failure_keeps_its_code_and_reason() -> None:
    job = make_job()
    job.start(0, 1e9)
    job.fail("poison_job", "took down two workers")
    assert (job.state, job.failure_code, job.failure_reason) == (
        JobState.FAILED, "poison_job", "took down two workers")


@pytest.mark.parametrize("final", ["succeed", "fail", "cancel"])
def test_finished_jobs_cannot_move_again(final: str) -> None:
    job = make_job()
    job.start(0, 1e9)
    if final == "succeed":
        job.succeed(Transcript("", 1.0, 0.0))
    elif final == "fail":
        job.fail("x", "y")
    else:
        job.cancel()
    for step in (lambda: job.start(0, 1.0), job.requeue, lambda: job.fail("a", "b"), job.cancel):
        with pytest.raises(InvalidTransition):
            step()


def test_a_queued_job_cannot_be_requeued_or_succeed() -> None:
    job = make_job()
    with pytest.raises(InvalidTransition):
        job.requeue()
    with pytest.raises(InvalidTransition):
        job.succeed(Transcript("", 1.0, 0.0))
