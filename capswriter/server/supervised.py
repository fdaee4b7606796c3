"""Long-lived threads that outlive their own bugs: a crash is logged, counted and restarted.

A thread that reads Redis for the life of the process must not end on one bad entry or one
unexpected reply: the process would stay up, looking healthy, with nothing behind it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable

log = logging.getLogger("capswriter.server")

# Waits after a crash before the next run: short, but a loop that fails at once does not spin.
FIRST_RESTART_S = 0.5
MOST_RESTART_S = 10.0


class SupervisedThread:
    """Runs ``target`` in a daemon thread until ``stop`` is set, restarting it after a crash.

    ``target`` is a loop that returns when ``stop`` is set; ``crashes`` counts the restarts per
    thread name (shown in /metrics).
    """

    def __init__(self, name: str, target: Callable[[], None], stop: threading.Event,
                 crashes: Counter[str]) -> None:
        self.name = name
        self.target = target
        self.stop = stop
        self.crashes = crashes
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> SupervisedThread:
        self.thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    def _run(self) -> None:
        delay = FIRST_RESTART_S
        while not self.stop.is_set():
            try:
                self.target()
                return
            except Exception:  # noqa: BLE001 - the point: any crash is survived
                self.crashes[self.name] += 1
                log.exception("thread %s crashed (restart %d); starting it again in %.1f s",
                              self.name, self.crashes[self.name], delay)
                self.stop.wait(delay)
                delay = min(MOST_RESTART_S, delay * 2)
