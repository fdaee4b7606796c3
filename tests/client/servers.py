"""A real recognition server in a subprocess, as the desktop client would find it."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx

from capswriter.config import default_models_dir
from capswriter.errors import ServerStartFailed
from capswriter.wire.launch import fetch_health, start_server_process, wait_until_ready

from .xsession import unavailable


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
        self.proc = start_server_process(
            ["--port", str(self.port), "--workers", "1", "--threads", "1"],
            env={"CAPSWRITER_CONFIG": str(self.workdir / "absent.toml"), **self.env},
            output=self.workdir / "server.log", append=True,
        )
        if wait:
            try:
                wait_until_ready(self.proc, self.ready, timeout=120,
                                 log_path=self.workdir / "server.log")
            except ServerStartFailed:
                self.stop()
                raise

    def ready(self) -> bool:
        try:
            return fetch_health(f"http://127.0.0.1:{self.port}", timeout=1).ready
        except (httpx.HTTPError, ValueError):
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

