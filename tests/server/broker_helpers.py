"""Helpers for the broker tests: a real redis-server on loopback and remote workers in real
processes (``python -m capswriter worker``), started and stopped by the tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from server_helpers import ServerProcess, free_port

from capswriter.config import PROJECT_ROOT

PASSWORD = "broker-test-secret"


@dataclass
class RedisServer:
    """redis-server on 127.0.0.1 asking for PASSWORD, with its append-only file in
    ``directory`` (without one when ``persistent`` is false: a restart loses everything)."""

    port: int
    directory: Path
    proc: subprocess.Popen | None = None
    persistent: bool = True
    password: str = PASSWORD

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed; install it with "
                        "`apt-get install redis-server` (scripts/setup.sh does)")
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - the server's own
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.directory), "--save", "",
             "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "everysec",
             *(["--requirepass", self.password] if self.password else [])],
            stdout=log, stderr=subprocess.STDOUT,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 20.0) -> None:
        import redis

        client = redis.Redis(port=self.port, password=self.password or None,
                             socket_connect_timeout=1)
        end = time.monotonic() + timeout
        while True:
            try:
                if client.ping():
                    return
            except (redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError):
                pass
            if time.monotonic() > end:
                raise AssertionError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        """An unclean death (SIGKILL), as a crash or an OOM kill would do."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self):
        import redis

        return redis.Redis(port=self.port, password=self.password or None)


def start_redis(directory: Path, password: str = PASSWORD) -> RedisServer:
    server = RedisServer(free_port(), directory, password=password)
    server.start()
    return server


@dataclass
class WorkerProcess:
    name: str
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Fleet:
    """Remote workers in their own processes, all consuming one broker."""

    url: str
    directory: Path
    env: dict[str, str] = field(default_factory=dict)
    workers: list[WorkerProcess] = field(default_factory=list)
    _count: int = 0

    def start(self, name: str | None = None) -> WorkerProcess:
        self._count += 1
        name = name or f"w{self._count}"
        log_path = self.directory / f"worker-{name}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "capswriter", "worker", "--broker", self.url,
             "--name", name, "--threads", "1"],
            env={
                **os.environ,
                "CAPSWRITER_CONFIG": str(self.directory / "no-config.toml"),
                "CAPSWRITER_MODELS_DIR": str(PROJECT_ROOT / "models"),
                "CAPSWRITER_FAULT_HOOK": "1",
                "PYTHONUNBUFFERED": "1",
                **self.env,
            },
            stdout=open(log_path, "wb"),  # noqa: SIM115 - the worker's own
            stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
        )
        worker = WorkerProcess(name, proc, log_path)
        self.workers.append(worker)
        return worker

    def live(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.proc.poll() is None]

    def by_name(self, name: str) -> WorkerProcess:
        return next(w for w in self.workers if w.name == name)

    def ensure(self, server: ServerProcess, count: int) -> None:
        """Start workers until ``count`` run, and wait until the server sees them ready."""
        for _ in range(count - len(self.live())):
            self.start()
        names = {w.name for w in self.live()}
        wait_remote_ready(server, names)

    def stop_all(self) -> None:
        for w in self.live():
            w.proc.send_signal(signal.SIGTERM)
        for w in self.workers:
            try:
                w.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()


def remote_workers(health: dict) -> list[dict]:
    return health.get("broker", {}).get("workers", [])


def wait_remote_ready(server: ServerProcess, names: set[str], timeout: float = 180.0) -> dict:
    """Wait until every worker in ``names`` heartbeats as ready, and no other is known."""
    return server.wait_until(
        lambda h: {w["name"] for w in remote_workers(h) if w["state"] in ("idle", "busy")}
        == names and {w["name"] for w in remote_workers(h)} == names,
        timeout=timeout,
    )
