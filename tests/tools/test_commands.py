"""The tool commands as a user types them, against the session's real server."""

from __future__ import annotations

from pathlib import Path

from capswriter.cli import main
from capswriter.tools.local_server import LocalServer
from capswriter.tools.runlog import read_records


def test_loadtest_command_prints_the_verdict_and_writes_a_report(
    tool_server: LocalServer, tmp_path: Path, capsys,
) -> None:
    output = tmp_path / "lt.jsonl"
    (tmp_path / "none.toml").touch()  # an empty settings file: defaults
    code = main(["--config", str(tmp_path / "none.toml"), "loadtest",
                 "--url", tool_server.address.ws, "--clients", "3", "--duration", "1",
                 "--output", str(output), "--report"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS: every attempt answered" in out
    assert read_records(output)[-1]["kind"] == "summary"
    assert (tmp_path / "lt.md").is_file() and output.with_suffix(".csv").is_file()


def test_stress_command_runs_only_the_phase_asked_for(
    tool_server: LocalServer, tmp_path: Path, capsys,
) -> None:
    output = tmp_path / "stress.jsonl"
    (tmp_path / "none.toml").touch()  # an empty settings file: defaults
    code = main(["--config", str(tmp_path / "none.toml"), "stress",
                 "--url", tool_server.address.http, "--no-leak", "--ramp-ceiling", "1",
                 "--ramp-seconds", "5", "--output", str(output)])
    out = capsys.readouterr().out
    assert code == 0, out
    kinds = {r["kind"] for r in read_records(output)}
    assert "ramp_step" in kinds and "leak_task" not in kinds
    summary = read_records(output)[-1]
    assert summary["max_stable_concurrency"] == 1
    assert "max stable concurrency: 1" in out


def test_a_missing_server_is_one_sentence_not_a_traceback(tmp_path: Path, capsys) -> None:
    (tmp_path / "none.toml").touch()  # an empty settings file: defaults
    code = main(["--config", str(tmp_path / "none.toml"), "loadtest",
                 "--url", "http://127.0.0.1:9", "--clients", "1", "--duration", "1",
                 "--output", str(tmp_path / "x.jsonl")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: no CapsWriter server answers at http://127.0.0.1:9")
    assert not (tmp_path / "x.jsonl").exists()
