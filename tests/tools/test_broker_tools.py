"""The measurement tools against a broker deployment: a real redis-server, a server with no
local workers and remote workers in their own processes, all started by the commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from capswriter.cli import main
from capswriter.tools.runlog import read_records


@pytest.fixture(autouse=True)
def _redis_server_installed() -> None:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed; install it with "
                    "`apt-get install redis-server` (scripts/setup.sh does)")


def test_loadtest_starts_a_broker_deployment_and_every_attempt_is_answered(
    tmp_path: Path, capsys, models_dir: Path,
) -> None:
    output = tmp_path / "lt.jsonl"
    (tmp_path / "none.toml").touch()  # an empty settings file: defaults
    code = main(["--config", str(tmp_path / "none.toml"), "--models-dir", str(models_dir),
                 "loadtest", "--start-server", "1", "--broker", "--clients", "3",
                 "--duration", "3", "--output", str(output)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS: every attempt answered" in out
    records = read_records(output)
    assert any(r["kind"] == "attempt" and r["outcome"] == "result" for r in records)
    # The server it measured had no local worker: the results came from the remote one.
    log = (tmp_path / "broker_server.log").read_text()
    assert "0 workers + remote workers" in log
    assert "ready" in (tmp_path / "broker_bench-w1.log").read_text()


def test_bench_pool_runs_on_remote_workers(tmp_path: Path, capsys, models_dir: Path) -> None:
    output = tmp_path / "pool.jsonl"
    (tmp_path / "none.toml").touch()  # an empty settings file: defaults
    code = main(["--config", str(tmp_path / "none.toml"), "--models-dir", str(models_dir),
                 "bench", "pool", "--broker", "--workers", "1", "--files", "2",
                 "--file-seconds", "8", "--no-latency", "--output", str(output)])
    assert code == 0, capsys.readouterr().out
    summary = json.loads(output.with_suffix(".json").read_text())
    batch = summary["batches"][0]
    assert batch["workers"] == 1 and batch["files"] == 2
    # The remote worker's memory is reported like a local worker's (numbered from 100).
    assert list(batch["worker_rss_mb"]) == ["worker-100"]
    assert batch["worker_rss_mb"]["worker-100"] > 50
