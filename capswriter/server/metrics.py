"""Prometheus metrics of one server, kept in a registry of its own."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from capswriter.server.jobs import Job

# Decode and queue times span a few ms (short dictation) to minutes (a flooded pool).
_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs = Counter(
            "capswriter_jobs", "Decode jobs by final state", ["kind", "state"], registry=r
        )
        self.queue_wait = Histogram(
            "capswriter_queue_wait_seconds", "Time a job waited for a worker", ["kind"],
            buckets=_BUCKETS, registry=r,
        )
        self.decode_time = Histogram(
            "capswriter_decode_seconds", "Time a worker spent decoding a job", ["kind"],
            buckets=_BUCKETS, registry=r,
        )
        self.audio_seconds = Counter(
            "capswriter_audio_seconds", "Seconds of audio decoded", ["kind"], registry=r
        )
        self.worker_restarts = Counter(
            "capswriter_worker_restarts", "Worker processes replaced after dying or hanging",
            ["worker"], registry=r,
        )
        self.rejected = Counter(
            "capswriter_rejected", "Work refused because a queue was full", ["kind"], registry=r
        )
        self.queue_depth = Gauge(
            "capswriter_queue_depth", "Jobs waiting for a worker", ["queue"], registry=r
        )
        self.pending_audio = Gauge(
            "capswriter_pending_audio_seconds", "Seconds of audio waiting", registry=r
        )
        self.connections = Gauge(
            "capswriter_websocket_connections", "Open WebSocket connections", registry=r
        )
        self.workers_ready = Gauge(
            "capswriter_workers_ready", "Workers loaded and serving", registry=r
        )

    def job_finished(self, job: Job) -> None:
        self.jobs.labels(job.kind, job.state.value).inc()
        if job.transcript is not None:
            self.queue_wait.labels(job.kind).observe(job.queue_wait)
            self.decode_time.labels(job.kind).observe(job.transcript.decode_seconds)
            self.audio_seconds.labels(job.kind).inc(job.audio_seconds)

    def exposition(self, depths: Callable[[], dict[str, float]], ready: int) -> bytes:
        """Refresh the gauges that are read, not counted, then render the registry."""
        d = depths()
        self.queue_depth.labels("dictation").set(d["dictation"])
        self.queue_depth.labels("file_segments").set(d["file_segments"])
        self.pending_audio.set(d["pending_audio_seconds"])
        self.workers_ready.set(ready)
        return generate_latest(self.registry)
