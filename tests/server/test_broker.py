"""Broker mode end to end: a real redis-server, a server with no local workers, and remote
workers in their own processes (really killed, really stopped), decoding real speech.

The tests share one Redis, one server and the worker fleet; each starts the workers it needs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from broker_helpers import Fleet, RedisServer, remote_workers, start_redis
from server_helpers import (
    ServerProcess,
    dictate,
    joined_wav,
    pcm16,
    recv_until,
    send_file,
    start_server,
    with_marker,
    words,
)

from capswriter.config import PROJECT_ROOT
from capswriter.wire import broker, protocol

CLIPS = ["en_jfk.wav", "en_goforward.wav", "en_sr_one_two_three.wav", "en_jfk.wav",
         "en_ljspeech_LJ002-0020.wav", "en_jfk.wav"]
# About 150 s of speech: six segments or more, enough to keep three workers busy.
LONG_FILE = joined_wav(CLIPS * 3)
GO_FORWARD = ["go", "forward", "10", "meters"]
# Short, so that a dead worker's job is taken over within seconds; five missed beats, so a
# busy machine does not make a live worker look dead.
RECLAIM_IDLE_S = "5"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return {"CAPSWRITER_SERVER_BROKER_RECLAIM_IDLE_S": RECLAIM_IDLE_S}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer,
           env: dict[str, str]) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("server"), workers=0, env=env,
                       args=["--broker", redis_server.url])
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer,
          env: dict[str, str]) -> Iterator[Fleet]:
    workers = Fleet(redis_server.url, tmp_path_factory.mktemp("workers"), env)
    yield workers
    workers.stop_all()


@pytest.fixture(scope="module")
def long_file_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    """LONG_FILE transcribed in this process: what every broker run must return."""
    from capswriter.asr.engine import Engine
    from capswriter.config import AsrSettings
    from capswriter.files.pipeline import transcribe_file
    from capswriter.files.segment import Segmenter

    path = tmp_path_factory.mktemp("local") / "long.wav"
    path.write_bytes(LONG_FILE)
    engine = Engine.load(AsrSettings(num_threads=1), PROJECT_ROOT / "models")
    segmenter = Segmenter(PROJECT_ROOT / "models" / "silero-vad" / "silero_vad.onnx")
    return transcribe_file(path, engine, segmenter).text


def transcribe_long_file(server: ServerProcess, task_id: str,
                         during: callable | None = None) -> protocol.Result:
    """Send LONG_FILE; call ``during(progress)`` at the first progress; return the result."""
    seen: list[protocol.Message] = []
    with server.ws() as ws:
        send_file(ws, task_id, LONG_FILE)
        if during is not None:
            first = recv_until(ws, (protocol.Progress, protocol.Result, protocol.Error),
                               timeout=240, seen=seen)
            assert isinstance(first, protocol.Progress), first
            during(first)
        result = recv_until(ws, (protocol.Result, protocol.Error), timeout=300, seen=seen)
    assert isinstance(result, protocol.Result), result
    return result


def busy_worker(server: ServerProcess, names: set[str] | None = None) -> dict:
    """Wait for a remote worker (one of ``names``) decoding a job, and return its record."""
    health = server.wait_until(lambda h: any(
        w["state"] == "busy" and w["job"] and (names is None or w["name"] in names)
        for w in remote_workers(h)), timeout=120)
    return next(w for w in remote_workers(health) if w["state"] == "busy" and w["job"]
                and (names is None or w["name"] in names))


def test_files_and_dictations_complete_on_broker_workers_spread_and_dictation_first(
    server: ServerProcess, fleet: Fleet, long_file_text: str
) -> None:
    fleet.ensure(server, 3)
    order: list[str] = []
    results: dict[str, protocol.Result] = {}

    with server.ws() as ws_file, server.ws() as ws_dictation:
        def collect(ws, task_id: str) -> None:
            result = recv_until(ws, (protocol.Result, protocol.Error), timeout=300)
            assert isinstance(result, protocol.Result), result
            results[task_id] = result
            order.append(task_id)

        send_file(ws_file, "file", LONG_FILE)
        # Every worker holds a segment and more wait in the server's queue: the dictation
        # must go ahead of them.
        server.wait_until(lambda h: h["jobs"]["running"] == 3
                          and h["queues"]["file_segments"] > 0, timeout=120)
        dictate(ws_dictation, "dictation", pcm16("en_goforward.wav"))
        threads = [threading.Thread(target=collect, args=(ws, t))
                   for ws, t in ((ws_file, "file"), (ws_dictation, "dictation"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=320)

    assert order == ["dictation", "file"]
    assert words(results["dictation"].text) == GO_FORWARD
    assert results["file"].text == long_file_text
    records = server.jobs("file")
    assert len(records) >= 6 and all(r["state"] == "done" for r in records)
    # Remote workers are numbered from 100; every one of the three took segments.
    assert {w for r in records for w in r["workers_tried"]} == {100, 101, 102}
    assert server.health()["broker"]["duplicates_ignored"] == 0
    # The heartbeats count the segments and the dictation.
    server.wait_until(lambda h: sum(w["jobs_done"] for w in remote_workers(h))
                      >= len(records) + 1, timeout=30)


def test_health_metrics_and_admission_see_the_shared_queue(
    server: ServerProcess, fleet: Fleet, redis_server: RedisServer
) -> None:
    fleet.ensure(server, 3)
    health = server.health()
    assert health["status"] == "ok" and health["workers"] == []  # no local worker
    assert health["workers_ready"] == 3
    b = health["broker"]
    assert b["connected"] and "***" not in b["url"]
    assert set(b["streams"]) == {"dictation", "files"}
    assert b["streams"]["files"] == {"length": 0, "pending": 0}
    assert b["consumers"] >= 3 and b["dead_letters"] == 0
    for worker in remote_workers(health):
        assert worker["state"] == "idle" and worker["model"] == "whisper-base"
        assert 0 < worker["rss_bytes"] < 1024 * 2**20
        assert worker["heartbeat_age_s"] < broker.HEARTBEAT_TTL_S and worker["pid"] > 0

    metrics = httpx.get(f"{server.http}/metrics", timeout=10).text
    assert "capswriter_workers_ready 3.0" in metrics
    assert 'capswriter_broker_stream_length{stream="files"} 0.0' in metrics
    assert "capswriter_broker_up 1.0" in metrics
    for worker in fleet.live():
        assert f'capswriter_remote_worker_rss_bytes{{worker="{worker.name}"}}' in metrics
        assert f'capswriter_remote_worker_jobs_done{{worker="{worker.name}"}}' in metrics

    # Admission counts the remote workers: while they are busy, a file waiting behind
    # another gets queue_status with its place and an estimate.
    seen: list[protocol.Message] = []
    with server.ws() as first, server.ws() as second:
        send_file(first, "ahead", LONG_FILE)
        server.wait_until(lambda h: h["queues"]["file_segments"] > 0, timeout=120)
        send_file(second, "behind", joined_wav(["en_goforward.wav"]))
        result = recv_until(second, (protocol.Result, protocol.Error), timeout=300, seen=seen)
        assert isinstance(result, protocol.Result), result
        assert words(result.text) == GO_FORWARD
        statuses = [m for m in seen if isinstance(m, protocol.QueueStatus)]
        assert statuses and statuses[0].position >= 1 and statuses[0].eta_seconds > 0
        recv_until(first, (protocol.Result,), timeout=300)
    # Once done, Redis holds no job: acknowledged entries are deleted.
    client = redis_server.client()
    assert client.xlen(broker.FILE_STREAM) == 0 and client.xlen(broker.DICTATION_STREAM) == 0


def test_a_worker_added_during_a_long_file_takes_segments_and_a_removed_one_finishes_first(
    server: ServerProcess, fleet: Fleet, long_file_text: str
) -> None:
    fleet.ensure(server, 3)
    stopped: list = []
    added: list = []

    def scale(_: protocol.Progress) -> None:
        # Two workers leave gracefully while each decodes a segment; a new one joins.
        busy = {busy_worker(server)["name"]}
        busy.add(busy_worker(server, {w.name for w in fleet.live()} - busy)["name"])
        for name in busy:
            worker = fleet.by_name(name)
            worker.proc.send_signal(signal.SIGTERM)
            stopped.append(worker)
        added.append(fleet.start())

    result = transcribe_long_file(server, "scaled", during=scale)
    assert result.text == long_file_text
    for worker in stopped:
        assert worker.proc.wait(timeout=60) == 0
        assert "stopped after" in worker.log()
    records = server.jobs("scaled")
    # Nothing was taken over from the leaving workers: each segment was decoded once.
    assert all(r["attempts"] == 1 and r["state"] == "done" for r in records)
    assert server.health()["broker"]["duplicates_ignored"] == 0
    numbers = {w["name"]: w["id"] for w in remote_workers(server.health())}
    assert added[0].name in numbers, "the added worker never became ready"
    assert numbers[added[0].name] in {w for r in records for w in r["workers_tried"]}
    # The leaving workers said goodbye: no heartbeat and no consumer left behind.
    server.wait_until(lambda h: not {w.name for w in stopped}
                      & {w["name"] for w in remote_workers(h)}, timeout=30)


def test_a_worker_killed_mid_job_has_its_job_finished_by_another_without_duplicates(
    server: ServerProcess, fleet: Fleet, redis_server: RedisServer, long_file_text: str
) -> None:
    fleet.ensure(server, 2)
    client = redis_server.client()
    killed: dict[str, str] = {}

    def kill(_: protocol.Progress) -> None:
        # The victim is a worker that holds a segment right now, as Redis sees it.
        server.wait_until(lambda h: h["broker"]["streams"]["files"]["pending"] > 0, timeout=60)
        pending = client.xpending_range(broker.FILE_STREAM, broker.GROUP, "-", "+", 1)[0]
        name, entry = pending["consumer"].decode(), pending["message_id"]
        killed["number"] = next(w["id"] for w in remote_workers(server.health())
                                if w["name"] == name)
        fleet.by_name(name).proc.kill()
        fleet.by_name(name).proc.wait()
        # It died holding the entry: still pending, still its own.
        still = client.xpending_range(broker.FILE_STREAM, broker.GROUP, entry, entry, 1)
        assert still and still[0]["consumer"].decode() == name
        killed["job"] = client.xrange(broker.FILE_STREAM, entry, entry)[0][1][b"id"].decode()

    result = transcribe_long_file(server, "killed", during=kill)
    assert result.text == long_file_text  # every segment once: no lost, no repeated text
    records = {r["id"]: r for r in server.jobs("killed")}
    assert all(r["state"] == "done" for r in records.values())
    # The segment the victim held was finished by another worker.
    orphan = records[int(killed["job"].split(":")[1])]
    assert orphan["workers_tried"] and killed["number"] not in orphan["workers_tried"]
    logs = "".join(w.log() for w in fleet.live())
    assert f"reclaimed {killed['job']}" in logs


def test_redis_restarted_during_a_run_loses_no_accepted_job(
    server: ServerProcess, fleet: Fleet, redis_server: RedisServer, long_file_text: str
) -> None:
    fleet.ensure(server, 2)

    def restart(_: protocol.Progress) -> None:
        server.wait_until(lambda h: h["queues"]["file_segments"] > 0
                          and h["broker"]["in_flight"] > 0, timeout=60)
        redis_server.kill()
        server.wait_until(lambda h: not h["broker"]["connected"], timeout=30)
        redis_server.start()

    result = transcribe_long_file(server, "restarted", during=restart)
    assert result.text == long_file_text
    health = server.wait_until(lambda h: h["broker"]["connected"]
                               and h["workers_ready"] == 2, timeout=60)
    assert health["jobs"]["failed"] == 0
    # Work goes on after the restart, dictation included.
    with server.ws() as ws:
        dictate(ws, "after-restart", pcm16("en_goforward.wav"))
        reply = recv_until(ws, (protocol.Result, protocol.Error), timeout=120)
    assert isinstance(reply, protocol.Result) and words(reply.text) == GO_FORWARD


def test_a_job_that_kills_its_workers_goes_to_the_dead_letter_stream_and_the_client_is_told(
    server: ServerProcess, fleet: Fleet, redis_server: RedisServer
) -> None:
    fleet.ensure(server, 3)
    with server.ws() as ws:
        dictate(ws, "poison", with_marker("crash", pcm16("en_goforward.wav")))
        reply = recv_until(ws, (protocol.Result, protocol.Error), timeout=120)
    assert isinstance(reply, protocol.Error) and reply.code == protocol.POISON_JOB, reply
    assert "will not be retried" in reply.message
    dead = redis_server.client().xrange(broker.DEAD_LETTER_STREAM)
    assert len(dead) == 1
    fields = dead[0][1]
    assert int(fields[b"deliveries"]) == 3 and b"never finished" in fields[b"reason"]
    assert fields[b"kind"] == b"dictation"
    # Two workers died on it (delivery 1 and 2); the third sent it to the dead letters.
    assert len(fleet.live()) == 1
    # The survivor still serves.
    with server.ws() as ws:
        dictate(ws, "after-poison", pcm16("en_goforward.wav"))
        reply = recv_until(ws, (protocol.Result, protocol.Error), timeout=120)
    assert isinstance(reply, protocol.Result) and words(reply.text) == GO_FORWARD


def test_a_broker_beyond_loopback_needs_a_password(tmp_path: Path) -> None:
    from capswriter.errors import ConfigError

    with pytest.raises(ConfigError, match="without a password"):
        broker.check_broker_url("redis://10.1.2.3:6379/0")
    broker.check_broker_url("rediss://:secret@10.1.2.3:6379/0")
    broker.check_broker_url("redis://127.0.0.1:6379/0")
    assert broker.redact("redis://:secret@h:1/0") == "redis://:***@h:1/0"


def test_job_and_result_messages_come_back_from_redis_as_they_went_in(
    redis_server: RedisServer,
) -> None:
    import numpy as np

    client = redis_server.client()
    samples = np.linspace(-1, 1, 16000, dtype=np.float32)
    job = broker.BrokerJob(id="srv:7", kind="file", samples=samples, reply_to="r",
                           language="en", speech=[(0, 8000), (9000, 16000)], time_limit_s=42.5)
    entry = client.xadd("roundtrip:jobs", job.to_fields())
    back = broker.BrokerJob.from_fields(client.xrange("roundtrip:jobs", entry, entry)[0][1])
    assert back.stream == broker.FILE_STREAM and back.speech == job.speech
    assert np.array_equal(back.samples, samples) and back.time_limit_s == 42.5
    result = broker.BrokerResult("srv:7", broker.DONE, "w9", {"text": "hi"}, dispatch_delay=0.002)
    entry = client.xadd("roundtrip:results", result.to_fields())
    got = broker.BrokerResult.from_fields(client.xrange("roundtrip:results", entry, entry)[0][1])
    assert (got.job_id, got.status, got.worker, got.transcript) == ("srv:7", "done", "w9",
                                                                    {"text": "hi"})
    client.delete("roundtrip:jobs", "roundtrip:results")
