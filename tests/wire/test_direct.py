"""Our own server on loopback is reached even when the environment names a dead proxy."""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading

import httpx
import pytest
import websockets

from capswriter.wire.client import RecognitionClient
from capswriter.wire.direct import http_get, to_this_machine, websocket_options


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def dead_proxy(monkeypatch: pytest.MonkeyPatch) -> str:
    """The system proxy set, as Clash or v2rayN sets it, to a port where nothing listens."""
    proxy = f"http://127.0.0.1:{_dead_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return proxy


@pytest.fixture()
def http_server():
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the handler's name is fixed
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_loopback_addresses_are_this_machine() -> None:
    assert to_this_machine("http://127.0.0.1:6016/health")
    assert to_this_machine("ws://[::1]:6016/ws")
    assert to_this_machine("http://localhost:6016")
    assert not to_this_machine("http://192.168.1.20:6016")
    assert websocket_options("ws://192.168.1.20:6016/ws") == {}


def test_http_to_this_machine_skips_a_dead_proxy(dead_proxy: str, http_server: str) -> None:
    # What went wrong before: httpx sends the request to the proxy, which is not there.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{http_server}/health", timeout=2.0)
    reply = http_get(f"{http_server}/health", timeout=2.0)
    assert reply.status_code == 200 and reply.json() == {"ok": True}


def test_a_websocket_to_this_machine_skips_a_dead_proxy(dead_proxy: str) -> None:
    async def run() -> str:
        async def echo(connection) -> None:
            await connection.send("hello from the server")

        async with websockets.serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            client = RecognitionClient(f"ws://127.0.0.1:{port}/ws", open_timeout=5.0)
            await client.connect()
            try:
                return await client._ws.recv()
            finally:
                await client.close()

    assert asyncio.run(run()) == "hello from the server"
