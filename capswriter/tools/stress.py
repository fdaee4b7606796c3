"""`capswriter stress`: does memory stay flat, and how many jobs at once does the pool carry?

Phase 1, memory: a short and a long (≥ 12 min by default) recording built from real speech are
transcribed in turn, several rounds, after warm-up rounds that are recorded but not judged.
Before and after each task the tool reads every worker's RSS from /health. It passes when the
long file raises no worker's RSS by more than a bound (default 200 MB) and the RSS left behind
after each task shows no upward trend (least-squares slope per worker and kind of task below a
bound, in MB per task).

Phase 2, concurrency: 1, 2, 3… files are submitted at the same moment, each on its own
connection, until a task fails, a worker restarts, the real-time factor under load (wall time
from submission to result ÷ audio seconds, worst task of the step) exceeds the bound, or the
ceiling is reached. The last step that passed is the maximum stable concurrency.

Every task and every step is appended to the JSONL file the moment it is known.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import websockets

from capswriter.errors import CapsWriterError, QueueFull
from capswriter.tools import speech
from capswriter.tools.monitor import ResourceMonitor
from capswriter.tools.runlog import ResultLog, ServerAddress, slope
from capswriter.wire.client import RecognitionClient
from capswriter.wire.health import HealthReport


@dataclass
class StressConfig:
    rounds: int = 3  # judged short+long rounds
    # The first decodes grow the recognizer's buffers to their working size, which is
    # allocation, not a leak: rounds are recorded but not judged until one grows no worker's
    # RSS by more than settle_mb, for at most max_warmup_rounds rounds.
    max_warmup_rounds: int = 3
    settle_mb: float = 10.0
    short_seconds: float = 30.0
    long_minutes: float = 12.0
    speech: list[Path] = field(default_factory=list)  # default: the bundled sample
    max_long_delta_mb: float = 200.0
    max_slope_mb_per_task: float = 5.0
    ramp: bool = True
    ramp_seconds: float = 30.0  # audio per file in the concurrency ramp
    ramp_ceiling: int = 16
    max_rtf: float = 1.0
    task_timeout: float = 1800.0  # one task (or one ramp step) may not take longer than this
    leak: bool = True


@dataclass
class WorkerMemory:
    role: str
    pid: int | None
    rss_before_mb: float | None
    rss_after_mb: float | None
    restarted: bool

    @property
    def delta_mb(self) -> float | None:
        if self.restarted or self.rss_before_mb is None or self.rss_after_mb is None:
            return None
        return round(self.rss_after_mb - self.rss_before_mb, 1)


@dataclass
class StressSummary:
    leak_passed: bool | None = None
    leak_reasons: list[str] = field(default_factory=list)
    long_deltas_mb: list[float] = field(default_factory=list)
    slopes_mb_per_task: dict[str, float] = field(default_factory=dict)
    rss_drift_mb: dict[str, float] = field(default_factory=dict)
    tasks: int = 0
    failed_tasks: int = 0
    warmup_rounds: int = 0
    round_growth_mb: list[float] = field(default_factory=list)
    max_stable_concurrency: int | None = None
    ramp_stop_reason: str = ""
    ramp_steps: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        leak_ok = self.leak_passed is not False
        ramp_ok = self.max_stable_concurrency is None or self.max_stable_concurrency >= 1
        return leak_ok and ramp_ok and self.failed_tasks == 0

    def table(self) -> str:
        lines = []
        if self.leak_passed is not None:
            worst = max(self.long_deltas_mb, default=0.0)
            lines.append(
                f"memory: {self.tasks} tasks; RSS growth per round "
                + ", ".join(f"{g:+.0f}" for g in self.round_growth_mb)
                + f" MB ({self.warmup_rounds} warm-up round(s) not judged)")
            lines.append(
                f"  judged: worst long-file RSS change {worst:+.1f} MB, "
                "slopes " + ", ".join(f"{r} {s:+.2f} MB/task"
                                      for r, s in self.slopes_mb_per_task.items())
            )
            lines.append("  drift (last − first RSS after a task): " + ", ".join(
                f"{r} {d:+.1f} MB" for r, d in self.rss_drift_mb.items()))
            lines.append("  PASS" if self.leak_passed else
                         "  FAIL: " + "; ".join(self.leak_reasons))
        if self.ramp_steps:
            lines.append(f"{'conc':>5} {'ok':>4} {'fail':>5} {'busy':>5} {'max RTF':>8} "
                         f"{'wall':>7}")
            for s in self.ramp_steps:
                lines.append(f"{s['concurrency']:>5} {s['ok']:>4} {s['failed']:>5} "
                             f"{s['busy']:>5} {s['max_rtf']:>8.3f} {s['wall_s']:>6.1f}s")
            lines.append(f"max stable concurrency: {self.max_stable_concurrency} "
                         f"(stopped: {self.ramp_stop_reason})")
        for r in self.resources:
            lines.append(f"  {r['role']:<10} CPU max {r['max_cpu_percent']:.0f}%, "
                         f"RSS max {r['max_rss_mb']:.0f} MB")
        return "\n".join(lines)


def _worker_rss(health: HealthReport) -> dict[str, tuple[int | None, float | None]]:
    out = {}
    for w in health.workers:
        rss = w.rss_bytes
        out[f"worker-{w.id}"] = (w.pid, None if rss is None else rss / 2**20)
    return out


async def _transcribe(address: ServerAddress, data: bytes, name: str,
                      timeout: float) -> dict[str, Any]:
    """One file through its own connection; returns status, wall time and the server timings."""
    started = time.monotonic()
    outcome: dict[str, Any] = {"status": "success", "error": ""}
    try:
        async with RecognitionClient(address.ws, address.token) as client:
            result = await asyncio.wait_for(client.transcribe_file(data, filename=name), timeout)
        outcome.update(server_audio_seconds=result.audio_seconds, text_chars=len(result.text),
                       timings=result.timings)
    except QueueFull as exc:
        outcome.update(status="busy", error=str(exc), retry_after=exc.retry_after)
    except asyncio.TimeoutError:
        outcome.update(status="timeout", error=f"no result within {timeout:.0f} s")
    except CapsWriterError as exc:
        outcome.update(status="failed", error=str(exc), code=getattr(exc, "code", ""))
    except (OSError, websockets.WebSocketException) as exc:
        outcome.update(status="dropped", error=f"connection lost: {exc}")
    outcome["wall_s"] = round(time.monotonic() - started, 3)
    return outcome


class StressTest:
    def __init__(self, address: ServerAddress, config: StressConfig, log: ResultLog,
                 progress: bool = True) -> None:
        self.address = address
        self.config = config
        self.log = log
        self.progress = progress
        self.summary = StressSummary()
        clips = speech.load_speech(config.speech or None)
        self.short = speech.recording(config.short_seconds, clips, seed=1)
        self.long = speech.recording(config.long_minutes * 60.0, clips, seed=2)
        self.ramp_audio = speech.recording(config.ramp_seconds, clips, seed=3)

    def _bar(self, total: int, desc: str):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="task", disable=not self.progress,
                    dynamic_ncols=True)

    # ---- phase 1 -------------------------------------------------------------------------

    def memory_phase(self) -> None:
        cfg = self.config
        files = {"short": speech.wav_bytes(self.short), "long": speech.wav_bytes(self.long)}
        # RSS left behind, per worker and per kind of task: like is compared with like, so
        # a long file's bigger working set does not read as a trend in a short/long sequence.
        after_series: dict[tuple[str, str], list[float]] = {}
        judged, round_no, warming = 0, 0, True
        with self._bar((cfg.max_warmup_rounds + cfg.rounds) * 2, "memory") as bar:
            while judged < cfg.rounds and round_no < cfg.max_warmup_rounds + cfg.rounds:
                tasks = [self._leak_task(kind, files[kind], round_no, bar)
                         for kind in ("short", "long")]
                growth = self._round_growth(tasks)
                # Judging starts with the first round that grew no worker by more than
                # settle_mb (its buffers have their working size), or after the allowed
                # warm-up rounds whatever the growth: a leak never settles, so it gets judged.
                if warming and (growth <= cfg.settle_mb or round_no >= cfg.max_warmup_rounds):
                    warming = False
                self.log.write("leak_round", round=round_no, growth_mb=growth,
                               judged=not warming, settle_mb=cfg.settle_mb)
                self.summary.round_growth_mb.append(growth)
                if warming:
                    self.summary.warmup_rounds += 1
                else:
                    judged += 1
                    for kind, memory in tasks:
                        self._note_judged(kind, memory, after_series)
                round_no += 1
            bar.total = bar.n
            bar.refresh()
        self._judge_memory(after_series)

    def _leak_task(self, kind: str, data: bytes, round_no: int,
                   bar: Any) -> tuple[str, list[WorkerMemory]]:
        """One file through the server, with every worker's RSS before and after."""
        seconds = speech.seconds_of(self.short if kind == "short" else self.long)
        before = self.address.health()
        outcome = asyncio.run(_transcribe(self.address, data, f"stress_{kind}.wav",
                                          self.config.task_timeout))
        after = self.address.health()
        memory = self._memory(before, after)
        deltas = [m.delta_mb for m in memory if m.delta_mb is not None]
        rtf = outcome["wall_s"] / seconds
        restarts = after.restarts - before.restarts
        self.log.write(
            "leak_task", test_id=f"{kind}_r{round_no}", audio=kind, round=round_no,
            audio_seconds=round(seconds, 2), rtf=round(rtf, 4),
            workers=[{**asdict(m), "delta_mb": m.delta_mb} for m in memory],
            worker_rss_delta_mb=max(deltas, default=None), restarts=restarts, **outcome,
        )
        self.summary.tasks += 1
        if outcome["status"] != "success" or restarts:
            self.summary.failed_tasks += 1
        bar.update(1)
        bar.set_postfix_str(f"{kind} Δ {max(deltas, default=0):+.0f} MB RTF {rtf:.3f}")
        return kind, memory

    @staticmethod
    def _round_growth(tasks: list[tuple[str, list[WorkerMemory]]]) -> float:
        """The most any worker's RSS grew over the round (restarted workers excluded)."""
        total: dict[str, float] = {}
        for _, memory in tasks:
            for m in memory:
                if m.delta_mb is not None:
                    total[m.role] = total.get(m.role, 0.0) + m.delta_mb
        return round(max(total.values(), default=0.0), 1)

    def _note_judged(self, kind: str, memory: list[WorkerMemory],
                     after_series: dict[tuple[str, str], list[float]]) -> None:
        deltas = [m.delta_mb for m in memory if m.delta_mb is not None]
        if kind == "long" and deltas:
            self.summary.long_deltas_mb.append(max(deltas))
        for m in memory:
            if m.rss_after_mb is not None and not m.restarted:
                after_series.setdefault((m.role, kind), []).append(m.rss_after_mb)

    def _memory(self, before: HealthReport, after: HealthReport) -> list[WorkerMemory]:
        b, a = _worker_rss(before), _worker_rss(after)
        out = []
        for role in sorted(set(b) | set(a)):
            pid_b, rss_b = b.get(role, (None, None))
            pid_a, rss_a = a.get(role, (None, None))
            out.append(WorkerMemory(role, pid_a, _r(rss_b), _r(rss_a), pid_a != pid_b))
        return out

    def _judge_memory(self, after_series: dict[tuple[str, str], list[float]]) -> None:
        cfg, s = self.config, self.summary
        reasons = []
        worst = max(s.long_deltas_mb, default=0.0)
        if worst > cfg.max_long_delta_mb:
            reasons.append(f"the long file raised a worker's RSS by {worst:.0f} MB "
                           f"(bound {cfg.max_long_delta_mb:.0f} MB)")
        for (role, kind), series in sorted(after_series.items()):
            name = f"{role}/{kind}"
            # Each series holds one value per measured round, so its slope is MB per task
            # of that kind.
            s.slopes_mb_per_task[name] = round(slope(series), 3)
            s.rss_drift_mb[name] = round(series[-1] - series[0], 1)
            if s.slopes_mb_per_task[name] > cfg.max_slope_mb_per_task:
                reasons.append(f"{name} RSS grows {s.slopes_mb_per_task[name]:.1f} MB per task "
                               f"(bound {cfg.max_slope_mb_per_task:.1f})")
        if s.failed_tasks:
            reasons.append(f"{s.failed_tasks} tasks failed or restarted a worker")
        s.leak_passed = not reasons
        s.leak_reasons = reasons
        self.log.write("leak_verdict", passed=s.leak_passed, reasons=reasons,
                       long_deltas_mb=s.long_deltas_mb, slopes_mb_per_task=s.slopes_mb_per_task,
                       rss_drift_mb=s.rss_drift_mb, max_long_delta_mb=cfg.max_long_delta_mb,
                       max_slope_mb_per_task=cfg.max_slope_mb_per_task)

    # ---- phase 2 -------------------------------------------------------------------------

    def concurrency_phase(self) -> None:
        cfg, s = self.config, self.summary
        data = speech.wav_bytes(self.ramp_audio)
        audio_s = speech.seconds_of(self.ramp_audio)
        s.max_stable_concurrency = 0
        s.ramp_stop_reason = f"reached the ceiling of {cfg.ramp_ceiling}"
        with self._bar(cfg.ramp_ceiling, "ramp") as bar:
            for concurrency in range(1, cfg.ramp_ceiling + 1):
                before = self.address.health()
                started = time.monotonic()
                outcomes = asyncio.run(self._step(data, concurrency))
                wall = time.monotonic() - started
                try:
                    after = self.address.health()
                except Exception:  # noqa: BLE001 - the server died: that ends the ramp
                    after = None
                for i, o in enumerate(outcomes):
                    self.log.write("ramp_job", concurrency=concurrency, job=i,
                                   rtf=round(o["wall_s"] / audio_s, 4), **o)
                ok = [o for o in outcomes if o["status"] == "success"]
                busy = sum(1 for o in outcomes if o["status"] == "busy")
                rtfs = [o["wall_s"] / audio_s for o in ok]
                restarts = None if after is None else after.restarts - before.restarts
                step = {
                    "concurrency": concurrency, "ok": len(ok),
                    "failed": len(outcomes) - len(ok) - busy, "busy": busy,
                    "max_rtf": round(max(rtfs, default=0.0), 4),
                    "mean_rtf": round(sum(rtfs) / len(rtfs), 4) if rtfs else 0.0,
                    "wall_s": round(wall, 2), "audio_seconds": round(audio_s, 2),
                    "restarts": restarts,
                    "worker_rss_mb": {} if after is None else
                    {r: _r(v[1]) for r, v in _worker_rss(after).items()},
                }
                reason = self._ramp_failure(step, after)
                step["stable"] = reason is None
                self.log.write("ramp_step", **step)
                s.ramp_steps.append(step)
                bar.update(1)
                bar.set_postfix_str(f"c={concurrency} max RTF {step['max_rtf']:.3f}")
                if reason is not None:
                    s.ramp_stop_reason = reason
                    break
                s.max_stable_concurrency = concurrency

    async def _step(self, data: bytes, concurrency: int) -> list[dict[str, Any]]:
        jobs = [_transcribe(self.address, data, f"ramp_c{concurrency}_{i}.wav",
                            self.config.task_timeout) for i in range(concurrency)]
        return list(await asyncio.gather(*jobs))

    def _ramp_failure(self, step: dict[str, Any], after: HealthReport | None) -> str | None:
        c = step["concurrency"]
        if after is None:
            return f"the server stopped answering at concurrency {c}"
        if step["restarts"]:
            return f"a worker restarted at concurrency {c}"
        if step["failed"]:
            return f"{step['failed']} tasks failed at concurrency {c}"
        if step["busy"]:
            return f"the server refused {step['busy']} tasks as busy at concurrency {c}"
        if step["max_rtf"] > self.config.max_rtf:
            return (f"RTF under load {step['max_rtf']:.2f} exceeded {self.config.max_rtf:.2f} "
                    f"at concurrency {c}")
        return None


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def run_stress(address: ServerAddress, config: StressConfig, output: Path,
               monitor_csv: Path | None = None, server_pid: int | None = None,
               progress: bool = True) -> StressSummary:
    """Run the phases the config asks for; JSONL to ``output``, resource CSV beside it."""
    health = address.require_health()
    with ResultLog(output, "stress") as log:
        test = StressTest(address, config, log, progress)
        log.write("run", config={**asdict(config), "speech": [str(p) for p in config.speech]},
                  url=address.http, workers=len(health.workers),
                  model=health.model,
                  short_seconds=round(speech.seconds_of(test.short), 2),
                  long_seconds=round(speech.seconds_of(test.long), 2))

        def note_health(elapsed: float, h: HealthReport) -> None:
            log.write("health", elapsed=elapsed, queues=h.queues,
                      jobs=h.jobs, connections=h.connections,
                      workers=[{"id": w.id, "pid": w.pid, "state": w.state,
                                "rss_mb": _r((w.rss_bytes or 0) / 2**20)}
                               for w in h.workers])

        monitor = ResourceMonitor(address, monitor_csv or output.with_suffix(".csv"),
                                  server_pid=server_pid, extra={"client": os.getpid()},
                                  on_health=note_health).start()
        try:
            if config.leak:
                test.memory_phase()
            if config.ramp:
                test.concurrency_phase()
        finally:
            monitor.stop()
        test.summary.resources = monitor.summary()
        s = test.summary
        log.write("summary", passed=s.passed, monitor_csv=str(monitor.csv_path),
                  **{k: v for k, v in asdict(s).items() if k != "ramp_steps"})
    return test.summary
