"""Whisper's log-mel input: 80 (or 128) mel bands every 10 ms, scaled the way the model was trained.

Whisper always saw 30 s windows: speech followed by zeros, turned into a log-mel spectrogram as a
whole. Padding the *samples* with zeros (not the features) is what keeps the padded frames at the
level the model knows; padding features with 0 after scaling (as sherpa-onnx does) shows it a
loud, flat band it never saw, and greedy decoding then loses words or loops.
"""

from __future__ import annotations

import functools

import numpy as np

from capswriter.audio import SAMPLE_RATE

N_FFT = 400
HOP_LENGTH = 160
CHUNK_SECONDS = 30
N_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3000 frames in Whisper's window


@functools.lru_cache(maxsize=2)
def mel_filters(n_mels: int = 80, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Slaney-scale triangular filters with area normalisation: [n_mels, n_fft // 2 + 1]."""
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    # The Slaney mel scale: linear below 1 kHz, logarithmic above.
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    log_step = np.log(6.4) / 27.0

    def hz_to_mel(hz: float) -> float:
        return hz / f_sp if hz < min_log_hz else min_log_mel + np.log(hz / min_log_hz) / log_step

    mels = np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2)
    hz = np.where(
        mels < min_log_mel, f_sp * mels, min_log_hz * np.exp(log_step * (mels - min_log_mel))
    )
    widths = np.diff(hz)
    ramps = hz[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (hz[2 : n_mels + 2] - hz[:n_mels]))[:, None]
    return weights.astype(np.float32)


@functools.lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann, as torch.hann_window


def log_mel(samples: np.ndarray, n_frames: int = N_FRAMES, n_mels: int = 80) -> np.ndarray:
    """[n_mels, n_frames] features of `samples` zero-padded (or cut) to n_frames × 10 ms."""
    n_samples = n_frames * HOP_LENGTH
    audio = np.zeros(n_samples, dtype=np.float32)
    audio[: min(len(samples), n_samples)] = samples[:n_samples]
    half = N_FFT // 2
    padded = np.pad(audio, half, mode="reflect")  # torch.stft(center=True)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH][:n_frames]
    power = np.abs(np.fft.rfft(frames * _window(), axis=-1)) ** 2
    mel = mel_filters(n_mels) @ power.T.astype(np.float32)
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)
