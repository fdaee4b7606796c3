"""Who may reach the server, and what a request may cost before any route runs.

Checked here, in order: the Host header (a token-less server answers loopback names only, so a
web page cannot read it through DNS rebinding), the Origin (no web pages), the token, the number
and size of uploads in flight, the expected wait of a transcription (refused before its body is
read), a deadline between body chunks and a minimum body rate. Uploads are counted in total and
per client address; when either count is full, an upload that has sent less than the minimum
rate since it began gives its place to the new one, so slow senders cannot hold the slots that
real uploads need. A connection that never finishes its headers is
closed by ``http_protocol.HeaderTimeoutProtocol``, which the ASGI layer cannot see.
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

from capswriter.config import ServerSettings, is_loopback
from capswriter.errors import QueueFull
from capswriter.wire import errors

log = logging.getLogger("capswriter.server")

TOKEN_HEADER = "x-capswriter-token"
# How long a client is willing to wait for its result, in seconds (OpenAI clients send none).
MAX_WAIT_HEADER = "x-capswriter-max-wait"
TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
# An upload younger than this is not cut for another: its first bytes may still be on the way.
CUT_AFTER_S = 0.5
# How long a new upload waits for a slot (one freed, or a slow one to cut) before it hears busy.
ROOM_WAIT_S = 2.0


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
        self.receiving: list[_Upload] = []  # request bodies being received now
        self.temp_bytes = 0  # their bytes received so far (spooled to temporary files)
        self.cut_for_room = 0  # slow uploads cut to make room for another, since the start

    @property
    def uploads(self) -> int:
        return len(self.receiving)

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
        client = (scope.get("client") or ("?", 0))[0]
        if not await self._wait_for_room(client):
            await busy_response(QueueFull(
                f"{self.uploads} uploads are being received already", 2.0))(scope, receive, send)
            return
        await self._limited(scope, receive, send, _Upload(client))

    async def _wait_for_room(self, client: str) -> bool:
        """True once an upload from ``client`` may start; False (busy) after ROOM_WAIT_S.

        Slow uploads become cuttable half a second after they start; a new upload waits that
        long rather than hearing busy from slots that a flood of trickles keeps young.
        """
        end = asyncio.get_running_loop().time() + ROOM_WAIT_S
        while not self._make_room(client):
            if asyncio.get_running_loop().time() >= end:
                return False
            await asyncio.sleep(0.1)
        return True

    def _make_room(self, client: str) -> bool:
        """True when an upload from ``client`` may start, cutting a slow one if need be."""
        s = self.settings
        mine = [u for u in self.receiving if u.client == client]
        for full, among in ((len(mine) >= s.max_uploads_per_client, mine),
                            (self.uploads >= s.max_concurrent_uploads, self.receiving)):
            if not full:
                continue
            now = asyncio.get_running_loop().time()
            slow = [u for u in among if not u.cut.is_set() and now - u.started >= CUT_AFTER_S
                    and u.rate(now) < s.min_body_rate_bytes_s]
            if not slow:
                return False
            min(slow, key=lambda u: u.rate(now)).cut.set()
            self.cut_for_room += 1
        return True

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
                       upload: _Upload) -> None:
        """Run the app, cutting off a body that grows past the limits, stalls or trickles.

        The multipart parser spools a whole upload to disk before any route sees it, so the
        size has to be enforced here, while the bytes arrive.
        """
        s = self.settings
        received, body_done = 0, False
        refusal: JSONResponse | None = None
        loop = asyncio.get_running_loop()
        upload.started = loop.time()
        # A slot while the body arrives; the wait for the transcription that follows is
        # bounded by admission, not by this cap.
        self.receiving.append(upload)

        def body_received() -> None:
            nonlocal body_done
            if not body_done:
                body_done = True
                self.receiving.remove(upload)

        def too_slow(message: str) -> JSONResponse:
            return error_response(408, "body_timeout", message + "; upload the file again")

        async def next_message() -> Message:
            # The body may pause up to body_timeout_s, and must average min_body_rate_bytes_s
            # once the grace period is over; a cut upload stops at once.
            behind_at = upload.started + s.body_rate_grace_s \
                + upload.received / max(s.min_body_rate_bytes_s, 1e-9)
            wait = min(s.body_timeout_s, behind_at - loop.time())
            if wait <= 0:
                raise _BodyRefused(too_slow(
                    f"the upload arrives slower than {s.min_body_rate_bytes_s:g} bytes/s"))
            arriving = asyncio.ensure_future(receive())
            cut = asyncio.ensure_future(upload.cut.wait())
            try:
                done, _ = await asyncio.wait({arriving, cut}, timeout=wait,
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                cut.cancel()
            if arriving in done:
                return arriving.result()
            arriving.cancel()
            if cut in done:
                raise _BodyRefused(too_slow(
                    "the upload was slower than the minimum rate and another needed its place"))
            if loop.time() >= behind_at:
                raise _BodyRefused(too_slow(
                    f"the upload arrives slower than {s.min_body_rate_bytes_s:g} bytes/s"))
            raise _BodyRefused(too_slow(f"no data from the client for {s.body_timeout_s:g} s"))

        async def counted_receive() -> Message:
            nonlocal received, refusal
            if body_done:
                return await receive()  # only a disconnect can come now; no deadline
            try:
                message = await next_message()
            except _BodyRefused as exc:
                refusal = exc.args[0]
                raise
            if message["type"] == "http.request":
                chunk = len(message.get("body", b""))
                received += chunk
                upload.received = received
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


class _Upload:
    """A request body being received: from whom, since when, how much so far."""

    def __init__(self, client: str) -> None:
        self.client = client
        self.started = 0.0  # event-loop time
        self.received = 0
        self.cut = asyncio.Event()  # set to make it give its place to another upload

    def rate(self, now: float) -> float:
        """Bytes per second since it began (no grace: for choosing whom to cut)."""
        return self.received / max(now - self.started, 1e-3)


def too_large_response() -> JSONResponse:
    return error_response(413, "too_large", "the request is larger than the server's upload limit")
