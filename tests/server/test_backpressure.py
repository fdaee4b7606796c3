"""Bounded queues under a flood: the excess is refused with busy/503, everything accepted
completes, and waiting clients hear where they stand."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import httpx
import pytest
from server_helpers import (
    REAL,
    ServerProcess,
    joined_wav,
    pcm16,
    recv,
    recv_until,
    send,
    start_server,
    words,
)
from websockets.exceptions import ConnectionClosed

from capswriter.errors import QueueFull
from capswriter.wire import protocol
from capswriter.wire.client import transcribe_bytes

JFK = words("And so my fellow Americans, ask not what your country can do for you, "
            "ask what you can do for your country.")


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose queues hold only a few jobs, so a handful of clients floods it."""
    srv = start_server(tmp_path_factory.mktemp("small"), env={
        "CAPSWRITER_SERVER_MAX_DICTATION_QUEUE": "3",
        "CAPSWRITER_SERVER_MAX_FILE_SEGMENTS_QUEUED": "2",
        "CAPSWRITER_SERVER_MAX_CONNECTIONS": "12",
    })
    yield srv
    srv.stop()


def long_dictation(ws, task_id: str, outcome: dict, statuses: dict) -> None:
    """One client: stream 22 s of speech as one piece, then collect what comes back."""
    send(ws, protocol.Start(task_id=task_id, options={"early_decoding": False}))
    first = recv(ws)
    if isinstance(first, protocol.Busy):
        outcome[task_id] = first
        return
    assert isinstance(first, protocol.Accepted), first
    ws.send(pcm16("en_jfk.wav") * 2)
    send(ws, protocol.End(task_id=task_id))
    seen: list[protocol.Message] = []
    outcome[task_id] = recv_until(ws, (protocol.Result, protocol.Error, protocol.Busy),
                                  timeout=240, seen=seen)
    statuses[task_id] = [m for m in seen if isinstance(m, protocol.QueueStatus)]


def test_a_flood_of_dictations_gets_busy_replies_and_every_accepted_job_completes(
    small_server: ServerProcess,
) -> None:
    clients = 9
    outcome: dict[str, protocol.Message] = {}
    statuses: dict[str, list[protocol.QueueStatus]] = {}
    with contextlib.ExitStack() as stack:
        connections = [stack.enter_context(small_server.ws()) for _ in range(clients)]
        threads = [threading.Thread(target=long_dictation,
                                    args=(ws, f"c{i}", outcome, statuses))
                   for i, ws in enumerate(connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    busy = [m for m in outcome.values() if isinstance(m, protocol.Busy)]
    results = [m for m in outcome.values() if isinstance(m, protocol.Result)]
    errors = [m for m in outcome.values() if isinstance(m, protocol.Error)]
    assert len(outcome) == clients and not errors, errors
    assert busy and all(b.retry_after >= 1.0 and b.message for b in busy)
    # At least a full dictation queue's worth is accepted, and every accepted job completes.
    assert len(results) >= 3
    assert all(words(r.text) == JFK + JFK for r in results)
    # Clients that waited heard their position, and it only ever went down.
    waited = [s for s in statuses.values() if s]
    assert waited
    for status in waited:
        positions = [s.position for s in status]
        assert positions == sorted(positions, reverse=True)
        assert all(s.eta_seconds >= 0 and s.jobs_ahead == s.position - 1 for s in status)
    health = small_server.health()
    assert health["queues"]["dictation"] == 0 and health["jobs"]["failed"] == 0


def test_http_uploads_beyond_the_queue_get_503_with_retry_after(
    small_server: ServerProcess,
) -> None:
    small_server.wait_until(lambda h: h["jobs"]["running"] == 0)
    audio = joined_wav(["en_jfk.wav", "en_jfk.wav", "en_jfk.wav", "en_goforward.wav"])
    replies: list[httpx.Response] = []

    def post() -> None:
        replies.append(httpx.post(
            f"{small_server.http}/v1/audio/transcriptions",
            files={"file": ("talk.wav", audio)}, data={"response_format": "json"}, timeout=240,
        ))

    threads = [threading.Thread(target=post) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    refused = [r for r in replies if r.status_code == 503]
    accepted = [r for r in replies if r.status_code == 200]
    assert len(replies) == 5 and refused and accepted
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
    assert all(r.json()["error"]["code"] == "busy" for r in refused)
    assert all(words(r.json()["text"])[:3] == ["and", "so", "my"] for r in accepted)
    metrics = httpx.get(f"{small_server.http}/metrics").text
    assert 'capswriter_rejected_total{kind="file"}' in metrics


def test_connections_beyond_the_cap_are_told_busy_and_closed(small_server: ServerProcess) -> None:
    with contextlib.ExitStack() as stack:
        for _ in range(12):
            stack.enter_context(small_server.ws())
        small_server.wait_until(lambda h: h["connections"] == 12)
        with small_server.ws() as extra:
            reply = recv(extra, timeout=10)
            assert isinstance(reply, protocol.Busy) and "too many connections" in reply.message
            with pytest.raises(ConnectionClosed) as info:
                extra.recv(timeout=10)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1013
        # The client helper turns that into QueueFull with the server's advice, not "no server".
        with pytest.raises(QueueFull) as full:
            transcribe_bytes(small_server.ws_url, (REAL / "en_goforward.wav").read_bytes())
        assert full.value.retry_after == 5.0
    # Once they are gone, new clients are served again.
    small_server.wait_until(lambda h: h["connections"] == 0)
    with small_server.ws() as ws:
        send(ws, protocol.Start(task_id="after-cap"))
        assert isinstance(recv(ws), protocol.Accepted)
