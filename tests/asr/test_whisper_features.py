"""Whisper's log-mel features against faster-whisper's reference implementation."""

from __future__ import annotations

import numpy as np
import pytest

from capswriter.asr.whisper_features import N_FRAMES, log_mel, mel_filters
from capswriter.audio import SAMPLE_RATE


def test_features_match_faster_whisper_on_real_speech(real_clips) -> None:
    feature_extractor = pytest.importorskip("faster_whisper.feature_extractor")
    audio = real_clips["en_jfk.wav"].samples()
    reference = feature_extractor.FeatureExtractor(feature_size=80)(
        audio, padding=30 * SAMPLE_RATE
    )[:, :N_FRAMES]
    ours = log_mel(audio)
    assert ours.shape == (80, N_FRAMES)
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_padding_is_silence_not_a_flat_band(real_clips) -> None:
    audio = real_clips["en_sr_one_two_three.wav"].samples()
    features = log_mel(audio)
    speech_frames = len(audio) // 160
    # Zero samples sit at the floor Whisper saw in training: 8 (log10) below the loudest frame.
    tail = features[:, speech_frames + 50 :]
    assert np.allclose(tail, tail.min())
    assert features.max() - tail.min() == pytest.approx(2.0, abs=1e-3)


def test_shorter_windows_and_long_input() -> None:
    audio = np.random.default_rng(0).normal(0, 0.1, 40 * SAMPLE_RATE).astype(np.float32)
    assert log_mel(audio).shape == (80, N_FRAMES)  # cut to the window
    assert log_mel(audio[:SAMPLE_RATE], n_frames=500).shape == (80, 500)
    assert mel_filters(128).shape == (128, 201)
