"""The OpenAI-compatible transcription upload: one file in, its text out in the format asked for.

An upload is a file task like any other (``RecognitionService.submit_file``); this module waits
for it while watching that the HTTP client is still there, and writes the answer the way the
OpenAI API does (json, text, srt, vtt, verbose_json; errors as ``{"error": {...}}``). Two
CapsWriter form fields put the answer through the text stage (:func:`text_stage`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Coroutine
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from capswriter.asr.result import Segment
from capswriter.config import TextSettings
from capswriter.errors import CapsWriterError, QueueFull, ShuttingDown, UnsupportedLanguage
from capswriter.server.service import RecognitionService
from capswriter.server.tasks import Task
from capswriter.text import TextOptions, TextStage
from capswriter.wire import errors, protocol
from capswriter.wire.errors import error_code
from capswriter.wire.jobs import JobKind

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
# How often a waiting HTTP transcription checks that its client is still connected.
DISCONNECT_POLL_S = 1.0


async def transcribe_upload(
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
        raise openai_error(errors.http_status(protocol.SHUTTING_DOWN), str(exc),
                            protocol.SHUTTING_DOWN) from None
    except UnsupportedLanguage as exc:
        raise openai_error(errors.http_status(errors.UNSUPPORTED_LANGUAGE), str(exc),
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


def openai_error(status: int, message: str, code: str = errors.INVALID_REQUEST) -> HTTPException:
    return HTTPException(status_code=status, detail={
        "message": message, "type": "invalid_request_error", "code": code,
    })


def text_stage(settings: TextSettings, itn: bool, hot_words: str) -> TextStage | None:
    """The stage the CapsWriter fields of an upload ask for; None when they ask for nothing.

    ``capswriter_itn`` writes spoken Chinese numbers in digits; ``capswriter_hot_words`` holds
    hot words in the ``hot_words.txt`` format (one a line). A bad list is the client's error.
    """
    if not itn and not hot_words.strip():
        return None
    options = TextOptions(itn=itn, hot_words=bool(hot_words.strip()),
                          threshold=settings.hot_word_threshold, spacing=settings.mixed_spacing)
    try:
        return TextStage.from_text(options, hot_words)
    except ValueError as exc:
        raise openai_error(400, f"capswriter_hot_words: {exc}") from None


def rewrite_result(result: protocol.Result, stage: TextStage | None) -> protocol.Result:
    """``result`` with its text and every segment's text through ``stage``."""
    if stage is None:
        return result
    segments = [{**s, "text": stage.apply(str(s.get("text", ""))).text} for s in result.segments]
    return dataclasses.replace(result, text=stage.apply(result.text).text, segments=segments)


def format_result(result: protocol.Result, response_format: str) -> Response:
    segments = [Segment.from_dict(s) for s in result.segments]
    if response_format == "text":
        return PlainTextResponse(result.text + "\n")
    if response_format in ("srt", "vtt"):
        from capswriter.files.write import srt_text, vtt_text

        render = srt_text if response_format == "srt" else vtt_text
        return PlainTextResponse(render(segments, None, result.audio_seconds or None))
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
