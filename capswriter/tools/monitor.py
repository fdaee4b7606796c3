"""`capswriter monitor`: CPU and memory of the server and each worker, once a second, as CSV.

Workers are found through the server's /health (each worker's id and current pid) and named by
role (``worker-0``, ``worker-1``…), so a worker that dies and is restarted keeps its line in the
plots under a new pid. The server process is the workers' parent. The monitor also runs as a
background thread inside stress, loadtest and bench, and can hand each /health snapshot to them
(queue depths and connections over time).

CSV columns: timestamp, elapsed, role, pid, cpu_percent, rss_mb. ``cpu_percent`` is psutil's
per-process figure: 100 means one core fully busy, so it can exceed 100 on several cores.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import threading
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

import httpx
import psutil

from capswriter.tools.runlog import ServerAddress
from capswriter.wire.direct import http_client
from capswriter.wire.health import HealthReport

HealthCallback = Callable[[float, HealthReport], None]


@dataclass
class Sample:
    timestamp: str
    elapsed: float
    role: str
    pid: int
    cpu_percent: float
    rss_mb: float


CSV_FIELDS = [f.name for f in fields(Sample)]


@dataclass
class RolePeak:
    role: str
    max_rss_mb: float = 0.0
    max_cpu_percent: float = 0.0
    last_rss_mb: float = 0.0
    cpu_sum: float = 0.0
    samples: int = 0
    pids: set[int] | None = None

    @property
    def mean_cpu_percent(self) -> float:
        return self.cpu_sum / self.samples if self.samples else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "max_rss_mb": round(self.max_rss_mb, 1),
                "last_rss_mb": round(self.last_rss_mb, 1),
                "max_cpu_percent": round(self.max_cpu_percent, 1),
                "mean_cpu_percent": round(self.mean_cpu_percent, 1),
                "pids": sorted(self.pids or ())}


class ResourceMonitor:
    """Samples the server's processes every ``interval`` seconds into a CSV file."""

    def __init__(
        self,
        address: ServerAddress,
        csv_path: Path,
        *,
        interval: float = 1.0,
        server_pid: int | None = None,
        extra: dict[str, int] | None = None,
        on_health: HealthCallback | None = None,
    ) -> None:
        self.address = address
        self.csv_path = Path(csv_path)
        self.interval = interval
        self.server_pid = server_pid
        self.extra = dict(extra or {})  # role → pid of other processes worth watching
        self.on_health = on_health
        self.peaks: dict[str, RolePeak] = {}
        self.last_health: HealthReport | None = None
        self.health_failures = 0
        self._procs: dict[int, psutil.Process] = {}
        self._roles: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self._http = http_client(address.http, headers=address.headers(), timeout=2.0)
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.csv_path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - until stop()
        self._csv = csv.writer(self._file)
        self._csv.writerow(CSV_FIELDS)
        self._file.flush()

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> ResourceMonitor:
        self._thread = threading.Thread(target=self._loop, name="resource-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._http.close()
        if not self._file.closed:
            self._file.close()

    def run(self, duration: float, on_sample: Callable[[list[Sample]], None] | None = None,
            give_up_after: float = 10.0) -> None:
        """Sample in the foreground for ``duration`` seconds, or until the server has been
        unreachable for ``give_up_after`` seconds."""
        end = time.monotonic() + duration
        try:
            while time.monotonic() < end:
                samples = self.sample_once()
                if on_sample is not None:
                    on_sample(samples)
                if self.health_failures * self.interval >= give_up_after:
                    break
                self._stop.wait(max(0.0, min(self.interval, end - time.monotonic())))
        finally:
            self.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.sample_once()
            except Exception:  # noqa: BLE001 - a monitor must never take its host tool down
                pass
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self) -> ResourceMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- sampling --------------------------------------------------------------------

    def sample_once(self) -> list[Sample]:
        elapsed = round(time.monotonic() - self._started, 3)
        self._refresh_roles(elapsed)
        stamp = dt.datetime.now().astimezone().isoformat(timespec="milliseconds")
        samples = []
        for role, pid in sorted(self._roles.items()):
            proc = self._process(pid)
            if proc is None:
                continue
            try:
                with proc.oneshot():
                    cpu = proc.cpu_percent(interval=None)
                    rss = proc.memory_info().rss / 2**20
            except psutil.Error:
                self._procs.pop(pid, None)
                continue
            sample = Sample(stamp, elapsed, role, pid, round(cpu, 1), round(rss, 1))
            samples.append(sample)
            self._note_peak(sample)
        if not self._file.closed:
            for sample in samples:
                self._csv.writerow(astuple(sample))
            self._file.flush()
        return samples

    def _refresh_roles(self, elapsed: float) -> None:
        roles = dict(self.extra)
        try:
            response = self._http.get(f"{self.address.http}/health")
            response.raise_for_status()
            health = HealthReport.from_dict(response.json())
        except (httpx.HTTPError, ValueError):
            # A busy or restarting server may miss one poll; keep watching the pids we know.
            self.health_failures += 1
            roles.update({r: p for r, p in self._roles.items() if r not in roles})
            self._roles = roles
            return
        self.health_failures = 0
        self.last_health = health
        for worker in health.workers:
            if worker.pid and worker.state not in ("dead", "stopped"):
                roles[f"worker-{worker.id}"] = int(worker.pid)
        if self.server_pid is None:
            self.server_pid = self._parent_of(roles)
        if self.server_pid is not None:
            roles["server"] = self.server_pid
        self._roles = roles
        if self.on_health is not None:
            self.on_health(elapsed, health)

    def _parent_of(self, roles: dict[str, int]) -> int | None:
        for role, pid in roles.items():
            if role.startswith("worker-"):
                try:
                    parent = psutil.Process(pid).parent()
                except psutil.Error:
                    continue
                if parent is not None and parent.pid != os.getpid():
                    return parent.pid
        return None

    def _process(self, pid: int) -> psutil.Process | None:
        proc = self._procs.get(pid)
        if proc is None:
            try:
                proc = psutil.Process(pid)
            except psutil.Error:
                return None
            # The first cpu_percent call only starts psutil's clock and always returns 0.
            proc.cpu_percent(interval=None)
            self._procs[pid] = proc
        return proc

    def _note_peak(self, sample: Sample) -> None:
        peak = self.peaks.setdefault(sample.role, RolePeak(sample.role, pids=set()))
        peak.max_rss_mb = max(peak.max_rss_mb, sample.rss_mb)
        peak.max_cpu_percent = max(peak.max_cpu_percent, sample.cpu_percent)
        peak.last_rss_mb = sample.rss_mb
        peak.cpu_sum += sample.cpu_percent
        peak.samples += 1
        assert peak.pids is not None
        peak.pids.add(sample.pid)

    def summary(self) -> list[dict[str, Any]]:
        return [self.peaks[role].to_dict() for role in sorted(self.peaks)]


def read_csv(path: Path) -> list[dict[str, Any]]:
    """The monitor's CSV as dicts with numbers parsed."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["elapsed"] = float(row["elapsed"])
        row["pid"] = int(row["pid"])
        row["cpu_percent"] = float(row["cpu_percent"])
        row["rss_mb"] = float(row["rss_mb"])
    return rows


def run_monitor(address: ServerAddress, output: Path, duration: float,
                server_pid: int | None = None) -> ResourceMonitor:
    """The `capswriter monitor` command: sample in the foreground and show a live line."""
    from capswriter.tools.runlog import StatusLine

    status = StatusLine()
    monitor = ResourceMonitor(address, output, server_pid=server_pid)

    def show(samples: list[Sample]) -> None:
        parts = [f"{s.role} {s.cpu_percent:.0f}% {s.rss_mb:.0f}MB" for s in samples]
        elapsed = samples[0].elapsed if samples else 0.0
        status.update(f"[{elapsed:5.0f}s] " + (" | ".join(parts) or "server not reachable"))

    monitor.run(duration, on_sample=show)
    status.done()
    return monitor
