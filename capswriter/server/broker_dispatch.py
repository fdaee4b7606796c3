"""The server's side of the broker: publish jobs for remote workers, read their results, and
watch the workers' heartbeats.

The pool's supervisor calls ``dispatch()`` whenever it hands out work; jobs leave the scheduler
only while a remote worker is free (live heartbeats minus the jobs this server has out), so
priority and admission stay in the scheduler. Two threads talk to Redis: one blocks on this
server's results stream and hands each result to the pool, the other reads heartbeats and queue
figures once a second, watches the deadlines of published jobs and reconnects after an outage.
A job whose entry Redis lost (it restarted without its append-only file) comes back to the
scheduler at the next look; a result that arrives for a job already finished is ignored.

Nothing read from Redis is trusted: a malformed entry is dead-lettered and logged once, a result
counts only if it comes from a registered worker (one that announced the same model, precision
and language as this server) that holds the job's entry in Redis's pending list, and the cost it
reports is clamped to the time the job was out. Both threads are supervised: a crash restarts
them and is counted in /metrics.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from capswriter.config import Settings
from capswriter.errors import ConfigError
from capswriter.server.dispatch import time_limit
from capswriter.server.jobs import Job
from capswriter.server.model_identity import ModelIdentity, model_identity
from capswriter.server.scheduler import Scheduler
from capswriter.server.supervised import SupervisedThread
from capswriter.wire import broker
from capswriter.wire.broker import (
    DEAD,
    DEAD_LETTER_STREAM,
    GROUP,
    JOB_STREAMS,
    Backoff,
    BadEntry,
    BrokerJob,
    BrokerResult,
    Heartbeat,
)

log = logging.getLogger("capswriter.broker")

MONITOR_S = 1.0
RESULTS_BLOCK_MS = 1000
# Remote workers are numbered from here in the order this server first hears of them, so a
# segment's worker_id tells local (0, 1, …) and remote workers apart.
FIRST_REMOTE_ID = 100
# A published job's worker_id until its result says which remote worker ran it.
SOME_REMOTE_WORKER = -1
# A published job comes back to the scheduler after every allowed delivery had its time limit
# and its reclaim wait, plus this much.
EXPIRY_MARGIN_S = 30.0
# A consumer without heartbeat or pending entries for this long is removed from the group.
STALE_CONSUMER_MS = 60_000


@dataclass
class RemoteWorker:
    """What this server knows of one remote worker, from its heartbeats."""

    number: int
    beat: Heartbeat
    seen_at: float  # monotonic time the beat counter last moved
    refused: str = ""  # why this server does not use it (another model, language, …)

    def alive(self, now: float) -> bool:
        return now - self.seen_at <= broker.HEARTBEAT_TTL_S

    def ready(self, now: float) -> bool:
        return self.alive(now) and not self.refused and self.beat.state in ("idle", "busy")


@dataclass
class Published:
    """Where a published job's entry is, and when it went out."""

    stream: str
    entry: str
    at: float  # monotonic


class BrokerDispatcher:
    def __init__(
        self,
        settings: Settings,
        on_result: Callable[[int, BrokerResult, int], None],
        on_expired: Callable[[int], None],
        wake: Callable[[], None],
        on_lost: Callable[[int], None] | None = None,
    ) -> None:
        s = settings.server
        self.url = s.broker
        self.server_id = uuid.uuid4().hex[:12]
        self.results = broker.results_stream(self.server_id)
        self.reclaim_idle_s = s.broker_reclaim_idle_s
        self.deliveries = s.job_retry_limit + 1
        self.server_settings = s
        self.on_result = on_result
        self.on_expired = on_expired
        # A published job whose entry Redis no longer has: back to the queue, no death counted.
        self.on_lost = on_lost or on_expired
        self.wake = wake
        self.settings = settings
        self.identity: ModelIdentity | None = None
        self.allow_open = s.broker_allow_open
        self.refusal = ""  # why the broker is not used (it asks for no password), if it is not
        self.published_entries: dict[int, Published] = {}
        # Results and entries refused, by reason; threads restarted after a crash, by name.
        self.rejected: Counter[str] = Counter()
        self.crashes: Counter[str] = Counter()
        self._logged: set[tuple[str, str]] = set()
        self._run_id: str | None = None  # Redis's, to notice a restart
        self.connected = False
        self.workers: dict[str, RemoteWorker] = {}
        # Published and not answered yet: job id → (job, when the server gives up waiting).
        self.in_flight: dict[int, tuple[Job, float]] = {}
        self.stats: dict[str, Any] = {}
        self.dispatch_delays: deque[float] = deque(maxlen=1000)
        self.return_delays: deque[float] = deque(maxlen=1000)
        self.duplicates = 0
        self.published = 0
        self._numbers: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._errors: tuple[type[BaseException], ...] = ()
        self._response_error: type[BaseException] = Exception
        self._client: Any = None
        self._threads: list[SupervisedThread] = []

    # ---- lifecycle -------------------------------------------------------------------

    def startup(self) -> None:
        """Connect and start the threads; Redis being down is retried, not fatal."""
        import redis

        self._errors = broker.connection_errors()
        self._response_error = redis.exceptions.ResponseError
        self._client = broker.connect(self.url)
        self.identity = model_identity(self.settings)
        for target, name in ((self._read_results, "broker-results"),
                             (self._monitor, "broker-monitor")):
            self._threads.append(SupervisedThread(name, target, self._stop, self.crashes).start())
        log.info("broker %s: this server is %s", broker.redact(self.url), self.server_id)

    def shutdown(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=3)
        try:
            self._client.delete(self.results)
        except self._errors:
            pass

    # ---- dispatching (from the pool's supervisor, under its lock) --------------------

    def ready_count(self) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(1 for w in self.workers.values() if w.ready(now))

    def free_slots(self) -> int:
        if not self.connected:
            return 0
        return max(0, self.ready_count() - len(self.in_flight))

    def dispatch(self, scheduler: Scheduler, reserve: int) -> list[Job]:
        """Publish queued jobs while remote workers are free; returns the published jobs.

        ``reserve`` free workers are kept from file work (a dictation is being recorded).
        """
        published: list[Job] = []
        while (free := self.free_slots()) > 0:
            job = scheduler.take(files=free > reserve)
            if job is None:
                break
            if job.finished:  # cancelled after it was taken from the queue
                continue
            limit = time_limit(self.server_settings, job)
            if not self._publish(job, limit):
                scheduler.requeue(job)  # still queued; it goes first once Redis is back
                break
            now = time.monotonic()
            job.start(SOME_REMOTE_WORKER, now + limit)
            expires = now + self.deliveries * (limit + self.reclaim_idle_s) \
                + EXPIRY_MARGIN_S
            self.in_flight[job.id] = (job, expires)
            published.append(job)
        return published

    def _publish(self, job: Job, limit: float) -> bool:
        assert job.samples is not None
        message = BrokerJob(
            id=f"{self.server_id}:{job.id}", kind=job.kind, samples=job.samples,
            reply_to=self.results, language=job.language, speech=job.speech,
            time_limit_s=limit,
        )
        try:
            entry = self._client.xadd(message.stream, message.to_fields())
        except self._errors as exc:
            log.warning("could not publish job %d (%s); it waits for the broker", job.id, exc)
            self.connected = False
            return False
        self.published += 1
        self.published_entries[job.id] = Published(message.stream, broker._text(entry),
                                                   time.monotonic())
        return True

    def forget(self, job_id: int) -> Job | None:
        """Take a job out of the in-flight set (its result came, or it is given up)."""
        self.published_entries.pop(job_id, None)
        entry = self.in_flight.pop(job_id, None)
        return None if entry is None else entry[0]

    def log_once(self, kind: str, source: str, message: str, *args: Any) -> None:
        """Log a refusal the first time it happens for this source; count it every time."""
        self.rejected[kind] += 1
        if (kind, source) not in self._logged and len(self._logged) < 10_000:
            self._logged.add((kind, source))
            log.error(message + " (further ones from it are counted, not logged)", *args)

    def number(self, name: str) -> int:
        with self._lock:
            if name not in self._numbers:
                self._numbers[name] = FIRST_REMOTE_ID + len(self._numbers)
            return self._numbers[name]

    # ---- results ---------------------------------------------------------------------

    def _read_results(self) -> None:
        # Its own connection: the read blocks, and must not hold up publishing.
        reader = broker.connect(self.url, socket_timeout=RESULTS_BLOCK_MS / 1000 + 5)
        backoff = Backoff()
        while not self._stop.is_set():
            if not self.connected:  # not yet checked that Redis asks for a password
                self._stop.wait(0.2)
                continue
            try:
                # Handled entries are deleted, so reading from the start never repeats one
                # and survives a Redis that restarted empty.
                replies = reader.xread({self.results: "0-0"}, count=100, block=RESULTS_BLOCK_MS)
                for _, entries in replies or []:
                    for entry_id, fields in entries:
                        self._handle(reader, entry_id, fields)
                        reader.xdel(self.results, entry_id)
                backoff.reset()
            except self._errors as exc:
                log.warning("broker results unreachable (%s); retrying in %.1f s",
                            exc, backoff.delay)
                backoff.wait(self._stop)

    def _handle(self, client: Any, entry_id: Any, fields: dict[bytes, bytes]) -> None:
        """Check one result and hand it to the pool, or dead-letter it with the reason."""
        try:
            result = BrokerResult.from_fields(fields)
            server_id, job_id = broker.parse_job_id(result.job_id)
        except BadEntry as exc:
            self._refuse(client, "malformed", "?", fields, str(exc))
            return
        if server_id != self.server_id:
            self._refuse(client, "foreign", result.worker, fields,
                         f"a result for server {server_id} on this server's stream")
            return
        problem = self._unregistered(result)
        if problem is None and job_id not in self.in_flight:
            self.duplicates += 1  # a duplicate after a reclaim, or the job was given up
            self._ack_stale(client, result)
            return
        problem = problem or self._not_holder(client, job_id, result)
        if problem:
            kind, reason = problem
            self._refuse(client, kind, result.worker, fields, reason)
            return
        published = self.published_entries.get(job_id)
        if published is not None and result.status != DEAD:
            self._clamp_cost(result, time.monotonic() - published.at)
            # The job entry is done with: acknowledged and deleted only now that its answer is
            # believed, so a forged answer leaves the real worker's job in place.
            pipe = client.pipeline(transaction=True)
            pipe.xack(published.stream, GROUP, published.entry)
            pipe.xdel(published.stream, published.entry)
            pipe.execute()
        self.dispatch_delays.append(max(0.0, result.dispatch_delay))
        self.return_delays.append(max(0.0, time.time() - result.sent_at))
        self.on_result(job_id, result, self.number(result.worker))

    def _unregistered(self, result: BrokerResult) -> tuple[str, str] | None:
        """Why the sender of ``result`` may not answer (kind, reason), or None when it may."""
        with self._lock:
            worker = self.workers.get(result.worker)
        if worker is None:
            return "unknown_worker", f"{result.worker!r} is not a registered worker"
        if worker.refused:
            return "refused_worker", f"{result.worker!r} was refused: {worker.refused}"
        return None

    def _not_holder(self, client: Any, job_id: int, result: BrokerResult) -> tuple[str, str] | None:
        """Why ``result`` does not answer the entry its sender holds, or None when it does."""
        published = self.published_entries.get(job_id)
        if published is None or (result.stream, result.entry) != (published.stream,
                                                                   published.entry):
            return "not_holder", f"{result.worker!r} answered an entry this job is not in"
        if result.status == DEAD:
            return None  # the worker moved the entry to the dead letters itself
        try:
            pending = client.xpending_range(published.stream, GROUP, published.entry,
                                            published.entry, 1)
        except self._response_error:  # NOGROUP: Redis restarted without its data
            pending = []
        holder = broker._text(pending[0]["consumer"]) if pending else ""
        if holder != result.worker:
            return "not_holder", (f"{result.worker!r} answered job {result.job_id}, which "
                                  f"{holder or 'no worker'} holds")
        return None

    def _ack_stale(self, client: Any, result: BrokerResult) -> None:
        """Acknowledge the entry of an answer that came too late, if its sender holds it, so
        it is not decoded again."""
        if not (result.stream and result.entry) or result.status == DEAD:
            return
        try:
            pending = client.xpending_range(result.stream, GROUP, result.entry, result.entry, 1)
        except self._response_error:
            return
        if pending and broker._text(pending[0]["consumer"]) == result.worker:
            pipe = client.pipeline(transaction=True)
            pipe.xack(result.stream, GROUP, result.entry)
            pipe.xdel(result.stream, result.entry)
            pipe.execute()

    @staticmethod
    def _clamp_cost(result: BrokerResult, elapsed: float) -> None:
        """A decode cannot have taken longer than the job was out, nor less than nothing:
        admission learns its speed from this figure."""
        transcript = result.transcript
        if transcript is None:
            return
        value = transcript.get("decode_seconds", 0.0)
        if not isinstance(value, (int, float)) or value != value:
            value = elapsed
        transcript["decode_seconds"] = min(max(0.0, float(value)), elapsed)

    def _refuse(self, client: Any, kind: str, source: str, fields: dict[bytes, bytes],
                reason: str) -> None:
        self.log_once(kind, source, "refused a result on %s from %s: %s", self.results,
                      source, reason)
        dead_letter(client, fields, f"refused result: {reason}", self.results)

    # ---- heartbeats, queue figures, deadlines ----------------------------------------

    def _monitor(self) -> None:
        backoff = Backoff()
        groups_ready = False
        import redis

        while not self._stop.is_set():
            try:
                if not groups_ready:
                    broker.check_password_enforced(self.url, self.allow_open)
                    broker.ensure_groups(self._client)
                    groups_ready = True
                self._check_restart()
                self._read_heartbeats()
                self._read_stats()
                self._client.expire(self.results, broker.RESULTS_TTL_S)
                if not self.connected:
                    log.info("broker %s reachable", broker.redact(self.url))
                    self.refusal = ""
                    self.connected = True
                    self.wake()
                backoff.reset()
                self._expire_in_flight()
                self._stop.wait(MONITOR_S)
            except ConfigError as exc:
                if self.refusal != str(exc):
                    log.error("not using the broker: %s", exc)
                self.refusal = str(exc)
                self.connected, groups_ready = False, False
                self._stop.wait(broker.HEARTBEAT_TTL_S)
            except redis.exceptions.ResponseError as exc:
                if "NOGROUP" not in str(exc) and "no such key" not in str(exc):
                    raise
                # Redis came back without its data (no append-only file): start over.
                log.warning("the job streams are gone from the broker; creating them again")
                groups_ready = False
            except self._errors as exc:
                if self.connected:
                    log.warning("broker %s unreachable: %s", broker.redact(self.url), exc)
                self.connected, groups_ready = False, False
                self._expire_in_flight()
                backoff.wait(self._stop)

    def _check_restart(self) -> None:
        """After Redis restarted, look for the published jobs it lost."""
        run_id = self._client.info("server").get("run_id")
        if self._run_id is not None and run_id != self._run_id:
            log.warning("the broker restarted; looking for jobs it lost")
            self._find_lost()
        self._run_id = run_id

    def _find_lost(self) -> None:
        """Give back the published jobs whose entries Redis no longer has (it restarted empty).

        The entry stays until this server acknowledges the job's answer, so a missing entry of a
        job still in flight was lost, not finished.
        """
        jobs = [(job_id, p) for job_id, p in list(self.published_entries.items())
                if job_id in self.in_flight]
        if not jobs:
            return
        pipe = self._client.pipeline(transaction=False)
        for _, p in jobs:
            pipe.xrange(p.stream, p.entry, p.entry)
        for (job_id, _), found in zip(jobs, pipe.execute(), strict=True):
            if not found and job_id in self.in_flight:
                log.warning("job %d is no longer in the broker (Redis restarted without its "
                            "data?); it goes back to the queue", job_id)
                self.on_lost(job_id)

    def _read_heartbeats(self) -> None:
        keys = list(self._client.scan_iter(match=broker.WORKER_KEY + "*", count=500))
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        beats = pipe.execute()  # outside the lock: the event loop reads the workers too
        now = time.monotonic()
        ready_before = self.ready_count()
        refusals: list[tuple[str, str]] = []
        with self._lock:
            for key, fields in zip(keys, beats, strict=True):
                if not fields:
                    continue
                try:
                    beat = Heartbeat.from_fields(fields)
                    if broker.WORKER_KEY + beat.name != broker._text(key, "key"):
                        raise BadEntry(f"it names itself {beat.name!r}")
                except BadEntry as exc:
                    name = broker._text(key, "key", 10**6)[:200]
                    self.log_once("bad_heartbeat", name, "ignoring the heartbeat %s: %s",
                                  name, exc)
                    continue
                known = self.workers.get(beat.name)
                if known is None:
                    number = self._numbers.setdefault(
                        beat.name, FIRST_REMOTE_ID + len(self._numbers))
                    known = self.workers[beat.name] = RemoteWorker(number, beat, now)
                    log.info("remote worker %s (%s, pid %d) joined: %s",
                             beat.name, beat.host, beat.pid, beat.state)
                elif beat.beat != known.beat.beat or beat.state != known.beat.state:
                    known.beat, known.seen_at = beat, now
                known.refused = self._refusal_of(beat)
                if known.refused:
                    refusals.append((beat.name, known.refused))
            for name, worker in list(self.workers.items()):
                if not worker.alive(now):
                    log.info("remote worker %s left (%s)", name,
                             "said goodbye" if worker.beat.state == "stopping"
                             else "no heartbeat")
                    del self.workers[name]
        if refusals:
            # Told to the worker too, so it stops taking jobs this server would not believe.
            pipe = self._client.pipeline(transaction=False)
            for name, reason in refusals:
                self.log_once("refused_worker", name, "remote worker %s refused: %s", name,
                              reason)
                pipe.set(broker.REFUSED_KEY + name, reason, ex=int(broker.HEARTBEAT_TTL_S) * 2)
            pipe.execute()
        if self.ready_count() != ready_before:
            self.wake()

    def _refusal_of(self, beat: Heartbeat) -> str:
        """Why a worker announcing ``beat`` may not serve this server ("" when it may)."""
        if self.identity is None or beat.state in ("loading", "failed") and not beat.model_digest:
            return ""
        announced = ModelIdentity(beat.model, beat.model_version, beat.model_digest,
                                  beat.precision, beat.language)
        differences = self.identity.differences(announced)
        return ("it decodes with " + "; ".join(differences)) if differences else ""

    def _read_stats(self) -> None:
        pipe = self._client.pipeline(transaction=False)
        for stream in JOB_STREAMS:
            pipe.xlen(stream)
            pipe.xpending(stream, GROUP)
            pipe.xinfo_consumers(stream, GROUP)
        pipe.xlen(DEAD_LETTER_STREAM)
        replies = pipe.execute()
        streams = {}
        consumers: set[str] = set()
        with self._lock:
            live = set(self.workers)
        for i, name in enumerate(("dictation", "files")):
            length, pending, members = replies[3 * i: 3 * i + 3]
            streams[name] = {"length": length, "pending": pending["pending"]}
            for member in members:
                consumer = broker._text(member["name"])
                if (not member["pending"] and consumer not in live
                        and member.get("idle", 0) > STALE_CONSUMER_MS):
                    # A worker killed without a goodbye; it holds nothing, so forget it.
                    self._client.xgroup_delconsumer(JOB_STREAMS[i], GROUP, consumer)
                else:
                    consumers.add(consumer)
        self.stats = {"streams": streams, "consumers": len(consumers),
                      "dead_letters": replies[-1]}

    def _expire_in_flight(self) -> None:
        now = time.monotonic()
        for job_id, (_, expires) in list(self.in_flight.items()):
            if now > expires:
                self.on_expired(job_id)

    # ---- reporting -------------------------------------------------------------------

    def worker_records(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            workers = sorted(self.workers.values(), key=lambda w: w.number)
            return [
                {
                    "id": w.number, "name": w.beat.name, "host": w.beat.host, "pid": w.beat.pid,
                    "state": ("refused" if w.refused else w.beat.state) if w.alive(now)
                    else "silent", "job": w.beat.job or None,
                    "jobs_done": w.beat.jobs_done, "rss_bytes": w.beat.rss_bytes,
                    "model": w.beat.model, "load_seconds": w.beat.load_seconds,
                    "heartbeat_age_s": round(now - w.seen_at, 2),
                    "error": w.refused or w.beat.error, "language": w.beat.language,
                }
                for w in workers
            ]

    def health(self) -> dict[str, Any]:
        return {
            "url": broker.redact(self.url),
            "server_id": self.server_id,
            "connected": self.connected,
            "in_flight": len(self.in_flight),
            "published": self.published,
            "duplicates_ignored": self.duplicates,
            "rejected": dict(self.rejected),
            "thread_crashes": dict(self.crashes),
            "refusal": self.refusal,
            **self.stats,
            "dispatch_delay_ms": _quantiles(self.dispatch_delays),
            "result_delay_ms": _quantiles(self.return_delays),
            "workers": self.worker_records(),
        }


def _quantiles(values: deque[float]) -> dict[str, float] | None:
    data = sorted(values)
    if not data:
        return None
    return {
        "p50": round(1000 * statistics.median(data), 3),
        "p95": round(1000 * data[min(len(data) - 1, int(0.95 * len(data)))], 3),
        "count": len(data),
    }


class BrokerCollector:
    """Prometheus gauges of the shared queue and the remote workers, read at scrape time."""

    def __init__(self, dispatcher: BrokerDispatcher) -> None:
        self.dispatcher = dispatcher

    def collect(self) -> Iterator[Metric]:
        d = self.dispatcher
        yield GaugeMetricFamily("capswriter_broker_up", "1 while the broker answers",
                                value=1.0 if d.connected else 0.0)
        length = GaugeMetricFamily("capswriter_broker_stream_length",
                                   "Entries in a job stream (waiting or being decoded)",
                                   labels=["stream"])
        pending = GaugeMetricFamily("capswriter_broker_pending",
                                    "Entries delivered to a worker and not acknowledged",
                                    labels=["stream"])
        for name, figures in d.stats.get("streams", {}).items():
            length.add_metric([name], figures["length"])
            pending.add_metric([name], figures["pending"])
        yield length
        yield pending
        yield GaugeMetricFamily("capswriter_broker_consumers", "Consumers in the worker group",
                                value=d.stats.get("consumers", 0))
        yield GaugeMetricFamily("capswriter_broker_dead_letters",
                                "Jobs in the dead-letter stream",
                                value=d.stats.get("dead_letters", 0))
        yield GaugeMetricFamily("capswriter_broker_in_flight",
                                "Jobs this server published and awaits", value=len(d.in_flight))
        rss = GaugeMetricFamily("capswriter_remote_worker_rss_bytes",
                                "Resident memory of a remote worker", labels=["worker"])
        jobs = GaugeMetricFamily("capswriter_remote_worker_jobs_done",
                                 "Jobs a remote worker has finished", labels=["worker"])
        age = GaugeMetricFamily("capswriter_remote_worker_heartbeat_age_seconds",
                                "Seconds since a remote worker's heartbeat last moved",
                                labels=["worker"])
        for w in d.worker_records():
            rss.add_metric([w["name"]], w["rss_bytes"])
            jobs.add_metric([w["name"]], w["jobs_done"])
            age.add_metric([w["name"]], w["heartbeat_age_s"])
        yield rss
        yield jobs
        yield age
        rejected = CounterMetricFamily("capswriter_broker_rejected",
                                       "Entries read from Redis and refused, by reason",
                                       labels=["reason"])
        for reason, count in sorted(d.rejected.items()):
            rejected.add_metric([reason], count)
        yield rejected
        crashes = CounterMetricFamily("capswriter_thread_crashes",
                                      "Long-lived threads restarted after a crash",
                                      labels=["thread"])
        for name in ("broker-results", "broker-monitor"):
            crashes.add_metric([name], d.crashes.get(name, 0))
        yield crashes


def dead_letter(client: Any, fields: dict[bytes, bytes], reason: str, source: str) -> None:
    """Keep a refused entry, with why, in the dead-letter stream (the last DEAD_LETTER_MAX)."""
    kept: dict[Any, Any] = {k: v for k, v in list(fields.items())[:64]
                            if isinstance(k, bytes) and len(k) <= 256}
    kept.update({b"reason": reason[:broker.MAX_TEXT_FIELD], b"source": source})
    client.xadd(DEAD_LETTER_STREAM, kept, maxlen=broker.DEAD_LETTER_MAX, approximate=True)
