"""The worker pool with real worker processes: dispatch, death, retry, poison, hang."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import psutil
import pytest
import soundfile as sf
from server_helpers import REAL, words

from capswriter.config import PROJECT_ROOT, Settings
from capswriter.server.jobs import Job, JobState
from capswriter.server.pool import WorkerPool
from capswriter.server.scheduler import Scheduler
from capswriter.server.worker import BACKGROUND_NICENESS, FAULT_HOOK_ENV, fault_marker

JFK_WORDS = words("ask not what your country can do for you")


def clip(name: str) -> np.ndarray:
    data, _ = sf.read(REAL / name, dtype="float32")
    return data


def marked(action: str, samples: np.ndarray) -> np.ndarray:
    return np.concatenate([fault_marker(action).astype(np.float32) / 32768.0, samples])


class Finished:
    """Collects jobs as the pool finishes them (called on the supervisor thread)."""

    def __init__(self) -> None:
        self.events: dict[int, threading.Event] = {}
        self.lock = threading.Lock()

    def __call__(self, job: Job) -> None:
        with self.lock:
            self.events.setdefault(job.id, threading.Event()).set()

    def wait(self, jobs: list[Job], timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        for job in jobs:
            with self.lock:
                event = self.events.setdefault(job.id, threading.Event())
            assert event.wait(max(0.0, end - time.monotonic())), f"job {job.id} never finished"


@pytest.fixture(scope="module")
def finished() -> Finished:
    return Finished()


def pool_settings(workers: int, dictation_worker: bool) -> Settings:
    settings = Settings()
    settings.models_dir = str(PROJECT_ROOT / "models")
    settings.server.workers = workers
    settings.server.dictation_worker = dictation_worker
    settings.asr.num_threads = 1
    return settings


@contextlib.contextmanager
def running(settings: Settings, finished: Finished) -> Iterator[WorkerPool]:
    pool = WorkerPool(settings, Scheduler(), on_job_finished=finished)
    pool.startup()
    try:
        assert pool.wait_ready(60), pool.health()
        yield pool
    finally:
        pool.shutdown()


@pytest.fixture(scope="module")
def pool(finished: Finished) -> Iterator[WorkerPool]:
    # These tests are about workers that take any job; the dictation worker has its own below.
    settings = pool_settings(2, dictation_worker=False)
    # Short deadlines so the hang test is quick; real decodes of these clips take < 2 s.
    settings.server.job_timeout_s = 4.0
    settings.server.job_timeout_per_audio_s = 1.0
    previous = os.environ.get(FAULT_HOOK_ENV)
    os.environ[FAULT_HOOK_ENV] = "1"  # inherited by the spawned workers
    try:
        with running(settings, finished) as pool:
            yield pool
    finally:
        if previous is None:
            os.environ.pop(FAULT_HOOK_ENV, None)
        else:
            os.environ[FAULT_HOOK_ENV] = previous


def new_job(samples: np.ndarray, task: str = "t", kind: str = "dictation", index: int = 0) -> Job:
    return Job(task_id=task, kind=kind, index=index, offset=0.0, samples=samples)


def test_each_worker_loads_the_model_once_and_reports_ready(pool: WorkerPool) -> None:
    health = pool.health()
    assert [w["state"] for w in health] == ["idle", "idle"]
    assert len({w["pid"] for w in health}) == 2
    assert all(w["load_seconds"] and w["rss_bytes"] for w in health)
    assert pool.model == "whisper-base"


def test_jobs_spread_over_idle_workers_and_decode_correctly(
    pool: WorkerPool, finished: Finished
) -> None:
    jobs = [new_job(clip("en_jfk.wav"), task="spread", kind="file", index=i) for i in range(2)]
    jobs.append(new_job(clip("en_goforward.wav"), task="spread", kind="file", index=2))
    pool.submit(jobs)
    finished.wait(jobs)
    assert all(j.state is JobState.DONE for j in jobs)
    assert {j.worker_id for j in jobs} == {0, 1}
    assert " ".join(JFK_WORDS) in " ".join(words(jobs[0].transcript.text))
    assert words(jobs[2].transcript.text) == ["go", "forward", "10", "meters"]
    assert all(j.queue_wait >= 0 and j.transcript.decode_seconds > 0 for j in jobs)


def test_a_dictation_being_recorded_keeps_one_worker_free_of_file_work(
    pool: WorkerPool, finished: Finished
) -> None:
    pool.recording_started("speaking")
    try:
        files = [new_job(clip("en_jfk.wav"), task="held", kind="file", index=i) for i in range(3)]
        pool.submit(files)
        end = time.monotonic() + 30
        while [w["state"] for w in pool.health()].count("busy") < 1:
            assert time.monotonic() < end, "no file work started"
            time.sleep(0.01)
        time.sleep(0.2)  # time for a wrongly dispatched second job to show
        states = [w["state"] for w in pool.health()]
        assert states.count("busy") == 1 and states.count("idle") == 1
        # The dictation's own pieces still go to the free worker at once.
        piece = new_job(clip("en_goforward.wav"), task="speaking")
        pool.submit([piece])
        finished.wait([piece])
        assert words(piece.transcript.text) == ["go", "forward", "10", "meters"]
    finally:
        pool.recording_stopped("speaking")
    finished.wait(files)  # released: the held file work runs on both workers
    assert all(j.state is JobState.DONE for j in files)
    assert {j.worker_id for j in files} == {0, 1}


def busy_worker(pool: WorkerPool, job: Job, timeout: float = 30.0, taken: bool = True) -> dict:
    """The health entry of the worker holding ``job`` (once it said it has it, if ``taken``)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for w in pool.health():
            if w["job"] == job.id and (not taken or pool.workers[w["id"]].job_taken):
                return w
        time.sleep(0.005)
    raise AssertionError(f"job {job.id} never started")


def test_a_killed_worker_is_replaced_and_its_job_retried_on_another(
    pool: WorkerPool, finished: Finished
) -> None:
    before = {w["id"]: w for w in pool.health()}
    job = new_job(clip("en_jfk.wav"), task="kill")
    pool.submit([job])
    victim = busy_worker(pool, job)
    killed_at = time.monotonic()
    psutil.Process(victim["pid"]).kill()  # SIGKILL; TerminateProcess on Windows
    while pool.health()[victim["id"]]["pid"] == victim["pid"]:
        time.sleep(0.001)
    detected = time.monotonic() - killed_at
    finished.wait([job])
    assert job.state is JobState.DONE, job.record()
    assert job.attempts == 2 and job.worker_deaths == 1
    assert job.workers_tried[0] == victim["id"] and job.workers_tried[1] != victim["id"]
    assert " ".join(JFK_WORDS) in " ".join(words(job.transcript.text))
    # The sentinel, not a polling interval, noticed the death (measured: 15-30 ms; the bound
    # leaves room for a loaded machine).
    assert detected < 3.0
    assert pool.wait_ready(60)
    after = pool.health()[victim["id"]]
    assert after["restarts"] == before[victim["id"]]["restarts"] + 1
    assert after["pid"] != victim["pid"] and after["state"] in ("idle", "busy")


def test_a_worker_that_dies_before_its_job_reaches_it_costs_the_job_nothing(
    pool: WorkerPool, finished: Finished
) -> None:
    # A stopped process cannot read its pipe: the job is sent but never taken, as when every
    # worker is killed at once and the next job goes to one not yet known to be dead.
    # This module's deadlines are short for the hang tests; a slow first decode on a loaded
    # machine must not be taken for a hang here.
    server_settings = pool.policy.settings
    saved = server_settings.job_timeout_s
    server_settings.job_timeout_s = 120.0
    assert pool.wait_ready(60)
    idle = [w for w in pool.health() if w["state"] == "idle"]
    stopped = {w["pid"] for w in idle}
    for pid in stopped:
        psutil.Process(pid).suspend()  # SIGSTOP; NtSuspendProcess on Windows
    job = new_job(clip("en_goforward.wav"), task="undelivered")
    try:
        pool.submit([job])
        victim = busy_worker(pool, job, taken=False)
        assert not pool.workers[victim["id"]].job_taken
    finally:
        for pid in stopped:
            psutil.Process(pid).kill()
    try:
        finished.wait([job])
    finally:
        server_settings.job_timeout_s = saved
    assert job.state is JobState.DONE, job.record()
    assert job.worker_deaths == 0
    assert words(job.transcript.text) == ["go", "forward", "10", "meters"]
    assert pool.wait_ready(60)


def test_a_job_that_kills_two_workers_is_failed_as_poison_and_others_still_succeed(
    pool: WorkerPool, finished: Finished
) -> None:
    assert pool.wait_ready(60)
    poison = new_job(marked("crash", clip("en_goforward.wav")), task="poison")
    good = [new_job(clip("en_goforward.wav"), task="good", index=i) for i in range(3)]
    pool.submit([poison])
    pool.submit(good)
    finished.wait([poison, *good])
    assert poison.state is JobState.FAILED
    assert poison.failure_code == "poison_job" and poison.worker_deaths == 2
    assert len(set(poison.workers_tried)) == 2
    assert all(j.state is JobState.DONE for j in good)
    assert pool.wait_ready(60)


def test_a_hung_worker_is_killed_after_its_deadline_and_the_job_fails_after_two(
    pool: WorkerPool, finished: Finished
) -> None:
    assert pool.wait_ready(60)
    restarts = sum(w["restarts"] for w in pool.health())
    job = new_job(marked("hang", clip("en_goforward.wav")), task="hang")
    pool.submit([job])
    finished.wait([job], timeout=90)
    assert job.state is JobState.FAILED and job.failure_code == "job_timeout"
    assert "hung" in job.failure_reason
    assert job.attempts == 2
    assert pool.wait_ready(60)
    assert sum(w["restarts"] for w in pool.health()) == restarts + 2


def test_a_hung_worker_is_killed_even_after_its_job_was_cancelled(
    pool: WorkerPool, finished: Finished
) -> None:
    # The client gave up first (its own deadline) and cancelled: the worker still hangs.
    assert pool.wait_ready(60)
    job = new_job(marked("hang", clip("en_goforward.wav")), task="hang-cancelled")
    pool.submit([job])
    victim = busy_worker(pool, job)
    assert pool.cancel_task("hang-cancelled") == 0  # running, so nothing queued to drop
    assert job.state is JobState.CANCELLED
    end = time.monotonic() + 60
    while pool.health()[victim["id"]]["pid"] == victim["pid"]:
        assert time.monotonic() < end, "the hung worker was never killed"
        time.sleep(0.05)
    assert pool.wait_ready(60)


def test_a_recognizer_error_fails_the_job_but_keeps_the_worker(
    pool: WorkerPool, finished: Finished
) -> None:
    assert pool.wait_ready(60)
    pids = {w["pid"] for w in pool.health()}
    job = new_job(marked("error", clip("en_goforward.wav")), task="error")
    pool.submit([job])
    finished.wait([job])
    assert job.state is JobState.FAILED and job.failure_code == "worker_error"
    assert {w["pid"] for w in pool.health()} == pids


def test_cancelling_a_task_drops_its_queued_jobs(pool: WorkerPool, finished: Finished) -> None:
    jobs = [new_job(clip("en_jfk.wav"), task="cancel", kind="file", index=i) for i in range(6)]
    pool.submit(jobs)
    dropped = pool.cancel_task("cancel")
    finished.wait(jobs)
    assert dropped >= 4  # at most two were already running
    assert all(j.state is JobState.CANCELLED for j in jobs)
    assert len(pool.scheduler) == 0


def test_a_worker_that_cannot_load_its_model_backs_off_instead_of_spinning(tmp_path) -> None:
    settings = Settings()
    settings.models_dir = str(tmp_path)  # no models here: every worker start fails
    settings.server.workers = 1
    pool = WorkerPool(settings, Scheduler())
    pool.startup()
    try:
        time.sleep(6.0)
        worker = pool.health()[0]
    finally:
        pool.shutdown()
    # Restarts at once, then after 1 s, 2 s, 4 s ...: a handful in six seconds, not dozens.
    assert 1 <= worker["restarts"] <= 4
    assert worker["last_death"].startswith("load failed")
    assert worker["state"] in ("dead", "starting")


def test_a_slot_whose_replacement_cannot_start_does_not_stop_the_other_workers(
    pool: WorkerPool, finished: Finished, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from capswriter.server import pool as pool_module

    assert pool.wait_ready(60)
    monkeypatch.setattr(pool_module, "SPAWN_RETRY_S", 0.5)
    real_process = pool._ctx.Process
    refusals = []

    def refused(*args, **kwargs):
        # What the OS answers when it is out of processes or memory (EAGAIN / ENOMEM).
        refusals.append(time.monotonic())
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(pool._ctx, "Process", refused)
    victim = pool.health()[0]
    psutil.Process(victim["pid"]).kill()  # SIGKILL; TerminateProcess on Windows
    deadline = time.monotonic() + 10
    while not refusals and time.monotonic() < deadline:
        time.sleep(0.01)
    assert refusals, "the supervisor never tried to restart the killed worker"
    # The other worker keeps taking work while the slot cannot be refilled.
    job = new_job(clip("en_goforward.wav"), task="no-spawn")
    pool.submit([job])
    finished.wait([job], timeout=30)
    assert job.state is JobState.DONE and job.worker_id == 1
    assert "could not start a replacement" in pool.health()[0]["last_death"]
    # Once processes can be started again, the slot is refilled by itself.
    monkeypatch.setattr(pool._ctx, "Process", real_process)
    assert pool.wait_ready(60)
    assert pool.health()[0]["pid"] != victim["pid"]


@pytest.fixture(scope="module")
def pool_with_dictation_worker(finished: Finished) -> Iterator[WorkerPool]:
    with running(pool_settings(1, dictation_worker=True), finished) as pool:
        yield pool


def test_the_dictation_worker_takes_no_file_work_and_the_others_yield_the_cpu(
    pool_with_dictation_worker: WorkerPool, finished: Finished
) -> None:
    pool = pool_with_dictation_worker
    health = pool.health()
    assert [w["role"] for w in health] == ["general", "dictation"]
    if sys.platform.startswith("linux"):
        assert psutil.Process(health[0]["pid"]).nice() == BACKGROUND_NICENESS
        assert psutil.Process(health[1]["pid"]).nice() == psutil.Process().nice()
    files = [new_job(clip("en_jfk.wav"), task="file", kind="file", index=i) for i in range(3)]
    pool.submit(files)
    busy_worker(pool, files[0])
    # A dictation arriving while file work runs is decoded at once, by its own worker.
    piece = new_job(clip("en_goforward.wav"), task="dictation")
    pool.submit([piece])
    finished.wait([piece])
    assert piece.worker_id == 1
    assert words(piece.transcript.text) == ["go", "forward", "10", "meters"]
    assert not all(j.finished for j in files), "the dictation waited for the file work"
    finished.wait(files)
    # File segments only ever go to the general worker, even with the dictation worker idle.
    assert all(j.state is JobState.DONE for j in files)
    assert {j.worker_id for j in files} == {0}
