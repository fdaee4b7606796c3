"""A broker deployment on this machine for one measurement: a redis-server in a temporary
folder, a server with no local workers, and N remote workers (``capswriter worker``).

The same parts as a deployment over many machines, on loopback, so the tools can measure
what Redis costs next to the local pool and how throughput grows with remote workers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from capswriter.config import PROJECT_ROOT
from capswriter.errors import CapsWriterError
from capswriter.tools.local_server import LocalServer, free_port
from capswriter.wire.launch import READY_TIMEOUT_S


class DeploymentFailed(CapsWriterError):
    """redis-server is missing, or a part of the deployment did not start."""


class BrokerDeployment:
    """``with BrokerDeployment(workers=2) as d: d.address.ws ...``; ``d.kill_worker(name)``."""

    def __init__(
        self, workers: int, threads: int = 1, *, models_dir: Path | None = None,
        log_dir: Path | None = None, env: dict[str, str] | None = None,
    ) -> None:
        self.count = workers
        self.threads = threads
        self.models_dir = models_dir
        self.env = env or {}
        self._tmp = tempfile.TemporaryDirectory(prefix="capswriter-broker-")
        self.dir = Path(self._tmp.name)
        self.log_dir = log_dir or self.dir
        self.redis_port = free_port()
        # Workers and server refuse a Redis that asks for no password.
        self.password = secrets.token_hex(16)
        self.url = f"redis://:{self.password}@127.0.0.1:{self.redis_port}/0"
        self.redis: subprocess.Popen | None = None
        self.server = LocalServer(
            0, threads, models_dir=models_dir, log_path=self.log_dir / "broker_server.log",
            env={"CAPSWRITER_SERVER_BROKER": self.url, **self.env},
        )
        self.workers: dict[str, subprocess.Popen] = {}

    @property
    def address(self) -> Any:
        return self.server.address

    @property
    def pid(self) -> int | None:
        return self.server.pid

    def start(self) -> BrokerDeployment:
        binary = shutil.which("redis-server")
        if binary is None:
            raise DeploymentFailed("redis-server is not installed (apt-get install redis-server)")
        self.redis = subprocess.Popen(
            [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir",
             str(self.dir), "--save", "", "--appendonly", "yes",
             "--requirepass", self.password],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            self.server.start()
            for _ in range(self.count):
                self.add_worker()
            self.wait_workers(self.count)
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self) -> str:
        name = f"bench-w{len(self.workers) + 1}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        if self.models_dir is not None:
            env["CAPSWRITER_MODELS_DIR"] = str(self.models_dir)
        with open(self.log_dir / f"broker_{name}.log", "ab") as log:
            self.workers[name] = subprocess.Popen(
                [sys.executable, "-m", "capswriter", "worker", "--broker", self.url,
                 "--name", name, "--threads", str(self.threads)],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
            )
        return name

    def remote_workers(self) -> list[dict[str, Any]]:
        return (self.address.health(timeout=5.0).broker or {}).get("workers", [])

    def wait_workers(self, count: int) -> None:
        end = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < end:
            try:
                ready = [w for w in self.remote_workers() if w["state"] in ("idle", "busy")]
                if len(ready) >= count:
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        raise DeploymentFailed(f"{count} remote workers were not ready after "
                               f"{READY_TIMEOUT_S:.0f} s; see {self.log_dir}")

    def kill_worker(self, name: str) -> None:
        """SIGKILL: the worker dies mid-job with no goodbye."""
        proc = self.workers[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        self.server.stop()
        for proc in self.workers.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()
            self.redis.wait(timeout=10)
        self._tmp.cleanup()

    def __enter__(self) -> BrokerDeployment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
