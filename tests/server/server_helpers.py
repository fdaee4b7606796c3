"""Helpers for the server tests: start real servers in subprocesses and talk to them."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf
from websockets.sync.client import ClientConnection, connect

from capswriter.config import PROJECT_ROOT
from capswriter.errors import ServerStartFailed
from capswriter.wire import protocol
from capswriter.wire.launch import (
    every_worker_ready,
    fetch_health,
    start_server_process,
    wait_until_ready,
)

REAL = Path(__file__).parent.parent / "data" / "real"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pcm16(name: str) -> bytes:
    """A checked-in 16 kHz clip as the raw PCM a dictation client streams."""
    data, rate = sf.read(REAL / name, dtype="int16")
    assert rate == 16000
    return data.tobytes()


def words(text: str) -> list[str]:
    return [w.strip(".,!?;:").lower() for w in text.split() if w.strip(".,!?;:")]


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    port: int
    token: str = ""
    log_path: Path | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def health(self) -> dict:
        return httpx.get(f"{self.http}/health", headers=self.headers(), timeout=10).json()

    def jobs(self, task: str) -> list[dict]:
        return httpx.get(f"{self.http}/jobs", params={"task": task}, headers=self.headers(),
                         timeout=10).json()

    def wait_until(self, check: Callable[[dict], bool], timeout: float = 60.0) -> dict:
        end = time.monotonic() + timeout
        while True:
            health = self.health()
            if check(health):
                return health
            if time.monotonic() > end:
                raise AssertionError(f"condition not met; last health: {health}")
            time.sleep(0.05)

    def ws(self) -> ClientConnection:
        return connect(self.ws_url, additional_headers=self.headers(), max_size=None,
                       open_timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(
    tmp_path: Path, *, workers: int = 2, env: dict[str, str] | None = None,
    args: list[str] | None = None, port: int | None = None, wait: bool = True,
) -> ServerProcess:
    port = port or free_port()
    full_env = {
        "CAPSWRITER_CONFIG": str(tmp_path / "no-config.toml"),
        "CAPSWRITER_MODELS_DIR": str(PROJECT_ROOT / "models"),
        "CAPSWRITER_FAULT_HOOK": "1",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    log_path = tmp_path / f"server-{port}.log"
    proc = start_server_process(
        ["--port", str(port), "--workers", str(workers), "--threads", "1", *(args or [])],
        env=full_env, output=log_path, cwd=PROJECT_ROOT,
    )
    server = ServerProcess(proc, port, (env or {}).get("CAPSWRITER_SERVER_TOKEN", ""), log_path)
    if wait:
        try:
            wait_until_ready(
                proc, lambda: every_worker_ready(fetch_health(server.http, server.token), workers),
                timeout=90, poll_s=0.1,
            )
        except ServerStartFailed as exc:
            server.stop()
            raise AssertionError(f"{exc}: {log_path.read_text()}") from None
    return server


# ---- WebSocket helpers -------------------------------------------------------------------


def send(ws: ClientConnection, message: protocol.Message) -> None:
    ws.send(message.to_json())


def recv(ws: ClientConnection, timeout: float = 60.0) -> protocol.Message:
    return protocol.parse_server_message(ws.recv(timeout=timeout))


def recv_until(
    ws: ClientConnection, kinds: tuple[type, ...], timeout: float = 120.0,
    seen: list | None = None,
) -> protocol.Message:
    """Read messages until one of ``kinds`` arrives; the others go to ``seen``."""
    end = time.monotonic() + timeout
    while True:
        message = recv(ws, timeout=max(0.1, end - time.monotonic()))
        if isinstance(message, kinds):
            return message
        if seen is not None:
            seen.append(message)


def dictate(
    ws: ClientConnection, task_id: str, pcm: bytes, chunk: int = 3200, end: bool = True
) -> None:
    send(ws, protocol.Start(task_id=task_id, source="mic"))
    reply = recv(ws)
    assert isinstance(reply, protocol.Accepted), reply
    for i in range(0, len(pcm), chunk):
        ws.send(pcm[i : i + chunk])
    if end:
        send(ws, protocol.End(task_id=task_id))


def send_file(ws: ClientConnection, task_id: str, data: bytes) -> None:
    send(ws, protocol.Start(task_id=task_id, source="file", options={"filename": task_id}))
    reply = recv(ws)
    assert isinstance(reply, protocol.Accepted), reply
    for i in range(0, len(data), 65536):
        ws.send(data[i : i + 65536])
    send(ws, protocol.End(task_id=task_id))


def with_marker(action: str, pcm: bytes) -> bytes:
    """Prefix PCM with the worker's test-only fault marker."""
    from capswriter.server.worker import fault_marker

    return fault_marker(action).astype("<i2").tobytes() + pcm


def silence(seconds: float) -> bytes:
    return np.zeros(int(seconds * 16000), dtype="<i2").tobytes()


def joined_wav(names: list[str], gap_s: float = 1.5) -> bytes:
    """Real clips joined with silences, as the bytes of a 16 kHz WAV file."""
    import io

    parts = []
    for name in names:
        data, _ = sf.read(REAL / name, dtype="float32")
        parts.extend([data, np.zeros(int(gap_s * 16000), dtype=np.float32)])
    buffer = io.BytesIO()
    sf.write(buffer, np.concatenate(parts), 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
