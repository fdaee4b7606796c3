"""Start a real CapsWriter server on a free loopback port for one measurement, then stop it.

The benchmarks compare pools of different sizes, so they start their own servers; stress and
load tests may too (``--start-server``), which makes a run reproducible from one command.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from capswriter.config import PROJECT_ROOT, Settings, url_host
from capswriter.errors import ServerStartFailed
from capswriter.tools.runlog import ServerAddress
from capswriter.wire.launch import (
    every_worker_ready,
    start_server_process,
    wait_until_ready,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer:
    """``with LocalServer(workers=2, threads=1) as server: server.address.ws ...``"""

    def __init__(
        self,
        workers: int,
        threads: int = 1,
        *,
        models_dir: Path | None = None,
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.workers = workers
        self.threads = threads
        self.port = port or free_port()
        self.models_dir = models_dir
        self.log_path = log_path
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.address = ServerAddress(f"http://127.0.0.1:{self.port}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> LocalServer:
        # A token from the user's config or environment would lock the tools out of a server
        # that only listens on loopback for this run; an explicit env still sets one.
        env = {"PYTHONUNBUFFERED": "1", "CAPSWRITER_SERVER_TOKEN": "", **self.env}
        if self.models_dir is not None:
            env["CAPSWRITER_MODELS_DIR"] = str(self.models_dir)
        self.address.token = env["CAPSWRITER_SERVER_TOKEN"]
        self.proc = start_server_process(
            ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
             "--threads", str(self.threads)],
            env=env, output=self.log_path, append=True, cwd=PROJECT_ROOT,
        )
        try:
            wait_until_ready(
                self.proc,
                lambda: every_worker_ready(self.address.health(timeout=2.0), self.workers),
                log_path=self.log_path,
            )
        except ServerStartFailed:
            self.stop()
            raise
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def target_server(
    settings: Settings, url: str | None = None, token: str | None = None,
    start_workers: int | None = None, threads: int = 1, log_path: Path | None = None,
    broker: bool = False,
) -> Iterator[tuple[ServerAddress, int | None]]:
    """The server a tool measures: a fresh one when ``start_workers`` is given (as remote
    workers behind a local redis-server if ``broker``), else the one at ``url`` (default: the
    configured host and port). Yields its address and, when known, the server's pid."""
    if start_workers and broker:
        from capswriter.tools.broker_deployment import BrokerDeployment

        with BrokerDeployment(start_workers, threads, models_dir=settings.models_path,
                              log_dir=log_path.parent if log_path else None) as deployment:
            yield deployment.address, deployment.pid
        return
    if start_workers:
        with LocalServer(start_workers, threads, models_dir=settings.models_path,
                         log_path=log_path) as server:
            yield server.address, server.pid
        return
    s = settings.server
    yield (ServerAddress(url or f"http://{url_host(s.host)}:{s.port}",
                         s.token if token is None else token), None)
