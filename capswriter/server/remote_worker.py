"""``capswriter worker --broker redis://…``: a recognizer on any machine, fed through Redis.

Life of a remote worker: ``startup()`` connects, announces itself (heartbeat state
``loading``) and loads the model; ``run()`` takes one job at a time — first entries that another
worker left behind (XAUTOCLAIM), then the dictation stream, then the file stream — decodes it,
and publishes the result (the server acknowledges the job once it has checked the answer);
``shutdown()`` says goodbye. SIGTERM or Ctrl+C stops it gracefully: the jobs it holds are
finished first.

Entries are checked before they are decoded: one this version did not write (a wrong type, a
reply stream that is not a server's) is moved to the dead-letter stream, acknowledged and logged,
and the worker goes on. The heartbeat announces the model, precision and language; a server that
refuses them says so in Redis and the worker takes no jobs while it does. The heartbeat thread is
supervised and recreates the consumer group if Redis came back without it.

Delivery is at least once. A heartbeat thread resets the idle time of the entry being decoded,
so an entry idle longer than the reclaim timeout belongs to a worker that died (or hung: a
decode past its time limit ends this process, as the local pool kills a hung worker). Another
worker then claims it; an entry delivered more often than the retry limit allows goes to the
dead-letter stream and its server is told why.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import psutil

from capswriter.config import Settings
from capswriter.server.model_identity import ModelIdentity, model_identity
from capswriter.server.supervised import SupervisedThread
from capswriter.wire import broker
from capswriter.wire.broker import (
    DEAD,
    DONE,
    ERROR,
    GROUP,
    JOB_STREAMS,
    Backoff,
    BadEntry,
    BrokerJob,
    BrokerResult,
    Heartbeat,
)

log = logging.getLogger("capswriter.remote_worker")

# How often a worker looks for entries that others left behind.
RECLAIM_CHECK_S = 1.0
# How long one blocking read waits for a job before the loop checks for stop and reclaims.
READ_BLOCK_MS = 1000
HUNG_EXIT_CODE = 70


@dataclass
class HeldEntry:
    """A job entry this worker has read (it is in the worker's pending list until acked)."""

    stream: str
    entry_id: bytes
    fields: dict[bytes, bytes]
    deliveries: int = 1


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class RemoteWorker:
    def __init__(self, settings: Settings, url: str, name: str | None = None) -> None:
        self.settings = settings
        self.url = url
        self.name = name or default_name()
        s = settings.server
        self.reclaim_idle_ms = int(s.broker_reclaim_idle_s * 1000)
        # Deliveries a job may have; the same rule as a local job's retries after deaths.
        self.max_deliveries = s.job_retry_limit + 1
        self.client: Any = None
        self.engine: Any = None
        self.stopping = threading.Event()
        self.held: deque[HeldEntry] = deque()
        self.current: tuple[HeldEntry, BrokerJob, float] | None = None
        self.jobs_done = 0
        self.state = "loading"
        self.load_seconds = 0.0
        self.model = settings.asr.model
        self.error = ""
        self._beat = 0
        self._last_reclaim = 0.0
        self._cursors: dict[str, Any] = {}
        self.identity: ModelIdentity | None = None
        self.refused = ""  # a server's reason for not using this worker, while it holds
        self.crashes: Counter[str] = Counter()
        self._heartbeat_stop = threading.Event()
        self._errors = broker.connection_errors()
        import redis

        self._response_error = redis.exceptions.ResponseError

    # ---- lifecycle -------------------------------------------------------------------

    def startup(self) -> None:
        """Connect, start beating, load the model (a failed load is reported, then raised)."""
        allow_open = self.settings.server.broker_allow_open
        broker.check_broker_url(self.url, allow_open)
        self.client = broker.connect(self.url, socket_timeout=READ_BLOCK_MS / 1000 + 5)
        self._retry(lambda: broker.check_password_enforced(self.url, allow_open),
                    "reach the broker")
        self._retry(lambda: broker.ensure_groups(self.client), "create the job streams")
        self.identity = model_identity(self.settings)
        SupervisedThread("heartbeat", self._heartbeat_loop, self._heartbeat_stop,
                         self.crashes).start()
        started = time.monotonic()
        try:
            from capswriter.asr.engine import Engine

            self.engine = Engine.load(self.settings.asr, self.settings.models_path)
        except Exception as exc:
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
            self._beat_once()
            raise
        self.load_seconds = round(time.monotonic() - started, 3)
        self.model = self.engine.model_name
        self.state = "idle"
        self._beat_once()
        log.info("worker %s ready (model %s loaded in %.2f s), consuming %s",
                 self.name, self.model, self.load_seconds, broker.redact(self.url))

    def run(self) -> None:
        """Take and decode jobs until asked to stop, then finish the ones already taken."""
        backoff = Backoff()
        while not self.stopping.is_set() or self.held:
            try:
                entry = self._next_entry()
                if entry is not None:
                    self._decode_and_reply(entry)
                backoff.reset()
            except self._errors as exc:
                log.warning("broker unreachable (%s); retrying in %.1f s", exc, backoff.delay)
                backoff.wait(None if self.held else self.stopping)
            except self._response_error as exc:
                if "NOGROUP" in str(exc):
                    # Redis came back without its data (no append-only file): start over.
                    log.warning("the job streams are gone from the broker; creating them again")
                    broker.ensure_groups(self.client)
                else:
                    # Redis refused one command (a key of the wrong type someone wrote, …):
                    # that entry is lost, the worker is not.
                    self.crashes["run"] += 1
                    log.error("worker %s: Redis refused a command: %s", self.name, exc)
                    self.current = None
                    self.state = "stopping" if self.stopping.is_set() else "idle"
                    backoff.wait(self.stopping)

    def shutdown(self) -> None:
        """Leave the group cleanly: no heartbeat, no consumer (it holds nothing by now)."""
        self.state = "stopped"
        self._heartbeat_stop.set()
        try:
            self.client.delete(broker.WORKER_KEY + self.name)
            self._wait_acknowledged()
            for stream in JOB_STREAMS:
                pending = self.client.xpending_range(stream, GROUP, "-", "+", 1,
                                                     consumername=self.name)
                if not pending:
                    self.client.xgroup_delconsumer(stream, GROUP, self.name)
        except self._errors as exc:
            log.warning("could not say goodbye to the broker: %s", exc)
        log.info("worker %s stopped after %d jobs", self.name, self.jobs_done)

    def _wait_acknowledged(self, timeout: float = 3.0) -> None:
        """Give the servers a moment to acknowledge the last answers: leaving the group drops
        the entries this worker holds, and a server checks the holder before believing one."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and any(
            self.client.xpending_range(stream, GROUP, "-", "+", 1, consumername=self.name)
            for stream in JOB_STREAMS
        ):
            time.sleep(0.05)

    def stop(self) -> None:
        """Finish the jobs taken, take no more (from a signal handler or another thread)."""
        if not self.stopping.is_set():
            log.info("worker %s stopping: finishing %d job(s) first", self.name,
                     len(self.held) + (1 if self.current else 0))
        self.stopping.set()
        if self.state in ("idle", "busy"):
            self.state = "stopping"

    # ---- taking jobs -----------------------------------------------------------------

    def _next_entry(self) -> HeldEntry | None:
        if self.held:
            return self.held.popleft()
        now = time.monotonic()
        if now - self._last_reclaim >= RECLAIM_CHECK_S:
            self._last_reclaim = now
            entry = self._reclaim()
            if entry is not None:
                return entry
        if self.stopping.is_set():
            return None
        if self._is_refused():
            self.stopping.wait(READ_BLOCK_MS / 1000)
            return None
        # Dictation first: look there without waiting, then wait on both streams.
        for streams, block in (({broker.DICTATION_STREAM: ">"}, None),
                               ({s: ">" for s in JOB_STREAMS}, READ_BLOCK_MS)):
            replies = self.client.xreadgroup(GROUP, self.name, streams, count=1, block=block)
            for stream, entries in sorted(replies or [], key=lambda r: _stream_rank(r[0])):
                for entry_id, fields in entries:
                    if fields:  # an entry deleted before we read it comes back empty
                        self.held.append(HeldEntry(broker._text(stream), entry_id, fields))
            if self.held:
                return self.held.popleft()
        return None

    def _is_refused(self) -> bool:
        reason = self.client.get(broker.REFUSED_KEY + self.name)
        reason = "" if reason is None else broker._text(reason, "reason", 10**6)
        if reason and reason != self.refused:
            log.error("worker %s: a server refuses it (%s); taking no jobs until that changes",
                      self.name, reason)
        elif self.refused and not reason:
            log.info("worker %s: no longer refused; taking jobs", self.name)
        self.refused = reason
        return bool(reason)

    def _reclaim(self) -> HeldEntry | None:
        """Claim one entry idle past the reclaim timeout: its worker died or hung."""
        for stream in JOB_STREAMS:
            # XAUTOCLAIM looks at a few pending entries per call; the cursor walks the whole
            # pending list over successive calls (back to 0-0 at its end).
            reply = self.client.xautoclaim(stream, GROUP, self.name, self.reclaim_idle_ms,
                                           start_id=self._cursors.get(stream, "0-0"), count=1)
            self._cursors[stream] = reply[0]
            claimed = [(i, f) for i, f in reply[1] if f]
            for entry_id in reply[2] if len(reply) > 2 else []:
                # Deleted while pending (e.g. trimmed): nothing to decode, nothing to answer.
                self.client.xack(stream, GROUP, entry_id)
            if not claimed:
                continue
            entry_id, fields = claimed[0]
            info = self.client.xpending_range(stream, GROUP, entry_id, entry_id, 1)
            deliveries = int(info[0]["times_delivered"]) if info else 1
            entry = HeldEntry(stream, entry_id, fields, deliveries)
            log.warning("worker %s reclaimed %s (delivery %d): its worker went silent",
                        self.name, _job_label(fields), deliveries)
            if deliveries > self.max_deliveries:
                self._dead_letter(entry)
                continue
            return entry
        return None

    def _dead_letter(self, entry: HeldEntry, reason: str = "", notify: bool = True) -> None:
        """Move an entry to the dead-letter stream and tell its server, if it names one."""
        job_id = _job_label(entry.fields)
        reason = reason or (
            f"this audio was given to {entry.deliveries - 1} recognizer processes that never "
            f"finished it (they died or hung); it will not be retried"
        )
        log.error("job %s goes to the dead-letter stream: %s", job_id, reason)
        notice = BrokerResult(job_id, DEAD, self.name, reason=reason, stream=entry.stream,
                              entry=broker._text(entry.entry_id))
        pipe = self.client.pipeline(transaction=True)
        dead: dict[Any, Any] = {
            **entry.fields, "reason": reason, "deliveries": entry.deliveries,
            "stream": entry.stream, "entry": entry.entry_id, "worker": self.name,
        }
        pipe.xadd(broker.DEAD_LETTER_STREAM, dead, maxlen=broker.DEAD_LETTER_MAX,
                  approximate=True)
        reply_to = _field_text(entry.fields, b"reply_to")
        if notify and broker.is_results_stream(reply_to) and _is_job_id(job_id):
            pipe.xadd(reply_to, notice.to_fields())
            pipe.expire(reply_to, broker.RESULTS_TTL_S)
        pipe.xack(entry.stream, GROUP, entry.entry_id)
        pipe.xdel(entry.stream, entry.entry_id)
        pipe.execute()

    # ---- decoding --------------------------------------------------------------------

    def _decode_and_reply(self, entry: HeldEntry) -> None:
        from capswriter.server.worker import decode

        try:
            job = BrokerJob.from_fields(entry.fields)
        except BadEntry as exc:
            # Not a job a server published: nobody waits for it, so it is only set aside.
            self._dead_letter(entry, f"not a valid job: {exc}")
            return
        delay = max(0.0, time.time() - job.sent_at)
        self.current = (entry, job, time.monotonic())
        self.state = "stopping" if self.stopping.is_set() else "busy"
        try:
            transcript = decode(self.engine, job.samples, job.language, job.kind, job.speech)
            result = BrokerResult(job.id, DONE, self.name, transcript, dispatch_delay=delay)
        except Exception as exc:  # noqa: BLE001 - the job fails, the worker lives on
            log.exception("worker %s: job %s failed", self.name, job.id)
            result = BrokerResult(job.id, ERROR, self.name, reason=f"{type(exc).__name__}: {exc}",
                                  dispatch_delay=delay)
        result.stream, result.entry = entry.stream, broker._text(entry.entry_id)
        try:
            self._publish(job.reply_to, result)
        except self._response_error as exc:  # e.g. WRONGTYPE: someone made it a hash
            self._dead_letter(entry, f"its reply stream cannot take the result: {exc}",
                              notify=False)
        self.jobs_done += 1
        self.current = None
        self.state = "stopping" if self.stopping.is_set() else "idle"

    def _publish(self, reply_to: str, result: BrokerResult) -> None:
        """Add the result to its server's stream; the server acknowledges the job once it has
        checked that this worker holds it.

        Redis being away does not lose the decode: the result is kept and sent once it is back.
        """
        backoff = Backoff()
        while True:
            try:
                pipe = self.client.pipeline(transaction=True)
                pipe.xadd(reply_to, result.to_fields(), maxlen=10000, approximate=True)
                pipe.expire(reply_to, broker.RESULTS_TTL_S)
                pipe.execute()
                return
            except self._errors as exc:
                log.warning("could not publish a result (%s); retrying in %.1f s",
                            exc, backoff.delay)
                backoff.wait()

    # ---- heartbeat -------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        client = broker.connect(self.url)
        # RuntimeError too: the held entries changed while being listed; next beat.
        passing: tuple[type[BaseException], ...] = (*self._errors, RuntimeError)
        while self.state != "stopped":
            self._check_time_limit()
            try:
                self._beat_once(client)
            except passing as exc:
                log.debug("heartbeat failed: %s", exc)
            except self._response_error as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # Redis came back without its data: the group goes back, and the held entry
                # with it is gone (its server publishes the job again).
                log.warning("the job streams are gone from the broker; creating them again")
                broker.ensure_groups(client)
            self._heartbeat_stop.wait(broker.HEARTBEAT_S)

    def _beat_once(self, client: Any = None) -> None:
        client = client or self.client
        self._beat += 1
        current = self.current
        beat = Heartbeat(
            name=self.name, host=socket.gethostname(), pid=os.getpid(), state=self.state,
            model=self.model, job="" if current is None else current[1].id,
            jobs_done=self.jobs_done, rss_bytes=psutil.Process().memory_info().rss,
            beat=self._beat, load_seconds=self.load_seconds, error=self.refused or self.error,
            **self._announcement(),
        )
        key = broker.WORKER_KEY + self.name
        pipe = client.pipeline(transaction=False)
        pipe.hset(key, mapping=beat.to_fields())
        pipe.expire(key, int(broker.HEARTBEAT_TTL_S))
        # Claiming our own entries again resets their idle time (JUSTID: the delivery count
        # stays), so only the entries of a silent worker ever look idle to the others.
        held = [current[0]] if current is not None else []
        for entry in [*held, *list(self.held)]:
            pipe.xclaim(entry.stream, GROUP, self.name, 0, [entry.entry_id], justid=True)
        pipe.execute()

    def _announcement(self) -> dict[str, str]:
        i = self.identity
        if i is None:
            return {}
        return {"model_version": i.version, "model_digest": i.digest,
                "precision": i.precision, "language": i.language}

    def _check_time_limit(self) -> None:
        current = self.current
        if current is None:
            return
        _, job, started = current
        if time.monotonic() - started > job.time_limit_s:
            # A hung native decode cannot be interrupted; leave, so the job is reclaimed and
            # whatever supervises this process starts a fresh one.
            log.error("worker %s: job %s hung past its %.0f s limit; exiting", self.name,
                      job.id, job.time_limit_s)
            os._exit(HUNG_EXIT_CODE)

    def _retry(self, action: Any, what: str) -> None:
        backoff = Backoff()
        while True:
            try:
                action()
                return
            except self._errors as exc:
                if self.stopping.is_set():  # asked to stop before Redis ever answered
                    raise SystemExit(0) from None
                log.warning("could not %s (%s); retrying in %.1f s", what, exc, backoff.delay)
                backoff.wait(self.stopping)


def _field_text(fields: dict[bytes, bytes], name: bytes) -> str:
    value = fields.get(name, b"")
    return value[:256].decode(errors="replace") if isinstance(value, bytes) else ""


def _job_label(fields: dict[bytes, bytes]) -> str:
    """The job id of an entry for logs, whatever the entry holds."""
    return _field_text(fields, b"id")[:80] or "?"


def _is_job_id(text: str) -> bool:
    try:
        broker.parse_job_id(text)
    except BadEntry:
        return False
    return True


def _stream_rank(stream: Any) -> int:
    return JOB_STREAMS.index(broker._text(stream))


def run_remote_worker(settings: Settings, url: str, name: str | None = None) -> int:
    """Run a remote worker in the foreground until SIGTERM/SIGINT; returns the exit code."""
    worker = RemoteWorker(settings, url, name)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    worker.startup()
    try:
        worker.run()
    finally:
        worker.shutdown()
    return 0
