"""`bench` in miniature: engine figures, speed-up from 1 to 2 workers, dictation latency idle
and under a file load, each next to the bare decode time measured in the same run."""

from __future__ import annotations

import json

import pytest
from conftest import ToolRun

from capswriter.tools.runlog import read_records


def test_summary_json_holds_speedup_latency_and_ratios(bench_run: ToolRun) -> None:
    data = json.loads(bench_run.output.with_suffix(".json").read_text())
    assert data["kind"] == "bench"
    pool = data["pool"]
    assert [b["workers"] for b in pool["batches"]] == [1, 2]
    assert pool["batches"][0]["speedup"] == 1.0
    assert all(b["wall_s"] > 0 and b["audio_seconds"] >= 40 for b in pool["batches"])
    # Per-worker RSS as the server reports it.
    assert len(pool["batches"][1]["worker_rss_mb"]) == 2
    assert all(v > 0 for b in pool["batches"] for v in b["worker_rss_mb"].values())
    rows = {(x["utterance_s"], x["condition"]): x for x in pool["latency"]}
    assert set(rows) == {(3.0, "idle"), (10.0, "idle"), (3.0, "loaded"), (10.0, "loaded")}
    for row in rows.values():
        assert row["runs"] == 2 and row["failures"] == 0
        assert row["bare_decode_s"] > 0 and row["p50"] > 0
        assert row["over_bare_p50"] == round(row["p50"] - row["bare_decode_s"], 4)
    ratios = data["ratios"]
    assert set(ratios["speedup"]) == {"1", "2"}
    assert set(ratios["rtf_by_clip"]) == {"3s", "5s", "15s", "28s"}
    assert set(ratios["dictation_p95_loaded_over_idle"]) == {"3s", "10s"}
    assert all(r > 0 for r in ratios["dictation_p95_loaded_over_idle"].values())


def test_loaded_latency_ran_while_a_file_was_being_transcribed(bench_run: ToolRun) -> None:
    records = read_records(bench_run.output)
    runs = [r for r in records if r["kind"] == "bench_latency_run"]
    assert len(runs) == 8 and all(r["outcome"] == "result" for r in runs)
    first_loaded = min(r["t"] for r in runs if r["condition"] == "loaded")
    last_idle = max(r["t"] for r in runs if r["condition"] == "idle")
    assert last_idle < first_loaded
    # The background file was still being decoded when the loaded runs began: its first pass
    # finishes only after the first loaded dictation came back.
    backgrounds = [r for r in records if r["kind"] == "bench_background"]
    assert all("error" not in b for b in backgrounds)
    assert not backgrounds or backgrounds[0]["t"] > first_loaded


def test_the_table_names_every_figure(bench_run: ToolRun) -> None:
    table = bench_run.summary.table()
    for phrase in ("RTF", "speed-up with 2 workers", "after bare decode", "worker RSS"):
        assert phrase in table


def test_faster_whisper_runs_the_same_clips_and_hears_the_same_words(bench_run: ToolRun) -> None:
    import jiwer

    data = json.loads(bench_run.output.with_suffix(".json").read_text())
    fw = data["asr"]["faster_whisper"]
    assert fw["available"], fw["note"]
    ours = {c["seconds"]: c for c in data["asr"]["clips"]}
    theirs = {c["seconds"]: c for c in fw["clips"]}
    assert set(theirs) == set(ours) == {3.0, 5.0, 15.0, 28.0}
    assert [c["seconds"] for c in data["asr"]["clips"] if c["dictation"]] == [3.0]
    normalize = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(),
                               jiwer.RemoveMultipleSpaces(), jiwer.Strip()])
    for seconds, clip in theirs.items():
        assert clip["rtf"] > 0 and clip["decode_median_s"] > 0
        # Same weights, both greedy: the two engines agree on (nearly) every word.
        reference, hypothesis = normalize(ours[seconds]["text"]), normalize(clip["text"])
        assert reference and jiwer.wer(reference, hypothesis) <= 0.15, (reference, hypothesis)
    assert set(data["ratios"]["faster_whisper_over_ours"]) == {"3s", "5s", "15s", "28s"}
    assert "faster-whisper" in bench_run.summary.table()


def test_a_long_file_is_timed_through_a_server_next_to_faster_whisper(bench_run: ToolRun) -> None:
    data = json.loads(bench_run.output.with_suffix(".json").read_text())
    file = data["asr"]["file"]
    assert file["seconds"] >= 40 and file["note"] == ""
    # Both figures are rounded for the report; the ratio holds to that rounding.
    assert file["wall_s"] > 0
    assert file["rtf"] == pytest.approx(file["wall_s"] / file["seconds"], abs=2e-4)
    # Every worker of the server that decoded it, the one kept for dictations included.
    roles = sorted(name.split("-")[0] for name in file["worker_rss_mb"])
    assert roles == ["dictation"] + ["general"] * file["workers"]
    assert all(v > 0 for v in file["worker_rss_mb"].values())
    # Its RSS is this process's growth over the run, which memory freed earlier can outweigh.
    assert file["faster_whisper_wall_s"] > 0 and isinstance(file["faster_whisper_rss_mb"], float)
    assert data["ratios"]["file_faster_whisper_over_ours"] > 0
    assert f"server with {file['workers']} workers" in bench_run.summary.table()
