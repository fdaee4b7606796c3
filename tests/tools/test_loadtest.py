"""The load test against a real server: every attempt answered, polite retries, bounded run."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path
from typing import Any

import websockets
from conftest import ToolRun

from capswriter.tools.loadtest import OUTCOMES, LoadtestConfig, run_loadtest
from capswriter.tools.local_server import LocalServer
from capswriter.tools.monitor import read_csv
from capswriter.tools.runlog import read_records

REAL = Path(__file__).parent.parent / "data" / "real"

ATTEMPT_FIELDS = {"client", "attempt", "outcome", "started", "latency_s", "total_s",
                  "queue_status", "retry_after", "code", "detail"}
SUMMARY_FIELDS = {"attempts", "outcomes", "answered_ratio", "latency", "queue_status_seen",
                  "clients_with_result",
                  "peak_active_connections", "server_peak_connections", "worker_restarts",
                  "resources", "passed"}


def test_every_attempt_is_answered_with_a_result_or_busy(loadtest_run: ToolRun) -> None:
    summary = loadtest_run.summary
    assert summary.passed, summary.table()
    assert summary.outcomes["result"] > 0
    assert summary.outcomes["result"] + summary.outcomes["busy"] == summary.attempts
    assert summary.worker_restarts == 0 and summary.server_alive


def test_busy_replies_name_a_polite_wait_and_the_connection_cap_holds(
    loadtest_run: ToolRun,
) -> None:
    attempts = [r for r in read_records(loadtest_run.output) if r["kind"] == "attempt"]
    busy = [a for a in attempts if a["outcome"] == "busy"]
    # 20 clients against 2 workers and a dictation queue of 2: some are told to come back.
    assert busy
    assert all(a["retry_after"] and a["retry_after"] >= 1.0 for a in busy)
    # The server counted no more connections than it allows.
    assert loadtest_run.summary.server_peak_connections <= 6


def test_clients_refused_at_connect_hear_busy_and_wait_before_retrying(
    tool_server: LocalServer, tmp_path: Path,
) -> None:
    """With all but one connection slot taken, the others are refused with 1013 + busy."""

    async def crowded_run() -> Any:
        holders = [await websockets.connect(tool_server.address.ws) for _ in range(5)]
        try:
            # The server counts a connection just after its handshake; wait until it has.
            for _ in range(100):
                if tool_server.address.health().connections >= 5:
                    break
                await asyncio.sleep(0.05)
            config = LoadtestConfig(clients=4, duration=3.0, mode="short",
                                    audio=REAL / "en_sr_one_two_three.wav", drain=60.0)
            return await asyncio.to_thread(run_loadtest, tool_server.address, config, output,
                                           server_pid=tool_server.pid)
        finally:
            for ws in holders:
                await ws.close()

    output = tmp_path / "crowded.jsonl"
    summary = asyncio.run(crowded_run())
    attempts = [r for r in read_records(output) if r["kind"] == "attempt"]
    refused = [a for a in attempts if a["outcome"] == "busy" and a["retry_after"] == 5.0]
    assert refused, summary.table()
    assert summary.outcomes["result"] > 0  # the one free slot kept serving
    assert summary.outcomes["result"] + summary.outcomes["busy"] == summary.attempts
    assert summary.server_peak_connections <= 6


def test_clients_wait_retry_after_before_trying_again(loadtest_run: ToolRun) -> None:
    by_client = defaultdict(list)
    for record in read_records(loadtest_run.output):
        if record["kind"] == "attempt":
            by_client[record["client"]].append(record)
    checked = 0
    for attempts in by_client.values():
        attempts.sort(key=lambda a: a["attempt"])
        for previous, following in zip(attempts, attempts[1:], strict=False):
            if previous["outcome"] == "busy":
                gap = following["started"] - previous["started"]
                assert gap >= previous["retry_after"] - 0.05, (previous, following)
                checked += 1
    assert checked > 0


def test_records_carry_the_documented_fields_and_match_the_summary(loadtest_run: ToolRun) -> None:
    records = read_records(loadtest_run.output)
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "run" and kinds[-1] == "summary"
    attempts = [r for r in records if r["kind"] == "attempt"]
    assert all(ATTEMPT_FIELDS <= set(a) for a in attempts)
    assert all(a["outcome"] in OUTCOMES for a in attempts)
    summary = records[-1]
    assert SUMMARY_FIELDS <= set(summary)
    assert summary["attempts"] == len(attempts)
    for outcome in OUTCOMES:
        assert summary["outcomes"][outcome] == sum(a["outcome"] == outcome for a in attempts)
    results = [a for a in attempts if a["outcome"] == "result"]
    assert all(0 < a["latency_s"] <= a["total_s"] for a in results)
    assert summary["clients_with_result"] == len({a["client"] for a in results})
    assert summary["latency"]["p50"] <= summary["latency"]["p95"] <= summary["latency"]["p99"]
    # The server's view over time, for the throughput and queue plots.
    health = [r for r in records if r["kind"] == "health"]
    assert health and all("queues" in h and "jobs" in h for h in health)


def test_resources_are_sampled_for_server_workers_and_client(loadtest_run: ToolRun) -> None:
    rows = read_csv(loadtest_run.csv)
    roles = {r["role"] for r in rows}
    assert {"server", "worker-0", "worker-1", "client"} <= roles
    assert all(r["rss_mb"] > 0 for r in rows)
    assert {r["role"] for r in loadtest_run.summary.resources} == roles


def test_the_run_stops_by_itself_within_duration_plus_drain(loadtest_run: ToolRun) -> None:
    summary = loadtest_run.summary
    assert summary.wall_seconds <= 5.0 + 60.0 + 5.0
    last_start = max(r["started"] for r in read_records(loadtest_run.output)
                     if r["kind"] == "attempt")
    # Attempts start only within the duration (plus the moments before the clock starts).
    assert last_start <= 5.0 + 3.0


def test_long_mode_uploads_files_and_gets_their_text(
    tool_server: LocalServer, tmp_path: Path,
) -> None:
    output = tmp_path / "long.jsonl"
    config = LoadtestConfig(clients=3, duration=2.0, mode="long", long_seconds=20.0, drain=90.0)
    summary = run_loadtest(tool_server.address, config, output, server_pid=tool_server.pid)
    assert summary.passed, summary.table()
    assert summary.audio_seconds >= 20.0
    results = [r for r in read_records(output) if r["kind"] == "attempt"
               and r["outcome"] == "result"]
    assert len(results) >= 3  # each client got at least its first file back


def test_http_clients_like_openai_libraries_are_all_answered(
    tool_server: LocalServer, tmp_path: Path,
) -> None:
    """20 clients POSTing a clip at once, retrying 503s after their Retry-After."""
    output = tmp_path / "http.jsonl"
    config = LoadtestConfig(clients=20, duration=4.0, mode="http",
                            audio=REAL / "en_goforward.wav", timeout=90.0, drain=90.0)
    summary = run_loadtest(tool_server.address, config, output, server_pid=tool_server.pid)
    assert summary.passed, summary.table()
    attempts = [r for r in read_records(output) if r["kind"] == "attempt"]
    results = [a for a in attempts if a["outcome"] == "result"]
    assert results and all("forward" in a["detail"].lower() for a in results)
    busy = [a for a in attempts if a["outcome"] == "busy"]
    assert all(a["retry_after"] >= 1.0 for a in busy)


def test_clients_of_the_openai_sdk_are_all_answered(
    tool_server: LocalServer, tmp_path: Path,
) -> None:
    """Users of the official SDK at once: its own retries of 503s, then polite waits."""
    output = tmp_path / "openai.jsonl"
    config = LoadtestConfig(clients=6, duration=2.0, mode="openai",
                            audio=REAL / "en_goforward.wav", timeout=150.0, drain=180.0)
    summary = run_loadtest(tool_server.address, config, output, server_pid=tool_server.pid)
    assert summary.passed, summary.table()
    attempts = [r for r in read_records(output) if r["kind"] == "attempt"]
    results = [a for a in attempts if a["outcome"] == "result"]
    assert results and all("forward" in a["detail"].lower() for a in results)
    assert summary.results_per_second > 0
    assert all(a["retry_after"] >= 1.0 for a in attempts if a["outcome"] == "busy")
