"""Broker mode end to end: a real redis-server, a server with no local workers, and remote
workers in their own processes (really killed, really stopped), decoding real speech.

The tests share one Redis, one server and the worker fleet; each starts the workers it needs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from broker_helpers import Fleet, RedisServer, remote_workers, start_redis
from server_helpers import (
    REAL,
    ServerProcess,
    dictate,
    free_port,
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
    assert b["connected"] and b["url"] == broker.redact(redis_server.url)
    assert "***" in b["url"] and redis_server.password not in b["url"]
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


def test_a_broker_needs_a_password_that_redis_enforces(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    from capswriter.errors import ConfigError

    with pytest.raises(ConfigError, match="without a password"):
        broker.check_broker_url("redis://127.0.0.1:6379/0")
    with pytest.raises(ConfigError, match="without a password"):
        broker.check_broker_url("redis://redis-host.invalid:6379/0")
    broker.check_broker_url("redis://127.0.0.1:6379/0", allow_open=True)  # explicitly waived
    broker.check_broker_url("rediss://:secret@redis-host.invalid:6379/0")
    assert broker.redact("redis://:secret@h:1/0") == "redis://:***@h:1/0"
    broker.check_password_enforced(redis_server.url)  # requirepass is set: fine

    # A password in the URL of a Redis that asks for none protects nothing: refused, by the
    # check and by the server at its start.
    open_redis = start_redis(tmp_path, password="")
    try:
        url = f"redis://:secret@127.0.0.1:{open_redis.port}/0"
        with pytest.raises(ConfigError, match="answers clients without a password"):
            broker.check_password_enforced(url)
        broker.check_password_enforced(url, allow_open=True)
        refused = subprocess.run(
            [sys.executable, "-m", "capswriter", "server", "--broker", url, "--workers", "0",
             "--port", str(free_port())],
            env={**os.environ, "CAPSWRITER_CONFIG": str(tmp_path / "none.toml"),
                 "CAPSWRITER_MODELS_DIR": str(PROJECT_ROOT / "models")},
            capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
        )
        assert refused.returncode != 0
        assert "answers clients without a password" in refused.stdout + refused.stderr
    finally:
        open_redis.stop()


def test_job_and_result_messages_come_back_from_redis_as_they_went_in(
    redis_server: RedisServer,
) -> None:
    import numpy as np

    client = redis_server.client()
    samples = np.linspace(-1, 1, 16000, dtype=np.float32)
    job = broker.BrokerJob(id="0123456789ab:7", kind="file", samples=samples,
                           reply_to=broker.results_stream("0123456789ab"), language="en",
                           speech=[(0, 8000), (9000, 16000)], time_limit_s=42.5)
    entry = client.xadd("roundtrip:jobs", job.to_fields())
    back = broker.BrokerJob.from_fields(client.xrange("roundtrip:jobs", entry, entry)[0][1])
    assert back.stream == broker.FILE_STREAM and back.speech == job.speech
    assert np.array_equal(back.samples, samples) and back.time_limit_s == 42.5
    result = broker.BrokerResult("0123456789ab:7", broker.DONE, "w9", {"text": "hi"},
                                 dispatch_delay=0.002)
    entry = client.xadd("roundtrip:results", result.to_fields())
    got = broker.BrokerResult.from_fields(client.xrange("roundtrip:results", entry, entry)[0][1])
    assert (got.job_id, got.status, got.worker, got.transcript) == ("0123456789ab:7", "done", "w9",
                                                                    {"text": "hi"})
    client.delete("roundtrip:jobs", "roundtrip:results")


def test_malformed_messages_are_refused_with_a_reason(redis_server: RedisServer) -> None:
    import numpy as np

    client = redis_server.client()
    good = broker.BrokerJob(id="0123456789ab:1", kind="file",
                            samples=np.zeros(160, np.float32),
                            reply_to=broker.results_stream("0123456789ab")).to_fields()
    for change, why in (({"speech": "5"}, "speech"), ({"kind": "x"}, "kind"),
                        ({"reply_to": "capswriter:worker:w1"}, "reply_to"),
                        ({"time_limit_s": "nan"}, "time_limit_s"), ({"samples": b"abc"}, "samples"),
                        ({"speech": "[[0, 999]]"}, "speech"), ({"id": "x"}, "job id")):
        entry = client.xadd("bad:jobs", {**good, **change})
        fields = client.xrange("bad:jobs", entry, entry)[0][1]
        with pytest.raises(broker.BadEntry, match=why):
            broker.BrokerJob.from_fields(fields)
    beat = {b"name": b"w", b"state": b"idle", b"pid": b"abc", b"beat": b"1"}
    with pytest.raises(broker.BadEntry, match="pid"):
        broker.Heartbeat.from_fields(beat)
    result = broker.BrokerResult("0123456789ab:1", broker.DONE, "w1", {"text": "x"}).to_fields()
    with pytest.raises(broker.BadEntry, match="transcript"):
        broker.BrokerResult.from_fields({k.encode(): str(v).encode() for k, v in
                                         {**result, "transcript": "[1]"}.items()})
    client.delete("bad:jobs")


def test_a_reported_cost_is_clamped_to_the_time_the_job_was_out() -> None:
    from capswriter.server.broker_dispatch import BrokerDispatcher

    for reported, out, expected in ((1e9, 2.0, 2.0), (-5.0, 2.0, 0.0), (0.5, 2.0, 0.5),
                                    ("x", 2.0, 2.0)):
        result = broker.BrokerResult("0123456789ab:1", broker.DONE, "w",
                                     {"decode_seconds": reported})
        BrokerDispatcher._clamp_cost(result, out)
        assert result.transcript == {"decode_seconds": expected}


def test_bad_entries_written_to_redis_stop_neither_the_server_nor_a_worker(
    server: ServerProcess, fleet: Fleet, redis_server: RedisServer
) -> None:
    fleet.ensure(server, 2)
    client = redis_server.client()
    dead_before = client.xlen(broker.DEAD_LETTER_STREAM)
    # A heartbeat with a non-numeric field (it used to end the server's monitor thread).
    client.hset(broker.WORKER_KEY + "x", mapping={"pid": "abc", "state": "idle", "beat": "1"})
    # Jobs of the wrong shape (each used to end the worker that read it).
    server_id = server.health()["broker"]["server_id"]
    client.hset("capswriter:results:aaaaaaaaaaaa", "a", "hash")
    base = {"id": f"{server_id}:999999", "kind": "dictation", "language": "",
            "reply_to": broker.results_stream(server_id), "speech": "", "time_limit_s": "30",
            "sent_at": repr(time.time()), "samples": b"\0" * 64}
    client.xadd(broker.DICTATION_STREAM, {**base, "speech": "5"})
    client.xadd(broker.DICTATION_STREAM, {**base, "reply_to": broker.WORKER_KEY + "w1"})
    # A valid name whose key someone made a hash: the reply cannot be added to it.
    client.xadd(broker.DICTATION_STREAM, {**base, "reply_to": "capswriter:results:aaaaaaaaaaaa"})
    client.xadd(broker.DICTATION_STREAM, {**base, "kind": "dictation", "samples": b"\xff" * 7})
    # A result from a process that is no worker, with forged text and a huge cost.
    forged = {"job": f"{server_id}:1", "status": "done", "worker": "forger",
              "transcript": json.dumps({"text": "forged", "decode_seconds": 1e9})}
    client.xadd(broker.results_stream(server_id), forged)
    client.xadd(broker.results_stream(server_id), {"job": "nonsense", "status": 5})
    try:
        bad_entries_did_no_harm(server, fleet, client, dead_before)
    finally:
        client.delete(broker.WORKER_KEY + "x", "capswriter:results:aaaaaaaaaaaa")


def bad_entries_did_no_harm(server: ServerProcess, fleet: Fleet, client, dead_before: int) -> None:
    before = fleet.live()
    health = server.wait_until(lambda h: h["broker"]["rejected"].get("bad_heartbeat", 0) >= 1
                               and h["broker"]["rejected"].get("unknown_worker", 0) >= 1
                               and h["broker"]["rejected"].get("malformed", 0) >= 1, timeout=30)
    assert health["broker"]["thread_crashes"] == {}
    server.wait_until(lambda _: client.xlen(broker.DEAD_LETTER_STREAM) >= dead_before + 6,
                      timeout=60)
    dead = client.xrange(broker.DEAD_LETTER_STREAM)[dead_before:]
    reasons = b" ".join(fields[b"reason"] for _, fields in dead)
    for why in (b"speech", b"reply_to", b"samples", b"WRONGTYPE"):
        assert why in reasons, why
    assert b"forger" in reasons and b"not a registered worker" in reasons
    assert client.xlen(broker.DICTATION_STREAM) == 0  # each bad job was acknowledged
    assert all(w.proc.poll() is None for w in before)  # no worker died
    assert "x" not in {w["name"] for w in remote_workers(server.health())}
    metrics = httpx.get(f"{server.http}/metrics", timeout=10).text
    assert 'capswriter_broker_rejected_total{reason="unknown_worker"}' in metrics
    assert 'capswriter_thread_crashes_total{thread="broker-monitor"} 0.0' in metrics
    # And the service goes on.
    with server.ws() as ws:
        dictate(ws, "after-bad-entries", pcm16("en_goforward.wav"))
        reply = recv_until(ws, (protocol.Result, protocol.Error), timeout=120)
    assert isinstance(reply, protocol.Result) and words(reply.text) == GO_FORWARD


def test_a_forged_result_for_a_running_job_from_a_worker_that_does_not_hold_it_is_refused(
    server: ServerProcess, fleet: Fleet, redis_server: RedisServer, long_file_text: str
) -> None:
    fleet.ensure(server, 2)
    client = redis_server.client()
    server_id = server.health()["broker"]["server_id"]

    def forge(_: protocol.Progress) -> None:
        holder = busy_worker(server)
        other = next(w.name for w in fleet.live() if w.name != holder["name"])
        job = holder["job"]
        forged = {"job": job, "status": "done", "worker": other,
                  "transcript": json.dumps({"text": "forged", "decode_seconds": 1e9}),
                  "stream": broker.FILE_STREAM, "entry": "1-1"}
        client.xadd(broker.results_stream(server_id), forged)

    result = transcribe_long_file(server, "forged", during=forge)
    assert result.text == long_file_text and "forged" not in result.text
    rejected = server.health()["broker"]["rejected"]
    # Refused as not holding the job, or (if its heartbeat had not reached the server yet) as
    # a worker the server does not know: either way the forged text never reached the client.
    assert rejected.get("not_holder", 0) + rejected.get("unknown_worker", 0) >= 1, rejected


def test_a_worker_with_another_language_is_refused_and_takes_no_jobs(
    server: ServerProcess, fleet: Fleet
) -> None:
    fleet.ensure(server, 1)
    ready = server.health()["workers_ready"]
    fleet.env["CAPSWRITER_ASR_LANGUAGE"] = "de"
    try:
        odd = fleet.start("german")
    finally:
        del fleet.env["CAPSWRITER_ASR_LANGUAGE"]
    try:
        refused_worker_is_left_alone(server, odd, ready)
    finally:
        odd.proc.send_signal(signal.SIGTERM)
        assert odd.proc.wait(timeout=30) == 0
    server.wait_until(lambda h: "german" not in {w["name"] for w in remote_workers(h)},
                      timeout=30)


def refused_worker_is_left_alone(server: ServerProcess, odd, ready: int) -> None:
    health = server.wait_until(lambda h: any(
        w["name"] == "german" and w["state"] == "refused" for w in remote_workers(h)),
        timeout=180)
    record = next(w for w in remote_workers(health) if w["name"] == "german")
    assert "language de, here (none)" in record["error"]
    assert health["workers_ready"] == ready  # it is not counted
    server.wait_until(lambda _: "taking no jobs" in odd.log(), timeout=30)
    jobs_before = record["jobs_done"]
    with server.ws() as ws:
        dictate(ws, "not-to-german", pcm16("en_goforward.wav"))
        reply = recv_until(ws, (protocol.Result, protocol.Error), timeout=120)
    assert isinstance(reply, protocol.Result) and words(reply.text) == GO_FORWARD
    record = next(w for w in remote_workers(server.health()) if w["name"] == "german")
    assert record["jobs_done"] == jobs_before


def test_redis_restarted_without_its_data_during_a_job_loses_no_job_and_no_worker(
    server: ServerProcess, fleet: Fleet, redis_server: RedisServer, long_file_text: str
) -> None:
    fleet.ensure(server, 2)
    failed_before = server.health()["jobs"]["failed"]
    started = {}

    def restart_empty(_: protocol.Progress) -> None:
        server.wait_until(lambda h: h["broker"]["in_flight"] > 0
                          and h["broker"]["streams"]["files"]["pending"] > 0, timeout=60)
        redis_server.kill()
        redis_server.persistent = False
        redis_server.start()  # no append-only file read: every stream and group is gone
        assert redis_server.client().xlen(broker.FILE_STREAM) == 0
        started["at"] = time.monotonic()

    result = transcribe_long_file(server, "restarted-empty", during=restart_empty)
    assert result.text == long_file_text
    # The lost jobs came back at once, not after the long server-side deadline.
    assert time.monotonic() - started["at"] < 120
    live = len(fleet.live())
    health = server.wait_until(lambda h: h["broker"]["connected"] and h["workers_ready"] == live
                               and all(w["state"] == "idle" for w in remote_workers(h)),
                               timeout=60)
    assert health["broker"]["thread_crashes"] == {} and live >= 2  # no worker died
    assert health["jobs"]["failed"] == failed_before
    with server.ws() as ws:
        dictate(ws, "after-empty-restart", pcm16("en_goforward.wav"))
        reply = recv_until(ws, (protocol.Result, protocol.Error), timeout=120)
    assert isinstance(reply, protocol.Result) and words(reply.text) == GO_FORWARD
    assert any("creating them again" in w.log() for w in fleet.live())


def test_with_no_worker_at_all_work_hears_busy_at_once(tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    lonely_redis = start_redis(tmp_path / "redis")
    lonely = start_server(tmp_path, workers=0, args=["--broker", lonely_redis.url])
    try:
        assert lonely.health()["workers_ready"] == 0
        refused = httpx.post(f"{lonely.http}/v1/audio/transcriptions", timeout=30,
                             files={"file": ("go.wav", (REAL / "en_goforward.wav").read_bytes())})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "busy"
        assert int(refused.headers["Retry-After"]) >= 1
        with lonely.ws() as ws:
            ws.send(protocol.Start(task_id="nobody", source="mic").to_json())
            reply = recv_until(ws, (protocol.Busy, protocol.Result, protocol.Error), timeout=30)
        assert isinstance(reply, protocol.Busy) and "no recognizer" in reply.message
    finally:
        lonely.stop()
        lonely_redis.stop()
