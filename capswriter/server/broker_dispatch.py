"""The server's side of the broker: publish jobs for remote workers, read their results, and
watch the workers' heartbeats.

The pool's supervisor calls ``dispatch()`` whenever it hands out work; jobs leave the scheduler
only while a remote worker is free (live heartbeats minus the jobs this server has out), so
priority and admission stay in the scheduler. Two threads talk to Redis: one blocks on this
server's results stream and hands each result to the pool, the other reads heartbeats and queue
figures once a second, watches the deadlines of published jobs and reconnects after an outage.
A job that Redis lost (it restarted without its append-only file) comes back to the scheduler
when its deadline passes; a result that arrives for a job already finished is ignored.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from capswriter.config import Settings
from capswriter.server.dispatch import time_limit
from capswriter.server.jobs import Job
from capswriter.server.scheduler import Scheduler
from capswriter.wire import broker
from capswriter.wire.broker import (
    DEAD_LETTER_STREAM,
    GROUP,
    JOB_STREAMS,
    Backoff,
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

    def alive(self, now: float) -> bool:
        return now - self.seen_at <= broker.HEARTBEAT_TTL_S

    def ready(self, now: float) -> bool:
        return self.alive(now) and self.beat.state in ("idle", "busy")


class BrokerDispatcher:
    def __init__(
        self,
        settings: Settings,
        on_result: Callable[[int, BrokerResult, int], None],
        on_expired: Callable[[int], None],
        wake: Callable[[], None],
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
        self.wake = wake
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
        self._client: Any = None
        self._threads: list[threading.Thread] = []

    # ---- lifecycle -------------------------------------------------------------------

    def startup(self) -> None:
        """Connect and start the threads; Redis being down is retried, not fatal."""
        self._errors = broker.connection_errors()
        self._client = broker.connect(self.url)
        for target, name in ((self._read_results, "broker-results"),
                             (self._monitor, "broker-monitor")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
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
            self._client.xadd(message.stream, message.to_fields())
        except self._errors as exc:
            log.warning("could not publish job %d (%s); it waits for the broker", job.id, exc)
            self.connected = False
            return False
        self.published += 1
        return True

    def forget(self, job_id: int) -> Job | None:
        """Take a job out of the in-flight set (its result came, or it is given up)."""
        entry = self.in_flight.pop(job_id, None)
        return None if entry is None else entry[0]

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
            try:
                # Handled entries are deleted, so reading from the start never repeats one
                # and survives a Redis that restarted empty.
                replies = reader.xread({self.results: "0-0"}, count=100, block=RESULTS_BLOCK_MS)
                for _, entries in replies or []:
                    for entry_id, fields in entries:
                        self._handle(fields)
                        reader.xdel(self.results, entry_id)
                backoff.reset()
            except self._errors as exc:
                log.warning("broker results unreachable (%s); retrying in %.1f s",
                            exc, backoff.delay)
                backoff.wait(self._stop)

    def _handle(self, fields: dict[bytes, bytes]) -> None:
        try:
            result = BrokerResult.from_fields(fields)
            server_id, _, number = result.job_id.partition(":")
            job_id = int(number)
        except (KeyError, ValueError) as exc:
            log.error("unreadable result on %s: %s", self.results, exc)
            return
        if server_id != self.server_id:
            return
        self.dispatch_delays.append(result.dispatch_delay)
        self.return_delays.append(max(0.0, time.time() - result.sent_at))
        self.on_result(job_id, result, self.number(result.worker))

    # ---- heartbeats, queue figures, deadlines ----------------------------------------

    def _monitor(self) -> None:
        backoff = Backoff()
        groups_ready = False
        while not self._stop.is_set():
            try:
                if not groups_ready:
                    broker.ensure_groups(self._client)
                    groups_ready = True
                self._read_heartbeats()
                self._read_stats()
                self._client.expire(self.results, broker.RESULTS_TTL_S)
                if not self.connected:
                    log.info("broker %s reachable", broker.redact(self.url))
                    self.connected = True
                    self.wake()
                backoff.reset()
                self._expire_in_flight()
                self._stop.wait(MONITOR_S)
            except self._errors as exc:
                if self.connected:
                    log.warning("broker %s unreachable: %s", broker.redact(self.url), exc)
                self.connected, groups_ready = False, False
                self._expire_in_flight()
                backoff.wait(self._stop)

    def _read_heartbeats(self) -> None:
        keys = list(self._client.scan_iter(match=broker.WORKER_KEY + "*", count=500))
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        beats = pipe.execute()  # outside the lock: the event loop reads the workers too
        now = time.monotonic()
        ready_before = self.ready_count()
        with self._lock:
            for fields in beats:
                if not fields:
                    continue
                beat = Heartbeat.from_fields(fields)
                known = self.workers.get(beat.name)
                if known is None:
                    number = self._numbers.setdefault(
                        beat.name, FIRST_REMOTE_ID + len(self._numbers))
                    self.workers[beat.name] = RemoteWorker(number, beat, now)
                    log.info("remote worker %s (%s, pid %d) joined: %s",
                             beat.name, beat.host, beat.pid, beat.state)
                elif beat.beat != known.beat.beat or beat.state != known.beat.state:
                    known.beat, known.seen_at = beat, now
            for name, worker in list(self.workers.items()):
                if not worker.alive(now):
                    log.info("remote worker %s left (%s)", name,
                             "said goodbye" if worker.beat.state == "stopping"
                             else "no heartbeat")
                    del self.workers[name]
        if self.ready_count() != ready_before:
            self.wake()

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
                    "state": w.beat.state if w.alive(now) else "silent", "job": w.beat.job or None,
                    "jobs_done": w.beat.jobs_done, "rss_bytes": w.beat.rss_bytes,
                    "model": w.beat.model, "load_seconds": w.beat.load_seconds,
                    "heartbeat_age_s": round(now - w.seen_at, 2), "error": w.beat.error,
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

    def collect(self) -> Iterator[GaugeMetricFamily]:
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
