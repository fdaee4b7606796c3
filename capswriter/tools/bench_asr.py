"""`capswriter bench asr`: load time, memory, real-time factor per clip length and a long file,
ours next to faster-whisper on the same weights in the same run.

- Clips of 3, 5, 15 and 28 s of real speech, decoded by the engine in this process: the 3 s
  one as a dictation (its window sized to it), the others as file segments. faster-whisper
  decodes the same clips greedily, without VAD (see bench_faster_whisper).
- A long recording (default 300 s of the bundled speech with pauses, or ``file``) through
  a local server with one worker per core, as `capswriter transcribe` sends it, against
  faster-whisper as its users run a file: int8, one thread per core, beam 1, its VAD.
- Memory: this process's growth when the engine loads and after the 28 s decodes, each
  server worker's RSS after the long file, faster-whisper's growth after decoding.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import psutil

from capswriter.asr.engine import Engine
from capswriter.audio import SAMPLE_RATE
from capswriter.config import Settings
from capswriter.errors import CapsWriterError
from capswriter.tools.bench_faster_whisper import (
    FasterWhisperResult,
    bench_faster_whisper,
    faster_whisper_file,
)
from capswriter.tools.local_server import LocalServer
from capswriter.tools.runlog import ServerAddress, timed_runs
from capswriter.tools.speech import load_speech, recording, seconds_of, utterance, wav_bytes
from capswriter.wire.client import RecognitionClient

CLIP_SECONDS = (3.0, 5.0, 15.0, 28.0)
# The shortest clip is what someone dictates; it is decoded the way dictations are.
DICTATION_SECONDS = 3.0
FILE_SECONDS = 300.0
FILE_TIMEOUT_S = 1800.0


@dataclass
class ClipResult:
    seconds: float
    runs: int
    decode_median_s: float
    decode_min_s: float
    rtf: float
    text: str = ""
    dictation: bool = False


@dataclass
class FileResult:
    """One long recording through a local server and through faster-whisper."""

    seconds: float
    workers: int
    wall_s: float = 0.0
    rtf: float = 0.0
    worker_rss_mb: dict[str, float] = field(default_factory=dict)
    faster_whisper_wall_s: float | None = None
    faster_whisper_rtf: float | None = None
    faster_whisper_rss_mb: float | None = None
    note: str = ""


    def line(self) -> str:
        head = f"file {self.seconds:.0f} s, server with {self.workers} workers:"
        if not self.wall_s:
            return f"{head} {self.note}"
        rss = ", ".join(f"{v:.0f}" for v in self.worker_rss_mb.values())
        line = f"{head} {self.wall_s:.1f} s (RTF {self.rtf:.3f}), worker RSS {rss} MB"
        if self.faster_whisper_wall_s is not None:
            line += (f"; faster-whisper (beam 1, VAD, {self.workers} threads) "
                     f"{self.faster_whisper_wall_s:.1f} s (RTF {self.faster_whisper_rtf:.3f}), "
                     f"{self.faster_whisper_rss_mb:.0f} MB")
        elif self.note:
            line += f" ({self.note})"
        return line


@dataclass
class AsrBenchResult:
    model: str
    precision: str
    num_threads: int
    load_seconds: float
    rss_mb_per_recognizer: float
    clips: list[ClipResult] = field(default_factory=list)
    faster_whisper: FasterWhisperResult | None = None
    # Growth of this process's RSS after the longest clips, over the loaded engine's.
    rss_mb_after_clips: float = 0.0
    file: FileResult | None = None

    def table(self) -> str:
        fw = self.faster_whisper if self.faster_whisper and self.faster_whisper.available \
            else None
        lines = [
            f"model {self.model} ({self.precision}), {self.num_threads} threads: "
            f"load {self.load_seconds:.2f} s, {self.rss_mb_per_recognizer:.0f} MB per recognizer, "
            f"{self.rss_mb_after_clips:.0f} MB after the {max(CLIP_SECONDS):g} s clips",
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
            lines.append(line + ("  (as a dictation)" if c.dictation else ""))
        if self.faster_whisper is not None and not self.faster_whisper.available:
            lines.append(f"(no side-by-side: {self.faster_whisper.note})")
        if self.file is not None:
            lines.append(self.file.line())
        return "\n".join(lines)


def bench_asr(
    settings: Settings, runs: int = 5, num_threads: int | None = None,
    compare: bool = True, file_seconds: float = FILE_SECONDS, file: Path | None = None,
) -> AsrBenchResult:
    """Our engine on 3 to 28 s of real speech, then a long recording through a local server
    (``file``, or ``file_seconds`` of the bundled speech; 0 skips it); with ``compare``,
    faster-whisper on the same audio."""
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
        dictation = seconds == DICTATION_SECONDS

        def decode(clip=clip, dictation=dictation, engine=engine) -> str:
            return engine.transcribe(clip, dictation=dictation).text

        text = decode()  # warm-up: first call allocates buffers
        times = timed_runs(decode, runs)
        median = statistics.median(times)
        result.clips.append(
            ClipResult(seconds, runs, median, min(times), median / seconds, text, dictation)
        )
    gc.collect()
    result.rss_mb_after_clips = round((process.memory_info().rss - before) / 2**20, 1)
    del engine, decode  # the last decode holds the engine too
    gc.collect()
    if compare:
        result.faster_whisper = bench_faster_whisper(
            settings.asr.model, clips, runs, result.num_threads
        )
    if file is not None or file_seconds > 0:
        samples = load_speech([file])[0] if file is not None else recording(file_seconds, speech)
        result.file = bench_file(settings, samples, compare)
    return result


def bench_file(settings: Settings, samples: np.ndarray, compare: bool = True) -> FileResult:
    """A long recording through a local server with one worker per core, then through
    faster-whisper with one thread per core."""
    cores = os.cpu_count() or 1
    seconds = seconds_of(samples)
    result = FileResult(round(seconds, 1), cores)
    data = wav_bytes(samples)

    async def send(audio: bytes, address: ServerAddress) -> float:
        async with RecognitionClient(address.ws, address.token) as client:
            started = time.perf_counter()
            await client.transcribe_file(audio, filename="bench.wav", timeout=FILE_TIMEOUT_S)
            return time.perf_counter() - started

    try:
        with LocalServer(cores, 1, models_dir=settings.models_path) as server:
            # A first short file, so the timed one finds the workers' buffers warm.
            asyncio.run(send(wav_bytes(samples[: 5 * SAMPLE_RATE]), server.address))
            result.wall_s = round(asyncio.run(send(data, server.address)), 2)
            result.rtf = round(result.wall_s / seconds, 4)
            result.worker_rss_mb = {
                f"{w.role}-{w.id}": round((w.rss_bytes or 0) / 2**20, 1)
                for w in server.address.health().workers
            }
    except CapsWriterError as exc:
        result.note = f"the server run failed: {exc}"
        return result
    if compare:
        theirs = faster_whisper_file(settings.asr.model, samples, cores)
        if isinstance(theirs, str):
            result.note = theirs
        else:
            wall, rss_mb = theirs
            result.faster_whisper_wall_s = round(wall, 2)
            result.faster_whisper_rtf = round(wall / seconds, 4)
            result.faster_whisper_rss_mb = rss_mb
    return result


def write_json(result: AsrBenchResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"kind": "bench_asr", **asdict(result)}, indent=2) + "\n")
    return path
