"""A real recognition server in a subprocess, as the desktop client would find it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from capswriter.config import default_models_dir

from .xsession import unavailable, wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_model() -> None:
    if not (default_models_dir() / "whisper-base").is_dir():
        unavailable("needs the whisper-base model: capswriter models install whisper-base")


class ServerProcess:
    def __init__(
        self, workdir: Path, port: int | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> None:
        env = {**os.environ, "CAPSWRITER_CONFIG": str(self.workdir / "absent.toml"), **self.env}
        self.log = open(self.workdir / "server.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "capswriter.server", "--port", str(self.port),
             "--workers", "1", "--threads", "1"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        if wait and not wait_until(self.ready, 120, interval=0.2):
            self.stop()
            raise RuntimeError(f"server did not become ready; see {self.workdir / 'server.log'}")

    def ready(self) -> bool:
        try:
            reply = httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1)
            return reply.json()["status"] == "ok"
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if getattr(self, "log", None):
            self.log.close()
