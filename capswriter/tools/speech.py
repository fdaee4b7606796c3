"""Test audio made from real speech: exact-length utterances and long recordings with pauses.

Synthetic tones would let a leak or a slow path hide, because the recognizer does far less work
on them; these helpers only ever repeat real recordings (the bundled sample by default).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from capswriter.audio import SAMPLE_RATE
from capswriter.config import SAMPLE_SPEECH

DEFAULT_SPEECH = SAMPLE_SPEECH


def load_speech(paths: Sequence[Path] | None = None) -> list[np.ndarray]:
    """The given recordings (default: the bundled sample) as float32 mono 16 kHz samples."""
    from capswriter.files.decode import load_audio

    return [load_audio(Path(p)) for p in (paths or [DEFAULT_SPEECH])]


def utterance(seconds: float, clips: Sequence[np.ndarray]) -> np.ndarray:
    """Exactly ``seconds`` of speech: the clips in turn with 0.4 s pauses, cut to length."""
    pause = np.zeros(int(0.4 * SAMPLE_RATE), dtype=np.float32)
    need = int(seconds * SAMPLE_RATE)
    pieces, total, i = [], 0, 0
    while total < need:
        clip = clips[i % len(clips)]
        pieces.extend([clip, pause])
        total += len(clip) + len(pause)
        i += 1
    return np.concatenate(pieces)[:need].astype(np.float32)


def recording(seconds: float, clips: Sequence[np.ndarray], seed: int = 0) -> np.ndarray:
    """At least ``seconds`` of speech: whole clips separated by seeded pauses of 0.8-3.5 s.

    Whole clips (never cut mid-word) and varied pauses make the segmenter work as on a real
    recording; a faint noise floor avoids the digital silence real files never have.
    """
    rng = np.random.default_rng(seed)
    parts = [np.zeros(SAMPLE_RATE, dtype=np.float32)]
    total, i = SAMPLE_RATE, 0
    while total < seconds * SAMPLE_RATE:
        clip = clips[i % len(clips)]
        gap = np.zeros(int(rng.uniform(0.8, 3.5) * SAMPLE_RATE), dtype=np.float32)
        parts.extend([clip, gap])
        total += len(clip) + len(gap)
        i += 1
    joined = np.concatenate(parts)
    joined += rng.normal(0.0, 0.001, len(joined)).astype(np.float32)
    return np.clip(joined, -1.0, 1.0).astype(np.float32)


def wav_bytes(samples: np.ndarray) -> bytes:
    """A 16 kHz 16-bit WAV file's bytes, as a user would upload it."""
    buffer = io.BytesIO()
    sf.write(buffer, samples, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def seconds_of(samples: np.ndarray) -> float:
    return len(samples) / SAMPLE_RATE
