"""Hostile and unlucky clients against a real server: every one is answered or cut off, and
none costs the server more than its budget.

The server runs with small limits so each case happens within seconds.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import soundfile as sf
from server_helpers import (
    REAL,
    ServerProcess,
    recv,
    recv_until,
    send,
    start_server,
    words,
)
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from capswriter.wire import protocol

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 2.0
IDLE_CONNECTION_S = 12.0
STREAM_IDLE_S = 3.0
PENDING_REPLIES = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("hostile"), env={
        "CAPSWRITER_SERVER_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "CAPSWRITER_SERVER_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "CAPSWRITER_SERVER_MAX_CONCURRENT_UPLOADS": "2",
        # The cap test holds its slots with a few bytes; they must not count as too slow.
        "CAPSWRITER_SERVER_MIN_BODY_RATE_BYTES_S": "1",
        "CAPSWRITER_SERVER_CONNECTION_IDLE_TIMEOUT_S": str(IDLE_CONNECTION_S),
        "CAPSWRITER_SERVER_MAX_CONNECTIONS": "3",
        "CAPSWRITER_SERVER_MAX_PENDING_REPLIES": str(PENDING_REPLIES),
        "CAPSWRITER_SERVER_STREAM_IDLE_TIMEOUT_S": str(STREAM_IDLE_S),
        "CAPSWRITER_SERVER_MIC_SILENCE_RELEASE_S": "1",
        # 64 MiB of decoded audio is 35 minutes: room for real clips, not for hours of silence.
        "CAPSWRITER_SERVER_MAX_BUFFERED_UPLOAD_BYTES": str(64 * 1024 * 1024),
    })
    yield srv
    srv.stop()


def wav_bytes(samples: np.ndarray, rate: int = 16000, subtype: str = "PCM_16",
              fmt: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def post(server: ServerProcess, data: bytes, name: str = "clip.wav",
         headers: dict[str, str] | None = None, timeout: float = 120.0) -> httpx.Response:
    return httpx.post(f"{server.http}/v1/audio/transcriptions",
                      files={"file": (name, data)}, data={"model": "whisper-1"},
                      headers={**server.headers(), **(headers or {})}, timeout=timeout)


def raw_socket(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def said_go_forward(text: str) -> bool:
    return words(text) in (["go", "forward", "ten", "meters"], ["go", "forward", "10", "meters"])


def wait_for_connections(server: ServerProcess, count: int) -> None:
    server.wait_until(lambda h: h["connections"] == count, timeout=30)


# ---- who may ask ----------------------------------------------------------------------------


def test_a_foreign_host_name_is_refused_without_a_token(server: ServerProcess) -> None:
    """DNS rebinding: a page's own name pointed at 127.0.0.1 reads nothing."""
    for path in ("/health", "/jobs", "/metrics", "/docs"):
        refused = httpx.get(f"{server.http}{path}", headers={"Host": "evil.example"}, timeout=10)
        assert refused.status_code == 403, path
        assert refused.json()["error"]["code"] == "forbidden_host"
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", "[::1]"):
        assert httpx.get(f"{server.http}/health", headers={"Host": host},
                         timeout=10).status_code == 200
    with pytest.raises(InvalidStatus):
        connect(server.ws_url, additional_headers={"Host": "evil.example"}, open_timeout=10)


# ---- slow and stuck senders -----------------------------------------------------------------


def test_connections_that_never_finish_their_headers_are_closed(server: ServerProcess) -> None:
    silent = [raw_socket(server) for _ in range(20)]
    trickling = raw_socket(server)
    trickling.sendall(b"GET /health HTTP/1.1\r\n")
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        for _ in range(4):  # a byte now and then must not keep it open
            time.sleep(HEADER_TIMEOUT_S / 2)
            trickling.sendall(b"X")
    assert httpx.get(f"{server.http}/health", timeout=10).status_code == 200
    assert all(closed_by_server(s, HEADER_TIMEOUT_S + 5) for s in [*silent, trickling])
    for s in [*silent, trickling]:
        s.close()


def test_an_upload_that_stalls_is_answered_408_and_its_bytes_released(
    server: ServerProcess,
) -> None:
    sock = raw_socket(server)
    body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
            + b"x" * 1000)
    sock.sendall(
        b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n"
 + body
    )
    sock.settimeout(BODY_TIMEOUT_S + 10)
    reply = ""
    while "body_timeout" not in reply:
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk.decode(errors="replace")
    assert reply.startswith("HTTP/1.1 408"), reply
    assert "body_timeout" in reply
    sock.close()
    assert server.wait_until(lambda h: h["upload_bytes"] == 0)


def test_uploads_past_the_concurrent_cap_hear_busy_at_once(server: ServerProcess) -> None:
    stalled = []
    for _ in range(2):
        sock = raw_socket(server)
        sock.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: 100000\r\n\r\n--b\r\n")
        stalled.append(sock)
    # They keep sending a little (above this server's minimum rate, within its body timeout),
    # so they hold their slots past the time a new upload waits for one.
    holding = threading.Event()

    def keep_sending() -> None:
        while not holding.wait(0.3):
            for sock in stalled:
                with contextlib.suppress(OSError):
                    sock.sendall(b"x")

    sender = threading.Thread(target=keep_sending, daemon=True)
    sender.start()
    time.sleep(0.5)
    clip = (REAL / "en_goforward.wav").read_bytes()
    refused = post(server, clip)
    holding.set()
    sender.join()
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    for sock in stalled:
        sock.close()
    time.sleep(0.5)
    accepted = post(server, clip)
    assert accepted.status_code == 200, accepted.text
    assert said_go_forward(accepted.json()["text"])


# ---- what a file may cost -------------------------------------------------------------------


def test_hours_of_silence_in_a_small_flac_are_refused_before_decoding(
    server: ServerProcess,
) -> None:
    """Two hours of silence compress to almost nothing; decoded they would be 460 MB."""
    rate = 8000
    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", rate, 1, format="FLAC", subtype="PCM_16") as out:
        block = np.zeros(rate * 600, dtype=np.int16)
        for _ in range(12):
            out.write(block)
    data = buffer.getvalue()
    assert len(data) < 2_000_000
    reply = post(server, data, name="silence.flac")
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "too_large"
    assert "MiB" in reply.json()["error"]["message"]
    health = server.health()
    assert health["upload_bytes"] == 0
    assert health["status"] == "ok"


def test_files_with_broken_metadata_or_no_codec_get_clear_answers(
    server: ServerProcess,
) -> None:
    # An MP3 whose ID3 title is declared UTF-8 but is not: the audio is fine, so it is read.
    samples, _ = sf.read(REAL / "en_goforward.wav", dtype="float32")
    import av

    mp3 = io.BytesIO()
    with av.open(mp3, "w", format="mp3") as container:
        stream = container.add_stream("mp3", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)

    def synchsafe(n: int) -> bytes:
        return bytes([(n >> 21) & 127, (n >> 14) & 127, (n >> 7) & 127, n & 127])

    title = b"\x03\xff\xfe\xc3\x28 title"
    frame_bytes = b"TIT2" + synchsafe(len(title)) + b"\x00\x00" + title
    tagged = b"ID3\x04\x00\x00" + synchsafe(len(frame_bytes)) + frame_bytes + mp3.getvalue()
    reply = post(server, tagged, name="tagged.mp3")
    assert reply.status_code == 200, reply.text
    assert said_go_forward(reply.json()["text"])

    # A WAV whose audio is in a codec nobody knows (format tag 0x1234).
    pcm = np.zeros(16000, np.int16).tobytes()
    fmt = struct.pack("<HHIIHH", 0x1234, 1, 16000, 32000, 2, 16)
    wav = (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(pcm)) + b"WAVE" + b"fmt "
           + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm)
    reply = post(server, wav, name="odd.wav")
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "unsupported_audio"
    assert "codec" in reply.json()["error"]["message"]


def test_nan_and_infinite_samples_are_read_as_silence(server: ServerProcess) -> None:
    samples, _ = sf.read(REAL / "en_goforward.wav", dtype="float32")
    broken = np.concatenate([np.full(8000, np.nan, np.float32), samples,
                             np.full(4000, np.inf, np.float32)])
    reply = post(server, wav_bytes(broken, subtype="FLOAT"), name="nan.wav")
    assert reply.status_code == 200, reply.text
    assert said_go_forward(reply.json()["text"])


# ---- WebSocket clients that misbehave -------------------------------------------------------


def test_deeply_nested_json_is_bad_json_without_a_traceback(server: ServerProcess) -> None:
    with server.ws() as ws:
        for _ in range(20):
            ws.send("[" * 100_000 + "]" * 100_000)
        replies = [recv(ws) for _ in range(20)]
    assert all(isinstance(r, protocol.Error) and r.code == protocol.BAD_JSON for r in replies)
    assert server.log_path is not None
    assert "Traceback" not in server.log_path.read_text(errors="replace")


def test_a_client_that_never_reads_its_replies_is_disconnected(server: ServerProcess) -> None:
    sock = socket.socket()
    # A tiny receive window, so the server's replies pile up on its side at once.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    closed = False
    frame = json.dumps({"type": "start", "task_id": "x" * 2000, "source": "nowhere"})
    with connect(server.ws_url, sock=sock, open_timeout=10) as ws:
        try:
            for _ in range(20_000):
                ws.send(frame)
        except (ConnectionClosed, OSError):
            closed = True
    if not closed:
        # The frames are all sent; the server must still cut the connection off.
        end = time.monotonic() + 30
        while time.monotonic() < end and server.health()["connections"] > 0:
            time.sleep(0.2)
        closed = server.health()["connections"] == 0
    sock.close()
    assert closed
    assert server.health()["status"] == "ok"


def test_idle_connections_are_closed_and_give_way_to_new_clients(
    server: ServerProcess,
) -> None:
    stack = contextlib.ExitStack()
    idle = [stack.enter_context(server.ws()) for _ in range(3)]
    wait_for_connections(server, 3)
    time.sleep(5.5)  # idle long enough to be closed to make room
    with server.ws() as newcomer:
        send(newcomer, protocol.Start(task_id="new", source="mic"))
        assert isinstance(recv(newcomer), protocol.Accepted)
        send(newcomer, protocol.Cancel(task_id="new"))
        recv(newcomer)
        assert sum(is_closed(ws, within=0.5) for ws in idle) == 1  # one made room
    # The others are closed once they have been idle for the idle timeout.
    assert all(is_closed(ws, within=IDLE_CONNECTION_S + 5) for ws in idle)
    stack.close()
    wait_for_connections(server, 0)


def is_closed(ws, within: float) -> bool:
    try:
        ws.recv(timeout=within)
    except ConnectionClosed:
        return True
    except TimeoutError:
        return False
    return False


def test_a_mic_stream_without_speech_is_closed_even_if_it_trickles(
    server: ServerProcess,
) -> None:
    with server.ws() as ws:
        send(ws, protocol.Start(task_id="trickle", source="mic"))
        assert isinstance(recv(ws), protocol.Accepted)
        answer = None
        end = time.monotonic() + STREAM_IDLE_S + 10
        while answer is None and time.monotonic() < end:
            ws.send(b"\x00\x00")  # one silent sample now and then keeps frames coming
            try:
                answer = recv(ws, timeout=0.5)
            except TimeoutError:
                pass
        assert isinstance(answer, protocol.Error), answer
        assert answer.code == protocol.STREAM_TIMEOUT
        assert "no speech" in answer.message


def test_audio_in_two_byte_frames_is_transcribed_whole(server: ServerProcess) -> None:
    data, _ = sf.read(REAL / "en_goforward.wav", dtype="int16")
    pcm = data.tobytes()
    with server.ws() as ws:
        send(ws, protocol.Start(task_id="tiny", source="mic"))
        assert isinstance(recv(ws), protocol.Accepted)
        for i in range(0, len(pcm), 2):
            ws.send(pcm[i : i + 2])
        send(ws, protocol.End(task_id="tiny"))
        result = recv_until(ws, (protocol.Result, protocol.Error))
    assert isinstance(result, protocol.Result), result
    assert said_go_forward(result.text)
