"""Starting and stopping: token rules, one server per port, graceful stop, no orphan workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest
from server_helpers import (
    ServerProcess,
    free_port,
    pcm16,
    recv,
    recv_until,
    send,
    start_server,
)
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from capswriter.config import PROJECT_ROOT
from capswriter.wire import protocol

TOKEN = "s3cret-token"


def run_cli(tmp_path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "capswriter.server", *args],
        env={**os.environ, "CAPSWRITER_CONFIG": str(tmp_path / "none.toml"), **(env or {})},
        capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT,
    )


def test_a_non_loopback_bind_without_a_token_refuses_to_start(tmp_path) -> None:
    done = run_cli(tmp_path, "--host", "0.0.0.0", "--port", str(free_port()))
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 without a token" in done.stderr


def test_a_missing_model_refuses_to_start_and_names_the_fix(tmp_path) -> None:
    port = free_port()
    done = run_cli(tmp_path, "--port", str(port), env={"CAPSWRITER_MODELS_DIR": str(tmp_path)})
    assert done.returncode == 2
    assert "capswriter models install whisper-base" in done.stderr
    with socket.socket() as s:  # it never bound the port
        s.bind(("127.0.0.1", port))


def test_a_language_the_model_does_not_know_refuses_to_start(tmp_path) -> None:
    """Workers would otherwise fail to load, again and again, while clients wait."""
    done = run_cli(tmp_path, "--port", str(free_port()),
                   env={"CAPSWRITER_MODELS_DIR": str(PROJECT_ROOT / "models"),
                        "CAPSWRITER_ASR_LANGUAGE": "xx"})
    assert done.returncode == 2
    assert "language 'xx' is not one whisper-base knows" in done.stderr


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory):
    srv = start_server(tmp_path_factory.mktemp("token"), workers=1,
                       env={"CAPSWRITER_SERVER_TOKEN": TOKEN})
    yield srv
    srv.stop()


def test_with_a_token_requests_without_it_get_401(token_server: ServerProcess) -> None:
    base = token_server.http
    assert httpx.get(f"{base}/health").status_code == 401
    assert httpx.get(f"{base}/health", headers={"Authorization": "Bearer wrong"}).status_code \
        == 401
    assert httpx.get(f"{base}/health", params={"token": TOKEN}).status_code == 200
    assert httpx.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {TOKEN}"}) \
        .status_code == 200
    assert httpx.get(f"{base}/metrics", headers={"X-CapsWriter-Token": TOKEN}).status_code == 200
    with pytest.raises(InvalidStatus):
        with connect(token_server.ws_url, open_timeout=10):
            pass
    with connect(f"{token_server.ws_url}?token={TOKEN}", open_timeout=10) as ws:
        send(ws, protocol.Start(task_id="authorized"))
        assert isinstance(recv(ws), protocol.Accepted)


def test_a_second_server_on_the_same_port_refuses_with_a_clear_message(
    token_server: ServerProcess, tmp_path
) -> None:
    done = run_cli(tmp_path, "--port", str(token_server.port), "--workers", "1")
    assert done.returncode == 2
    assert f"port {token_server.port}" in done.stderr and "already in use" in done.stderr
    assert token_server.proc.poll() is None


@pytest.mark.skipif(sys.platform == "win32",
                    reason="SIGTERM is TerminateProcess on Windows: there is no graceful stop")
def test_sigterm_fails_open_tasks_clearly_and_stops_every_worker(
    token_server: ServerProcess,
) -> None:
    pids = [w["pid"] for w in token_server.health()["workers"]]
    with connect(f"{token_server.ws_url}?token={TOKEN}", open_timeout=10) as ws:
        send(ws, protocol.Start(task_id="interrupted", options={"early_decoding": False}))
        assert isinstance(recv(ws), protocol.Accepted)
        ws.send(pcm16("en_jfk.wav"))
        token_server.proc.send_signal(signal.SIGTERM)
        reply = recv_until(ws, (protocol.Error, protocol.Result), timeout=30)
    assert isinstance(reply, protocol.Error) and reply.code == protocol.SHUTTING_DOWN
    # uvicorn re-raises the signal once it has shut down cleanly, so the exit is by SIGTERM.
    assert token_server.proc.wait(timeout=30) in (0, -signal.SIGTERM)
    log = token_server.log_path.read_text()
    assert "Application shutdown complete" in log and "Traceback" not in log
    assert TOKEN not in log  # tokens in WebSocket URLs are redacted from the log
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
                   for pid in pids)


def test_killing_the_server_with_sigkill_leaves_no_worker_behind(tmp_path) -> None:
    srv = start_server(tmp_path, workers=2)
    pids = [w["pid"] for w in srv.health()["workers"]]
    assert all(psutil.pid_exists(p) for p in pids)
    srv.proc.kill()
    srv.proc.wait()
    end = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < end:
        alive = [p for p in alive
                 if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        time.sleep(0.05)
    assert not alive, f"workers outlived the server: {alive}"
