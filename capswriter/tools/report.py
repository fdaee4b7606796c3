"""`capswriter report`: turn stress, loadtest and bench results into Markdown with PNG plots.

Input is any mix of the tools' JSONL files and the monitor's CSV files; a JSONL file's own
resource CSV (named in its summary, or lying beside it) is picked up without being named.
Output is one Markdown file and a folder of images next to it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capswriter.tools.monitor import read_csv
from capswriter.tools.runlog import percentiles, read_records


@dataclass
class Run:
    """One JSONL file: the records of one tool run."""

    path: Path
    records: list[dict[str, Any]]

    @property
    def tool(self) -> str:
        return self.records[0].get("tool", "unknown") if self.records else "empty"

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("kind") == kind]

    def first(self, kind: str) -> dict[str, Any] | None:
        found = self.of(kind)
        return found[-1] if found else None


@dataclass
class Report:
    output: Path
    lines: list[str] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)

    @property
    def image_dir(self) -> Path:
        return self.output.parent / f"{self.output.stem}_files"

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(self, header: list[str], rows: Iterable[list[Any]]) -> None:
        self.add("| " + " | ".join(header) + " |",
                 "|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            self.add("| " + " | ".join(_cell(v) for v in row) + " |")
        self.add("")

    def figure(self, name: str, title: str, draw: Any) -> None:
        """Draw with ``draw(ax)`` into ``name``.png and link it."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.image_dir.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
        try:
            draw(ax)
            ax.set_title(title)
            ax.grid(True, alpha=0.3)
            if ax.get_legend() is None and ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small")
            fig.tight_layout()
            path = self.image_dir / f"{len(self.images):02d}_{name}.png"
            fig.savefig(path)
        finally:
            plt.close(fig)
        self.images.append(path)
        self.add(f"![{title}]({self.image_dir.name}/{path.name})", "")


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        # Three significant-ish digits: RTFs near 1.0 and MB deltas both stay readable.
        if abs(value) < 1:
            return f"{value:.3f}"
        return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.0f} ms"


# ---- sections --------------------------------------------------------------------------


def _loadtest(report: Report, run: Run) -> None:
    summary = run.first("summary") or {}
    start = run.first("run") or {}
    cfg = start.get("config", {})
    report.add(f"## Load test — {run.path.name}", "")
    report.add(f"{cfg.get('clients', '?')} clients for {cfg.get('duration', '?')} s, "
               f"mode **{cfg.get('mode', '?')}**, {start.get('audio_seconds', 0):.1f} s of "
               f"audio per attempt, {start.get('workers', '?')} workers, model "
               f"{start.get('model', '?')}.", "")
    attempts = run.of("attempt")
    outcomes = summary.get("outcomes") or _count(a["outcome"] for a in attempts)
    total = sum(outcomes.values())
    verdict = summary.get("passed")
    if verdict is not None:
        report.add("**Verdict: " + ("PASS** — every attempt was answered with a result or an "
                                    "explicit busy." if verdict else
                                    "FAIL** — some attempts were not answered.") + "", "")
    report.table(["outcome", "attempts", "share"],
                 [[k, v, f"{v / total:.1%}" if total else "–"] for k, v in outcomes.items()])
    lat = summary.get("latency") or percentiles(
        a["latency_s"] for a in attempts if a.get("latency_s") is not None)
    report.table(["measure", "value"], [
        ["answered (result or busy)", f"{summary.get('answered_ratio', 0):.1%}"],
        ["results per second", summary.get("results_per_second")],
        ["latency after end p50 / p95 / p99",
         f"{_ms(lat.get('p50'))} / {_ms(lat.get('p95'))} / {_ms(lat.get('p99'))}"],
        ["queue_status messages seen", summary.get("queue_status_seen")],
        ["clients with at least one result", summary.get("clients_with_result")],
        ["peak connections (client / server)",
         f"{summary.get('peak_active_connections')} / {summary.get('server_peak_connections')}"],
        ["worker restarts", summary.get("worker_restarts")],
        ["error codes", summary.get("error_codes") or "none"],
    ])
    latencies = [a["latency_s"] for a in attempts if a.get("latency_s") is not None]
    if latencies:
        def draw(ax: Any) -> None:
            ax.hist(latencies, bins=min(50, max(5, len(latencies) // 3)), color="tab:blue")
            for p, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
                if lat.get(p) is not None:
                    ax.axvline(lat[p], color="black", linestyle=style, label=f"{p} {lat[p]:.2f} s")
            ax.set_xlabel("seconds from end of audio to result")
            ax.set_ylabel("attempts")

        report.figure("latency", "Latency histogram", draw)
    _throughput_and_queue(report, run)
    _resources_table(report, summary.get("resources") or [])


def _throughput_and_queue(report: Report, run: Run) -> None:
    health = [h for h in run.of("health") if isinstance(h.get("jobs"), dict)]
    if len(health) < 2:
        return
    times = [h["t"] for h in health]
    done = [h["jobs"].get("done", 0) + h["jobs"].get("failed", 0) for h in health]
    rate = [0.0] + [max(0.0, (done[i] - done[i - 1]) / max(1e-6, times[i] - times[i - 1]))
                    for i in range(1, len(done))]
    depth = [h["queues"].get("dictation", 0) + h["queues"].get("file_segments", 0)
             for h in health]
    connections = [h.get("connections") or 0 for h in health]

    def draw(ax: Any) -> None:
        ax.plot(times, rate, label="jobs finished per second", color="tab:green")
        ax.plot(times, depth, label="jobs queued", color="tab:red")
        ax.set_xlabel("seconds since start")
        twin = ax.twinx()
        twin.plot(times, connections, label="connections", color="tab:gray", alpha=0.6)
        twin.set_ylabel("open connections")
        ax.legend(loc="upper left", fontsize="small")
        twin.legend(loc="center right", fontsize="small")

    report.figure("throughput_queue", "Throughput and queue depth over time", draw)


def _stress(report: Report, run: Run) -> None:
    start = run.first("run") or {}
    summary = run.first("summary") or {}
    report.add(f"## Stress test — {run.path.name}", "")
    report.add(f"{start.get('workers', '?')} workers, model {start.get('model', '?')}; short "
               f"file {start.get('short_seconds', '?')} s, long file "
               f"{start.get('long_seconds', '?')} s of real speech.", "")
    tasks = run.of("leak_task")
    verdict = run.first("leak_verdict")
    if tasks:
        report.add("### Memory", "")
        if verdict is not None:
            report.add("**Memory verdict: " + ("PASS**" if verdict["passed"] else "FAIL** — "
                                               + "; ".join(verdict["reasons"])), "")
        judged = {r["round"]: r["judged"] for r in run.of("leak_round")}
        report.table(
            ["task", "judged", "status", "audio s", "RTF", "worst worker ΔRSS MB", "restarts"],
            [[t["test_id"], {True: "yes", False: "warm-up"}.get(judged.get(t["round"]), "–"),
              t["status"], t["audio_seconds"], t["rtf"], t.get("worker_rss_delta_mb"),
              t.get("restarts")] for t in tasks])
        if verdict is not None:
            report.table(["series", "slope MB/task", "drift MB"],
                         [[k, v, verdict["rss_drift_mb"].get(k)]
                          for k, v in verdict["slopes_mb_per_task"].items()])
        by_role: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, t in enumerate(tasks):
            for w in t["workers"]:
                if w.get("rss_after_mb") is not None:
                    by_role[w["role"]].append((i, w["rss_after_mb"]))

        def draw(ax: Any) -> None:
            for role, points in sorted(by_role.items()):
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=role)
            ax.set_xticks(range(len(tasks)))
            ax.set_xticklabels([t["test_id"] for t in tasks], rotation=45, fontsize="small")
            ax.set_ylabel("RSS after task (MB)")

        report.figure("rss_per_task", "Worker RSS after each task", draw)
    steps = run.of("ramp_step")
    if steps:
        report.add("### Concurrency ramp", "")
        report.add(f"**Maximum stable concurrency: {summary.get('max_stable_concurrency')}** "
                   f"(stopped: {summary.get('ramp_stop_reason', '?')}).", "")
        report.table(["concurrency", "ok", "failed", "busy", "max RTF", "mean RTF", "wall s",
                      "stable"],
                     [[s["concurrency"], s["ok"], s["failed"], s["busy"], s["max_rtf"],
                       s["mean_rtf"], s["wall_s"], "yes" if s["stable"] else "no"]
                      for s in steps])

        def draw(ax: Any) -> None:
            xs = [s["concurrency"] for s in steps]
            ax.plot(xs, [s["max_rtf"] for s in steps], marker="o", label="worst task")
            ax.plot(xs, [s["mean_rtf"] for s in steps], marker="s", label="mean")
            ax.axhline(1.0, color="red", linestyle="--", label="real time")
            ax.set_xlabel("simultaneous jobs")
            ax.set_ylabel("RTF under load")

        report.figure("ramp_rtf", "Real-time factor under load", draw)
    _throughput_and_queue(report, run)
    _resources_table(report, summary.get("resources") or [])


def _bench(report: Report, run: Run) -> None:
    summary = run.first("summary") or {}
    report.add(f"## Benchmark — {run.path.name}", "")
    asr = run.first("bench_asr")
    if asr:
        report.add(f"Engine: {asr['model']} ({asr['precision']}), {asr['num_threads']} "
                   f"thread(s), load {asr['load_seconds']:.2f} s, "
                   f"{asr['rss_mb_per_recognizer']:.0f} MB per recognizer.", "")
        report.table(["clip", "runs", "median decode s", "RTF"],
                     [[f"{c['seconds']:g} s", c["runs"], c["decode_median_s"], c["rtf"]]
                      for c in asr["clips"]])
    batches = run.of("bench_batch")
    if batches:
        base = next((b["wall_s"] for b in batches if b["workers"] == 1), None)
        report.add(f"Batch of {batches[0]['files']} files, {batches[0]['audio_seconds']:.0f} s "
                   "of audio, sent at once:", "")
        rows = []
        for b in batches:
            speedup = round(base / b["wall_s"], 3) if base else None
            rows.append([b["workers"], b["threads"], b["wall_s"], b["rtf"], speedup,
                         ", ".join(f"{v:.0f}" for v in b["worker_rss_mb"].values())])
        report.table(["workers", "threads each", "wall s", "RTF", "speed-up",
                      "worker RSS MB"], rows)
        if base:
            def draw(ax: Any) -> None:
                xs = [b["workers"] for b in batches]
                ax.plot(xs, [base / b["wall_s"] for b in batches], marker="o", label="measured")
                ax.plot(xs, xs, linestyle="--", color="gray", label="ideal")
                ax.set_xticks(xs)
                ax.set_xlabel("workers")
                ax.set_ylabel("speed-up over 1 worker")

            report.figure("speedup", "Speed-up vs workers", draw)
    latency = run.of("bench_latency")
    if latency:
        report.add(f"Release-to-text latency through the WebSocket, "
                   f"{latency[0].get('workers', '?')} workers, dictation streamed at "
                   f"{latency[0].get('speed', 1):g}× speaking pace:", "")
        report.table(["utterance", "condition", "runs", "p50", "p95", "bare decode",
                      "p50 − bare", "failed"],
                     [[f"{x['utterance_s']:g} s", x["condition"], x["runs"], _ms(x["p50"]),
                       _ms(x["p95"]), _ms(x["bare_decode_s"]), _ms(x["over_bare_p50"]),
                       x.get("failures", 0)] for x in latency])

        def draw(ax: Any) -> None:
            labels = [f"{x['utterance_s']:g}s {x['condition']}" for x in latency]
            xs = range(len(latency))
            ax.bar([i - 0.2 for i in xs], [x["p50"] or 0 for x in latency], width=0.4,
                   label="p50 release-to-text")
            ax.bar([i + 0.2 for i in xs], [x["bare_decode_s"] for x in latency], width=0.4,
                   label="bare decode")
            ax.set_xticks(list(xs))
            ax.set_xticklabels(labels)
            ax.set_ylabel("seconds")

        report.figure("latency_vs_bare", "Dictation latency vs bare decode", draw)
    ratios = summary.get("ratios")
    if ratios:
        report.add("Ratios (comparable between machines):", "")
        rows = [[f"speed-up, {k} workers", v] for k, v in ratios["speedup"].items()]
        rows += [[f"latency p50 − bare, {k}", _ms(v["p50_minus_bare_s"])]
                 for k, v in ratios["latency_over_bare"].items()]
        rows += [[f"engine RTF, {k} clip", v] for k, v in ratios["rtf_by_clip"].items()]
        report.table(["ratio", "value"], rows)
    for r in run.of("resources"):
        report.add(f"Resources with {r['workers']} workers:", "")
        _resources_table(report, r["resources"])


def _resources_table(report: Report, resources: list[dict[str, Any]]) -> None:
    if resources:
        report.table(["process", "max CPU %", "mean CPU %", "max RSS MB", "last RSS MB"],
                     [[r["role"], r["max_cpu_percent"], r["mean_cpu_percent"], r["max_rss_mb"],
                       r["last_rss_mb"]] for r in resources])


def _monitor(report: Report, path: Path) -> None:
    rows = read_csv(path)
    if not rows:
        return
    report.add(f"## Resources over time — {path.name}", "")
    by_role: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_role[row["role"]].append(row)

    def series(column: str, label: str) -> Any:
        def draw(ax: Any) -> None:
            for role, points in sorted(by_role.items()):
                ax.plot([p["elapsed"] for p in points], [p[column] for p in points], label=role)
            ax.set_xlabel("seconds since start")
            ax.set_ylabel(label)

        return draw

    report.figure("rss", "RSS over time per process", series("rss_mb", "RSS (MB)"))
    report.figure("cpu", "CPU over time per process (100 % = one core)",
                  series("cpu_percent", "CPU %"))
    restarts = {role: len({p["pid"] for p in points}) - 1 for role, points in by_role.items()}
    report.table(["process", "samples", "max RSS MB", "max CPU %", "pid changes"],
                 [[role, len(points), max(p["rss_mb"] for p in points),
                   max(p["cpu_percent"] for p in points), restarts[role]]
                  for role, points in sorted(by_role.items())])


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for v in values:
        out[v] += 1
    return dict(out)


SECTIONS = {"loadtest": _loadtest, "stress": _stress, "bench_pool": _bench, "bench": _bench}


def build_report(inputs: list[Path], output: Path | None = None) -> Report:
    """Write the Markdown report (and its images) for ``inputs``; returns what was written."""
    if not inputs:
        raise ValueError("no input files")
    output = output or inputs[0].with_suffix(".md")
    report = Report(output)
    report.add("# CapsWriter measurement report", "")
    runs, csvs = [], []
    for path in inputs:
        if path.suffix == ".csv":
            csvs.append(path)
        else:
            runs.append(Run(path, read_records(path)))
    for run in runs:
        for record in run.of("summary") + run.of("resources"):
            named = record.get("monitor_csv")
            if named and Path(named).is_file() and Path(named) not in csvs:
                csvs.append(Path(named))
        beside = run.path.with_suffix(".csv")
        if beside.is_file() and beside not in csvs:
            csvs.append(beside)
    report.add("Sources: " + ", ".join(f"`{p.name}`" for p in inputs), "")
    for run in runs:
        section = SECTIONS.get(run.tool)
        if section is None:
            report.add(f"## {run.path.name}", "", f"No report section for tool {run.tool!r}.", "")
            continue
        section(report, run)
    for path in csvs:
        _monitor(report, path)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(report.lines) + "\n", encoding="utf-8")
    return report
