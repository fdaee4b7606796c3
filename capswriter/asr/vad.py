"""Where speech is: Silero VAD over 16 kHz audio, and where a stretch of audio is quietest.

The one speech detector of the package: the file segmenter (files/segment.py) packs its spans
into segments, the engine's speech gate keeps silence away from Whisper, and the server's
dictation cutter and the engine cut long audio at ``quietest_point``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sherpa_onnx

from capswriter.asr.native_path import native_path
from capswriter.audio import SAMPLE_RATE
from capswriter.errors import ModelNotInstalled

# Silero's window at 16 kHz, in samples.
_VAD_WINDOW = 512
# About -70 dBFS, see SpeechDetector.speech_spans; applied in blocks so memory does not grow.
_DITHER_RMS = 3e-4
_DITHER_BLOCK = _VAD_WINDOW * 1024


@dataclass(frozen=True)
class Span:
    """A range of samples, end exclusive."""

    start: int
    end: int


class SpeechDetector:
    """Finds speech with Silero VAD.

    One instance can be used from any number of threads: each thread keeps its own model
    (building one costs more than listening to a short clip), reset for every call.
    """

    def __init__(
        self,
        vad_model: Path,
        *,
        threshold: float = 0.5,
        min_silence_s: float = 0.25,
        min_speech_s: float = 0.15,
    ) -> None:
        """``min_silence_s`` is the shortest pause that ends speech; ``min_speech_s`` the
        shortest sound that counts as speech."""
        if not Path(vad_model).is_file():
            raise ModelNotInstalled(
                f"The voice activity model {vad_model} is missing; "
                "run `capswriter models install whisper-base` to install it."
            )
        self.vad_model = Path(vad_model)
        self.threshold = threshold
        self.min_silence_s = min_silence_s
        self.min_speech_s = min_speech_s
        self._local = threading.local()

    def speech_spans(self, samples: np.ndarray) -> list[Span]:
        """Where Silero hears speech, without padding."""
        return [span for closed, _ in self.stream_spans(samples) for span in closed]

    def stream_spans(self, samples: np.ndarray) -> Iterator[tuple[list[Span], int]]:
        """speech_spans a block at a time (about 33 s of audio): each item is the spans that
        ended in the block and the sample before which every span is known (where speech still
        going on began, or how far the detector has listened, less its onset delay)."""
        # The bare model, not sherpa-onnx's VoiceActivityDetector: the detector copies its
        # whole buffer for every window while speech lasts, which turns minutes of unbroken
        # speech (or music) into minutes of work, and it mishandles input longer than a window.
        model = getattr(self._local, "model", None)
        if model is None:
            model = self._local.model = sherpa_onnx.VadModel.create(self._config())
        model.reset()
        window = model.window_size()
        # is_speech() already bridges pauses shorter than min_silence and ignores bursts
        # shorter than min_speech, so it reports each change that much late; move the edges
        # back to where the change happened (the same margins sherpa-onnx's detector uses).
        onset_delay = 2 * window + model.min_speech_duration_samples()
        offset_delay = model.min_silence_duration_samples()
        last_end = 0
        start: int | None = None
        # Silero misses a word that starts abruptly after exact digital silence (trimmed, gated
        # or synthesized audio); a noise floor far below any microphone's restores it. The
        # dither is seeded so the same audio always gives the same segments.
        rng = np.random.default_rng(0)
        for block in range(0, len(samples), _DITHER_BLOCK):
            closed: list[Span] = []
            chunk = samples[block : block + _DITHER_BLOCK]
            chunk = chunk + rng.normal(0.0, _DITHER_RMS, len(chunk)).astype(np.float32)
            if len(chunk) % window:
                chunk = np.concatenate([chunk, np.zeros(window - len(chunk) % window, np.float32)])
            heard = block
            for offset in range(0, len(chunk), window):
                heard = min(len(samples), block + offset + window)
                speaking = model.is_speech(chunk[offset : offset + window])
                if speaking and start is None:
                    start = max(last_end, heard - onset_delay)
                elif not speaking and start is not None:
                    closed.append(Span(start, max(start + 1, heard - offset_delay)))
                    last_end, start = closed[-1].end, None
            if heard >= len(samples) and start is not None:
                closed.append(Span(start, len(samples)))
                start = None
            known = len(samples) if heard >= len(samples) else (
                start if start is not None else max(last_end, heard - onset_delay)
            )
            yield closed, known

    def _config(self) -> sherpa_onnx.VadModelConfig:
        config = sherpa_onnx.VadModelConfig()
        config.silero_vad.model = native_path(self.vad_model)
        config.silero_vad.threshold = self.threshold
        config.silero_vad.min_silence_duration = self.min_silence_s
        config.silero_vad.min_speech_duration = self.min_speech_s
        # Long speech is cut here, at its quietest point, not by the model's own limit.
        config.silero_vad.max_speech_duration = 1e6
        config.silero_vad.window_size = _VAD_WINDOW
        config.sample_rate = SAMPLE_RATE
        config.num_threads = 1
        return config


def quietest_point(
    samples: np.ndarray, lo: int, hi: int, frame: int = 320, hop: int = 160,
    *, latest: bool = True,
) -> int:
    """Sample index in [lo, hi] at the centre of the frame (20 ms unless told) with the least
    energy.

    Among equally quiet frames the latest wins, so segments stay as long as allowed (the
    earliest with ``latest=False``).
    """
    lo = max(0, lo)
    hi = min(len(samples), hi)
    if hi - lo < frame:
        return hi
    region = samples[lo:hi].astype(np.float64)
    starts = np.arange(0, len(region) - frame + 1, hop)
    squares = np.concatenate(([0.0], np.cumsum(region * region)))
    energy = squares[starts + frame] - squares[starts]
    best = len(energy) - 1 - int(np.argmin(energy[::-1])) if latest else int(np.argmin(energy))
    return lo + int(starts[best]) + frame // 2


def cut_at_quiet_points(
    samples: np.ndarray, start: int, end: int, limit: int, window: int
) -> list[tuple[int, int]]:
    """``samples[start:end]`` as (start, end) pieces no longer than ``limit`` samples, each cut
    at the quietest moment within ``window`` samples before the limit."""
    pieces = []
    while end - start > limit:
        cut = quietest_point(samples, start + limit - window, start + limit)
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces
