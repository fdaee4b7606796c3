"""The resource monitor on a real server: roles, pids from /health, restarted workers, CLI."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from capswriter.tools.local_server import LocalServer
from capswriter.tools.monitor import CSV_FIELDS, ResourceMonitor, read_csv


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[LocalServer]:
    """A server of its own: these tests kill one of its workers."""
    folder = tmp_path_factory.mktemp("monitor-server")
    srv = LocalServer(2, 1, models_dir=models_dir, log_path=folder / "server.log",
                      env={"CAPSWRITER_CONFIG": str(folder / "none.toml")})
    srv.start()
    yield srv
    srv.stop()


def _wait_for_new_pid(server: LocalServer, worker: int, old_pid: int) -> int:
    end = time.monotonic() + 90
    while time.monotonic() < end:
        w = server.address.health().workers[worker]
        if w.pid not in (None, old_pid) and w.state in ("idle", "busy"):
            return w.pid
        time.sleep(0.2)
    raise AssertionError("the worker was not restarted")


def test_samples_the_server_and_each_worker_by_role(server: LocalServer, tmp_path: Path) -> None:
    output = tmp_path / "monitor.csv"
    with ResourceMonitor(server.address, output, interval=0.5):
        time.sleep(2.2)
    with open(output, newline="") as handle:
        assert next(csv.reader(handle)) == CSV_FIELDS
    rows = read_csv(output)
    pids = {f"worker-{w.id}": w.pid for w in server.address.health().workers}
    by_role = {r["role"]: r["pid"] for r in rows}
    assert by_role == {**pids, "server": server.pid}  # the server found as the workers' parent
    assert all(r["rss_mb"] > 10 and r["cpu_percent"] >= 0 for r in rows)
    assert sum(r["role"] == "worker-0" for r in rows) >= 3


def test_follows_a_restarted_worker_under_the_same_role(
    server: LocalServer, tmp_path: Path,
) -> None:
    output = tmp_path / "restart.csv"
    old_pid = server.address.health().workers[1].pid
    with ResourceMonitor(server.address, output, interval=0.5) as monitor:
        time.sleep(1.0)
        psutil.Process(old_pid).kill()
        new_pid = _wait_for_new_pid(server, 1, old_pid)
        time.sleep(1.5)
    rows = [r for r in read_csv(output) if r["role"] == "worker-1"]
    assert {old_pid, new_pid} <= {r["pid"] for r in rows}
    # Once restarted, the old pid is never sampled again.
    first_new = next(i for i, r in enumerate(rows) if r["pid"] == new_pid)
    assert all(r["pid"] == new_pid for r in rows[first_new:])
    assert monitor.peaks["worker-1"].pids == {old_pid, new_pid}


def test_monitor_command_stops_after_its_duration(server: LocalServer, tmp_path: Path) -> None:
    output = tmp_path / "cli.csv"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "capswriter", "monitor", "--url", server.address.http,
         "--duration", "2", "--output", str(output)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "CAPSWRITER_CONFIG": str(tmp_path / "none.toml")},
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    assert {"server", "worker-0", "worker-1"} <= {r["role"] for r in read_csv(output)}
    assert "worker-0" in done.stdout
