"""The one audio format inside CapsWriter: 16 kHz mono, float32 in [-1, 1) in memory and
16-bit little-endian PCM on the wire and on disk (dictation frames, kept history audio)."""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
_FULL_SCALE = 32768.0


def to_pcm16(samples: np.ndarray) -> bytes:
    """float32 samples (clipped to [-1, 1)) or int16 samples → 16-bit little-endian PCM."""
    if samples.dtype == np.int16:
        return samples.astype("<i2").tobytes()
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 32767 / _FULL_SCALE)
    return np.round(clipped * _FULL_SCALE).astype("<i2").tobytes()


def from_pcm16(data: bytes) -> np.ndarray:
    """16-bit little-endian PCM (an even number of bytes) → float32 in [-1, 1)."""
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / _FULL_SCALE
