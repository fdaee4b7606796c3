"""The stress test against a real server: memory records per task, a verdict that follows from
them, and a concurrency ramp that stops at its ceiling or at the first unstable step."""

from __future__ import annotations

from conftest import ToolRun

from capswriter.tools.monitor import read_csv
from capswriter.tools.runlog import read_records, slope

TASK_FIELDS = {"test_id", "audio", "round", "status", "audio_seconds", "rtf", "workers",
               "worker_rss_delta_mb", "restarts", "wall_s"}


def test_every_task_is_recorded_with_worker_memory_before_and_after(stress_run: ToolRun) -> None:
    records = read_records(stress_run.output)
    tasks = [r for r in records if r["kind"] == "leak_task"]
    rounds = [r for r in records if r["kind"] == "leak_round"]
    # Each round is a short and a long file, in that order.
    assert [t["test_id"] for t in tasks] == [
        f"{kind}_r{n}" for n in range(len(rounds)) for kind in ("short", "long")]
    for task in tasks:
        assert TASK_FIELDS <= set(task)
        assert task["status"] == "success", task
        assert {w["role"] for w in task["workers"]} == {"worker-0", "worker-1"}
        for worker in task["workers"]:
            assert worker["rss_before_mb"] > 0 and worker["rss_after_mb"] > 0
            if not worker["restarted"]:
                assert worker["delta_mb"] == round(
                    worker["rss_after_mb"] - worker["rss_before_mb"], 1)
    long_task = next(t for t in tasks if t["audio"] == "long")
    assert long_task["audio_seconds"] >= 60.0  # built from real speech to at least 1 minute


def test_warm_up_ends_when_memory_settles_or_after_its_limit(stress_run: ToolRun) -> None:
    rounds = [r for r in read_records(stress_run.output) if r["kind"] == "leak_round"]
    judged = [r for r in rounds if r["judged"]]
    # Two judged rounds, after at most one warm-up round (the configured limit).
    assert len(judged) == 2 and 2 <= len(rounds) <= 3
    # Once judging starts it never stops; warm-up rounds come first.
    flags = [r["judged"] for r in rounds]
    assert flags == sorted(flags)
    first = judged[0]
    assert first["growth_mb"] <= first["settle_mb"] or first["round"] == 1
    assert stress_run.summary.warmup_rounds == len(rounds) - 2


def test_the_memory_verdict_follows_from_the_recorded_numbers(stress_run: ToolRun) -> None:
    records = read_records(stress_run.output)
    verdict = next(r for r in records if r["kind"] == "leak_verdict")
    judged_rounds = {r["round"] for r in records if r["kind"] == "leak_round" and r["judged"]}
    judged = [t for t in records if t["kind"] == "leak_task" and t["round"] in judged_rounds]
    for role in ("worker-0", "worker-1"):
        for kind in ("short", "long"):
            series = [w["rss_after_mb"] for t in judged if t["audio"] == kind
                      for w in t["workers"] if w["role"] == role]
            assert verdict["slopes_mb_per_task"][f"{role}/{kind}"] == round(slope(series), 3)
    long_deltas = [t["worker_rss_delta_mb"] for t in judged if t["audio"] == "long"]
    assert verdict["long_deltas_mb"] == long_deltas
    expected = (max(long_deltas) <= verdict["max_long_delta_mb"]
                and max(verdict["slopes_mb_per_task"].values())
                <= verdict["max_slope_mb_per_task"])
    assert verdict["passed"] == expected
    assert verdict["passed"] == (not verdict["reasons"])
    assert stress_run.summary.leak_passed == verdict["passed"]


def test_the_ramp_climbs_one_job_at_a_time_and_reports_max_stable(stress_run: ToolRun) -> None:
    records = read_records(stress_run.output)
    steps = [r for r in records if r["kind"] == "ramp_step"]
    assert [s["concurrency"] for s in steps] == list(range(1, len(steps) + 1))
    assert 1 <= len(steps) <= 3
    stable = [s for s in steps if s["stable"]]
    # Only the last step may be unstable: the ramp stops there.
    assert all(s["stable"] for s in steps[:-1])
    summary = records[-1]
    assert summary["kind"] == "summary"
    assert summary["max_stable_concurrency"] == (stable[-1]["concurrency"] if stable else 0)
    if len(stable) == 3:
        assert "ceiling" in summary["ramp_stop_reason"]
    jobs = [r for r in records if r["kind"] == "ramp_job"]
    assert len(jobs) == sum(s["concurrency"] for s in steps)
    for step in stable:
        assert step["ok"] == step["concurrency"] and step["max_rtf"] <= 1.0


def test_resources_were_monitored_through_the_run(stress_run: ToolRun) -> None:
    rows = read_csv(stress_run.csv)
    assert {"server", "worker-0", "worker-1"} <= {r["role"] for r in rows}
    assert rows[-1]["elapsed"] > rows[0]["elapsed"]
