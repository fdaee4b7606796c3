"""The ASGI application: the WebSocket protocol, health, jobs, metrics and the OpenAI API routes.

FastAPI on uvicorn: one port carries the WebSocket protocol and HTTP, and FastAPI's multipart
parsing is what the OpenAI-compatible upload needs (openai_api.py answers it). Everything the
routes do goes through ``RecognitionService``; startup.py runs the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from capswriter import __version__
from capswriter.config import Settings
from capswriter.errors import QueueFull, ShuttingDown
from capswriter.server.guard import (
    HttpGuard,
    authorized,
    busy_response,
    foreign_origin,
    requested_max_wait,
    token_of,
)
from capswriter.server.openai_api import (
    RESPONSE_FORMATS,
    ClientGone,
    format_result,
    openai_error,
    rewrite_result,
    text_stage,
    transcribe_upload,
)
from capswriter.server.service import RecognitionService
from capswriter.server.session import Session
from capswriter.wire import errors, protocol
from capswriter.wire.jobs import JobKind

log = logging.getLogger("capswriter.server")


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
        # Accepted for compatibility, not used. Hot words given to Whisper as its prompt put
        # more terms right but changed the rest too (fillers dropped, digits written): on our
        # Mandarin eval clips, with hot words corrected by sound afterwards as
        # capswriter_hot_words does, CER was 19.2% without a prompt and 20.7-23.6% with one.
        prompt: Annotated[str, Form()] = "",
        response_format: Annotated[str, Form()] = "json",
        temperature: Annotated[float, Form()] = 0.0,
        # CapsWriter's own fields (OpenAI clients send them as extra_body).
        capswriter_itn: Annotated[bool, Form()] = False,
        capswriter_hot_words: Annotated[str, Form()] = "",
    ) -> Response:
        if response_format not in RESPONSE_FORMATS:
            raise openai_error(400, f"response_format must be one of {RESPONSE_FORMATS}")
        stage = text_stage(settings.text, capswriter_itn, capswriter_hot_words)
        try:
            max_wait = requested_max_wait(request.headers, settings.server)
        except ValueError as exc:
            raise openai_error(400, str(exc)) from None
        # The multipart parser has spooled the upload to disk; it is counted against the
        # server's upload budget before being read into memory.
        size = file.size if file.size is not None else settings.server.max_upload_bytes
        if size > settings.server.max_upload_bytes:
            raise openai_error(413, "file is larger than the server's upload limit")
        service.hold_upload(size)  # QueueFull: answered by busy_response
        try:
            data = await file.read(settings.server.max_upload_bytes + 1)
            if len(data) > settings.server.max_upload_bytes:
                raise openai_error(413, "file is larger than the server's upload limit")
            outcome, retry_after = await transcribe_upload(
                service, data, file.filename, language, request, max_wait
            )
        finally:
            service.release_upload(size)
        if isinstance(outcome, protocol.Error):
            status = errors.http_status(outcome.code)
            error = openai_error(status, outcome.message, outcome.code)
            if status == 503:  # a queue wait or a restart: worth asking again later
                retry = retry_after if retry_after is not None else 5
                error.headers = {"Retry-After": str(max(1, round(retry)))}
            raise error
        return format_result(rewrite_result(outcome, stage), response_format)

    @app.exception_handler(ClientGone)
    async def client_gone(request: Request, exc: ClientGone) -> Response:
        return Response(status_code=499)  # nobody is listening; for the access log only

    @app.exception_handler(QueueFull)
    async def busy(request: Request, exc: QueueFull) -> Response:
        return busy_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own {"detail": [...]} for a missing or malformed field; every other error
        # of this API has the OpenAI shape, so clients read one.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return JSONResponse({"error": {"message": problems or "invalid request",
                                       "type": "invalid_request_error",
                                       "code": errors.INVALID_REQUEST}},
                            status_code=errors.http_status(errors.INVALID_REQUEST))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        # A bug, not a verdict on the audio: still the typed error body every client reads.
        log.error("request to %s failed: %s: %s", request.url.path, type(exc).__name__, exc)
        return JSONResponse({"error": {
            "message": f"internal server error ({type(exc).__name__}); see the server log",
            "type": "server_error", "code": protocol.INTERNAL,
        }}, status_code=errors.http_status(protocol.INTERNAL))

    @app.exception_handler(HTTPException)
    async def openai_errors(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, dict) else {"message": str(exc.detail)}
        return JSONResponse({"error": detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    return app
