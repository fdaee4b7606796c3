"""The server end to end: WebSocket dictation and files, health, metrics, the OpenAI API,
protocol errors, fuzzing, worker deaths during a dictation, and disconnects."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import openai
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from server_helpers import (
    REAL,
    ServerProcess,
    dictate,
    joined_wav,
    pcm16,
    recv,
    recv_until,
    send,
    send_file,
    silence,
    with_marker,
    words,
)
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from capswriter.wire import protocol
from capswriter.wire.client import RecognitionClient
from capswriter.wire.errors import TaskFailed, TaskTimedOut

JFK = words("And so my fellow Americans, ask not what your country can do for you, "
            "ask what you can do for your country.")
LONG_FILE = ["en_jfk.wav", "en_goforward.wav", "en_sr_one_two_three.wav", "en_jfk.wav",
             "en_ljspeech_LJ002-0020.wav", "en_jfk.wav"]


def test_health_reports_every_worker_the_queues_and_the_model(server: ServerProcess) -> None:
    health = server.health()
    assert health["status"] == "ok" and health["model"] == "whisper-base"
    assert health["protocol_version"] == protocol.PROTOCOL_VERSION
    # Two for any work (--workers 2) and the one kept for dictations.
    assert [w["role"] for w in health["workers"]] == ["general", "general", "dictation"]
    for worker in health["workers"]:
        assert worker["pid"] > 0 and worker["state"] in ("idle", "busy")
        assert {"jobs_done", "restarts", "rss_bytes", "load_seconds"} <= set(worker)
        assert 0 < worker["rss_bytes"] < 600 * 2**20
    assert set(health["queues"]) >= {"dictation", "file_segments", "pending_audio_seconds"}


def test_web_pages_cannot_use_the_server(server: ServerProcess) -> None:
    # Any site the user visits could otherwise drive a token-less loopback server.
    evil = {"Origin": "https://example.com"}
    assert httpx.get(f"{server.http}/health", headers=evil).status_code == 403
    with pytest.raises(InvalidStatus) as info:
        connect(server.ws_url, additional_headers=evil)
    assert info.value.response.status_code == 403
    local = {"Origin": "http://127.0.0.1:8080"}
    assert httpx.get(f"{server.http}/health", headers=local).status_code == 200


def test_dictation_over_the_websocket_returns_the_spoken_text(server: ServerProcess) -> None:
    async def run() -> protocol.Result:
        chunks = [pcm16("en_jfk.wav")[i : i + 3200] for i in range(0, 352000, 3200)]
        async with RecognitionClient(server.ws_url) as client:
            return await client.dictate(chunks)

    result = asyncio.run(run())
    assert words(result.text) == JFK
    assert result.model == "whisper-base" and result.audio_seconds == pytest.approx(11.0)
    assert {"queue_wait", "decode", "total"} <= set(result.timings)


def test_dictation_runs_ahead_of_files_and_files_match_in_process_transcription(
    server: ServerProcess, tmp_path
) -> None:
    from capswriter.asr.engine import Engine
    from capswriter.config import PROJECT_ROOT, AsrSettings
    from capswriter.files.pipeline import transcribe_file
    from capswriter.files.segment import Segmenter

    file_a = joined_wav(LONG_FILE)
    file_b = joined_wav(list(reversed(LONG_FILE)))
    finished: list[str] = []
    results: dict[str, protocol.Result] = {}

    with server.ws() as ws_a, server.ws() as ws_b, server.ws() as ws_d:
        def collect(ws, task_id: str) -> None:
            result = recv_until(ws, (protocol.Result, protocol.Error), timeout=180)
            assert isinstance(result, protocol.Result), result
            results[task_id] = result
            finished.append(task_id)

        send_file(ws_a, "file-a", file_a)
        send_file(ws_b, "file-b", file_b)
        # Wait until the files' segments hold both workers and some are still queued.
        server.wait_until(lambda h: h["jobs"]["running"] == 2 and h["queues"]["file_segments"] > 0)
        dictate(ws_d, "dictation", pcm16("en_goforward.wav"))
        threads = [threading.Thread(target=collect, args=(ws, t)) for ws, t in
                   ((ws_a, "file-a"), (ws_b, "file-b"), (ws_d, "dictation"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=240)
        # Ahead of the queued file segments: not after both files. (A file whose last segment
        # was already running, or is short, may still finish first on a loaded machine.)
        assert finished[-1] != "dictation", finished
        assert words(results["dictation"].text) == ["go", "forward", "10", "meters"]

    # Segments of the files ran on both workers.
    records = server.jobs("file-a") + server.jobs("file-b")
    assert len(records) >= 4 and {w for r in records for w in r["workers_tried"]} == {0, 1}

    settings = AsrSettings(num_threads=1)
    engine = Engine.load(settings, PROJECT_ROOT / "models")
    segmenter = Segmenter(PROJECT_ROOT / "models" / "silero-vad" / "silero_vad.onnx")
    for name, data in (("file-a", file_a), ("file-b", file_b)):
        path = tmp_path / f"{name}.wav"
        path.write_bytes(data)
        local = transcribe_file(path, engine, segmenter)
        assert results[name].text == local.text, (results[name].text, local.text)
        assert [s["text"] for s in results[name].segments] == [s.text for s in local.segments]


def test_a_file_reports_progress_and_timed_segments(server: ServerProcess) -> None:
    seen: list[protocol.Message] = []
    with server.ws() as ws:
        send_file(ws, "progress", joined_wav(LONG_FILE[:4]))
        result = recv_until(ws, (protocol.Result, protocol.Error), seen=seen)
    assert isinstance(result, protocol.Result)
    progress = [m for m in seen if isinstance(m, protocol.Progress)]
    assert progress and progress[-1].segments_done == progress[-1].segments_total
    assert [p.segments_done for p in progress] == sorted(p.segments_done for p in progress)
    segments = [m for m in seen if isinstance(m, protocol.SegmentResult)]
    assert len(segments) == progress[-1].segments_total
    starts = [s["start"] for s in result.segments]
    assert starts == sorted(starts) and result.segments[-1]["end"] <= result.audio_seconds + 10


def test_a_long_file_queued_while_it_is_cut_reports_progress_that_only_grows(
    server: ServerProcess,
) -> None:
    # Over a minute and a half: the segmenter hands its segments over in several batches.
    seen: list[protocol.Message] = []
    with server.ws() as ws:
        send_file(ws, "streamed", joined_wav(LONG_FILE[:4] * 3))
        result = recv_until(ws, (protocol.Result, protocol.Error), seen=seen)
    assert isinstance(result, protocol.Result)
    progress = [m for m in seen if isinstance(m, protocol.Progress)]
    shares = [p.audio_seconds_done / p.audio_seconds_total for p in progress]
    assert shares == sorted(shares) and shares[-1] == 1.0
    segments = sorted((m for m in seen if isinstance(m, protocol.SegmentResult)),
                      key=lambda m: m.index)
    assert [m.index for m in segments] == list(range(len(segments)))
    assert [m.start for m in segments] == sorted(m.start for m in segments)
    assert words(result.text).count("americans") == 6  # JFK's sentence, twice per round


def test_killing_a_worker_mid_dictation_still_returns_the_right_text(
    server: ServerProcess,
) -> None:
    before = {w["id"]: w["restarts"] for w in server.health()["workers"]}
    with server.ws() as ws:
        send(ws, protocol.Start(task_id="survivor", options={"early_decoding": False}))
        assert isinstance(recv(ws), protocol.Accepted)
        ws.send(pcm16("en_jfk.wav"))
        send(ws, protocol.End(task_id="survivor"))
        health = server.wait_until(
            lambda h: any(w["task"] and w["task"].endswith(":survivor") for w in h["workers"]),
            timeout=30,
        )
        victim = next(w for w in health["workers"]
                      if w["task"] and w["task"].endswith(":survivor"))
        psutil.Process(victim["pid"]).kill()  # SIGKILL; TerminateProcess on Windows
        result = recv_until(ws, (protocol.Result, protocol.Error))
    assert isinstance(result, protocol.Result), result
    assert words(result.text) == JFK
    health = server.wait_until(lambda h: h["workers_ready"] == len(h["workers"]), timeout=60)
    restarted = next(w for w in health["workers"] if w["id"] == victim["id"])
    assert restarted["restarts"] == before[victim["id"]] + 1
    assert restarted["pid"] != victim["pid"]


def test_a_poison_dictation_gets_a_clear_error_and_other_clients_are_served(
    server: ServerProcess,
) -> None:
    server.wait_until(lambda h: h["workers_ready"] == len(h["workers"]))
    with server.ws() as bad, server.ws() as good:
        send(bad, protocol.Start(task_id="poison", options={"early_decoding": False}))
        assert isinstance(recv(bad), protocol.Accepted)
        bad.send(with_marker("crash", pcm16("en_goforward.wav")))
        send(bad, protocol.End(task_id="poison"))
        dictate(good, "good", pcm16("en_goforward.wav"))
        error = recv_until(bad, (protocol.Result, protocol.Error))
        ok = recv_until(good, (protocol.Result, protocol.Error))
    assert isinstance(error, protocol.Error) and error.code == protocol.POISON_JOB
    assert "2 recognizer processes" in error.message
    assert isinstance(ok, protocol.Result) and words(ok.text) == ["go", "forward", "10", "meters"]
    server.wait_until(lambda h: h["workers_ready"] == len(h["workers"]), timeout=60)


# ---- protocol errors and fuzzing --------------------------------------------------------


def test_bad_frames_get_error_replies_and_the_connection_keeps_working(
    server: ServerProcess,
) -> None:
    with server.ws() as ws, server.ws() as other:
        ws.send("{this is not json")
        assert recv(ws).code == protocol.BAD_JSON
        ws.send(json.dumps({"type": "teleport", "v": 1}))
        assert recv(ws).code == protocol.UNKNOWN_TYPE
        ws.send(b"\x00\x01" * 100)
        assert recv(ws).code == protocol.NO_STREAM
        send(ws, protocol.End(task_id="nothing-open"))
        assert recv(ws).code == protocol.NO_STREAM
        ws.send(json.dumps({"type": "start", "v": 1, "task_id": "r", "sample_rate": 44100}))
        assert recv(ws).code == protocol.BAD_SAMPLE_RATE
        send(ws, protocol.Start(task_id="big"))
        assert isinstance(recv(ws), protocol.Accepted)
        ws.send(b"\x00" * (4 * 1024 * 1024 + 2))
        reply = recv(ws)
        assert reply.code == protocol.FRAME_TOO_LARGE and reply.task_id == "big"
        # The same connection and another client are still served.
        dictate(ws, "after", pcm16("en_goforward.wav"))
        dictate(other, "other", pcm16("en_sr_one_two_three.wav"))
        assert words(recv_until(ws, (protocol.Result,)).text) == ["go", "forward", "10", "meters"]
        assert isinstance(recv_until(other, (protocol.Result,)), protocol.Result)


def test_audio_frames_split_inside_a_sample_lose_nothing(server: ServerProcess) -> None:
    with server.ws() as ws:
        # 3333-byte frames: every other frame ends on half a sample, carried to the next.
        dictate(ws, "odd-frames", pcm16("en_goforward.wav"), chunk=3333)
        result = recv_until(ws, (protocol.Result, protocol.Error))
        assert words(result.text) == ["go", "forward", "10", "meters"], result
        sent_s = len(pcm16("en_goforward.wav")) / 32000
        assert result.audio_seconds == pytest.approx(sent_s, abs=1e-3)


def test_a_second_start_while_streaming_is_refused(server: ServerProcess) -> None:
    with server.ws() as ws:
        send(ws, protocol.Start(task_id="one"))
        assert isinstance(recv(ws), protocol.Accepted)
        send(ws, protocol.Start(task_id="two"))
        assert recv(ws).code == protocol.STREAM_OPEN
        send(ws, protocol.Cancel(task_id="one"))
        assert recv(ws).code == protocol.CANCELLED


def test_a_task_id_that_cannot_be_utf8_still_gets_replies_and_so_do_later_messages(
    server: ServerProcess,
) -> None:
    with server.ws() as ws:
        # A lone surrogate: valid JSON, echoed back in the reply's task_id.
        ws.send(json.dumps({"type": "start", "v": 1, "task_id": "\ud800", "source": "mic"}))
        reply = recv(ws)
        assert isinstance(reply, protocol.Accepted) and reply.task_id == "\ud800"
        send(ws, protocol.Cancel(task_id="\ud800"))
        assert recv(ws).code == protocol.CANCELLED
        dictate(ws, "after-surrogate", pcm16("en_goforward.wav"))
        result = recv_until(ws, (protocol.Result, protocol.Error))
        assert words(result.text) == ["go", "forward", "10", "meters"], result


def test_a_refused_start_leaves_no_task_behind(server: ServerProcess) -> None:
    server.wait_until(lambda h: h["open_tasks"] == 0)
    with server.ws() as ws:
        send(ws, protocol.Start(task_id="opt", options={"early_decoding": "yes"}))
        assert recv(ws).code == protocol.BAD_MESSAGE
        assert server.health()["open_tasks"] == 0
        send(ws, protocol.Start(task_id="opt"))  # the id is still free
        assert isinstance(recv(ws), protocol.Accepted)
        send(ws, protocol.Cancel(task_id="opt"))
        assert recv(ws).code == protocol.CANCELLED


def test_a_task_that_fails_while_streaming_frees_the_connection_for_the_next(
    server: ServerProcess,
) -> None:
    server.wait_until(lambda h: h["workers_ready"] == len(h["workers"]))
    with server.ws() as ws:
        send(ws, protocol.Start(task_id="fails", source="mic"))
        assert isinstance(recv(ws), protocol.Accepted)
        # The first piece (cut at a pause while audio still arrives) makes the recognizer raise.
        ws.send(with_marker("error", pcm16("en_jfk.wav")) + silence(1.0) + pcm16("en_jfk.wav"))
        failure = recv_until(ws, (protocol.Error, protocol.Result), timeout=60)
        assert isinstance(failure, protocol.Error) and failure.code == protocol.WORKER_ERROR
        # No `end` was sent, yet the connection takes a new task at once.
        dictate(ws, "next", pcm16("en_goforward.wav"))
        result = recv_until(ws, (protocol.Result,))
        assert words(result.text) == ["go", "forward", "10", "meters"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
frames = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=200),
    json_values.map(json.dumps),
    # Client message types with fields of any shape, the version field included.
    st.builds(
        lambda kind, fields: json.dumps({"type": kind, "v": 1, **fields}),
        st.sampled_from(["start", "end", "cancel"]),
        st.dictionaries(
            st.sampled_from(["task_id", "source", "sample_rate", "language", "options", "v"]),
            json_values, max_size=5,
        ),
    ),
    st.builds(
        lambda kind, task, source, rate: json.dumps(
            {"type": kind, "v": 1, "task_id": task, "source": source, "sample_rate": rate}
        ),
        st.sampled_from(["start", "end", "cancel", "result", "busy", "nonsense"]),
        st.sampled_from(["a", "b", "", "x" * 200, "\ud800"]),
        st.sampled_from(["mic", "file", "tape"]),
        st.sampled_from([16000, 8000, 0, -1]),
    ),
)

SERVER_TYPES = (protocol.Accepted, protocol.Error, protocol.Busy, protocol.Result,
                protocol.Progress, protocol.SegmentResult, protocol.QueueStatus)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(frames, min_size=1, max_size=8))
def test_random_frames_in_random_order_only_get_well_formed_replies(
    server: ServerProcess, sequence: list
) -> None:
    with server.ws() as ws:
        for frame in sequence:
            ws.send(frame)
        # A ping round trip: every reply to the frames above has been sent before the pong.
        ws.ping().wait(10)
        time.sleep(0.05)
        while True:
            try:
                raw = ws.recv(timeout=0.2)
            except TimeoutError:
                break
            message = protocol.parse_server_message(raw)
            assert isinstance(message, SERVER_TYPES)
            if isinstance(message, protocol.Error):
                assert message.code and message.message


def test_after_fuzzing_the_server_still_serves_a_valid_job(server: ServerProcess) -> None:
    with server.ws() as ws:
        dictate(ws, "valid", pcm16("en_goforward.wav"))
        result = recv_until(ws, (protocol.Result,))
    assert words(result.text) == ["go", "forward", "10", "meters"]


def test_disconnecting_mid_file_drops_its_queued_segments(server: ServerProcess) -> None:
    server.wait_until(
        lambda h: h["workers_ready"] == len(h["workers"]) and h["jobs"]["running"] == 0
    )
    cancelled = server.health()["jobs"]["cancelled"]
    with server.ws() as ws:
        send_file(ws, "abandoned", joined_wav(LONG_FILE * 3))
        server.wait_until(lambda h: h["queues"]["file_segments"] >= 2)
    health = server.wait_until(lambda h: h["queues"]["file_segments"] == 0
                               and h["jobs"]["cancelled"] > cancelled, timeout=30)
    assert health["jobs"]["cancelled"] - cancelled >= 2
    metrics = httpx.get(f"{server.http}/metrics").text
    samples = {(s.name, s.labels.get("state")): s.value
               for f in text_string_to_metric_families(metrics) for s in f.samples}
    assert samples[("capswriter_jobs_total", "cancelled")] >= 2


# ---- HTTP ------------------------------------------------------------------------------


def test_an_http_client_that_hangs_up_has_its_queued_segments_dropped(
    server: ServerProcess,
) -> None:
    server.wait_until(
        lambda h: h["workers_ready"] == len(h["workers"]) and h["jobs"]["running"] == 0
    )
    cancelled = server.health()["jobs"]["cancelled"]
    audio = joined_wav(LONG_FILE * 3)
    with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes its connection
        httpx.post(f"{server.http}/v1/audio/transcriptions",
                   files={"file": ("long.wav", audio)}, timeout=httpx.Timeout(30.0, read=2.0))
    health = server.wait_until(lambda h: h["jobs"]["cancelled"] > cancelled
                               and h["queues"]["file_segments"] == 0
                               and h["open_tasks"] == 0, timeout=30)
    assert health["jobs"]["cancelled"] - cancelled >= 2


def test_metrics_parse_as_prometheus_exposition(server: ServerProcess) -> None:
    with server.ws() as ws:  # at least one job of its own, whatever ran before
        dictate(ws, "for-metrics", pcm16("en_goforward.wav"))
        recv_until(ws, (protocol.Result,))
    health = server.health()
    text = httpx.get(f"{server.http}/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("capswriter_jobs", "capswriter_queue_wait_seconds", "capswriter_decode_seconds",
                 "capswriter_audio_seconds", "capswriter_worker_restarts",
                 "capswriter_queue_depth", "capswriter_workers_ready"):
        assert name in families, name
    done = sum(s.value for s in families["capswriter_jobs"].samples
               if s.name == "capswriter_jobs_total" and s.labels["state"] == "done")
    assert done >= 1 and done == health["jobs"]["done"]
    restarts = sum(s.value for s in families["capswriter_worker_restarts"].samples
                   if s.name == "capswriter_worker_restarts_total")
    assert restarts == sum(w["restarts"] for w in health["workers"])
    assert any(s.name == "capswriter_decode_seconds_count" and s.value > 0
               for s in families["capswriter_decode_seconds"].samples)


def test_openai_models_endpoint(server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=f"{server.http}/v1", api_key="unused")
    assert [m.id for m in client.models.list().data] == ["whisper-base"]


@pytest.mark.parametrize("response_format", ["json", "text", "srt", "vtt", "verbose_json"])
def test_openai_client_transcribes_in_every_response_format(
    server: ServerProcess, response_format: str
) -> None:
    client = openai.OpenAI(base_url=f"{server.http}/v1", api_key="unused")
    with open(REAL / "en_goforward.wav", "rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-1", file=audio, response_format=response_format, language="en",
        )
    if response_format == "json":
        assert words(result.text) == ["go", "forward", "10", "meters"]
    elif response_format == "verbose_json":
        assert words(result.text) == ["go", "forward", "10", "meters"]
        assert result.language == "en" and result.duration > 2
        assert result.segments and result.segments[0].start >= 0
    elif response_format == "text":
        assert words(result) == ["go", "forward", "10", "meters"]
    elif response_format == "srt":
        assert result.startswith("1\n00:00:0") and "-->" in result and "forward" in result
    else:
        assert result.startswith("WEBVTT") and "-->" in result and "forward" in result


def test_openai_endpoint_rejects_what_is_not_audio(server: ServerProcess) -> None:
    reply = httpx.post(f"{server.http}/v1/audio/transcriptions",
                       files={"file": ("notes.txt", b"hello, not audio")}, data={"model": "x"})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == protocol.UNSUPPORTED_AUDIO
    reply = httpx.post(f"{server.http}/v1/audio/transcriptions",
                       files={"file": ("a.wav", (REAL / "en_goforward.wav").read_bytes())},
                       data={"response_format": "docx"})
    assert reply.status_code == 400
    # No file at all: the same error shape as every other refusal, not FastAPI's "detail".
    reply = httpx.post(f"{server.http}/v1/audio/transcriptions", data={"model": "x"})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "invalid_request" and error["message"].startswith("file:")


def test_openai_upload_takes_hot_words_and_itn_as_capswriter_fields(server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=f"{server.http}/v1", api_key="unused")
    with open(REAL / "zh_aishell_BAC009S0724W0121.wav", "rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-1", file=audio, response_format="verbose_json", language="zh",
            extra_body={"capswriter_hot_words": "房地产\n中介协会\n", "capswriter_itn": "true"},
        )
    assert "房地产中介协会" in result.text
    assert "房地产中介协会" in "".join(s.text for s in result.segments)
    reply = httpx.post(f"{server.http}/v1/audio/transcriptions",
                       files={"file": ("a.wav", (REAL / "en_goforward.wav").read_bytes())},
                       data={"capswriter_hot_words": "ok\n| alias only\n"})
    assert reply.status_code == 400
    assert "line 2" in reply.json()["error"]["message"]


def test_client_helper_raises_task_failed_for_bad_audio(server: ServerProcess) -> None:
    async def run() -> None:
        async with RecognitionClient(server.ws_url) as client:
            await client.transcribe_file(b"RIFF....not really", filename="broken.wav")

    with pytest.raises(TaskFailed) as info:
        asyncio.run(run())
    assert info.value.code == protocol.UNSUPPORTED_AUDIO


def test_client_helper_runs_several_tasks_over_one_connection(server: ServerProcess) -> None:
    files = [(REAL / "en_jfk.wav").read_bytes(), (REAL / "en_goforward.wav").read_bytes()]

    async def run() -> list[protocol.Result]:
        async with RecognitionClient(server.ws_url) as client:
            return await asyncio.gather(
                *(client.transcribe_file(data, filename=f"{i}.wav") for i, data in enumerate(files))
            )

    jfk, forward = asyncio.run(run())
    assert words(jfk.text)[-3:] == ["for", "your", "country"]
    assert "forward" in forward.text.lower()
    assert jfk.audio_seconds == pytest.approx(11.0, abs=0.01)


def test_an_unknown_language_is_refused_before_any_worker_sees_it(server: ServerProcess) -> None:
    pids = {w["pid"] for w in server.health()["workers"]}
    with server.ws() as ws:
        send(ws, protocol.Start(task_id="klingon", language="tlh"))
        reply = recv(ws)
    assert isinstance(reply, protocol.Error) and reply.code == protocol.BAD_MESSAGE
    assert "'tlh' is not one whisper-base knows" in reply.message
    response = httpx.post(f"{server.http}/v1/audio/transcriptions", timeout=30,
                          files={"file": ("a.wav", (REAL / "en_goforward.wav").read_bytes())},
                          data={"model": "whisper-base", "language": "tlh"})
    assert response.status_code == 400
    assert {w["pid"] for w in server.health()["workers"]} == pids  # nobody died


def test_silence_gives_empty_text(server: ServerProcess) -> None:
    with server.ws() as ws:
        dictate(ws, "quiet", silence(2.0))
        result = recv_until(ws, (protocol.Result,))
    assert result.text == ""


def test_a_client_deadline_cancels_the_task_on_the_server(server: ServerProcess) -> None:
    # Runs last in this module: the hung worker stays busy until its server-side deadline.
    server.wait_until(
        lambda h: h["workers_ready"] == len(h["workers"]) and h["jobs"]["running"] == 0
    )
    cancelled = server.health()["jobs"]["cancelled"]

    async def run() -> None:
        async with RecognitionClient(server.ws_url) as client:
            await client.dictate([with_marker("hang", pcm16("en_goforward.wav"))],
                                 early_decoding=False, timeout=2.0, task_id="deadline")

    started = time.monotonic()
    with pytest.raises(TaskTimedOut):
        asyncio.run(run())
    assert time.monotonic() - started < 30
    server.wait_until(lambda h: h["jobs"]["cancelled"] > cancelled, timeout=10)
    assert server.jobs("deadline")[-1]["state"] == "cancelled"
