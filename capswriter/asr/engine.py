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

from capswriter.asr.guard import text_problem
from capswriter.asr.languages import check_language
from capswriter.asr.loudness import FRAME, loud_frames, loud_spans
from capswriter.asr.manifest import ModelManifest, load_manifest, recognizer_arguments
from capswriter.asr.result import Segment, Transcript
from capswriter.asr.text import join_texts, tidy
from capswriter.asr.whisper_onnx import DecodeOptions, RetryBudget, WhisperOnnx
from capswriter.audio import SAMPLE_RATE
from capswriter.config import AsrSettings
from capswriter.errors import ModelBroken, ModelNotInstalled

log = logging.getLogger(__name__)

# Whisper sees at most 30 s; sherpa-onnx silently drops audio past ~29.5 s, so stay below.
MAX_PIECE_SECONDS = 28.0
# Quiet audio (see loudness) before the first and after the last speech is not read; this
# much of it is kept next to the speech.
EDGE_PAD_SECONDS = 0.5
# How many times a piece whose text failed every check is cut at its longest pause and retried.
RETRIES = 2
VAD_MODEL = Path("silero-vad") / "silero_vad.onnx"
# Encoders precision "auto" takes for Whisper, best first (see whisper_files).
AUTO_ENCODERS = ("int8-rows", "fp32")


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
        # long input correctly; reset for every call, so the gate keeps no state.
        from capswriter.asr.vad import SpeechDetector

        self._detector = SpeechDetector(vad_model)

    def speech_spans(self, samples: np.ndarray) -> list[tuple[int, int]]:
        """(start, end) sample ranges where speech was heard."""
        return [(span.start, span.end) for span in self._detector.speech_spans(samples)]


def split_long(
    samples: np.ndarray, max_seconds: float = MAX_PIECE_SECONDS
) -> list[tuple[int, int]]:
    """Cut audio longer than Whisper's window at the quietest moment of each piece's last 5 s.

    Callers that care about word boundaries segment with the VAD first (files/segment.py); this
    is the engine's own guarantee that nothing past 30 s is silently dropped.
    """
    from capswriter.asr.vad import cut_at_quiet_points

    return cut_at_quiet_points(
        samples, 0, len(samples), int(max_seconds * SAMPLE_RATE), 5 * SAMPLE_RATE
    )


def quiet_edges(
    samples: np.ndarray, spans: list[tuple[int, int]], pad_seconds: float = EDGE_PAD_SECONDS
) -> tuple[int, int]:
    """(first, last) sample of the input without the quiet audio before and after its speech.

    Long silence around speech is where Whisper invents text ("Thank you."). Only audio that
    is both outside the VAD's speech and quiet is cut: the VAD misses some loud speech (a
    shout, a laugh), and that must still be read.
    """
    loud = loud_frames(samples, spans)
    n = len(loud)
    if n == 0 or not spans:
        return 0, len(samples)
    pad = int(pad_seconds * SAMPLE_RATE)
    first_loud = next((i for i in range(n) if loud[i]), 0)
    last_loud = next((i for i in range(n - 1, -1, -1) if loud[i]), n - 1)
    first = max(0, first_loud * FRAME - pad)
    last = min(len(samples), (last_loud + 1) * FRAME + pad)
    if last_loud == n - 1:
        last = len(samples)  # the tail shorter than a frame goes with the last frame
    return first, last


@dataclass
class EngineInfo:
    model_name: str
    kind: str
    variant: str
    num_threads: int
    load_seconds: float


class Engine:
    """A loaded recognizer plus the speech gate and text clean-up around it.

    Whisper models are decoded by `WhisperOnnx` (temperature fallback and text checks that
    sherpa-onnx's greedy Whisper path lacks); every other kind runs on sherpa-onnx.
    """

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
        self._whisper: WhisperOnnx | None = None
        # A dictation, which someone waits for, is read in a window sized to it rather than
        # Whisper's full 30 s (models/README.md has what each costs and buys).
        self.file_options = DecodeOptions(
            beam_size=max(1, settings.beam_size),
            window_pad_s=settings.file_window_pad_s if settings.file_window_pad_s >= 0 else None,
            sized_window_max_s=settings.file_sized_window_max_s,
        )
        self.dictation_options = DecodeOptions(
            beam_size=max(1, settings.beam_size),
            window_pad_s=(
                settings.dictation_window_pad_s if settings.dictation_window_pad_s >= 0 else None
            ),
        )
        manifest.check_precision(settings.precision)
        started = time.perf_counter()
        if manifest.kind == "whisper":
            self._whisper = self._load_whisper()
        else:
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

    def _load_whisper(self) -> WhisperOnnx:
        check_language(self.manifest, self.settings.language)
        files = whisper_files(self.manifest, self.model_dir, self.settings.precision)
        try:
            return WhisperOnnx(
                files["encoder"], files["decoder"], files["tokens"], self.num_threads
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelBroken(
                f"onnxruntime could not load {self.model_dir} ({exc}); reinstall with "
                f"'capswriter models install {self.manifest.name}'"
            ) from exc

    def _recognizer_for(self, language: str):
        # sherpa-onnx fixes the language when a recognizer is built; keep one per language asked
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
        )
        recognizers = sherpa_onnx.OnlineRecognizer if self.manifest.spec.online else (
            sherpa_onnx.OfflineRecognizer
        )
        try:
            recognizer = getattr(recognizers, factory)(**kwargs)
        except Exception as exc:  # sherpa-onnx raises RuntimeError/ValueError with C++ text
            raise ModelBroken(
                f"sherpa-onnx could not load {self.model_dir} ({exc}); reinstall with "
                f"'capswriter models install {self.manifest.name}'"
            ) from exc
        if len(self._recognizers) >= 2:
            self._recognizers.pop(next(k for k in self._recognizers if k != self.settings.language))
        self._recognizers[language] = recognizer
        return recognizer

    def transcribe(
        self, samples: np.ndarray, language: str | None = None, dictation: bool = False,
        speech: list[tuple[int, int]] | None = None,
    ) -> Transcript:  # fmt: skip
        """Text of float32 mono 16 kHz samples; silence gives empty text.

        `dictation` asks for the quicker decoding settings of someone waiting for the text.
        `speech` is where a caller's voice activity detection already heard speech ((start,
        end) sample offsets, as the file segmenter reports it); without it the engine listens.
        """
        options = self.dictation_options if dictation else self.file_options
        samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        audio_seconds = len(samples) / SAMPLE_RATE
        started = time.perf_counter()
        if speech is not None:
            spans = [(max(0, int(a)), min(len(samples), int(b))) for a, b in speech]
            spans = [(a, b) for a, b in spans if b > a]
        elif self._gate is not None:
            # A voice Silero does not know (whispered, synthetic, some readers) gets no span
            # at all; clearly loud audio is read anyway, and the text checks still apply.
            spans = self._gate.speech_spans(samples) or loud_spans(samples)
        else:
            spans = [(0, len(samples))]
        if not spans:
            return Transcript("", audio_seconds, time.perf_counter() - started)
        language = self.settings.language if language is None else language
        check_language(self.manifest, language)
        segments: list[Segment] = []
        languages: list[str] = []
        # Everything between the quiet edges is read, not only what the VAD calls speech: it
        # misses shouted or sung words, and dictation audio is speech by intent. The VAD
        # tells which pieces hold speech at all, and how much, for the text checks.
        first, last = quiet_edges(samples, spans)
        for start, end in split_long(samples[first:last]):
            start, end = start + first, end + first
            inside = [(max(a, start), min(b, end)) for a, b in spans if a < end and b > start]
            if not inside:
                continue
            for piece in self._recognize(
                samples, start, end, inside, language, options, RETRIES
            ):
                languages.append(piece.language)
                language = language or piece.language  # one language through a long input
                if piece.text:
                    segments.append(
                        Segment(piece.start / SAMPLE_RATE, piece.end / SAMPLE_RATE, piece.text)
                    )
        detected = next((lang for lang in languages if lang), "")
        text = join_texts([s.text for s in segments])
        return Transcript(text, audio_seconds, time.perf_counter() - started, detected, segments)

    def _decode(
        self,
        samples: np.ndarray,
        spans: list[tuple[int, int]],
        language: str,
        options: DecodeOptions,
        budget: RetryBudget,
    ) -> list[_Piece]:
        """Timed texts of a piece of at most 30 s and whether they passed the checks."""
        if self._whisper is not None:
            piece = self._whisper.decode_piece(samples, spans, language, options, budget)
            return [
                _Piece(
                    int(start * SAMPLE_RATE), min(int(end * SAMPLE_RATE), len(samples)),
                    tidy(text, self.settings.chinese_script), piece.language, piece.passed,
                )  # fmt: skip
                for start, end, text in piece.segments
            ]
        recognizer = self._recognizer_for(language)
        stream = recognizer.create_stream()
        stream.accept_waveform(SAMPLE_RATE, samples)
        if self.manifest.spec.online:
            # A streaming model reads the piece chunk by chunk, to its end.
            stream.input_finished()
            while recognizer.is_ready(stream):
                recognizer.decode_stream(stream)
            raw, lang = recognizer.get_result(stream), ""
        else:
            recognizer.decode_stream(stream)
            raw = stream.result.text
            lang = (getattr(stream.result, "lang", "") or "").strip("<|>")
        text = tidy(raw, self.settings.chinese_script)
        speech_seconds = sum(b - a for a, b in spans) / SAMPLE_RATE
        trusted = text_problem(text, speech_seconds) is None
        return [_Piece(0, len(samples), text, lang, trusted)]

    def _recognize(
        self, samples: np.ndarray, start: int, end: int,
        spans: list[tuple[int, int]], language: str, options: DecodeOptions, retries: int,
        budget: RetryBudget | None = None,
    ) -> list[_Piece]:  # fmt: skip
        """Decode samples[start:end]; if no version of its text passed the checks, decode the
        halves either side of the longest pause instead.

        After a short first sentence and a pause (or a change of speaker) Whisper sometimes
        ends the text with most of its window unread, or loops. Cut in the middle of the longest
        pause, each half is an easier window; the halves are kept only when each passed its
        checks, so a retry never trades a usable text for a worse one. The halves share the
        piece's retry budget: music or noise that fails every check costs one budget, not one
        per half.
        """
        if budget is None:
            budget = RetryBudget((end - start) / SAMPLE_RATE, options)
        whole = self._decode(
            samples[start:end], [(a - start, b - start) for a, b in spans], language, options,
            budget,
        )
        for piece in whole:
            piece.start, piece.end = piece.start + start, piece.end + start
        if (
            all(p.trusted for p in whole) or retries <= 0 or len(spans) < 2
            or budget.spent
        ):
            return whole
        gaps = [spans[k + 1][0] - spans[k][1] for k in range(len(spans) - 1)]
        k = max(range(len(gaps)), key=lambda i: (gaps[i], i))
        cut = (spans[k][1] + spans[k + 1][0]) // 2
        halves = self._recognize(
            samples, start, cut, spans[: k + 1], language, options, retries - 1, budget
        )
        halves += self._recognize(
            samples, cut, end, spans[k + 1 :], language, options, retries - 1, budget
        )
        if all(h.trusted for h in halves):
            return halves
        return whole


@dataclass
class _Piece:
    start: int
    end: int
    text: str
    language: str
    trusted: bool


def whisper_files(manifest: ModelManifest, model_dir: Path, precision: str) -> dict[str, Path]:
    """Encoder, decoder and tokens paths of a Whisper model folder for a precision.

    "auto" takes the default (int8) decoder with the encoder scaled per audio frame, or else
    the float32 one: the plain int8 encoder (one scale per tensor) costs words in both
    languages, the per-frame one as few as float32 in two thirds of its time, and the
    decoder's int8 weights cost none measurably (models/README.md has the figures).
    """
    if precision == "auto":
        files = manifest.files_for(None)
        for variant in AUTO_ENCODERS:
            encoder = manifest.variants.get(variant, {}).get("encoder")
            if encoder and (model_dir / encoder).is_file():
                files["encoder"] = encoder
                break
    else:
        files = manifest.files_for(precision)
    # Our converter also writes a decoder laid out for our own decoding loop; a folder made
    # for sherpa-onnx alone decodes with its decoder, more slowly.
    step = files.get("step_decoder")
    if step and (model_dir / step).is_file():
        files["decoder"] = step
    paths = {arg: model_dir / files[arg] for arg in ("encoder", "decoder", "tokens")}
    for path in paths.values():
        if not path.is_file():
            raise ModelBroken(
                f"{path} is missing; reinstall with 'capswriter models install {manifest.name}'"
            )
    return paths
