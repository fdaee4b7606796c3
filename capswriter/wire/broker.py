"""The Redis side of scale-out, shared by the server and the remote workers: key names, the
job and result messages, and how to connect.

Layout in Redis (every key under ``capswriter:``):

- ``jobs:dictation`` and ``jobs:files``: streams of jobs, each with the consumer group
  ``workers``. A worker reads the dictation stream before the file stream.
- ``results:<server_id>``: the stream a server reads its results from; a worker adds the result
  and acknowledges the job in one transaction, so a job is never acknowledged without its result.
- ``dead``: jobs delivered more often than the retry limit allows, with the reason.
- ``worker:<name>``: a remote worker's heartbeat hash, expiring when the beats stop.

The server publishes a job only when a remote worker is free, so the streams hold no backlog of
their own and the server's scheduler stays the one place that decides what runs next.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from capswriter.config import is_loopback
from capswriter.errors import CapsWriterError, ConfigError

PREFIX = "capswriter"
GROUP = "workers"
DICTATION_STREAM = f"{PREFIX}:jobs:dictation"
FILE_STREAM = f"{PREFIX}:jobs:files"
JOB_STREAMS = (DICTATION_STREAM, FILE_STREAM)  # in the order a worker reads them
DEAD_LETTER_STREAM = f"{PREFIX}:dead"
WORKER_KEY = f"{PREFIX}:worker:"
# A worker beats this often; the beat also keeps the idle time of the job it holds near zero,
# so an entry idle longer than the reclaim timeout belongs to a worker that is gone.
HEARTBEAT_S = 1.0
# A heartbeat expires (the worker counts as gone) after this many missed beats.
HEARTBEAT_TTL_S = 5.0
# A server's results stream outlives the server by this much, then Redis drops it.
RESULTS_TTL_S = 3600
DEAD_LETTER_MAX = 1000

# Result statuses.
DONE = "done"
ERROR = "error"  # the recognizer raised; the job fails like a local worker error
DEAD = "dead"  # delivered too often; it went to the dead-letter stream


class BrokerError(CapsWriterError):
    """The broker URL is unusable or redis-py is missing."""


def results_stream(server_id: str) -> str:
    return f"{PREFIX}:results:{server_id}"


def redact(url: str) -> str:
    """The URL without its password, for logs and /health."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def check_broker_url(url: str) -> None:
    """Refuse URLs that are malformed, or that reach beyond this machine without a password.

    A worker runs whatever audio the streams hold and a server trusts the results it reads: an
    open Redis on the network would let anyone feed or read dictations. The rule is the one the
    server applies to its own port: beyond loopback, a secret is required.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"broker URL {redact(url)!r} must start with redis:// (or rediss:// for TLS)"
        )
    if parts.scheme == "unix":
        return
    host = parts.hostname or ""
    if not host:
        raise ConfigError(f"broker URL {redact(url)!r} has no host; e.g. redis://127.0.0.1:6379/0")
    if not is_loopback(host) and not parts.password:
        raise ConfigError(
            f"refusing the broker {redact(url)} without a password: anyone on the network "
            "could read or inject audio. Set `requirepass` in redis.conf and use "
            "redis://:PASSWORD@HOST:PORT/DB (rediss:// for TLS), or a loopback address."
        )


def require_redis() -> None:
    """Raise BrokerError with the install command when redis-py is missing."""
    try:
        import redis  # noqa: F401
    except ImportError:
        raise BrokerError(
            "--broker needs redis-py; install it with: pip install 'capswriter[redis]'"
        ) from None


def connect(url: str, *, socket_timeout: float | None = 5.0) -> Any:
    """A redis-py client for ``url`` (password and TLS come from the URL).

    ``socket_timeout`` bounds how long a command may block when Redis stops answering; a
    blocking read needs a timeout longer than its BLOCK time.
    """
    check_broker_url(url)
    require_redis()
    import redis

    return redis.Redis.from_url(
        url, socket_timeout=socket_timeout, socket_connect_timeout=2.0,
        health_check_interval=10, retry_on_timeout=False,
    )


def connection_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "Redis is not reachable right now": retry with backoff."""
    import redis

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
            redis.exceptions.BusyLoadingError, OSError)


def ensure_groups(client: Any) -> None:
    """Create the job streams and their consumer group if they are not there yet."""
    import redis

    for stream in JOB_STREAMS:
        try:
            client.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


class Backoff:
    """Waits between reconnection attempts: 0.1 s doubling up to 5 s, reset on success."""

    def __init__(self, first: float = 0.1, most: float = 5.0) -> None:
        self.first, self.most = first, most
        self.delay = first

    def wait(self, stop: Any = None) -> None:
        if stop is not None:
            stop.wait(self.delay)
        else:
            time.sleep(self.delay)
        self.delay = min(self.most, self.delay * 2)

    def reset(self) -> None:
        self.delay = self.first


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class BrokerJob:
    """One job as it travels through a job stream."""

    id: str  # "<server_id>:<job id>": unique over every server sharing the broker
    kind: str  # "dictation" or "file"
    samples: np.ndarray  # float32, 16 kHz mono
    reply_to: str  # the results stream of the server that holds the client
    language: str = ""
    speech: list[tuple[int, int]] | None = None
    # How long a decode of this job may run before its worker counts as hung (seconds).
    time_limit_s: float = 120.0
    sent_at: float = field(default_factory=time.time)  # wall clock, for the dispatch delay

    @property
    def stream(self) -> str:
        return DICTATION_STREAM if self.kind == "dictation" else FILE_STREAM

    def to_fields(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "reply_to": self.reply_to,
            "language": self.language,
            "speech": json.dumps(self.speech) if self.speech is not None else "",
            "time_limit_s": repr(self.time_limit_s), "sent_at": repr(self.sent_at),
            "samples": np.asarray(self.samples, dtype="<f4").tobytes(),
        }

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> BrokerJob:
        speech = _text(fields[b"speech"])
        return cls(
            id=_text(fields[b"id"]), kind=_text(fields[b"kind"]),
            samples=np.frombuffer(fields[b"samples"], dtype="<f4"),
            reply_to=_text(fields[b"reply_to"]), language=_text(fields[b"language"]),
            speech=[tuple(span) for span in json.loads(speech)] if speech else None,
            time_limit_s=float(fields[b"time_limit_s"]), sent_at=float(fields[b"sent_at"]),
        )


@dataclass
class BrokerResult:
    """What a worker sends back: a transcript, an error, or a dead-letter notice."""

    job_id: str
    status: str  # DONE | ERROR | DEAD
    worker: str
    transcript: dict[str, Any] | None = None
    reason: str = ""
    # Seconds from the server's XADD to the worker reading the job (same clock only when both
    # run on one machine; reported for the benchmark).
    dispatch_delay: float = 0.0
    sent_at: float = field(default_factory=time.time)

    def to_fields(self) -> dict[str, Any]:
        return {
            "job": self.job_id, "status": self.status, "worker": self.worker,
            "transcript": json.dumps(self.transcript) if self.transcript is not None else "",
            "reason": self.reason, "dispatch_delay": repr(self.dispatch_delay),
            "sent_at": repr(self.sent_at),
        }

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> BrokerResult:
        transcript = _text(fields.get(b"transcript", b""))
        return cls(
            job_id=_text(fields[b"job"]), status=_text(fields[b"status"]),
            worker=_text(fields.get(b"worker", b"?")),
            transcript=json.loads(transcript) if transcript else None,
            reason=_text(fields.get(b"reason", b"")),
            dispatch_delay=float(fields.get(b"dispatch_delay", b"0")),
            sent_at=float(fields.get(b"sent_at", b"0")),
        )


@dataclass
class Heartbeat:
    """A remote worker's heartbeat hash, as written by the worker and read by servers."""

    name: str
    host: str
    pid: int
    state: str  # loading | idle | busy | stopping | failed
    model: str = ""
    job: str = ""
    jobs_done: int = 0
    rss_bytes: int = 0
    beat: int = 0  # increases with every beat; servers watch it change, not the clock
    load_seconds: float = 0.0
    error: str = ""

    def to_fields(self) -> dict[str, Any]:
        return {k: str(v) for k, v in vars(self).items()}

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> Heartbeat:
        f = {_text(k): _text(v) for k, v in fields.items()}
        return cls(
            name=f.get("name", "?"), host=f.get("host", "?"), pid=int(f.get("pid", 0)),
            state=f.get("state", "?"), model=f.get("model", ""), job=f.get("job", ""),
            jobs_done=int(f.get("jobs_done", 0)), rss_bytes=int(f.get("rss_bytes", 0)),
            beat=int(f.get("beat", 0)), load_seconds=float(f.get("load_seconds", 0.0)),
            error=f.get("error", ""),
        )
