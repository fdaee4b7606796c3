"""The speech-recognition engine: one loaded sherpa-onnx recognizer, audio in, text out.

Load once (`Engine.load`), then call `transcribe` with float32 mono 16 kHz samples as often as
needed. One engine is not thread-safe; the server runs one per worker process.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from capswriter.asr.languages import check_language
from capswriter.asr.manifest import ModelManifest, load_manifest, recognizer_arguments
from capswriter.asr.result import Segment, Transcript
from capswriter.asr.text import looks_cut_short, text_units, tidy
from capswriter.audio import SAMPLE_RATE
from capswriter.config import AsrSettings
from capswriter.errors import ModelBroken, ModelNotInstalled

log = logging.getLogger(__name__)

# Whisper sees at most 30 s; sherpa-onnx silently drops audio past ~29.5 s, so stay below.
MAX_PIECE_SECONDS = 28.0
# Very short clips decode badly with little tail padding; padding the waveform with silence to
# this length restored them (see models/README.md) at far less cost than a larger tail_paddings.
MIN_AUDIO_SECONDS = 3.0
# How many times a piece whose text stopped early is split and decoded again.
RETRIES = 2
VAD_MODEL = Path("silero-vad") / "silero_vad.onnx"


def vad_model_path(models_dir: Path) -> Path:
    path = models_dir / VAD_MODEL
    if not path.is_file():
        raise ModelNotInstalled(
            f"the voice activity model {path} is missing; "
            "run: capswriter models install whisper-base"
        )
    return path


class SpeechGate:
    """Says whether audio holds speech, so silence never reaches Whisper (which invents text)."""

    def __init__(self, vad_model: Path) -> None:
        # The file segmenter's detection, which handles onsets after digital silence and
        # long input correctly; one detector per call, so the gate keeps no state.
        from capswriter.files.segment import Segmenter

        self._segmenter = Segmenter(vad_model)

    def speech_spans(self, samples: np.ndarray) -> list[tuple[int, int]]:
        """(start, end) sample ranges where speech was heard."""
        return [(span.start, span.end) for span in self._segmenter.speech_spans(samples)]


def split_long(
    samples: np.ndarray, max_seconds: float = MAX_PIECE_SECONDS
) -> list[tuple[int, int]]:
    """Cut audio longer than Whisper's window at the quietest moment of each piece's last 5 s.

    Callers that care about word boundaries segment with the VAD first (files/segment.py); this
    is the engine's own guarantee that nothing past 30 s is silently dropped.
    """
    from capswriter.files.segment import quietest_point

    limit = int(max_seconds * SAMPLE_RATE)
    bounds = []
    start = 0
    while len(samples) - start > limit:
        cut = quietest_point(samples, start + limit - 5 * SAMPLE_RATE, start + limit)
        bounds.append((start, cut))
        start = cut
    bounds.append((start, len(samples)))
    return bounds


@dataclass
class EngineInfo:
    model_name: str
    kind: str
    variant: str
    num_threads: int
    load_seconds: float


class Engine:
    """A loaded recognizer plus the speech gate and text clean-up around it."""

    def __init__(
        self,
        manifest: ModelManifest,
        model_dir: Path,
        settings: AsrSettings,
        num_threads: int,
        gate: SpeechGate | None,
    ) -> None:
        self.manifest = manifest
        self.model_dir = model_dir
        self.settings = settings
        self.num_threads = num_threads
        self._gate = gate
        self._recognizers: dict[str, object] = {}
        started = time.perf_counter()
        self._recognizer_for(settings.language)
        self.info = EngineInfo(
            manifest.name,
            manifest.kind,
            settings.precision,
            num_threads,
            time.perf_counter() - started,
        )

    @classmethod
    def load(
        cls, settings: AsrSettings, models_dir: Path, num_threads: int | None = None
    ) -> Engine:
        """Load the configured model from `models_dir`; errors name the install command."""
        model_dir = models_dir / settings.model
        manifest = load_manifest(model_dir)
        threads = num_threads or settings.num_threads or (os.cpu_count() or 1)
        gate = SpeechGate(vad_model_path(models_dir))
        return cls(manifest, model_dir, settings, threads, gate)

    @property
    def model_name(self) -> str:
        return self.manifest.name

    def _recognizer_for(self, language: str):
        # Whisper fixes the language when the recognizer is built; keep one per language asked
        # for, but at most two, since each costs the model's full memory.
        if language in self._recognizers:
            return self._recognizers[language]
        check_language(self.manifest, language)
        import sherpa_onnx

        factory, kwargs = recognizer_arguments(
            self.manifest,
            self.model_dir,
            num_threads=self.num_threads,
            language=language,
            variant=self.settings.precision,
            tail_paddings=self.settings.tail_paddings,
        )
        try:
            recognizer = getattr(sherpa_onnx.OfflineRecognizer, factory)(**kwargs)
        except Exception as exc:  # sherpa-onnx raises RuntimeError/ValueError with C++ text
            raise ModelBroken(
                f"sherpa-onnx could not load {self.model_dir} ({exc}); reinstall with "
                f"'capswriter models install {self.manifest.name}'"
            ) from exc
        if len(self._recognizers) >= 2:
            self._recognizers.pop(next(k for k in self._recognizers if k != self.settings.language))
        self._recognizers[language] = recognizer
        return recognizer

    def _decode(self, recognizer, samples: np.ndarray) -> tuple[str, str]:
        if len(samples) < MIN_AUDIO_SECONDS * SAMPLE_RATE and self.manifest.kind == "whisper":
            pad = np.zeros(int(MIN_AUDIO_SECONDS * SAMPLE_RATE) - len(samples), dtype=np.float32)
            samples = np.concatenate([samples, pad])
        stream = recognizer.create_stream()
        stream.accept_waveform(SAMPLE_RATE, samples)
        recognizer.decode_stream(stream)
        result = stream.result
        return result.text, getattr(result, "lang", "") or ""

    def transcribe(self, samples: np.ndarray, language: str | None = None) -> Transcript:
        """Text of float32 mono 16 kHz samples; silence gives empty text."""
        samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        audio_seconds = len(samples) / SAMPLE_RATE
        started = time.perf_counter()
        spans = self._gate.speech_spans(samples) if self._gate is not None else [(0, len(samples))]
        if not spans:
            return Transcript("", audio_seconds, time.perf_counter() - started)
        recognizer = self._recognizer_for(self.settings.language if language is None else language)
        segments: list[Segment] = []
        languages: list[str] = []
        for start, end in split_long(samples):
            inside = [(max(a, start), min(b, end)) for a, b in spans if a < end and b > start]
            for piece_start, piece_end, text, lang in self._recognize(
                recognizer, samples, start, end, inside, RETRIES
            ):
                languages.append(lang)
                if text:
                    segments.append(
                        Segment(piece_start / SAMPLE_RATE, piece_end / SAMPLE_RATE, text)
                    )
        detected = next((lang for lang in languages if lang), "")
        text = join_texts([s.text for s in segments])
        return Transcript(text, audio_seconds, time.perf_counter() - started, detected, segments)

    def _recognize(
        self, recognizer, samples: np.ndarray, start: int, end: int,
        spans: list[tuple[int, int]], retries: int,
    ) -> list[tuple[int, int, str, str]]:  # fmt: skip
        """Decode samples[start:end]; if Whisper stopped early, decode the halves instead.

        After a short first sentence and a pause (or a change of speaker) Whisper sometimes
        predicts the end of the text with most of its window unread: the text is then far too
        short for the speech heard. Cutting in the middle of the longest pause gets the rest
        back; the halves are kept only if they hold more text, so a retry never loses words.
        """
        raw, lang = self._decode(recognizer, samples[start:end])
        text = tidy(raw, self.settings.simplified_chinese)
        whole = [(start, end, text, lang.strip("<|>"))]
        speech_seconds = sum(b - a for a, b in spans) / SAMPLE_RATE
        if retries <= 0 or len(spans) < 2 or not looks_cut_short(text, speech_seconds):
            return whole
        gaps = [spans[k + 1][0] - spans[k][1] for k in range(len(spans) - 1)]
        k = max(range(len(gaps)), key=lambda i: (gaps[i], i))
        cut = (spans[k][1] + spans[k + 1][0]) // 2
        halves = self._recognize(recognizer, samples, start, cut, spans[: k + 1], retries - 1)
        halves += self._recognize(recognizer, samples, cut, end, spans[k + 1 :], retries - 1)
        if text_units(" ".join(h[2] for h in halves)) > text_units(text):
            return halves
        return whole


def join_texts(parts: list[str]) -> str:
    """Join pieces of text: no space between Chinese pieces, one space between others."""
    out = ""
    for part in parts:
        part = part.strip()
        if not part:
            continue
        if out and not (_is_cjk_edge(out[-1]) and _is_cjk_edge(part[0])):
            out += " "
        out += part
    return out


def _is_cjk_edge(char: str) -> bool:
    code = ord(char)
    return (
        0x2E80 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF
        or 0x3000 <= code <= 0x303F
    )
