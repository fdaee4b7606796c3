"""`capswriter bench asr`: load time, memory per recognizer and real-time factor per clip length."""

from __future__ import annotations

import gc
import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from capswriter.asr.engine import Engine
from capswriter.config import Settings
from capswriter.tools.speech import load_speech, utterance

CLIP_SECONDS = (3.0, 10.0, 30.0)


@dataclass
class ClipResult:
    seconds: float
    runs: int
    decode_median_s: float
    decode_min_s: float
    rtf: float


@dataclass
class AsrBenchResult:
    model: str
    precision: str
    num_threads: int
    load_seconds: float
    rss_mb_per_recognizer: float
    clips: list[ClipResult] = field(default_factory=list)

    def table(self) -> str:
        lines = [
            f"model {self.model} ({self.precision}), {self.num_threads} threads: "
            f"load {self.load_seconds:.2f} s, {self.rss_mb_per_recognizer:.0f} MB per recognizer",
            f"{'clip':>6} {'runs':>5} {'median':>8} {'min':>8} {'RTF':>6}",
        ]
        for c in self.clips:
            lines.append(
                f"{c.seconds:>5.0f}s {c.runs:>5} {c.decode_median_s:>7.3f}s "
                f"{c.decode_min_s:>7.3f}s {c.rtf:>6.3f}"
            )
        return "\n".join(lines)


def bench_asr(settings: Settings, runs: int = 5, num_threads: int | None = None) -> AsrBenchResult:
    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    started = time.perf_counter()
    engine = Engine.load(settings.asr, settings.models_path, num_threads=num_threads)
    load_seconds = time.perf_counter() - started
    rss_mb = (process.memory_info().rss - before) / 2**20
    speech = load_speech()
    result = AsrBenchResult(
        engine.model_name, settings.asr.precision, engine.num_threads, load_seconds, rss_mb
    )
    for seconds in CLIP_SECONDS:
        clip = utterance(seconds, speech)
        engine.transcribe(clip)  # warm-up: first call allocates buffers
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            engine.transcribe(clip)
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        result.clips.append(ClipResult(seconds, runs, median, min(times), median / seconds))
    return result


def write_json(result: AsrBenchResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"kind": "bench_asr", **asdict(result)}, indent=2) + "\n")
    return path
