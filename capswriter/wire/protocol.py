"""The WebSocket protocol: every JSON control message as a dataclass, in one module.

Clients, the server and the tools all import this module, so a message has exactly one
definition. Control messages are JSON text frames carrying ``type`` and ``v`` (the protocol
version); audio travels as binary frames (16-bit little-endian PCM for ``source="mic"``, the
file's own bytes for ``source="file"``). See docs/protocol.md for the conversation.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from capswriter import audio
from capswriter.errors import CapsWriterError

PROTOCOL_VERSION = 1
SAMPLE_RATE = audio.SAMPLE_RATE  # the only rate `mic` frames may have
SOURCES = ("mic", "file")

# Error codes the server may send; clients switch on these, never on the message text. What each
# one means to a client (final or not, its HTTP status) is in wire/errors.py.
BAD_JSON = "bad_json"
BAD_MESSAGE = "bad_message"
UNKNOWN_TYPE = "unknown_type"
UNSUPPORTED_VERSION = "unsupported_version"
NO_STREAM = "no_stream"
STREAM_OPEN = "stream_open"
BAD_SAMPLE_RATE = "bad_sample_rate"
FRAME_TOO_LARGE = "frame_too_large"
TOO_LARGE = "too_large"
UNSUPPORTED_AUDIO = "unsupported_audio"
POISON_JOB = "poison_job"
JOB_TIMEOUT = "job_timeout"
QUEUE_TIMEOUT = "queue_timeout"  # waited in the queue longer than the client's max wait
STREAM_TIMEOUT = "stream_timeout"
WORKER_ERROR = "worker_error"
SHUTTING_DOWN = "shutting_down"
CANCELLED = "cancelled"
UNKNOWN_TASK = "unknown_task"
INTERNAL = "internal"


class ProtocolError(CapsWriterError):
    """A frame the server cannot act on; becomes an ``error`` reply, never a crash."""

    def __init__(self, code: str, message: str, task_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.task_id = task_id

    def reply(self) -> Error:
        return Error(code=self.code, message=self.message, task_id=self.task_id)


MESSAGE_TYPES: dict[str, type[Message]] = {}


@dataclass
class Message:
    """Base of all control messages; subclasses set ``type`` and register themselves."""

    type: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type:
            MESSAGE_TYPES[cls.type] = cls

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "v": PROTOCOL_VERSION, **asdict(self)}

    def to_json(self) -> str:
        # ASCII with \u escapes: a lone surrogate a client put in a task_id or filename (and
        # which is echoed back) could not be sent as UTF-8 text otherwise.
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        """Build the message named by ``data["type"]``, checking version and field types."""
        if not isinstance(data, dict):
            raise ProtocolError(BAD_MESSAGE, "a control message must be a JSON object")
        kind = data.get("type")
        if not isinstance(kind, str):
            raise ProtocolError(BAD_MESSAGE, "message has no 'type' string")
        target = MESSAGE_TYPES.get(kind)
        if target is None:
            raise ProtocolError(UNKNOWN_TYPE, f"unknown message type {kind[:40]!r}")
        version = data.get("v", PROTOCOL_VERSION)
        if version != PROTOCOL_VERSION:
            raise ProtocolError(
                UNSUPPORTED_VERSION,
                f"protocol version {version!r} is not supported (this server speaks "
                f"{PROTOCOL_VERSION})",
            )
        values: dict[str, Any] = {}
        for f in fields(target):
            if f.name in data:
                values[f.name] = _check_type(kind, f.name, data[f.name], f.type)
        try:
            message = target(**values)
        except TypeError as exc:  # a required field is missing
            raise ProtocolError(BAD_MESSAGE, f"{kind}: {exc}") from None
        message.validate()
        return message

    @classmethod
    def from_json(cls, text: str | bytes) -> Message:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError(BAD_JSON, f"not valid JSON: {exc}") from None
        except RecursionError:
            raise ProtocolError(BAD_JSON, "JSON nested too deeply for a control message") from None
        return cls.from_dict(data)

    def validate(self) -> None:
        """Check values beyond their types; raise ProtocolError."""


# Field annotations are strings (``from __future__ import annotations``); these are the only
# spellings used below, so a small table beats a general type checker.
_SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str | None": (str, type(None)),
    "float | None": (int, float, type(None)),
    "dict[str, Any]": (dict,),
    "list[dict[str, Any]]": (list,),
}


def _check_type(kind: str, name: str, value: Any, annotation: Any) -> Any:
    allowed = _SCALARS.get(str(annotation))
    if allowed is None:
        return value
    # bool is an int in Python; a JSON true is not a sample rate.
    if isinstance(value, bool) and bool not in allowed:
        allowed = ()
    if not isinstance(value, allowed):
        raise ProtocolError(BAD_MESSAGE, f"{kind}.{name} has the wrong type")
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


# ---- client → server -------------------------------------------------------------------


@dataclass
class Start(Message):
    """Open an audio stream; binary frames until ``end`` belong to this task."""

    type: ClassVar[str] = "start"
    task_id: str
    source: str = "mic"  # mic: live dictation PCM; file: the bytes of an audio file
    sample_rate: int = SAMPLE_RATE
    language: str = ""
    # Known options: "early_decoding" (bool, mic only, default true), "filename" (str, for logs).
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.task_id or len(self.task_id) > 128:
            raise ProtocolError(BAD_MESSAGE, "start.task_id must be 1-128 characters")
        if self.source not in SOURCES:
            raise ProtocolError(BAD_MESSAGE, f"start.source must be one of {SOURCES}", self.task_id)
        if self.source == "mic" and self.sample_rate != SAMPLE_RATE:
            raise ProtocolError(
                BAD_SAMPLE_RATE,
                f"mic audio must be 16-bit mono PCM at {SAMPLE_RATE} Hz, got {self.sample_rate}",
                self.task_id,
            )
        if len(self.language) > 16:
            raise ProtocolError(BAD_MESSAGE, "start.language is too long", self.task_id)


@dataclass
class End(Message):
    """No more audio for the open stream: decode what is left and send the result."""

    type: ClassVar[str] = "end"
    task_id: str


@dataclass
class Cancel(Message):
    """Drop a task: queued work is discarded, no result follows."""

    type: ClassVar[str] = "cancel"
    task_id: str


# ---- server → client -------------------------------------------------------------------


@dataclass
class Accepted(Message):
    type: ClassVar[str] = "accepted"
    task_id: str
    model: str = ""


@dataclass
class QueueStatus(Message):
    """Pushed about once a second while a task waits for a worker."""

    type: ClassVar[str] = "queue_status"
    task_id: str
    position: int  # 1 = next to run
    jobs_ahead: int
    audio_seconds_ahead: float
    eta_seconds: float


@dataclass
class Progress(Message):
    type: ClassVar[str] = "progress"
    task_id: str
    segments_done: int
    segments_total: int
    audio_seconds_done: float
    audio_seconds_total: float


@dataclass
class SegmentResult(Message):
    """One decoded piece, times in seconds from the start of the task's audio."""

    type: ClassVar[str] = "segment"
    task_id: str
    index: int
    start: float
    end: float
    text: str
    worker_id: int = -1


@dataclass
class Result(Message):
    """The final text of a task. ``timings`` holds queue_wait, decode and total seconds."""

    type: ClassVar[str] = "result"
    task_id: str
    text: str
    segments: list[dict[str, Any]] = field(default_factory=list)
    language: str = ""
    audio_seconds: float = 0.0
    timings: dict[str, Any] = field(default_factory=dict)
    model: str = ""


@dataclass
class Error(Message):
    type: ClassVar[str] = "error"
    code: str
    message: str
    task_id: str | None = None


@dataclass
class Busy(Message):
    """The server cannot hold this work now; try again after ``retry_after`` seconds."""

    type: ClassVar[str] = "busy"
    retry_after: float
    message: str = ""
    task_id: str | None = None
    # How long the work would have waited, when that is why it was refused.
    eta_seconds: float | None = None


def parse_client_message(text: str | bytes) -> Start | End | Cancel:
    """Parse a text frame from a client; only client → server types are accepted."""
    message = Message.from_json(text)
    if not isinstance(message, (Start, End, Cancel)):
        raise ProtocolError(UNKNOWN_TYPE, f"'{message.type}' is not a client message")
    return message


def parse_server_message(text: str | bytes) -> Message:
    """Parse a text frame from the server (used by clients and tools)."""
    return Message.from_json(text)
