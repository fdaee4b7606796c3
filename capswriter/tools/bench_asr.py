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
from capswriter.tools.bench_faster_whisper import FasterWhisperResult, bench_faster_whisper
from capswriter.tools.runlog import timed_runs
from capswriter.tools.speech import load_speech, utterance

CLIP_SECONDS = (3.0, 10.0, 30.0)


@dataclass
class ClipResult:
    seconds: float
    runs: int
    decode_median_s: float
    decode_min_s: float
    rtf: float
    text: str = ""


@dataclass
class AsrBenchResult:
    model: str
    precision: str
    num_threads: int
    load_seconds: float
    rss_mb_per_recognizer: float
    clips: list[ClipResult] = field(default_factory=list)
    faster_whisper: FasterWhisperResult | None = None

    def table(self) -> str:
        fw = self.faster_whisper if self.faster_whisper and self.faster_whisper.available \
            else None
        lines = [
            f"model {self.model} ({self.precision}), {self.num_threads} threads: "
            f"load {self.load_seconds:.2f} s, {self.rss_mb_per_recognizer:.0f} MB per recognizer",
        ]
        if fw is not None:
            lines.append(f"faster-whisper {fw.version} (same weights, int8): load "
                         f"{fw.load_seconds:.2f} s, {fw.rss_mb:.0f} MB after decoding")
        header = f"{'clip':>6} {'runs':>5} {'median':>8} {'min':>8} {'RTF':>6}"
        lines.append(header + (f" {'faster-whisper':>15} {'its RTF':>8}" if fw else ""))
        theirs = {c.seconds: c for c in fw.clips} if fw else {}
        for c in self.clips:
            line = (f"{c.seconds:>5.0f}s {c.runs:>5} {c.decode_median_s:>7.3f}s "
                    f"{c.decode_min_s:>7.3f}s {c.rtf:>6.3f}")
            if c.seconds in theirs:
                other = theirs[c.seconds]
                line += f" {other.decode_median_s:>14.3f}s {other.rtf:>8.3f}"
            lines.append(line)
        if self.faster_whisper is not None and not self.faster_whisper.available:
            lines.append(f"(no side-by-side: {self.faster_whisper.note})")
        return "\n".join(lines)


def bench_asr(
    settings: Settings, runs: int = 5, num_threads: int | None = None,
    compare: bool = True,
) -> AsrBenchResult:
    """Our engine on 3, 10 and 30 s of real speech; with ``compare``, faster-whisper too."""
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
    clips = {seconds: utterance(seconds, speech) for seconds in CLIP_SECONDS}
    for seconds, clip in clips.items():
        text = engine.transcribe(clip).text  # warm-up: first call allocates buffers
        times = timed_runs(lambda clip=clip: engine.transcribe(clip), runs)
        median = statistics.median(times)
        result.clips.append(
            ClipResult(seconds, runs, median, min(times), median / seconds, text)
        )
    if compare:
        del engine
        gc.collect()
        result.faster_whisper = bench_faster_whisper(
            settings.asr.model, clips, runs, result.num_threads
        )
    return result


def write_json(result: AsrBenchResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"kind": "bench_asr", **asdict(result)}, indent=2) + "\n")
    return path
