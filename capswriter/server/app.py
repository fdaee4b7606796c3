"""The ASGI application and ``run_server``: WebSocket, health, metrics and the OpenAI API.

FastAPI on uvicorn: one port carries the WebSocket protocol and HTTP, uvicorn's signal handling
gives graceful SIGINT/SIGTERM, and FastAPI's multipart parsing is what the OpenAI-compatible
upload needs. Everything the routes do goes through ``RecognitionService``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile, WebSocket
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from capswriter import __version__, logs
from capswriter.asr.result import Segment
from capswriter.config import Settings, is_loopback
from capswriter.errors import (
    CapsWriterError,
    ConfigError,
    PortInUse,
    QueueFull,
    ShuttingDown,
    UnsupportedLanguage,
)
from capswriter.server.guard import (
    HttpGuard,
    authorized,
    busy_response,
    foreign_origin,
    header_timeout_protocol,
    requested_max_wait,
    token_of,
)
from capswriter.server.service import RecognitionService
from capswriter.server.session import Session
from capswriter.server.tasks import Task
from capswriter.wire import errors, protocol
from capswriter.wire.errors import error_code
from capswriter.wire.jobs import JobKind

log = logging.getLogger("capswriter.server")

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
# How often a waiting HTTP transcription checks that its client is still connected.
DISCONNECT_POLL_S = 1.0


class _RedactTokens(logging.Filter):
    """uvicorn logs WebSocket paths with their query string; keep tokens out of the log."""

    _pattern = re.compile(r"(token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(
                self._pattern.sub(r"\1***", a) if isinstance(a, str) else a
                for a in (record.args if isinstance(record.args, tuple) else (record.args,))
            )
        record.msg = self._pattern.sub(r"\1***", str(record.msg))
        return True


def create_app(settings: Settings) -> FastAPI:
    """Build the application; the worker pool starts with the app's lifespan."""
    service = RecognitionService(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.startup()
        try:
            yield
        finally:
            await asyncio.to_thread(service.shutdown)

    app = FastAPI(title="CapsWriter server", version=__version__, lifespan=lifespan)
    app.state.service = service
    token = settings.server.token

    def admit_upload(max_wait: float) -> None:
        try:
            service.check_room(JobKind.FILE, max_wait)
        except ShuttingDown as exc:
            raise QueueFull(str(exc), 5.0) from None

    # Room for the multipart framing and form fields around the largest file accepted.
    app.add_middleware(HttpGuard, settings=settings.server,
                       max_body_bytes=settings.server.max_upload_bytes + 1024 * 1024,
                       admit=admit_upload)

    @app.websocket("/ws")
    async def websocket_endpoint(ws: WebSocket) -> None:
        if foreign_origin(ws.headers):
            await ws.close(code=4403, reason="connections from web pages are not accepted")
            return
        if not authorized(token, token_of(ws.headers, ws.query_params)):
            await ws.close(code=4401, reason="missing or wrong token")
            return
        await ws.accept()
        if not await service.connections.make_room():
            await ws.send_text(
                protocol.Busy(retry_after=5.0, message="too many connections").to_json()
            )
            await ws.close(code=1013)
            return
        session = Session(ws, service)
        service.connections.add(session)
        service.metrics.connections.inc()
        try:
            await session.run()
        finally:
            service.connections.discard(session)
            service.metrics.connections.dec()

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return service.health().to_dict()

    @app.get("/jobs")
    async def jobs(task: str | None = None) -> list[dict[str, Any]]:
        """Recent job records (where each piece ran, how long it waited and took)."""
        return service.job_records(task)

    @app.get("/metrics")
    async def metrics() -> Response:
        body = service.metrics.exposition(service.scheduler.depths, service.pool.ready_count())
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": service.pool.model, "object": "model", "created": 0,
                      "owned_by": "capswriter"}],
        }

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(
        request: Request,
        file: Annotated[UploadFile, File()],
        model: Annotated[str, Form()] = "",
        language: Annotated[str, Form()] = "",
        # Accepted for compatibility; the engine takes no prompt and decodes greedily.
        prompt: Annotated[str, Form()] = "",
        response_format: Annotated[str, Form()] = "json",
        temperature: Annotated[float, Form()] = 0.0,
    ) -> Response:
        if response_format not in RESPONSE_FORMATS:
            raise _openai_error(400, f"response_format must be one of {RESPONSE_FORMATS}")
        try:
            max_wait = requested_max_wait(request.headers, settings.server)
        except ValueError as exc:
            raise _openai_error(400, str(exc)) from None
        # The multipart parser has spooled the upload to disk; it is counted against the
        # server's upload budget before being read into memory.
        size = file.size if file.size is not None else settings.server.max_upload_bytes
        if size > settings.server.max_upload_bytes:
            raise _openai_error(413, "file is larger than the server's upload limit")
        service.hold_upload(size)  # QueueFull: answered by busy_response
        try:
            data = await file.read(settings.server.max_upload_bytes + 1)
            if len(data) > settings.server.max_upload_bytes:
                raise _openai_error(413, "file is larger than the server's upload limit")
            outcome, retry_after = await _transcribe_upload(
                service, data, file.filename, language, request, max_wait
            )
        finally:
            service.release_upload(size)
        if isinstance(outcome, protocol.Error):
            status = errors.http_status(outcome.code)
            error = _openai_error(status, outcome.message, outcome.code)
            if status == 503:  # a queue wait or a restart: worth asking again later
                retry = retry_after if retry_after is not None else 5
                error.headers = {"Retry-After": str(max(1, round(retry)))}
            raise error
        return _format_result(outcome, response_format)

    @app.exception_handler(ClientGone)
    async def client_gone(request: Request, exc: ClientGone) -> Response:
        return Response(status_code=499)  # nobody is listening; for the access log only

    @app.exception_handler(QueueFull)
    async def busy(request: Request, exc: QueueFull) -> Response:
        return busy_response(exc)

    @app.exception_handler(HTTPException)
    async def openai_errors(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, dict) else {"message": str(exc.detail)}
        return JSONResponse({"error": detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    return app


async def _transcribe_upload(
    service: RecognitionService, data: bytes, filename: str | None, language: str,
    request: Request, max_wait: float,
) -> tuple[protocol.Result | protocol.Error, float | None]:
    """The task's result or error, and when to retry if it waited too long in the queue."""
    task_id = f"http-{uuid.uuid4().hex[:12]}"
    try:
        service.check_room(JobKind.FILE, max_wait)
        task = service.open_task(task_id, JobKind.FILE, language, lambda message: None, max_wait)
        task.start_waiting()
    except QueueFull:
        service.metrics.rejected.labels(JobKind.FILE).inc()
        raise
    except ShuttingDown as exc:
        raise _openai_error(errors.http_status(protocol.SHUTTING_DOWN), str(exc),
                            protocol.SHUTTING_DOWN) from None
    except UnsupportedLanguage as exc:
        raise _openai_error(errors.http_status(errors.UNSUPPORTED_LANGUAGE), str(exc),
                            errors.UNSUPPORTED_LANGUAGE) from None
    try:
        await _while_connected(service.submit_file(task, data, filename), request)
    except ClientGone:
        service.cancel(task, "the client disconnected")  # stops the decode between blocks
        raise
    except QueueFull:
        service.cancel(task, "queue full")
        raise
    except CapsWriterError as exc:
        task.fail(error_code(exc), str(exc))
    except BaseException:
        service.cancel(task, "the upload could not be queued")
        raise
    try:
        await _wait_while_connected(task, request)
    except (asyncio.CancelledError, ClientGone):
        service.cancel(task, "the client disconnected")
        raise
    assert isinstance(task.outcome, (protocol.Result, protocol.Error))
    return task.outcome, task.retry_after


class ClientGone(Exception):
    """The HTTP client hung up before its transcription was done."""


async def _while_connected(work: Coroutine[Any, Any, None], request: Request) -> None:
    """Run ``work`` (the decode of an upload), raising ClientGone if the client leaves first."""
    job = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({job}, timeout=DISCONNECT_POLL_S)
            if done:
                return job.result()
            if await request.is_disconnected():
                raise ClientGone
    finally:
        if not job.done():
            job.cancel()


async def _wait_while_connected(task: Task, request: Request) -> None:
    # The ASGI server does not cancel a handler whose client left, so look once a second;
    # a gone client's queued segments would otherwise hold the pool for nobody.
    while not task.done.is_set():
        try:
            await asyncio.wait_for(task.done.wait(), timeout=DISCONNECT_POLL_S)
        except asyncio.TimeoutError:
            if await request.is_disconnected():
                raise ClientGone from None


def _openai_error(status: int, message: str, code: str = errors.INVALID_REQUEST) -> HTTPException:
    return HTTPException(status_code=status, detail={
        "message": message, "type": "invalid_request_error", "code": code,
    })


def _format_result(result: protocol.Result, response_format: str) -> Response:
    segments = [Segment.from_dict(s) for s in result.segments]
    if response_format == "text":
        return PlainTextResponse(result.text + "\n")
    if response_format in ("srt", "vtt"):
        from capswriter.files.write import srt_text, vtt_text

        render = srt_text if response_format == "srt" else vtt_text
        return PlainTextResponse(render(segments))
    if response_format == "verbose_json":
        return JSONResponse({
            "task": "transcribe",
            "language": result.language,
            "duration": result.audio_seconds,
            "text": result.text,
            "segments": [
                {"id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text,
                 "tokens": [], "temperature": 0.0, "avg_logprob": 0.0,
                 "compression_ratio": 0.0, "no_speech_prob": 0.0}
                for i, s in enumerate(segments)
            ],
        })
    return JSONResponse({"text": result.text})


# ---- running -------------------------------------------------------------------------


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves so a second server fails before loading models."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if os.name == "nt":
        # On Windows SO_REUSEADDR would let a second server share the port; forbid that.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)  # type: ignore[attr-defined]
    else:
        # Allows a restart while old connections sit in TIME_WAIT; a live listener still
        # makes bind fail on POSIX.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)) or \
                getattr(exc, "winerror", None) == 10048:
            raise PortInUse(
                f"port {port} on {host} is already in use — is another CapsWriter server "
                f"running? Stop it or choose another port with --port."
            ) from None
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def check_security(settings: Settings) -> None:
    """Refuse to listen beyond this machine without a token."""
    if not is_loopback(settings.server.host) and not settings.server.token:
        raise ConfigError(
            f"refusing to listen on {settings.server.host} without a token: anyone on the "
            "network could use this server. Set server.token (or CAPSWRITER_SERVER_TOKEN), "
            "or bind 127.0.0.1."
        )


class _Server(uvicorn.Server):
    """uvicorn's server, telling open tasks why they end before it closes connections."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        service: RecognitionService = self.config.loaded_app_service  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            await service.drain()
        await super().shutdown(sockets)


def check_models(settings: Settings) -> None:
    """Refuse to start without the model (or with a precision or language it lacks): workers
    would only fail to load it, again and again."""
    from capswriter.asr.engine import vad_model_path
    from capswriter.asr.languages import check_language
    from capswriter.asr.manifest import load_manifest

    manifest = load_manifest(settings.models_path / settings.asr.model)
    manifest.check_precision(settings.asr.precision)
    try:
        check_language(manifest, settings.asr.language)
    except UnsupportedLanguage as exc:
        raise ConfigError(f"[asr] {exc}") from None
    vad_model_path(settings.models_path)


def _raise_open_files_limit() -> None:
    """Use the hard limit of open files: every client connection is one, and running out
    stops worker restarts (pipes) and log writes."""
    try:
        import resource
    except ImportError:  # Windows: no such per-process limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def run_server(settings: Settings, log_file: Path | None = None) -> None:
    """Run the server in the foreground until SIGINT/SIGTERM; log to stderr or ``log_file``
    (rotated).

    Raises ConfigError (non-loopback bind without a token), ModelNotInstalled or PortInUse before
    any worker starts.
    """
    logs.configure(settings.log_level, file=log_file)
    check_security(settings)
    if settings.server.broker:
        from capswriter.wire.broker import check_broker_url, require_redis

        check_broker_url(settings.server.broker)
        require_redis()
    check_models(settings)
    sock = bind_socket(settings.server.host, settings.server.port)
    app = create_app(settings)
    _raise_open_files_limit()
    s = settings.server
    config = uvicorn.Config(
        app,
        http=header_timeout_protocol(s.header_timeout_s),
        # Past this many connections and requests, uvicorn answers 503 itself; the file handles
        # left over keep worker restarts and logs working.
        limit_concurrency=s.max_connections + 4 * s.max_concurrent_uploads + 512,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=64 * 1024,
        log_level=settings.log_level.lower(),
        # Bigger than our own frame limit so oversized frames reach us and get an error reply.
        ws_max_size=settings.server.max_message_bytes * 2 + 1024,
        ws_ping_interval=20.0,
        timeout_graceful_shutdown=5,
        access_log=False,
    )
    config.loaded_app_service = app.state.service  # type: ignore[attr-defined]
    for name in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(_RedactTokens())
    pool = app.state.service.pool
    log.info("CapsWriter server on %s:%d (model %s, %d workers%s%s)",
             settings.server.host, settings.server.port, settings.asr.model, pool.size,
             " + 1 for dictations" if pool.dictation_worker else "",
             " + remote workers" if pool.remote is not None else "")
    try:
        _Server(config).run(sockets=[sock])
    finally:
        sock.close()
