"""``capswriter bench broker``: what scale-out through Redis costs and gives, on this machine.

1. Throughput of a batch of files with 1, 2, 3 … remote workers (audio seconds per second).
2. Dispatch overhead of a short dictation: release-to-text time minus decode time, through the
   broker and through the local pool (pipe), p50/p95; and the broker's own legs (server XADD to
   worker read; worker result to server read).
3. Reclaim latency: a worker is killed with SIGKILL mid-job; the time until another worker
   holds its entry (read from Redis' pending list).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from capswriter.audio import to_pcm16
from capswriter.config import Settings
from capswriter.tools import speech
from capswriter.tools.broker_deployment import BrokerDeployment
from capswriter.tools.local_server import LocalServer
from capswriter.tools.runlog import ResultLog, ServerAddress, percentiles
from capswriter.wire import broker
from capswriter.wire.client import RecognitionClient, transcribe_bytes

RUN_TIMEOUT_S = 600.0


@dataclass
class BenchBrokerConfig:
    workers: list[int] = field(default_factory=lambda: [1, 2, 3])
    threads: int = 1
    files: int = 3
    file_seconds: float = 60.0
    dictations: int = 30
    utterance_s: float = 3.0
    reclaim_idle_s: float = 10.0
    reclaim_runs: int = 2


@dataclass
class BenchBrokerResult:
    throughput: list[dict[str, Any]] = field(default_factory=list)
    overhead: dict[str, Any] = field(default_factory=dict)
    reclaim: list[dict[str, Any]] = field(default_factory=list)

    def table(self) -> str:
        lines = ["throughput (batch of files, remote workers on this machine):"]
        for row in self.throughput:
            lines.append(f"  {row['workers']} worker(s): {row['audio_s']:.0f} s audio in "
                         f"{row['wall_s']:.1f} s = {row['audio_per_s']:.2f} audio s/s "
                         f"(×{row['speedup']:.2f})")
        o = self.overhead
        if o:
            lines.append(f"dictation overhead beyond decode ({o['utterance_s']:g} s, "
                         f"{o['runs']} runs):")
            for mode in ("local", "broker"):
                lines.append(f"  {mode:<7} p50 {o[mode]['p50'] * 1000:6.1f} ms   "
                             f"p95 {o[mode]['p95'] * 1000:6.1f} ms")
            lines.append(f"  broker legs: dispatch {o['dispatch_delay_ms']}, "
                         f"result {o['result_delay_ms']}")
        for r in self.reclaim:
            lines.append(f"reclaim after kill -9 (idle timeout {r['reclaim_idle_s']:g} s): "
                         f"{r['reclaim_s']:.2f} s; the file finished "
                         f"{'with' if r['text_ok'] else 'WITHOUT'} the same text")
        return "\n".join(lines)


class BrokerBench:
    def __init__(self, settings: Settings, config: BenchBrokerConfig, log: ResultLog,
                 results_dir: Path) -> None:
        self.settings = settings
        self.config = config
        self.log = log
        self.results_dir = results_dir
        self.result = BenchBrokerResult()
        clips = speech.load_speech()
        self.batch = [speech.wav_bytes(speech.recording(config.file_seconds, clips, seed=10 + i))
                      for i in range(config.files)]
        self.audio = config.files * config.file_seconds
        self.utterance = to_pcm16(speech.utterance(config.utterance_s, clips))
        self.long_file = speech.wav_bytes(speech.recording(150.0, clips, seed=7))

    def deployment(self, workers: int, **env: str) -> BrokerDeployment:
        return BrokerDeployment(workers, self.config.threads,
                                models_dir=self.settings.models_path,
                                log_dir=self.results_dir, env=env)

    def run_all(self) -> BenchBrokerResult:
        base = None
        for n in self.config.workers:
            with self.deployment(n) as d:
                wall = self._batch(d.address)
            base = base or wall
            row = {"workers": n, "files": len(self.batch), "audio_s": self.audio,
                   "wall_s": round(wall, 2), "audio_per_s": round(self.audio / wall, 3),
                   "speedup": round(base / wall, 3)}
            self.result.throughput.append(row)
            self.log.write("broker_throughput", **row)
        if self.config.dictations > 0:
            self._overhead()
        for _ in range(self.config.reclaim_runs):
            self._reclaim()
        return self.result

    def _batch(self, address: ServerAddress) -> float:
        async def send_all() -> None:
            async def one(i: int, data: bytes) -> None:
                async with RecognitionClient(address.ws, address.token) as client:
                    await client.transcribe_file(data, filename=f"batch_{i}.wav")

            await asyncio.wait_for(
                asyncio.gather(*(one(i, d) for i, d in enumerate(self.batch))), RUN_TIMEOUT_S)

        started = time.monotonic()
        asyncio.run(send_all())
        return time.monotonic() - started

    def _dictation_overheads(self, address: ServerAddress) -> list[float]:
        """Release-to-text minus decode, per dictation, one at a time on an idle server."""
        async def run() -> list[float]:
            overheads = []
            async with RecognitionClient(address.ws, address.token) as client:
                for _ in range(self.config.dictations + 1):
                    chunks = [self.utterance[i: i + 3200]
                              for i in range(0, len(self.utterance), 3200)]
                    result = await client.dictate(chunks)
                    overheads.append(result.timings["after_end"] - result.timings["decode"])
            return overheads[1:]  # the first warms the worker up

        return asyncio.run(run())

    def _overhead(self) -> None:
        cfg = self.config
        with LocalServer(1, cfg.threads, models_dir=self.settings.models_path,
                         log_path=self.results_dir / "broker_bench_local.log") as local:
            local_times = self._dictation_overheads(local.address)
        with self.deployment(1) as d:
            broker_times = self._dictation_overheads(d.address)
            legs = d.address.health().broker or {}
        self.result.overhead = {
            "utterance_s": cfg.utterance_s, "runs": len(broker_times),
            "local": percentiles(local_times, (50, 95)),
            "broker": percentiles(broker_times, (50, 95)),
            "dispatch_delay_ms": legs["dispatch_delay_ms"],
            "result_delay_ms": legs["result_delay_ms"],
        }
        self.log.write("broker_overhead", **self.result.overhead)

    def _reclaim(self) -> None:
        idle = self.config.reclaim_idle_s
        with self.deployment(2, CAPSWRITER_SERVER_BROKER_RECLAIM_IDLE_S=str(idle)) as d:
            reference = transcribe_bytes(d.address.ws, self.long_file).text
            client = broker.connect(d.url)
            outcome: dict[str, Any] = {}
            worker = threading.Thread(target=lambda: outcome.update(
                result=transcribe_bytes(d.address.ws, self.long_file)))
            worker.start()
            victim, entry = _busy_entry(client)
            d.kill_worker(victim)
            killed = time.monotonic()
            while True:
                owner = _owner(client, entry)
                if owner is not None and owner != victim:
                    break
                if time.monotonic() - killed > RUN_TIMEOUT_S:
                    raise TimeoutError("nobody reclaimed the killed worker's job")
                time.sleep(0.02)
            reclaim = time.monotonic() - killed
            worker.join(RUN_TIMEOUT_S)
        row = {"reclaim_idle_s": idle, "reclaim_s": round(reclaim, 3),
               "text_ok": outcome.get("result") is not None
               and outcome["result"].text == reference}
        self.result.reclaim.append(row)
        self.log.write("broker_reclaim", **row)


def _busy_entry(client: Any) -> tuple[str, tuple[str, bytes]]:
    """Wait until a worker holds a file entry; return its name and (stream, entry id)."""
    end = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < end:
        for stream in broker.JOB_STREAMS:
            pending = client.xpending_range(stream, broker.GROUP, "-", "+", 10)
            if pending:
                p = pending[0]
                return p["consumer"].decode(), (stream, p["message_id"])
        time.sleep(0.02)
    raise TimeoutError("no worker took a job")


def _owner(client: Any, entry: tuple[str, bytes]) -> str | None:
    stream, entry_id = entry
    pending = client.xpending_range(stream, broker.GROUP, entry_id, entry_id, 1)
    return pending[0]["consumer"].decode() if pending else None


def run_bench_broker(settings: Settings, config: BenchBrokerConfig,
                     output: Path) -> BenchBrokerResult:
    """Run the broker benchmark; JSONL to ``output`` and the summary to its .json."""
    with ResultLog(output, "bench_broker") as log:
        log.write("run", config=asdict(config), model=settings.asr.model)
        result = BrokerBench(settings, config, log, output.parent).run_all()
    summary = {**asdict(result), "median_reclaim_s": statistics.median(
        [r["reclaim_s"] for r in result.reclaim]) if result.reclaim else None}
    output.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    return result
