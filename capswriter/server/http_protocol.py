"""The HTTP/1.1 connection before the ASGI layer sees it: header deadline, per-client room for
connections still sending their request, and TCP_NODELAY.

A slowloris client opens sockets and sends headers slowly or never; each such connection holds
a file handle until the header deadline closes it, and one that reopens them as fast as they
close would fill any fixed limit. So connections waiting for a complete request (new ones, and
idle keep-alive ones) are counted per client address and in total, and past either limit the
oldest waiting one is closed to make room: a client that sends its request at once (a desktop
client, a health check, a request with the right token) is never the oldest, while a flood only
ever evicts itself. Connections serving a request or a WebSocket are not counted here; the
guard and the connection limit of the service bound those.
"""

from __future__ import annotations

import asyncio
import socket
from collections import OrderedDict
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

# Waiting connections looked at, oldest first, for one to close that has nothing unread.
VICTIM_CHECKS = 16


class ConnectionGate:
    """Connections waiting for a complete request, oldest first, per client and in total."""

    def __init__(self, per_client: int, total: int) -> None:
        self.per_client = max(1, per_client)
        self.total = max(1, total)
        self._all: OrderedDict[HeaderTimeoutProtocol, str] = OrderedDict()
        self._by_client: dict[str, OrderedDict[HeaderTimeoutProtocol, None]] = {}
        self.evicted = 0  # connections closed to make room, since the start

    def waiting(self, conn: HeaderTimeoutProtocol, client: str) -> None:
        """``conn`` waits for (the rest of) a request; make room if a limit is passed."""
        self.served(conn)
        self._all[conn] = client
        mine = self._by_client.setdefault(client, OrderedDict())
        mine[conn] = None
        if len(mine) > self.per_client:
            self._evict(self._victim(mine))
        if len(self._all) > self.total:
            self._evict(self._victim(self._all))

    def served(self, conn: HeaderTimeoutProtocol) -> None:
        """``conn`` has its request (or is gone): it no longer counts."""
        client = self._all.pop(conn, None)
        if client is None:
            return
        mine = self._by_client.get(client)
        if mine is not None:
            mine.pop(conn, None)
            if not mine:
                del self._by_client[client]

    def count(self) -> int:
        return len(self._all)

    @staticmethod
    def _victim(waiting: OrderedDict[HeaderTimeoutProtocol, Any]) -> HeaderTimeoutProtocol:
        """The oldest waiting connection with nothing unread: one whose request is already in
        the socket buffer (the event loop has not got to it yet) is on its way in."""
        oldest = next(iter(waiting))
        for checked, conn in enumerate(waiting):
            if checked >= VICTIM_CHECKS:
                break
            if not conn.has_unread_data():
                return conn
        return oldest

    def _evict(self, conn: HeaderTimeoutProtocol) -> None:
        self.served(conn)
        self.evicted += 1
        conn.close_waiting()


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing connections that do not send a request in time or
    that a flood of newer waiting connections pushes out.

    uvicorn times out idle keep-alive connections only after a first response, and any byte
    restarts that timer: a client that opens sockets and trickles (or never sends) headers would
    hold them, and the server's file handles, forever.
    """

    header_timeout_s = 10.0
    gate = ConnectionGate(256, 1024)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _no_delay(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._wait_for_request()

    def _wait_for_request(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_overdue)
        self.gate.waiting(self, self.client[0] if self.client else "?")

    def _request_arrived(self) -> None:
        self._cancel_header_timer()
        self.gate.served(self)

    def _cancel_header_timer(self) -> None:
        if getattr(self, "_header_timer", None) is not None:
            self._header_timer.cancel()  # type: ignore[union-attr]
            self._header_timer = None

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._request_arrived()  # a request is being served

    def handle_websocket_upgrade(self, event: Any) -> None:
        self._request_arrived()  # the connection now belongs to the WebSocket protocol
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (
                self.cycle is None or self.cycle.response_complete):
            self._wait_for_request()  # the next request on this connection has its deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._request_arrived()
        super().connection_lost(exc)

    def has_unread_data(self) -> bool:
        transport_socket = self.transport.get_extra_info("socket")
        if transport_socket is None or not hasattr(socket, "MSG_DONTWAIT"):
            return False
        # asyncio's socket wrapper offers no recv; peek through a borrowed handle on the fd.
        sock = socket.socket(fileno=transport_socket.fileno())
        try:
            return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:  # nothing to read (BlockingIOError), or the peer is gone
            return False
        finally:
            sock.detach()

    def close_waiting(self) -> None:
        """Close this connection, which is waiting for a request (not serving one)."""
        self._cancel_header_timer()
        if not self.transport.is_closing():
            self.transport.close()

    def _headers_overdue(self) -> None:
        self._header_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # serving a request (the body has its own deadline)
        self.gate.served(self)
        if not self.transport.is_closing():
            self.transport.close()


def _no_delay(transport: asyncio.Transport) -> None:
    """Send small replies at once: with Nagle's algorithm a keep-alive client waits ~40 ms for
    each reply after the first (its delayed ACK against our held-back segment)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # the peer is already gone


def header_timeout_protocol(seconds: float, per_client: int = 256,
                            total: int = 1024) -> type[HeaderTimeoutProtocol]:
    """The protocol class for uvicorn's ``http`` option: this header deadline, and a gate
    letting each client keep ``per_client`` connections waiting for a request (``total`` over
    all clients)."""
    return type("CapsWriterHttpProtocol", (HeaderTimeoutProtocol,), {
        "header_timeout_s": seconds, "gate": ConnectionGate(per_client, total)})
