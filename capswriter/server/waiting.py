"""Waiting on more pipes and process sentinels than Windows waits on at once.

``multiprocessing.connection.wait`` on Windows is one WaitForMultipleObjects call, which takes at
most 63 handles before Python 3.13 (CPython gh-89240). The supervisor waits on two handles per
worker and its wake-up pipe, so 31 workers, the default on a 32-thread CPU, would make every wait
fail. Past the limit the handles are waited on in groups: the first group (the wake-up pipe and
the first workers) blocks for a short slice, the others are polled between slices. Pipes and
sentinels stay ready until read, so nothing is missed, only seen up to one slice later.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from multiprocessing.connection import wait
from typing import Any

# What one wait can take here; None where the platform sets no limit (select/poll).
WAIT_LIMIT: int | None = 63 if sys.platform == "win32" and sys.version_info < (3, 13) else None
SLICE_S = 0.02


def wait_any(objects: Sequence[Any], timeout: float | None = None,
             limit: int | None = WAIT_LIMIT) -> list[Any]:
    """The ready ones of ``objects``, as ``multiprocessing.connection.wait``, however many."""
    if limit is None or len(objects) <= limit:
        return wait(objects, timeout)
    groups = [objects[i:i + limit] for i in range(0, len(objects), limit)]
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        ready = [obj for group in groups[1:] for obj in wait(group, 0)]
        left = SLICE_S if end is None else min(SLICE_S, end - time.monotonic())
        ready = wait(groups[0], max(0.0, left) if not ready else 0) + ready
        if ready or (end is not None and time.monotonic() >= end):
            return ready
