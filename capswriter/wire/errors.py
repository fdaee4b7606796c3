"""What each error code means to the one who gets it, in one table.

The server sends a code (``protocol.POISON_JOB`` …) in an ``error`` message and, over HTTP, an
OpenAI-style error body with a status. A client decides by the code alone whether sending the
same audio again could help. The table below is the one place that says, for every code, whether
it is final and which HTTP status carries it; ``error_code`` is the one place that names the code
of an exception raised while audio is queued.
"""

from __future__ import annotations

from dataclasses import dataclass

from capswriter.errors import (
    AudioTooLarge,
    CapsWriterError,
    DecodeCancelled,
    ShuttingDown,
    UnsupportedAudio,
    UnsupportedLanguage,
)
from capswriter.wire import protocol

# Codes only the HTTP API sends (the WebSocket says `busy` with its own message type, and an
# unknown language is a bad `start` message there).
BUSY = "busy"
INVALID_REQUEST = "invalid_request"
UNSUPPORTED_LANGUAGE = "unsupported_language"


@dataclass(frozen=True)
class ErrorKind:
    """``final``: the same audio will never be transcribed, so a client keeps it no longer
    for a retry. ``http_status``: the status the HTTP API answers with this code; 503 says
    "later" and comes with Retry-After."""

    final: bool
    http_status: int


_FINAL_400 = ErrorKind(final=True, http_status=400)
# 422, not 500: the server is fine, this audio is not, and HTTP clients (the OpenAI SDK among
# them) retry a 5xx on their own, which would take recognizer processes down again.
_FINAL_422 = ErrorKind(final=True, http_status=422)
_LATER = ErrorKind(final=False, http_status=503)
_OTHER = ErrorKind(final=False, http_status=500)

ERRORS: dict[str, ErrorKind] = {
    # The audio or the request itself is at fault: sending it again gives the same answer.
    protocol.UNSUPPORTED_AUDIO: _FINAL_400,
    protocol.TOO_LARGE: _FINAL_400,
    protocol.BAD_MESSAGE: _FINAL_400,
    protocol.BAD_SAMPLE_RATE: _FINAL_400,
    UNSUPPORTED_LANGUAGE: _FINAL_400,
    INVALID_REQUEST: _FINAL_400,
    # The audio took recognizer processes down or made them hang, or the recognizer raised
    # on it: once more would only do the same.
    protocol.POISON_JOB: _FINAL_422,
    protocol.JOB_TIMEOUT: _FINAL_422,
    protocol.WORKER_ERROR: _FINAL_422,
    # The server cannot take the work now; later it may.
    BUSY: _LATER,
    protocol.SHUTTING_DOWN: _LATER,
    protocol.QUEUE_TIMEOUT: _LATER,
    # About this conversation, not the audio: a new connection may well succeed.
    protocol.BAD_JSON: _OTHER,
    protocol.UNKNOWN_TYPE: _OTHER,
    protocol.UNSUPPORTED_VERSION: _OTHER,
    protocol.NO_STREAM: _OTHER,
    protocol.STREAM_OPEN: _OTHER,
    protocol.FRAME_TOO_LARGE: _OTHER,
    protocol.STREAM_TIMEOUT: _OTHER,
    protocol.CANCELLED: _OTHER,
    protocol.UNKNOWN_TASK: _OTHER,
    protocol.INTERNAL: _OTHER,
}


def kind_of(code: str) -> ErrorKind:
    """The table's entry for ``code``; a code this version does not know is not final."""
    return ERRORS.get(code, _OTHER)


def is_final(code: str) -> bool:
    return kind_of(code).final


def http_status(code: str) -> int:
    return kind_of(code).http_status


def error_code(exc: Exception) -> str:
    """The protocol error code a client gets for an exception raised while queueing audio."""
    if isinstance(exc, protocol.ProtocolError):
        return exc.code
    if isinstance(exc, AudioTooLarge):
        return protocol.TOO_LARGE
    if isinstance(exc, UnsupportedAudio):
        return protocol.UNSUPPORTED_AUDIO
    if isinstance(exc, ShuttingDown):
        return protocol.SHUTTING_DOWN
    if isinstance(exc, DecodeCancelled):
        return protocol.CANCELLED
    if isinstance(exc, UnsupportedLanguage):
        return protocol.BAD_MESSAGE
    return protocol.INTERNAL


class TaskFailed(CapsWriterError):
    """The server could not finish a task; ``code`` is one of the protocol's error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def final(self) -> bool:
        """The server has said this audio will never be transcribed."""
        return is_final(self.code)


class TaskTimedOut(TaskFailed):
    """No result within the caller's deadline; the task was cancelled on the server."""

    def __init__(self, seconds: float) -> None:
        super().__init__("timeout", f"no result within {seconds:g} s; the task was cancelled")

    @property
    def final(self) -> bool:
        return False  # our own deadline, not the server's verdict
