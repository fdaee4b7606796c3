"""Scheduling order and bounds."""

from __future__ import annotations

import numpy as np
import pytest

from capswriter.errors import QueueFull
from capswriter.server.jobs import Job
from capswriter.server.scheduler import Scheduler


def job(task: str, kind: str = "file", index: int = 0, seconds: float = 1.0) -> Job:
    return Job(task_id=task, kind=kind, index=index, offset=0.0,
               samples=np.zeros(int(seconds * 16000), dtype=np.float32))


def drain(s: Scheduler) -> list[tuple[str, int]]:
    out = []
    while (j := s.take()) is not None:
        out.append((j.task_id, j.index))
    return out


def test_dictation_jumps_ahead_of_queued_file_segments() -> None:
    s = Scheduler()
    s.submit([job("file", index=i) for i in range(3)])
    s.submit([job("dict", kind="dictation")])
    assert drain(s)[0] == ("dict", 0)


def test_files_take_turns_round_robin() -> None:
    s = Scheduler()
    s.submit([job("a", index=i) for i in range(3)])
    s.submit([job("b", index=i) for i in range(2)])
    assert drain(s) == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2)]


def test_a_file_is_admitted_whole_or_not_at_all() -> None:
    s = Scheduler(max_file_jobs=3)
    s.submit([job("a", index=i) for i in range(2)])
    with pytest.raises(QueueFull) as info:
        s.submit([job("b", index=i) for i in range(2)])
    assert info.value.retry_after >= 1.0
    assert s.depths()["file_segments"] == 2


def test_a_file_is_admitted_on_its_length_then_its_segments_queue_as_they_come() -> None:
    s = Scheduler(max_file_jobs=3, max_pending_audio_seconds=100.0)
    s.submit([job("a", seconds=50.0)])
    # 60 s more would pass the audio budget: refused before any segment is queued.
    with pytest.raises(QueueFull):
        s.admit_file(60.0)
    s.admit_file(40.0)
    # Admitted whole: its segments are queued even past the segment bound.
    s.submit([job("b", index=i) for i in range(4)], admitted=True)
    assert s.depths()["file_segments"] == 5
    assert drain(s) == [("a", 0), ("b", 0), ("b", 1), ("b", 2), ("b", 3)]


def test_pending_audio_and_dictation_queues_are_bounded() -> None:
    s = Scheduler(max_dictation_jobs=1, max_pending_audio_seconds=10.0)
    s.submit([job("d", kind="dictation")])
    with pytest.raises(QueueFull):
        s.submit([job("e", kind="dictation")])
    with pytest.raises(QueueFull):
        s.submit([job("f", seconds=9.5)])


def test_a_retried_job_goes_first_and_ignores_the_limits() -> None:
    s = Scheduler(max_file_jobs=1)
    s.submit([job("a")])
    retried = job("b", index=7)
    s.requeue(retried)
    assert s.take() is retried


def test_dropping_a_task_removes_only_its_queued_jobs() -> None:
    s = Scheduler()
    s.submit([job("a", index=i) for i in range(3)])
    s.submit([job("b")])
    s.submit([job("a", kind="dictation")])
    dropped = s.drop_task("a")
    assert len(dropped) == 4
    assert drain(s) == [("b", 0)]
    assert s.depths()["pending_audio_seconds"] == 0.0


def test_position_counts_what_runs_before_the_task() -> None:
    s = Scheduler()
    s.submit([job("a", index=i, seconds=2.0) for i in range(3)])
    s.submit([job("b")])
    s.submit([job("d", kind="dictation", seconds=0.5)])
    assert s.position("d").position == 1
    b = s.position("b")
    # One dictation piece and one segment of file a run before b's first segment.
    assert (b.position, b.jobs_ahead, b.audio_seconds_ahead) == (3, 2, 2.5)
    assert s.position("missing") is None
