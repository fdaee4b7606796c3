"""Waiting on more handles than one Windows wait takes (63 before Python 3.13)."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from multiprocessing.connection import Connection

import pytest

from capswriter.server.waiting import wait_any

LIMIT = 63
WORKERS = 40  # a pipe and a sentinel each: 80 handles


def _echo(conn: Connection) -> None:
    """A stub worker: answers each message until told to stop."""
    while True:
        message = conn.recv()
        if message == "stop":
            return
        conn.send((os.getpid(), message))


@pytest.fixture()
def stub_workers():
    # fork starts forty stubs in a blink; Windows has only spawn.
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    workers = []
    for _ in range(WORKERS):
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_echo, args=(child,), daemon=True)
        process.start()
        child.close()
        workers.append((process, parent))
    yield workers
    for process, conn in workers:
        process.kill()
        process.join(5)
        conn.close()


def test_replies_and_deaths_beyond_the_first_63_handles_are_all_seen(stub_workers) -> None:
    conns = [conn for _, conn in stub_workers]
    sentinels = [process.sentinel for process, _ in stub_workers]
    waitables = [*conns, *sentinels]
    assert len(waitables) > LIMIT
    # Nothing ready: the wait lasts its timeout and returns nothing.
    start = time.monotonic()
    assert wait_any(waitables, timeout=0.2, limit=LIMIT) == []
    assert time.monotonic() - start >= 0.19
    # Every stub answers; each reply is found, however far down the list its pipe is.
    for number, conn in enumerate(conns):
        conn.send(number)
    answered: set[int] = set()
    deadline = time.monotonic() + 20
    while len(answered) < WORKERS and time.monotonic() < deadline:
        for conn in wait_any(waitables, timeout=1.0, limit=LIMIT):
            if isinstance(conn, Connection):
                answered.add(conn.recv()[1])
    assert answered == set(range(WORKERS))
    # The last worker's sentinel is the last handle of all: its death is seen too (its pipe,
    # closed at the same moment, may be seen first).
    last, last_conn = stub_workers[-1]
    last.kill()
    seen: list[object] = []
    deadline = time.monotonic() + 5
    while last.sentinel not in seen and time.monotonic() < deadline:
        seen = wait_any([o for o in waitables if o is not last_conn], timeout=1.0, limit=LIMIT)
    assert seen == [last.sentinel]


def test_a_short_list_is_one_plain_wait(stub_workers) -> None:
    process, conn = stub_workers[0]
    conn.send("hello")
    assert wait_any([conn, process.sentinel], timeout=5.0, limit=LIMIT) == [conn]
    assert conn.recv() == (process.pid, "hello")
