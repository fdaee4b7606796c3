"""Fixtures for the tool tests: one real server for the session and one small run of each tool.

The runs are the tools' smallest honest configurations (20 clients for 5 s, a 1-minute long
file, a ramp to 3); each test module then checks a different side of the same output files, so
the model loads and the audio decodes once per session rather than once per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from capswriter.config import load_settings
from capswriter.tools.local_server import LocalServer

REAL = Path(__file__).parent.parent / "data" / "real"
# Small limits so that a few clients meet both kinds of refusal: too many connections (the
# server closes with 1013) and a full dictation queue (a busy reply with retry_after).
SMALL_LIMITS = {
    "CAPSWRITER_SERVER_MAX_CONNECTIONS": "6",
    "CAPSWRITER_SERVER_MAX_DICTATION_QUEUE": "2",
}


@dataclass
class ToolRun:
    output: Path
    summary: Any

    @property
    def csv(self) -> Path:
        return self.output.with_suffix(".csv")


@pytest.fixture(scope="session")
def tool_server(
    tmp_path_factory: pytest.TempPathFactory, models_dir: Path,
) -> Iterator[LocalServer]:
    """A real server, 2 workers with 1 thread each, with small queue and connection limits
    (and no worker kept for dictations: the tools' per-worker figures are about these two)."""
    log = tmp_path_factory.mktemp("tool-server") / "server.log"
    server = LocalServer(2, 1, models_dir=models_dir, log_path=log,
                         env={**SMALL_LIMITS, "CAPSWRITER_CONFIG": str(log.parent / "none.toml"),
                              "CAPSWRITER_SERVER_DICTATION_WORKER": "0"})
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def loadtest_run(tool_server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> ToolRun:
    from capswriter.tools.loadtest import LoadtestConfig, run_loadtest

    output = tmp_path_factory.mktemp("loadtest") / "loadtest.jsonl"
    config = LoadtestConfig(clients=20, duration=5.0, mode="short",
                            audio=REAL / "en_sr_one_two_three.wav", drain=60.0)
    summary = run_loadtest(tool_server.address, config, output, server_pid=tool_server.pid)
    return ToolRun(output, summary)


@pytest.fixture(scope="session")
def stress_run(tool_server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> ToolRun:
    from capswriter.tools.stress import StressConfig, run_stress

    output = tmp_path_factory.mktemp("stress") / "stress.jsonl"
    config = StressConfig(rounds=2, max_warmup_rounds=1, short_seconds=10.0, long_minutes=1.0,
                          ramp_seconds=10.0, ramp_ceiling=3, task_timeout=300.0)
    summary = run_stress(tool_server.address, config, output, server_pid=tool_server.pid,
                         progress=False)
    return ToolRun(output, summary)


@pytest.fixture(scope="session")
def bench_run(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> ToolRun:
    """`bench` (engine + pool) with its own 1- and 2-worker servers, in miniature."""
    from capswriter.tools.bench import run_bench
    from capswriter.tools.bench_pool import BenchPoolConfig

    output = tmp_path_factory.mktemp("bench") / "bench.jsonl"
    # No user config file or environment: the run must not depend on who runs the tests.
    settings = load_settings(output.parent / "none.toml", environ={})
    settings.models_dir = str(models_dir)
    config = BenchPoolConfig(workers=[1, 2], threads=1, files=2, file_seconds=20.0, runs=2,
                             utterances=[3.0, 10.0], speed=4.0, long_seconds=120.0, bare_runs=1)
    result = run_bench(settings, config, output, asr_runs=1, progress=False, file_seconds=40.0)
    return ToolRun(output, result)
