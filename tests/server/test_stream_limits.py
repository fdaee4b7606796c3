"""Limits on what open streams may hold: a stream that goes quiet is closed, and file bytes
held in memory over all clients stay under a budget (the excess hears busy, not an OOM)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from server_helpers import (
    REAL,
    ServerProcess,
    pcm16,
    recv,
    recv_until,
    send,
    send_file,
    silence,
    start_server,
    words,
)

from capswriter.wire import protocol

BUDGET = 3_800_000
UPLOAD_LIMIT = 5_000_000
JFK_START = ["and", "so", "my", "fellow", "americans"]


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("limits"), workers=1, env={
        "CAPSWRITER_SERVER_STREAM_IDLE_TIMEOUT_S": "2",
        "CAPSWRITER_SERVER_MAX_BUFFERED_UPLOAD_BYTES": str(BUDGET),
        "CAPSWRITER_SERVER_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "CAPSWRITER_SERVER_MAX_DICTATION_QUEUE": "2",
    })
    yield srv
    srv.stop()


def test_a_stream_that_goes_quiet_is_closed_and_the_connection_serves_on(
    limited_server: ServerProcess,
) -> None:
    with limited_server.ws() as ws:
        send(ws, protocol.Start(task_id="stuck", source="mic"))
        assert isinstance(recv(ws), protocol.Accepted)
        ws.send(pcm16("en_goforward.wav")[:32000])  # one second, then nothing
        started = time.monotonic()
        reply = recv_until(ws, (protocol.Error, protocol.Result), timeout=30)
        assert isinstance(reply, protocol.Error), reply
        assert reply.code == protocol.STREAM_TIMEOUT and reply.task_id == "stuck"
        assert 2.0 <= time.monotonic() - started < 15
        health = limited_server.wait_until(lambda h: h["open_tasks"] == 0)
        assert health["jobs"]["running"] == 0
        # The same connection dictates again, and the one worker is free for it.
        send(ws, protocol.Start(task_id="again", source="mic"))
        assert isinstance(recv(ws), protocol.Accepted)
        ws.send(pcm16("en_jfk.wav"))
        send(ws, protocol.End(task_id="again"))
        result = recv_until(ws, (protocol.Result, protocol.Error))
        assert isinstance(result, protocol.Result), result
        assert words(result.text)[:5] == JFK_START


def test_uploads_past_the_memory_budget_hear_busy_and_the_held_one_completes(
    limited_server: ServerProcess,
) -> None:
    # Studio-format WAVs (48 kHz stereo float) are six times their decoded size, so each fits
    # the budget with its decoded audio (charged before decoding) but the two together do not.
    big = studio_wav("en_jfk.wav", 8.2)
    small = studio_wav("en_goforward.wav", 4.3)
    assert 0.75 * BUDGET < len(big) < BUDGET and len(big) + len(small) > BUDGET
    with limited_server.ws() as holder, limited_server.ws() as other:
        send(holder, protocol.Start(task_id="big", source="file"))
        assert isinstance(recv(holder), protocol.Accepted)
        for i in range(0, len(big), 65536):
            holder.send(big[i : i + 65536])
        limited_server.wait_until(lambda h: h["upload_bytes"] == len(big))

        # Another WebSocket upload: refused once it would pass the budget.
        send(other, protocol.Start(task_id="small", source="file"))
        assert isinstance(recv(other), protocol.Accepted)
        other.send(small)
        busy = recv(other)
        assert isinstance(busy, protocol.Busy) and busy.task_id == "small", busy
        assert busy.retry_after == 5.0 and "uploads" in busy.message
        # An HTTP upload too: 503 with Retry-After, before its bytes are read into memory.
        reply = httpx.post(f"{limited_server.http}/v1/audio/transcriptions",
                           files={"file": ("small.wav", small)}, timeout=60)
        assert reply.status_code == 503 and reply.headers["Retry-After"] == "5"
        assert reply.json()["error"]["code"] == "busy"

        # The upload already held loses nothing: it ends, decodes and gives its text.
        send(holder, protocol.End(task_id="big"))
        result = recv_until(holder, (protocol.Result, protocol.Error), timeout=120)
        assert isinstance(result, protocol.Result), result
        assert words(result.text)[:5] == JFK_START
        limited_server.wait_until(lambda h: h["upload_bytes"] == 0)

        # With the budget free again, the refused client's retry goes through.
        send_file(other, "small-again", small)
        result = recv_until(other, (protocol.Result, protocol.Error), timeout=120)
        assert isinstance(result, protocol.Result), result
        assert words(result.text)[:2] == ["go", "forward"]


def studio_wav(name: str, seconds: float) -> bytes:
    """A real clip as a 48 kHz stereo 32-bit float WAV, cut or padded to ``seconds``."""
    import io

    import numpy as np
    import soundfile as sf
    import soxr

    data, rate = sf.read(REAL / name, dtype="float32")
    data = soxr.resample(data, rate, 48000)
    data = np.pad(data, (0, max(0, int(seconds * 48000) - len(data))))[: int(seconds * 48000)]
    buffer = io.BytesIO()
    sf.write(buffer, np.stack([data, data], axis=1), 48000, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def test_a_closed_connection_gives_its_buffered_bytes_back(
    limited_server: ServerProcess,
) -> None:
    with limited_server.ws() as ws:
        send(ws, protocol.Start(task_id="abandoned", source="file"))
        assert isinstance(recv(ws), protocol.Accepted)
        ws.send(b"\0" * 1_000_000)
        limited_server.wait_until(lambda h: h["upload_bytes"] == 1_000_000)
    health = limited_server.wait_until(lambda h: h["upload_bytes"] == 0)
    assert health["open_tasks"] == 0


def test_http_bodies_past_the_upload_limit_are_cut_off_while_they_arrive(
    limited_server: ServerProcess,
) -> None:
    url = f"{limited_server.http}/v1/audio/transcriptions"
    oversized = b"\0" * (UPLOAD_LIMIT + 2 * 1024 * 1024)
    # Announced by Content-Length: refused before a byte of it is read.
    reply = httpx.post(url, files={"file": ("big.wav", oversized)}, timeout=60)
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "too_large"

    # Sent chunked, with no length up front: counted as it comes and cut off.
    def chunks():
        yield (b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
               b"Content-Type: audio/wav\r\n\r\n")
        for start in range(0, len(oversized), 256 * 1024):
            yield oversized[start : start + 256 * 1024]
        yield b"\r\n--x--\r\n"

    reply = httpx.post(url, content=chunks(), timeout=60,
                       headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "too_large"
    assert limited_server.health()["upload_bytes"] == 0


def test_a_dictation_held_for_the_end_stops_when_the_queue_could_not_take_it(
    limited_server: ServerProcess,
) -> None:
    # 2 queue places: without early decoding at most 2 held pieces (about 48 s) fit.
    speech = pcm16("en_jfk.wav") + silence(1.0)
    with limited_server.ws() as ws:
        send(ws, protocol.Start(task_id="long", source="mic",
                                options={"early_decoding": False}))
        assert isinstance(recv(ws), protocol.Accepted)
        for _ in range(8):  # about 96 s
            ws.send(speech)
        reply = recv_until(ws, (protocol.Error, protocol.Result, protocol.Busy), timeout=60)
        assert isinstance(reply, protocol.Error) and reply.code == protocol.TOO_LARGE, reply
        assert "early decoding" in reply.message
    health = limited_server.wait_until(lambda h: h["open_tasks"] == 0)
    assert health["upload_bytes"] == 0
