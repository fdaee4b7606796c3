"""The same clips through faster-whisper, for a side-by-side with our engine.

The whisper-base install already rebuilt faster-whisper's own CTranslate2 model (``model.bin``
in the cache, see asr/install.py), so both engines run the same weights. faster-whisper is
asked to decode the way ours does: greedy, one temperature, no timestamps, no VAD, language
detected (``bench accuracy`` instead runs it as its users would, see accuracy_systems.py).
It is optional (the ``compare`` extra); without it the side-by-side is skipped with
a note saying why.
"""

from __future__ import annotations

import gc
import logging
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from capswriter.audio import SAMPLE_RATE
from capswriter.config import cache_dir
from capswriter.tools.runlog import timed_runs

CT2_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")


@dataclass
class ComparedClip:
    seconds: float
    runs: int
    decode_median_s: float
    rtf: float
    text: str


@dataclass
class FasterWhisperResult:
    available: bool
    note: str = ""
    version: str = ""
    load_seconds: float = 0.0
    rss_mb: float = 0.0  # growth of this process's RSS, highest after a first decode
    clips: list[ComparedClip] = field(default_factory=list)


def ct2_model_dir(model: str, cache: Path | None = None) -> Path | None:
    """The CTranslate2 copy of ``model`` the install left in the cache, if there is one."""
    folder = (cache or cache_dir()) / model
    if all((folder / name).is_file() for name in CT2_FILES):
        return folder
    return None


class FasterWhisper:
    """faster-whisper on the CTranslate2 copy of the model, decoding the way our engine does."""

    def __init__(self, folder: Path, threads: int) -> None:
        import faster_whisper

        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # a line per decode
        self.version = faster_whisper.__version__
        self._model = faster_whisper.WhisperModel(
            str(folder), device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1
        )

    def text(self, samples: np.ndarray) -> str:
        """Decoded as our engine decodes: greedy, one temperature, no timestamps, no VAD."""
        return self.decode(
            samples, beam_size=1, temperature=0.0, without_timestamps=True,
            condition_on_previous_text=False, vad_filter=False,
        )

    def decode(self, samples: np.ndarray, **options: Any) -> str:
        """Text of float32 16 kHz samples; ``options`` go to ``WhisperModel.transcribe``."""
        segments, _ = self._model.transcribe(samples, **options)
        return " ".join(s.text.strip() for s in segments)  # decoding happens while iterating


def load_faster_whisper(model: str, threads: int) -> FasterWhisper | str:
    """The comparison recognizer, or a sentence saying why there is none."""
    try:
        import faster_whisper  # noqa: F401 - only whether it is there
    except ImportError:
        return "faster-whisper is not installed (pip install 'capswriter[compare]')"
    folder = ct2_model_dir(model)
    if folder is None:
        return f"no CTranslate2 copy of {model} in {cache_dir()} (only whisper-base has one)"
    return FasterWhisper(folder, threads)


def bench_faster_whisper(
    model: str, clips: dict[float, np.ndarray], runs: int, threads: int
) -> FasterWhisperResult:
    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    started = time.perf_counter()
    recognizer = load_faster_whisper(model, threads)
    if isinstance(recognizer, str):
        return FasterWhisperResult(False, recognizer)
    result = FasterWhisperResult(
        True, version=recognizer.version, load_seconds=round(time.perf_counter() - started, 3),
    )
    for seconds, samples in clips.items():
        text = recognizer.text(samples)  # warm-up, as for our engine
        # CTranslate2 maps its weights in lazily: memory counts after a first decode.
        result.rss_mb = max(result.rss_mb,
                            round((process.memory_info().rss - before) / 2**20, 1))
        median = statistics.median(
            timed_runs(lambda samples=samples: recognizer.text(samples), runs)
        )
        # Per nominal clip length, as in bench_asr, so the two RTF columns divide alike.
        result.clips.append(ComparedClip(seconds, runs, round(median, 4),
                                         round(median / seconds, 4), text))
    return result


def faster_whisper_file(
    model: str, samples: np.ndarray, threads: int
) -> tuple[float, float] | str:
    """(wall seconds, RSS growth in MB) of a long recording decoded the way faster-whisper's
    users decode a file (beam 1, its VAD), or a sentence saying why it cannot run."""
    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    recognizer = load_faster_whisper(model, threads)
    if isinstance(recognizer, str):
        return recognizer
    recognizer.decode(samples[: 5 * SAMPLE_RATE], beam_size=1, vad_filter=True)  # warm-up
    started = time.perf_counter()
    recognizer.decode(samples, beam_size=1, vad_filter=True)
    wall = time.perf_counter() - started
    return wall, round((process.memory_info().rss - before) / 2**20, 1)
