"""The open WebSocket connections: a bounded set where an idle connection gives way.

A client that opens connections and leaves them idle (a desktop client keeps one open between
dictations; a misbehaving one may open hundreds) must not lock everyone else out. When every
slot is taken, the connection idle longest is closed to make room; connections idle past the
server's idle timeout are closed anyway.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger("capswriter.server")

# A connection idle for less than this is not closed to make room: it is likely between two
# requests of a client that is working.
MIN_IDLE_TO_EVICT_S = 5.0


class IdleAware(Protocol):
    def idle_seconds(self) -> float | None:
        """Seconds since the connection last had a stream or task open; None while it has one."""

    async def close_idle(self, reason: str) -> None:
        """Close the connection, telling the client why."""


class Connections:
    def __init__(self, limit: int, idle_timeout_s: float) -> None:
        self.limit = limit
        self.idle_timeout_s = idle_timeout_s
        self._open: set[IdleAware] = set()

    def __len__(self) -> int:
        return len(self._open)

    def add(self, connection: IdleAware) -> None:
        self._open.add(connection)

    def discard(self, connection: IdleAware) -> None:
        self._open.discard(connection)

    async def make_room(self) -> bool:
        """True when a new connection may stay, after closing an idle one if that is needed."""
        if len(self._open) < self.limit:
            return True
        idle = [(c.idle_seconds(), c) for c in self._open]
        candidates = [(s, c) for s, c in idle if s is not None and s >= MIN_IDLE_TO_EVICT_S]
        if not candidates:
            return False
        _, longest = max(candidates, key=lambda pair: pair[0])
        self._open.discard(longest)
        log.info("closing a connection idle for %.0f s to make room for a new client",
                 max(s for s, _ in candidates))
        await longest.close_idle("closed to make room for another client (idle connection)")
        return True
