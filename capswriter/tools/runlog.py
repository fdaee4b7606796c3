"""What every stress, load and bench tool shares: a crash-safe JSONL result log, percentiles,
a live status line, and how tools address a running server.

A result log is appended one JSON object per line and flushed the moment a record exists, so a
run that crashes (or takes the machine down) keeps everything measured until then. Every record
carries ``kind`` (what it is), ``tool``, ``ts`` (wall clock, ISO 8601) and ``t`` (seconds since
the run started); `capswriter report` reads nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from capswriter.wire.direct import http_get
from capswriter.wire.health import HealthReport

RESULTS_DIR = Path("bench-results")
PERCENTILES = (50, 95, 99)


def now_iso() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="milliseconds")


def default_path(tool: str, suffix: str = ".jsonl", folder: Path = RESULTS_DIR) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return folder / f"{tool}_{stamp}{suffix}"


class ResultLog:
    """Append-only JSONL writer; thread-safe, flushed after every record."""

    # fsync is what survives a machine crash, but it costs milliseconds; once a second bounds
    # the loss to one second of records while a load test writes thousands of lines.
    FSYNC_INTERVAL_S = 1.0

    def __init__(self, path: Path, tool: str) -> None:
        self.path = Path(path)
        self.tool = tool
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - until close()
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last_sync = 0.0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        record = {"kind": kind, "tool": self.tool, "ts": now_iso(),
                  "t": round(self.elapsed, 3), **fields}
        line = json.dumps(record, ensure_ascii=False, default=_jsonable)
        with self._lock:
            if self._file.closed:
                return record
            self._file.write(line + "\n")
            self._file.flush()
            if time.monotonic() - self._last_sync >= self.FSYNC_INTERVAL_S:
                os.fsync(self._file.fileno())
                self._last_sync = time.monotonic()
        return record

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()

    def __enter__(self) -> ResultLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSONL file; a torn last line (the writer crashed mid-line) is skipped."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def timed_runs(call: Callable[[], object], runs: int) -> list[float]:
    """Wall seconds of ``runs`` calls of ``call``, one by one."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def percentiles(values: Iterable[float], points: Sequence[int] = PERCENTILES) -> dict[str, float]:
    """Nearest-rank percentiles as ``{"p50": ..., "p95": ...}``; empty input gives None values."""
    ordered = sorted(values)
    out: dict[str, Any] = {}
    for p in points:
        if not ordered:
            out[f"p{p}"] = None
            continue
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        out[f"p{p}"] = round(ordered[rank - 1], 4)
    return out


def slope(values: Sequence[float]) -> float:
    """Least-squares slope of ``values`` against their index (units per step)."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    num = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den


class StatusLine:
    """One line of live status, rewritten in place on a terminal.

    Off a terminal (CI logs, pipes) carriage returns make a mess, so a full line is printed
    at most every ``plain_interval`` seconds instead.
    """

    def __init__(self, stream: TextIO | None = None, interval: float = 0.5,
                 plain_interval: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval if self.tty else plain_interval
        self._last = 0.0
        self._width = 0

    def update(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        if self.tty:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self, text: str | None = None) -> None:
        if text is not None:
            self.update(text, force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


class ServerAddress:
    """A running server as the tools address it: HTTP base, WebSocket URL and token."""

    def __init__(self, url: str, token: str = "") -> None:
        url = url.rstrip("/")
        if url.startswith("ws://") or url.startswith("wss://"):
            url = "http" + url[2:]
        if url.endswith("/ws"):
            url = url[: -len("/ws")]
        if "://" not in url:
            url = "http://" + url
        self.http = url
        self.token = token

    @property
    def ws(self) -> str:
        return "ws" + self.http[4:] + "/ws"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def health(self, timeout: float = 5.0) -> HealthReport:
        response = http_get(f"{self.http}/health", headers=self.headers(), timeout=timeout)
        response.raise_for_status()
        return HealthReport.from_dict(response.json())

    def require_health(self) -> HealthReport:
        """/health, or ServerUnavailable with a sentence the user can act on."""
        import httpx

        from capswriter.errors import ServerUnavailable

        try:
            return self.health()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServerUnavailable(
                f"no CapsWriter server answers at {self.http} ({exc}); start one with "
                "`capswriter server`, or pass --start-server WORKERS"
            ) from None
