"""`capswriter bench pool`: what the worker pool buys, measured through the WebSocket.

1. Speed-up: the same batch of files is sent at once to a server with 1 worker, then to one
   with N workers (each started for the run); speed-up = wall time with 1 ÷ wall time with N.
2. Release-to-text latency: dictations of 3 s and 30 s are streamed at speaking pace (or
   ``speed`` times faster) to the largest pool; latency is from the last audio frame to the
   result. Measured idle and while a long file is being transcribed on another connection.
3. Next to them, the bare engine decode time of the same audio, measured in this process in
   the same run, because machines differ and only the ratio travels.

Per-worker RSS comes from each server's /health. Records go to JSONL as they happen; the
summary goes to a JSON file and a table.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from capswriter.audio import to_pcm16
from capswriter.config import Settings
from capswriter.errors import CapsWriterError
from capswriter.tools import speech
from capswriter.tools.local_server import LocalServer
from capswriter.tools.monitor import ResourceMonitor
from capswriter.tools.runlog import ResultLog, ServerAddress, percentiles
from capswriter.wire.client import RecognitionClient
from capswriter.wire.health import HealthReport

FRAME_S = 0.1  # a live client sends 100 ms frames
LOADED_START_S = 1.0  # let the background file's segments reach the workers first
RUN_TIMEOUT_S = 300.0


@dataclass
class BenchPoolConfig:
    workers: list[int] = field(default_factory=lambda: [1, 2])
    threads: int = 1
    files: int = 4
    file_seconds: float = 60.0
    runs: int = 20
    utterances: list[float] = field(default_factory=lambda: [3.0, 30.0])
    speed: float = 1.0  # 1.0 streams dictation at speaking pace
    long_seconds: float = 300.0  # the file transcribed in the background while "loaded"
    bare_runs: int = 5
    latency: bool = True
    speech: list[Path] = field(default_factory=list)
    # Run each worker count as remote workers behind a local redis-server (broker mode).
    broker: bool = False


@dataclass
class BatchResult:
    workers: int
    threads: int
    files: int
    audio_seconds: float
    wall_s: float
    worker_rss_mb: dict[str, float]
    speedup: float = 1.0

    @property
    def rtf(self) -> float:
        return self.wall_s / self.audio_seconds if self.audio_seconds else 0.0


@dataclass
class LatencyResult:
    utterance_s: float
    condition: str  # idle | loaded
    runs: int
    p50: float | None
    p95: float | None
    mean: float | None
    bare_decode_s: float
    failures: int = 0

    @property
    def over_bare_p50(self) -> float | None:
        return None if self.p50 is None else round(self.p50 - self.bare_decode_s, 4)


@dataclass
class BenchPoolResult:
    model: str = ""
    threads: int = 1
    speed: float = 1.0
    bare_decode_s: dict[str, float] = field(default_factory=dict)
    batches: list[BatchResult] = field(default_factory=list)
    latency: list[LatencyResult] = field(default_factory=list)
    latency_workers: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "bench_pool", **asdict(self),
            "batches": [{**asdict(b), "rtf": round(b.rtf, 4)} for b in self.batches],
            "latency": [{**asdict(x), "over_bare_p50": x.over_bare_p50} for x in self.latency],
        }

    def p95_loaded_over_idle(self) -> dict[str, float]:
        """Per dictation length, its p95 release-to-text while a file is transcribed over
        its p95 on an idle server."""
        idle = {x.utterance_s: x.p95 for x in self.latency if x.condition == "idle" and x.p95}
        return {
            f"{x.utterance_s:g}s": round(x.p95 / idle[x.utterance_s], 3)
            for x in self.latency
            if x.condition == "loaded" and x.p95 and x.utterance_s in idle
        }

    def table(self) -> str:
        lines = [f"pool: {self.model}, {self.threads} thread(s) per worker"]
        if self.batches:
            b0 = self.batches[0]
            lines.append(f"batch of {b0.files} files, {b0.audio_seconds:.0f} s audio")
            lines.append(f"{'workers':>8} {'wall':>8} {'RTF':>7} {'speed-up':>9}  worker RSS")
            for b in self.batches:
                rss = ", ".join(f"{v:.0f}" for v in b.worker_rss_mb.values())
                lines.append(f"{b.workers:>8} {b.wall_s:>7.2f}s {b.rtf:>7.3f} "
                             f"{b.speedup:>8.2f}×  {rss} MB")
        if self.latency:
            lines.append(f"release-to-text, {self.latency_workers} workers, dictation streamed "
                         f"at {self.speed:g}× speaking pace")
            lines.append(f"{'utterance':>9} {'condition':>9} {'runs':>5} {'p50':>8} {'p95':>8} "
                         f"{'bare':>8} {'p50−bare':>9}")
            for x in self.latency:
                lines.append(
                    f"{x.utterance_s:>8.0f}s {x.condition:>9} {x.runs:>5} {_ms(x.p50):>8} "
                    f"{_ms(x.p95):>8} {_ms(x.bare_decode_s):>8} {_ms(x.over_bare_p50):>9}"
                    + (f"  ({x.failures} failed)" if x.failures else ""))
        return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}ms"


def _worker_rss(health: HealthReport) -> dict[str, float]:
    """RSS of the workers that take file work (the dictation worker has none in a batch)."""
    rss = {f"worker-{w.id}": w.rss_bytes for w in health.workers if w.role != "dictation"}
    for w in (health.broker or {}).get("workers", []):  # remote workers, as the broker sees them
        if w.get("role") != "dictation":
            rss[f"worker-{w['id']}"] = w.get("rss_bytes")
    return {name: round((value or 0) / 2**20, 1) for name, value in rss.items()}


class PoolBench:
    def __init__(self, settings: Settings, config: BenchPoolConfig, log: ResultLog,
                 results_dir: Path, progress: bool = True) -> None:
        self.settings = settings
        self.config = config
        self.log = log
        self.results_dir = results_dir
        self.progress = progress
        self.result = BenchPoolResult(model=settings.asr.model, threads=config.threads,
                                      speed=config.speed)
        clips = speech.load_speech(config.speech or None)
        self.batch = [speech.recording(config.file_seconds, clips, seed=10 + i)
                      for i in range(config.files)]
        self.utterances = {s: speech.utterance(s, clips) for s in config.utterances}
        self.background = speech.recording(config.long_seconds, clips, seed=99)

    def _bar(self, total: int, desc: str):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="run", disable=not self.progress,
                    dynamic_ncols=True)

    # ---- bare engine ---------------------------------------------------------------------

    def measure_bare(self) -> None:
        """Median decode time of each utterance by an engine in this process, decoded as the
        server decodes a dictation (its window sized to it)."""
        from capswriter.asr.engine import Engine

        engine = Engine.load(self.settings.asr, self.settings.models_path,
                             num_threads=self.config.threads)
        for seconds, samples in self.utterances.items():
            engine.transcribe(samples, dictation=True)  # warm-up: the first call allocates
            times = []
            for _ in range(self.config.bare_runs):
                t0 = time.perf_counter()
                engine.transcribe(samples, dictation=True)
                times.append(time.perf_counter() - t0)
            median = statistics.median(times)
            self.result.bare_decode_s[_key(seconds)] = round(median, 4)
            self.log.write("bench_bare", utterance_s=seconds, runs=len(times),
                           decode_median_s=round(median, 4), decode_min_s=round(min(times), 4),
                           threads=engine.num_threads)
        del engine

    # ---- servers ---------------------------------------------------------------------

    def run_all(self) -> BenchPoolResult:
        cfg = self.config
        if cfg.latency:
            self.measure_bare()
        counts = sorted(set(cfg.workers))
        for n in counts:
            log_path = self.results_dir / f"{self.log.path.stem}_server_w{n}.log"
            if cfg.broker:
                from capswriter.tools.broker_deployment import BrokerDeployment

                deployment: Any = BrokerDeployment(n, cfg.threads, log_dir=log_path.parent,
                                                   models_dir=self.settings.models_path)
            else:
                deployment = LocalServer(n, cfg.threads, models_dir=self.settings.models_path,
                                         log_path=log_path)
            with deployment as server:
                monitor = ResourceMonitor(
                    server.address, self.results_dir / f"{self.log.path.stem}_w{n}.csv",
                    server_pid=server.pid, extra={"client": os.getpid()}).start()
                try:
                    self._batch(server.address, n)
                    if cfg.latency and n == counts[-1]:
                        self.result.latency_workers = n
                        self._latency(server.address)
                finally:
                    monitor.stop()
                self.log.write("resources", workers=n, monitor_csv=str(monitor.csv_path),
                               resources=monitor.summary())
        base = next((b for b in self.result.batches if b.workers == 1), None)
        for b in self.result.batches:
            b.speedup = round(base.wall_s / b.wall_s, 3) if base and b.wall_s else 1.0
        return self.result

    def _batch(self, address: ServerAddress, workers: int) -> None:
        files = [speech.wav_bytes(s) for s in self.batch]
        audio = sum(speech.seconds_of(s) for s in self.batch)

        async def send_all() -> list[Any]:
            async def one(i: int, data: bytes) -> Any:
                async with RecognitionClient(address.ws, address.token) as client:
                    return await client.transcribe_file(data, filename=f"batch_{i}.wav")

            return await asyncio.wait_for(
                asyncio.gather(*(one(i, d) for i, d in enumerate(files))), RUN_TIMEOUT_S * 4)

        started = time.monotonic()
        results = asyncio.run(send_all())
        wall = time.monotonic() - started
        batch = BatchResult(workers, self.config.threads, len(files), round(audio, 2),
                            round(wall, 3), _worker_rss(address.health()))
        self.result.batches.append(batch)
        self.log.write("bench_batch", workers=workers, threads=self.config.threads,
                       files=len(files), audio_seconds=batch.audio_seconds, wall_s=batch.wall_s,
                       rtf=round(batch.rtf, 4), worker_rss_mb=batch.worker_rss_mb,
                       text_chars=[len(r.text) for r in results])

    def _latency(self, address: ServerAddress) -> None:
        cfg = self.config
        total = len(self.utterances) * 2 * cfg.runs
        with self._bar(total, "latency") as bar:
            for condition in ("idle", "loaded"):
                for seconds, samples in self.utterances.items():
                    times, failures = asyncio.run(
                        self._dictations(address, samples, condition, bar))
                    p = percentiles(times, (50, 95))
                    row = LatencyResult(
                        seconds, condition, len(times), p["p50"], p["p95"],
                        round(statistics.fmean(times), 4) if times else None,
                        self.result.bare_decode_s.get(_key(seconds), 0.0), failures)
                    self.result.latency.append(row)
                    self.log.write("bench_latency", **asdict(row),
                                   over_bare_p50=row.over_bare_p50,
                                   workers=self.result.latency_workers, speed=cfg.speed,
                                   worker_rss_mb=_worker_rss(address.health()))

    async def _dictations(self, address: ServerAddress, samples: np.ndarray, condition: str,
                          bar: Any) -> tuple[list[float], int]:
        stop = asyncio.Event()
        background = None
        if condition == "loaded":
            background = asyncio.create_task(self._keep_file_running(address, stop))
            await asyncio.sleep(LOADED_START_S)
        times: list[float] = []
        failures = 0
        pcm = to_pcm16(samples)
        try:
            async with RecognitionClient(address.ws, address.token) as client:
                for run in range(self.config.runs):
                    released: list[float] = []
                    try:
                        result = await asyncio.wait_for(
                            client.dictate(self._paced(pcm, released)), RUN_TIMEOUT_S)
                        latency = time.monotonic() - released[0]
                        times.append(latency)
                        outcome = "result"
                        chars = len(result.text)
                    except Exception as exc:  # noqa: BLE001 - a failed run is a data point
                        failures += 1
                        latency, outcome, chars = None, f"{type(exc).__name__}: {exc}", 0
                    self.log.write("bench_latency_run", utterance_s=speech.seconds_of(samples),
                                   condition=condition, run=run, latency_s=latency,
                                   outcome=outcome, text_chars=chars)
                    bar.update(1)
        finally:
            stop.set()
            if background is not None:
                background.cancel()
                await asyncio.gather(background, return_exceptions=True)
        return times, failures

    async def _paced(self, pcm: bytes, released: list[float]) -> AsyncIterator[bytes]:
        """Yield 100 ms frames at speaking pace ÷ speed; note when the last one went out."""
        frame = int(FRAME_S * speech.SAMPLE_RATE) * 2
        start = time.monotonic()
        for i, offset in enumerate(range(0, len(pcm), frame)):
            due = start + i * FRAME_S / self.config.speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            yield pcm[offset : offset + frame]
        released.append(time.monotonic())

    async def _keep_file_running(self, address: ServerAddress, stop: asyncio.Event) -> None:
        data = speech.wav_bytes(self.background)
        async with RecognitionClient(address.ws, address.token) as client:
            for i in range(1000):  # bounded; each pass takes seconds, the caller cancels us
                if stop.is_set():
                    return
                started = time.monotonic()
                try:
                    await client.transcribe_file(data, filename="background.wav")
                except CapsWriterError as exc:
                    # Without the load the "loaded" figures would be idle ones in disguise;
                    # the record says so rather than letting it pass silently.
                    self.log.write("bench_background", pass_no=i, error=str(exc))
                    return
                self.log.write("bench_background", pass_no=i,
                               wall_s=round(time.monotonic() - started, 3),
                               audio_seconds=round(speech.seconds_of(self.background), 2))


def _key(seconds: float) -> str:
    return f"{seconds:g}"


def run_bench_pool(settings: Settings, config: BenchPoolConfig, output: Path,
                   progress: bool = True) -> BenchPoolResult:
    """Run the pool benchmark; JSONL to ``output`` and the summary to ``output``'s .json."""
    with ResultLog(output, "bench_pool") as log:
        log.write("run", config={**asdict(config), "speech": [str(p) for p in config.speech]},
                  model=settings.asr.model, cores=os.cpu_count())
        bench = PoolBench(settings, config, log, output.parent, progress)
        result = bench.run_all()
        log.write("summary", **{k: v for k, v in result.to_dict().items() if k != "kind"})
    output.with_suffix(".json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result
