"""The Redis side of scale-out, shared by the server and the remote workers: key names, the
job and result messages, and how to connect.

Layout in Redis (every key under ``capswriter:``):

- ``jobs:dictation`` and ``jobs:files``: streams of jobs, each with the consumer group
  ``workers``. A worker reads the dictation stream before the file stream.
- ``results:<server_id>``: the stream a server reads its results from; a worker adds the
  result, naming the job entry it answers.
- ``dead``: jobs delivered more often than the retry limit allows, and entries or results that
  were refused, each with the reason.
- ``worker:<name>``: a remote worker's heartbeat hash, expiring when the beats stop.
- ``refused:<name>``: why a server will not use that worker, expiring unless renewed.

A job entry stays pending until the server that published it has read and checked its answer
(the sender holds the entry); the server then acknowledges and deletes it, so a job is never
acknowledged without an answer the server believed.

The server publishes a job only when a remote worker is free, so the streams hold no backlog of
their own and the server's scheduler stays the one place that decides what runs next.
"""

from __future__ import annotations

import json
import re
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
# ``refused:<name>``: set by a server that will not use a worker (another model or language),
# with the reason; the worker takes no jobs while it is there.
REFUSED_KEY = f"{PREFIX}:refused:"
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


def has_password(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.password) or "password=" in parts.query


def check_broker_url(url: str, allow_open: bool = False) -> None:
    """Refuse URLs that are malformed or carry no password (unless ``allow_open``).

    A worker runs whatever audio the streams hold and a server trusts the results it reads, so
    whoever can write to Redis can feed or read dictations: on loopback that is every local
    process. A password (Redis ``requirepass`` or an ACL user) narrows it to those who know it;
    ``server.broker_allow_open`` waives that for a Redis that nothing else can reach.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"broker URL {redact(url)!r} must start with redis:// (or rediss:// for TLS)"
        )
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigError(f"broker URL {redact(url)!r} has no host; e.g. redis://127.0.0.1:6379/0")
    if not has_password(url) and not allow_open:
        where = "anyone on the network" if parts.scheme != "unix" and not is_loopback(
            parts.hostname or "") else "any process on this machine"
        raise ConfigError(
            f"refusing the broker {redact(url)} without a password: {where} could read or "
            "inject audio. Set `requirepass` in redis.conf and use "
            "redis://:PASSWORD@HOST:PORT/DB (rediss:// for TLS), or set "
            "server.broker_allow_open = true for a Redis nothing else can reach."
        )


def check_password_enforced(url: str, allow_open: bool = False) -> None:
    """Raise ConfigError when the Redis at ``url`` answers a client that has no password.

    A password in the URL protects nothing if Redis does not ask for one (redis-py's AUTH then
    succeeds or is ignored), so this asks Redis itself. Connection errors pass through: the
    caller retries once Redis is back.
    """
    if allow_open:
        return
    import redis

    parts = urlsplit(url)
    anonymous = parts._replace(netloc=(parts.hostname or "") + (
        f":{parts.port}" if parts.port else "")).geturl()
    if parts.scheme == "unix":
        anonymous = re.sub(r"(^|&)password=[^&]*", "", url.replace(
            f"{parts.username or ''}:{parts.password}@" if parts.password else "", ""))
    probe = redis.Redis.from_url(anonymous, socket_timeout=5.0, socket_connect_timeout=2.0)
    try:
        probe.ping()
    except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError):
        return  # NOAUTH: Redis asks for the password, as it should
    finally:
        probe.close()
    raise ConfigError(
        f"the broker {redact(url)} answers clients without a password, so any process that "
        "reaches it can send audio to the workers or forged text to the server. Set "
        "`requirepass` (or an ACL user without nopass) in redis.conf, or set "
        "server.broker_allow_open = true if nothing else can reach this Redis."
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
    check_broker_url(url, allow_open=True)  # the form only; the password rule is the caller's
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


# ---- reading entries back -----------------------------------------------------------------
# Anything that can write to Redis can write any entry, so every field read back is checked
# here: a bad entry raises BadEntry (a ValueError), never a KeyError or TypeError deep inside a
# long-lived thread.

# The longest audio one job may carry (a file segment is at most a few tens of seconds; a
# dictation piece is bounded by the recording).
MAX_JOB_SECONDS = 3600.0
MAX_TIME_LIMIT_S = 24 * 3600.0
MAX_SPEECH_SPANS = 100_000
MAX_TEXT_FIELD = 4096  # names, reasons, model descriptions
MAX_TRANSCRIPT_BYTES = 16 * 1024 * 1024
KINDS = ("dictation", "file")
STATES = ("loading", "idle", "busy", "stopping", "stopped", "failed")
_SERVER_ID = re.compile(r"[0-9a-f]{12}")
_JOB_ID = re.compile(r"([0-9a-f]{12}):([0-9]{1,18})")
_NAME = re.compile(r"[\w.@:+-]{1,128}")
_LANGUAGE = re.compile(r"[A-Za-z_-]{0,16}")


class BadEntry(ValueError):
    """An entry in Redis that this version of CapsWriter did not write (or not like this)."""


def _text(value: Any, field_name: str = "field", limit: int = MAX_TEXT_FIELD) -> str:
    if isinstance(value, bytes):
        if len(value) > limit:
            raise BadEntry(f"{field_name} is longer than {limit} bytes")
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise BadEntry(f"{field_name} is not UTF-8") from None
    text = str(value)
    if len(text) > limit:
        raise BadEntry(f"{field_name} is longer than {limit} characters")
    return text


def _field(fields: dict[bytes, bytes], name: str, default: bytes | None = None) -> bytes:
    value = fields.get(name.encode(), default)
    if value is None:
        raise BadEntry(f"the field {name!r} is missing")
    if not isinstance(value, bytes):
        raise BadEntry(f"the field {name!r} is not a string")
    return value


def _number(fields: dict[bytes, bytes], name: str, low: float, high: float,
            default: bytes | None = None) -> float:
    raw = _text(_field(fields, name, default), name, 64)
    try:
        value = float(raw)
    except ValueError:
        raise BadEntry(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:  # NaN fails both comparisons
        raise BadEntry(f"{name}={raw!r} is outside {low:g}..{high:g}")
    return value


def _integer(fields: dict[bytes, bytes], name: str, low: int, high: int,
             default: bytes | None = None) -> int:
    raw = _text(_field(fields, name, default), name, 64)
    if not re.fullmatch(r"-?[0-9]{1,20}", raw):
        raise BadEntry(f"{name}={raw!r} is not a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise BadEntry(f"{name}={raw!r} is outside {low}..{high}")
    return value


def _matching(fields: dict[bytes, bytes], name: str, pattern: re.Pattern[str],
              default: bytes | None = None) -> str:
    value = _text(_field(fields, name, default), name)
    if not pattern.fullmatch(value):
        raise BadEntry(f"{name}={value[:80]!r} is not a valid {name}")
    return value


def _speech(raw: str, samples: int) -> list[tuple[int, int]] | None:
    if not raw:
        return None
    try:
        spans = json.loads(raw)
    except ValueError:
        raise BadEntry("speech is not JSON") from None
    if not isinstance(spans, list) or len(spans) > MAX_SPEECH_SPANS:
        raise BadEntry("speech is not a list of spans")
    result = []
    for span in spans:
        if not (isinstance(span, list) and len(span) == 2
                and all(type(x) is int for x in span) and 0 <= span[0] <= span[1] <= samples):
            raise BadEntry(f"speech span {str(span)[:40]} is not [start, end] within the audio")
        result.append((span[0], span[1]))
    return result


def parse_job_id(job_id: str) -> tuple[str, int]:
    """``"<server_id>:<number>"`` → (server id, number); BadEntry for anything else."""
    match = _JOB_ID.fullmatch(job_id)
    if match is None:
        raise BadEntry(f"job id {job_id[:80]!r} is not <server id>:<number>")
    return match.group(1), int(match.group(2))


def is_results_stream(key: str) -> bool:
    head, _, server_id = key.rpartition(":")
    return head == f"{PREFIX}:results" and _SERVER_ID.fullmatch(server_id) is not None


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
        """The job in a stream entry; BadEntry if any field is missing, mistyped or too big."""
        job_id = _text(_field(fields, "id"), "id")
        parse_job_id(job_id)
        kind = _text(_field(fields, "kind"), "kind")
        if kind not in KINDS:
            raise BadEntry(f"kind={kind[:40]!r} is not one of {KINDS}")
        reply_to = _text(_field(fields, "reply_to"), "reply_to")
        if not is_results_stream(reply_to):
            raise BadEntry(f"reply_to={reply_to[:80]!r} is not a results stream")
        raw = _field(fields, "samples")
        if len(raw) % 4 or len(raw) > MAX_JOB_SECONDS * 16000 * 4:
            raise BadEntry(f"samples: {len(raw)} bytes is not float32 audio of at most "
                           f"{MAX_JOB_SECONDS:g} s")
        samples = np.frombuffer(raw, dtype="<f4")
        if not np.isfinite(samples).all():
            raise BadEntry("samples hold NaN or infinite values")
        return cls(
            id=job_id, kind=kind, samples=samples, reply_to=reply_to,
            language=_matching(fields, "language", _LANGUAGE, b""),
            speech=_speech(_text(_field(fields, "speech", b""), "speech", 4 * 2**20),
                           len(samples)),
            time_limit_s=_number(fields, "time_limit_s", 0.001, MAX_TIME_LIMIT_S),
            sent_at=_number(fields, "sent_at", 0.0, 1e11),
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
    # The job entry this answers (stream and entry id); the server checks with Redis that the
    # worker holds it before it believes the answer, then acknowledges it.
    stream: str = ""
    entry: str = ""

    def to_fields(self) -> dict[str, Any]:
        return {
            "job": self.job_id, "status": self.status, "worker": self.worker,
            "transcript": json.dumps(self.transcript) if self.transcript is not None else "",
            "reason": self.reason, "dispatch_delay": repr(self.dispatch_delay),
            "sent_at": repr(self.sent_at), "stream": self.stream, "entry": self.entry,
        }

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> BrokerResult:
        """The result in a results-stream entry; BadEntry for anything malformed."""
        job_id = _text(_field(fields, "job"), "job")
        parse_job_id(job_id)
        status = _text(_field(fields, "status"), "status")
        if status not in (DONE, ERROR, DEAD):
            raise BadEntry(f"status={status[:40]!r} is not one of done, error, dead")
        stream = _text(_field(fields, "stream", b""), "stream")
        if stream and stream not in JOB_STREAMS:
            raise BadEntry(f"stream={stream[:80]!r} is not a job stream")
        entry = _text(_field(fields, "entry", b""), "entry", 64)
        if entry and not re.fullmatch(r"[0-9]{1,20}-[0-9]{1,20}", entry):
            raise BadEntry(f"entry={entry!r} is not a stream entry id")
        raw = _text(_field(fields, "transcript", b""), "transcript", MAX_TRANSCRIPT_BYTES)
        transcript = None
        if raw:
            try:
                transcript = json.loads(raw)
            except ValueError:
                raise BadEntry("transcript is not JSON") from None
            if not isinstance(transcript, dict):
                raise BadEntry("transcript is not an object")
        if status == DONE and transcript is None:
            raise BadEntry("a done result carries no transcript")
        return cls(
            job_id=job_id, status=status,
            worker=_matching(fields, "worker", _NAME),
            transcript=transcript,
            reason=_text(_field(fields, "reason", b""), "reason"),
            dispatch_delay=_number(fields, "dispatch_delay", -1e9, 1e9, b"0"),
            sent_at=_number(fields, "sent_at", 0.0, 1e11, b"0"),
            stream=stream, entry=entry,
        )


@dataclass
class Heartbeat:
    """A remote worker's heartbeat hash, as written by the worker and read by servers.

    It announces what the worker decodes with (model name, version and fingerprint, precision
    and language); a server refuses a worker whose announcement differs from its own.
    """

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
    model_version: str = ""
    model_digest: str = ""
    precision: str = ""
    language: str = ""

    def to_fields(self) -> dict[str, Any]:
        return {k: str(v) for k, v in vars(self).items()}

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> Heartbeat:
        """The heartbeat in a worker hash; BadEntry for anything malformed."""
        state = _text(_field(fields, "state"), "state")
        if state not in STATES:
            raise BadEntry(f"state={state[:40]!r} is not one of {STATES}")
        text = {k: _text(_field(fields, k, b""), k) for k in (
            "host", "model", "job", "error", "model_version", "model_digest", "precision")}
        return cls(
            name=_matching(fields, "name", _NAME), state=state,
            pid=_integer(fields, "pid", 0, 2**31), beat=_integer(fields, "beat", 0, 2**62),
            jobs_done=_integer(fields, "jobs_done", 0, 2**62, b"0"),
            rss_bytes=_integer(fields, "rss_bytes", 0, 2**62, b"0"),
            load_seconds=_number(fields, "load_seconds", 0.0, 1e7, b"0"),
            language=_matching(fields, "language", _LANGUAGE, b""),
            **text,
        )
