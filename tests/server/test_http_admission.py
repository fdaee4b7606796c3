"""HTTP admission that slow clients cannot starve, against a real server on loopback: waiting
sockets flooding in, uploads trickling in, and the requests that must still be answered.

The floods are bounded in sockets and seconds and go to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from server_helpers import REAL, ServerProcess, start_server
from websockets.sync.client import connect

from capswriter.tools.slowloris import TrickledUploads, WaitingSocketFlood

TOKEN = "admission-test-token"
WAITING_PER_CLIENT = 40


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("admission"), workers=1, env={
        "CAPSWRITER_SERVER_TOKEN": TOKEN,
        "CAPSWRITER_SERVER_MAX_WAITING_CONNECTIONS_PER_CLIENT": str(WAITING_PER_CLIENT),
        "CAPSWRITER_SERVER_MAX_CONCURRENT_UPLOADS": "4",
        "CAPSWRITER_SERVER_MAX_UPLOADS_PER_CLIENT": "4",
        "CAPSWRITER_SERVER_BODY_RATE_GRACE_S": "2",
        "CAPSWRITER_SERVER_MIN_BODY_RATE_BYTES_S": "4096",
    })
    yield srv
    srv.stop()


def upload(server: ServerProcess, timeout: float = 120.0) -> httpx.Response:
    return httpx.post(f"{server.http}/v1/audio/transcriptions", headers=server.headers(),
                      files={"file": ("go.wav", (REAL / "en_goforward.wav").read_bytes())},
                      timeout=timeout)


def test_a_flood_of_waiting_sockets_keeps_out_neither_health_nor_a_token_request(
    server: ServerProcess,
) -> None:
    # Far more waiting sockets than one client may keep: each new one pushes out the oldest.
    flood = WaitingSocketFlood("127.0.0.1", server.port, sockets=400, rate=200).start()
    statuses: list[int] = []
    try:
        end = time.monotonic() + 5
        while time.monotonic() < end:
            for path in ("/health", "/v1/models"):
                statuses.append(httpx.get(f"{server.http}{path}", headers=server.headers(),
                                          timeout=10).status_code)
            time.sleep(0.1)
        during = upload(server)
    finally:
        flood.stop()
    assert statuses and set(statuses) == {200}
    assert during.status_code == 200, during.text
    # The server closed the flood's sockets itself, long before their header deadline.
    assert flood.closed_by_server >= flood.opened - WAITING_PER_CLIENT - 200


def test_trickled_uploads_give_their_place_to_a_real_upload(server: ServerProcess) -> None:
    trickles = TrickledUploads(server.http, TOKEN, count=4, every_s=1.0).start()
    try:
        time.sleep(1.5)  # every upload slot is held by a trickle older than the cut-off
        accepted = upload(server)
    finally:
        trickles.stop()
    assert accepted.status_code == 200, accepted.text
    assert trickles.cut >= 1


def test_an_upload_below_the_minimum_rate_is_answered_408(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     + f"Authorization: Bearer {TOKEN}\r\n".encode()
                     + b"Content-Type: multipart/form-data; boundary=b\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n")
        part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        reply = b""
        started = time.monotonic()
        while b"body_timeout" not in reply and time.monotonic() - started < 20:
            with contextlib.suppress(OSError):
                sock.sendall(b"10\r\n" + b"x" * 16 + b"\r\n")  # 16 bytes a second
            sock.settimeout(1.0)
            try:
                reply += sock.recv(65536)
            except TimeoutError:
                pass
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert b"slower than 4096 bytes/s" in reply


def test_uvicorn_lines_pass_the_repeat_limiter(server: ServerProcess) -> None:
    before = server.log_path.read_text(errors="replace").count("connection open")
    for _ in range(60):
        with connect(server.ws_url, additional_headers=server.headers(), open_timeout=10):
            pass
    time.sleep(0.5)
    text = server.log_path.read_text(errors="replace")
    # At most a few per ten-second window reach the log; the rest are counted.
    assert text.count("connection open") - before <= 12


def test_accepted_sockets_send_without_delay() -> None:
    from capswriter.server.http_protocol import _no_delay

    seen: list[int] = []

    async def main() -> None:
        def made(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            _no_delay(writer.transport)  # type: ignore[arg-type]
            sock = writer.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        srv = await asyncio.start_server(made, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(50):
            if seen:
                break
            await asyncio.sleep(0.05)
        writer.close()
        srv.close()

    asyncio.run(main())
    assert seen == [1]
