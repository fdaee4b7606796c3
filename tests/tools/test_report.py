"""Reports from real tool output: Markdown with every section and images that exist."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from conftest import ToolRun

from capswriter.cli import main
from capswriter.tools.report import build_report
from capswriter.tools.runlog import ResultLog, percentiles, read_records, slope

PNG = b"\x89PNG\r\n\x1a\n"


def _images(markdown: Path) -> list[Path]:
    text = markdown.read_text()
    return [markdown.parent / m for m in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)]


def test_report_renders_every_tool_with_its_plots(
    loadtest_run: ToolRun, stress_run: ToolRun, bench_run: ToolRun, tmp_path: Path,
) -> None:
    output = tmp_path / "report.md"
    report = build_report([loadtest_run.output, stress_run.output, bench_run.output], output)
    text = output.read_text()
    for heading in ("## Load test", "## Stress test", "### Memory", "### Concurrency ramp",
                    "## Benchmark", "## Resources over time"):
        assert heading in text
    assert "Maximum stable concurrency" in text and "Verdict: PASS" in text
    images = _images(output)
    assert images == report.images and len(images) >= 10
    for image in images:
        assert image.read_bytes()[:8] == PNG
    names = " ".join(p.name for p in images)
    for plot in ("latency", "throughput_queue", "rss_per_task", "ramp_rtf", "speedup",
                 "latency_vs_bare", "_rss", "_cpu"):
        assert plot in names


def test_report_command_writes_beside_the_first_input(
    loadtest_run: ToolRun, tmp_path: Path, capsys,
) -> None:
    copy = tmp_path / "copy.jsonl"
    shutil.copy(loadtest_run.output, copy)
    assert main(["report", str(copy), str(loadtest_run.csv)]) == 0
    assert (tmp_path / "copy.md").is_file()
    assert all(p.is_file() for p in _images(tmp_path / "copy.md"))
    assert "report:" in capsys.readouterr().out


def test_a_torn_last_line_from_a_crash_is_skipped(loadtest_run: ToolRun, tmp_path: Path) -> None:
    torn = tmp_path / "torn.jsonl"
    text = loadtest_run.output.read_text()
    torn.write_text(text + '{"kind": "attempt", "client": 3, "outc')
    assert len(read_records(torn)) == len(read_records(loadtest_run.output))
    build_report([torn], tmp_path / "torn.md")
    assert "## Load test" in (tmp_path / "torn.md").read_text()


def test_result_log_lines_are_on_disk_before_the_log_closes(tmp_path: Path) -> None:
    log = ResultLog(tmp_path / "live.jsonl", "stress")
    log.write("leak_task", test_id="short_r0")
    # Another reader (or a post-mortem after a crash) sees the record while the run goes on.
    records = read_records(tmp_path / "live.jsonl")
    assert records[0]["kind"] == "leak_task" and records[0]["tool"] == "stress"
    assert {"ts", "t"} <= set(records[0])
    log.close()


def test_percentiles_and_slope() -> None:
    assert percentiles(range(1, 101)) == {"p50": 50, "p95": 95, "p99": 99}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}
    assert slope([100.0, 102.0, 104.0]) == 2.0
    assert slope([5.0]) == 0.0
