"""`capswriter bench`: the engine benchmark and the pool benchmark in one run, one final table.

Every figure that depends on the machine is shown next to a figure measured on the same machine
in the same run (the bare engine), so the ratios can be compared between machines.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from capswriter.config import Settings
from capswriter.tools.bench_asr import FILE_SECONDS, AsrBenchResult, bench_asr
from capswriter.tools.bench_pool import BenchPoolConfig, BenchPoolResult, PoolBench
from capswriter.tools.bench_text import TextBench, run_text_bench
from capswriter.tools.runlog import ResultLog


@dataclass
class BenchResult:
    asr: AsrBenchResult
    pool: BenchPoolResult
    text: TextBench | None = None  # hot words (5,000) and Chinese ITN per sentence

    def ratios(self) -> dict[str, Any]:
        """The machine-independent figures: speed-ups and latency over bare decode."""
        fw = self.asr.faster_whisper
        ratios: dict[str, Any] = {
            "speedup": {str(b.workers): b.speedup for b in self.pool.batches},
            "latency_over_bare": {
                f"{x.utterance_s:g}s_{x.condition}": {
                    "p50_minus_bare_s": x.over_bare_p50,
                    "p50_over_bare": None if not x.p50 or not x.bare_decode_s
                    else round(x.p50 / x.bare_decode_s, 3),
                }
                for x in self.pool.latency
            },
            "rtf_by_clip": {f"{c.seconds:g}s": c.rtf for c in self.asr.clips},
        }
        file = self.asr.file
        if file is not None and file.wall_s and file.faster_whisper_wall_s:
            ratios["file_faster_whisper_over_ours"] = round(
                file.faster_whisper_wall_s / file.wall_s, 3
            )
        loaded_over_idle = self.pool.p95_loaded_over_idle()
        if loaded_over_idle:
            ratios["dictation_p95_loaded_over_idle"] = loaded_over_idle
        if fw is not None and fw.available:
            ours = {c.seconds: c.rtf for c in self.asr.clips}
            # Above 1: faster-whisper takes that many times as long as our engine.
            ratios["faster_whisper_over_ours"] = {
                f"{c.seconds:g}s": round(c.rtf / ours[c.seconds], 3)
                for c in fw.clips if ours.get(c.seconds)
            }
        return ratios

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "bench", "asr": asdict(self.asr), "pool": self.pool.to_dict(),
                "text": asdict(self.text) if self.text else None, "ratios": self.ratios()}

    def table(self) -> str:
        lines = [self.asr.table(), "", self.pool.table(), "", "summary"]
        theirs = {}
        if self.asr.faster_whisper is not None and self.asr.faster_whisper.available:
            theirs = {c.seconds: c.rtf for c in self.asr.faster_whisper.clips}
        for c in self.asr.clips:
            other = (f" (faster-whisper {theirs[c.seconds]:.3f})" if c.seconds in theirs
                     else "")
            lines.append(f"  engine RTF, {c.seconds:>4.0f} s clip: {c.rtf:.3f}{other}")
        if self.asr.file is not None:
            lines.append(f"  {self.asr.file.line()}")
        for b in self.pool.batches:
            lines.append(f"  speed-up with {b.workers} workers: {b.speedup:.2f}×")
        for seconds, ratio in self.pool.p95_loaded_over_idle().items():
            lines.append(f"  {seconds} dictation p95 while a file is transcribed: "
                         f"{ratio:.2f}× idle")
        for x in self.pool.latency:
            if x.p50 is not None and x.bare_decode_s:
                lines.append(f"  {x.utterance_s:>4.0f} s dictation, {x.condition:<6}: "
                             f"back {x.over_bare_p50 * 1000:+.0f} ms after bare decode "
                             f"({x.p50 / x.bare_decode_s:.2f}× bare)")
        if self.text is not None:
            lines += ["  " + line for line in self.text.table().splitlines()]
        return "\n".join(lines)


def run_bench(settings: Settings, pool_config: BenchPoolConfig, output: Path,
              asr_runs: int = 5, progress: bool = True,
              file_seconds: float = FILE_SECONDS) -> BenchResult:
    """Engine benchmark, then the pool benchmark; JSONL to ``output``, summary beside it."""
    with ResultLog(output, "bench") as log:
        log.write("run", config={**asdict(pool_config),
                                 "speech": [str(p) for p in pool_config.speech]},
                  asr_runs=asr_runs, model=settings.asr.model, cores=os.cpu_count())
        asr = bench_asr(settings, runs=asr_runs, num_threads=pool_config.threads,
                        file_seconds=file_seconds)
        log.write("bench_asr", **asdict(asr))
        pool = PoolBench(settings, pool_config, log, output.parent, progress).run_all()
        result = BenchResult(asr, pool, run_text_bench(guard=False))
        log.write("summary", **{k: v for k, v in result.to_dict().items() if k != "kind"})
    output.with_suffix(".json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result
