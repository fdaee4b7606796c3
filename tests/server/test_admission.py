"""Admission by expected wait: work that would wait longer than its client wants is refused at
once with a retry time, work left waiting past that is answered, and accepted work completes.

One worker, kept busy by a job that hangs (the worker's test-only fault hook), stands for a
server that cannot keep up.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from server_helpers import (
    REAL,
    ServerProcess,
    dictate,
    recv,
    send,
    silence,
    start_server,
    with_marker,
    words,
)

from capswriter.wire import protocol

GO_FORWARD = ["go", "forward", "ten", "meters"]
HANG_S = 6.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("admission"), workers=1,
                       args=["--no-dictation-worker"], env={
        "CAPSWRITER_SERVER_JOB_TIMEOUT_S": str(HANG_S),
        "CAPSWRITER_SERVER_JOB_TIMEOUT_PER_AUDIO_S": "0",
        "CAPSWRITER_SERVER_JOB_RETRY_LIMIT": "0",
    })
    yield srv
    srv.stop()


def post(server: ServerProcess, max_wait: float | None = None) -> httpx.Response:
    headers = {} if max_wait is None else {"X-CapsWriter-Max-Wait": str(max_wait)}
    return httpx.post(f"{server.http}/v1/audio/transcriptions",
                      files={"file": ("clip.wav", (REAL / "en_goforward.wav").read_bytes())},
                      headers=headers, timeout=120)


def hang_the_worker(server: ServerProcess, ws) -> None:
    """A dictation that hangs its worker until the job deadline kills it."""
    dictate(ws, "hang", with_marker("hang", silence(1.0)))
    server.wait_until(lambda h: h["jobs"]["running"] == 1)


def test_work_left_waiting_past_its_max_wait_is_answered_with_a_retry_time(
    server: ServerProcess,
) -> None:
    with server.ws() as ws:
        hang_the_worker(server, ws)
        # Nothing is queued, so it is admitted; the hung worker then never takes it.
        reply = post(server, max_wait=1.5)
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"]["code"] == protocol.QUEUE_TIMEOUT
        assert int(reply.headers["Retry-After"]) >= 1
        # The same over the WebSocket: an error the client can retry on.
        send(ws, protocol.Start(task_id="waits", source="file",
                                options={"filename": "a.wav", "max_wait_s": 1.5}))
        assert isinstance(recv(ws), protocol.Accepted)
        ws.send((REAL / "en_goforward.wav").read_bytes())
        send(ws, protocol.End(task_id="waits"))
        answer = recv(ws, timeout=30)
        while not isinstance(answer, protocol.Error):
            answer = recv(ws, timeout=30)
        assert answer.code in (protocol.QUEUE_TIMEOUT, protocol.JOB_TIMEOUT)
        server.wait_until(lambda h: h["jobs"]["running"] == 0 and h["workers_ready"] == 1,
                          timeout=60)


def test_work_that_would_wait_too_long_is_refused_at_once_and_queued_work_completes(
    server: ServerProcess,
) -> None:
    results: dict[int, httpx.Response] = {}

    def patient(i: int) -> None:
        results[i] = post(server, max_wait=60)

    with server.ws() as ws:
        hang_the_worker(server, ws)
        threads = [threading.Thread(target=patient, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        server.wait_until(lambda h: h["queues"]["file_segments"] == 4)
        hurried = post(server, max_wait=1)
        assert hurried.status_code == 503
        error = hurried.json()["error"]
        assert error["code"] == "busy"
        assert error["eta_seconds"] > 1
        assert int(hurried.headers["Retry-After"]) >= 1
        # A dictation client asking to wait no more than a second hears busy at its start too.
        send(ws, protocol.Start(task_id="hurry", source="file",
                                options={"filename": "b.wav", "max_wait_s": 1}))
        busy = recv(ws)
        assert isinstance(busy, protocol.Busy), busy
        assert busy.eta_seconds is not None and busy.eta_seconds > 1
        for t in threads:
            t.join(timeout=120)
    # The hung job is killed at its deadline; everything accepted is then transcribed.
    assert sorted(results) == [0, 1, 2, 3]
    for reply in results.values():
        assert reply.status_code == 200, reply.text
        assert words(reply.json()["text"]) in (GO_FORWARD, ["go", "forward", "10", "meters"])


def test_a_bad_max_wait_is_a_clear_400(server: ServerProcess) -> None:
    reply = post(server, max_wait="soon")  # type: ignore[arg-type]
    assert reply.status_code == 400
    assert "X-CapsWriter-Max-Wait" in reply.json()["error"]["message"] or \
        "x-capswriter-max-wait" in reply.json()["error"]["message"]


def test_the_cost_model_learns_a_fixed_cost_and_a_cost_per_second() -> None:
    from capswriter.server.admission import CostModel

    model = CostModel(fixed=5.0, per_second=1.0)
    for audio in [1, 3, 10, 28, 2, 15, 5, 25] * 10:
        model.learn(audio, 0.7 + 0.04 * audio)
    assert model.fixed == pytest.approx(0.7, abs=0.01)
    assert model.per_second == pytest.approx(0.04, abs=0.001)
    # A thousand 1 s clips cost far more than one 1000 s file.
    assert 1000 * model.cost(1) > 10 * model.cost(1000)
