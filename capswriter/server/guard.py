"""Who may reach the server, and what a request may cost before any route runs.

Checked here, in order: the Host header (a token-less server answers loopback names only, so a
web page cannot read it through DNS rebinding), the Origin (no web pages), the token, the number
and size of uploads in flight, the expected wait of a transcription (refused before its body is
read), and a deadline between body chunks. A connection that never finishes its headers is
closed by :class:`HeaderTimeoutProtocol`, which the ASGI layer cannot see.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers, QueryParams
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from capswriter.config import ServerSettings, is_loopback
from capswriter.errors import QueueFull
from capswriter.wire import errors

log = logging.getLogger("capswriter.server")

TOKEN_HEADER = "x-capswriter-token"
# How long a client is willing to wait for its result, in seconds (OpenAI clients send none).
MAX_WAIT_HEADER = "x-capswriter-max-wait"
TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"


def token_of(headers: Any, query: Any) -> str:
    auth = str(headers.get("authorization", ""))
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return str(headers.get(TOKEN_HEADER) or query.get("token") or "")


def authorized(expected: str, given: str) -> bool:
    if not expected:
        return True
    return hmac.compare_digest(expected.encode(), given.encode())


def foreign_origin(headers: Any) -> bool:
    """True for a request a web page on another site made (browsers always send Origin).

    Without this any page the user opens could drive a token-less loopback server.
    """
    origin = headers.get("origin")
    if not origin:
        return False  # not a browser: desktop client, CLI, curl, OpenAI libraries
    host = urlsplit(origin).hostname or ""
    return not is_loopback(host.strip("[]"))


def foreign_host(headers: Any, token: str) -> bool:
    """True when a token-less server is asked for by a name that is not this machine's.

    A page on evil.example can point its own name at 127.0.0.1 (DNS rebinding); the browser then
    sends ``Host: evil.example`` and no Origin for same-site reads. A server with a token is
    meant to be reached by other names, and the token protects it.
    """
    if token:
        return False
    host = headers.get("host")
    if host is None:
        return False  # HTTP/1.0 without Host: not a browser
    name = urlsplit(f"//{host}").hostname or ""
    return not is_loopback(name.strip("[]"))


def requested_max_wait(headers: Any, settings: ServerSettings) -> float:
    """The client's max wait (header), within the server's limit; the default without one."""
    value = headers.get(MAX_WAIT_HEADER)
    if value is None:
        return settings.max_wait_s
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{MAX_WAIT_HEADER} must be a number of seconds") from None
    if not 0 < seconds < float("inf"):
        raise ValueError(f"{MAX_WAIT_HEADER} must be a positive number of seconds")
    return min(seconds, settings.max_wait_limit_s)


def error_response(status: int, code: str, message: str, kind: str = "invalid_request_error",
                   headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """An error in the OpenAI API's shape, which our own clients read too."""
    return JSONResponse({"error": {"message": message, "type": kind, "code": code, **extra}},
                        status_code=status, headers=headers)


def busy_response(exc: QueueFull) -> JSONResponse:
    retry = max(1, round(exc.retry_after))
    extra = {} if exc.eta is None else {"eta_seconds": exc.eta}
    return error_response(errors.http_status(errors.BUSY), errors.BUSY, str(exc), "server_busy",
                          headers={"Retry-After": str(retry)}, **extra)


class HttpGuard:
    """Refuse HTTP requests before any route runs; bound what an upload may hold and how slowly.

    A plain ASGI middleware rather than ``@app.middleware("http")``: that one wraps the
    request's receive channel, and a route could then no longer see its client hang up.
    """

    def __init__(self, app: ASGIApp, settings: ServerSettings, max_body_bytes: int,
                 admit: Callable[[float], None]) -> None:
        self.app = app
        self.settings = settings
        self.token = settings.token
        self.max_body_bytes = max_body_bytes
        # Raises QueueFull when a new transcription would wait longer than the client allows.
        self.admit = admit
        self.uploads = 0  # request bodies being received now
        self.temp_bytes = 0  # their bytes received so far (spooled to temporary files)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if foreign_host(Headers(scope=scope), self.token):
                # Before the handshake: the connection is refused with HTTP 403.
                await send({"type": "websocket.close", "code": 4403,
                            "reason": "this server answers only to loopback addresses"})
                return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if self.uploads >= self.settings.max_concurrent_uploads:
            await busy_response(QueueFull(
                f"{self.uploads} uploads are being received already", 2.0))(scope, receive, send)
            return
        await self._limited(scope, receive, send, headers)

    def _refusal(self, scope: Scope, headers: Headers) -> JSONResponse | None:
        if foreign_host(headers, self.token):
            return error_response(403, "forbidden_host",
                                  "this server answers only to loopback addresses", "forbidden")
        if foreign_origin(headers):
            return error_response(403, "forbidden_origin",
                                  "requests from web pages are not accepted", "forbidden")
        if not authorized(self.token,
                          token_of(headers, QueryParams(scope.get("query_string", b"")))):
            return error_response(401, "unauthorized", "missing or wrong token", "unauthorized",
                                  headers={"WWW-Authenticate": "Bearer"})
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            return too_large_response()
        if scope["method"] == "POST" and scope["path"] == TRANSCRIPTIONS_PATH:
            try:
                self.admit(requested_max_wait(headers, self.settings))
            except ValueError as exc:
                return error_response(400, "bad_request", str(exc))
            except QueueFull as exc:
                return busy_response(exc)  # before a byte of the upload is read
        return None

    async def _limited(self, scope: Scope, receive: Receive, send: Send,
                       headers: Headers) -> None:
        """Run the app, cutting off a body that grows past the limits or stalls.

        The multipart parser spools a whole upload to disk before any route sees it, so the
        size has to be enforced here, while the bytes arrive.
        """
        received, body_done = 0, False
        refusal: JSONResponse | None = None
        # A slot while the body arrives; the wait for the transcription that follows is
        # bounded by admission, not by this cap.
        self.uploads += 1

        def body_received() -> None:
            nonlocal body_done
            if not body_done:
                body_done = True
                self.uploads -= 1

        async def counted_receive() -> Message:
            nonlocal received, refusal
            if body_done:
                return await receive()  # only a disconnect can come now; no deadline
            try:
                message = await asyncio.wait_for(receive(), self.settings.body_timeout_s)
            except asyncio.TimeoutError:
                refusal = error_response(
                    408, "body_timeout",
                    f"no data from the client for {self.settings.body_timeout_s:g} s; "
                    "upload the file again")
                raise _BodyRefused from None
            if message["type"] == "http.request":
                chunk = len(message.get("body", b""))
                received += chunk
                self.temp_bytes += chunk
                if not message.get("more_body", False):
                    body_received()
                if received > self.max_body_bytes:
                    refusal = too_large_response()
                    raise _BodyRefused
                if self.temp_bytes > self.settings.max_upload_temp_bytes:
                    refusal = busy_response(QueueFull(
                        "the server is receiving too many large uploads at once", 10.0))
                    raise _BodyRefused
            elif message["type"] == "http.disconnect":
                body_received()
            return message

        async def guarded_send(message: Message) -> None:
            if refusal is None:  # the app's own reply to the broken-off body is replaced
                await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _BodyRefused:
            pass
        finally:
            body_received()
            self.temp_bytes -= received
        if refusal is not None:
            await refusal(scope, receive, send)


class _BodyRefused(Exception):
    """A request body broke a limit while it was being received."""


def too_large_response() -> JSONResponse:
    return error_response(413, "too_large", "the request is larger than the server's upload limit")


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing connections that do not send a request in time.

    uvicorn times out idle keep-alive connections only after a first response, and any byte
    restarts that timer: a client that opens sockets and trickles (or never sends) headers would
    hold them, and the server's file handles, forever.
    """

    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_overdue)

    def _cancel_header_timer(self) -> None:
        if getattr(self, "_header_timer", None) is not None:
            self._header_timer.cancel()  # type: ignore[union-attr]
            self._header_timer = None

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._cancel_header_timer()  # a request is being served

    def handle_websocket_upgrade(self, event: Any) -> None:
        self._cancel_header_timer()  # the connection now belongs to the WebSocket protocol
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()  # the next request on this connection has its deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _headers_overdue(self) -> None:
        self._header_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # serving a request (the body has its own deadline)
        if not self.transport.is_closing():
            self.transport.close()


def header_timeout_protocol(seconds: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class for uvicorn's ``http`` option, with this header deadline."""
    return type("CapsWriterHttpProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": seconds})
