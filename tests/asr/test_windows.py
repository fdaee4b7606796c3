"""Which window a piece of audio is read in: Whisper's full 30 s, or one sized to short audio."""

from __future__ import annotations

from capswriter.asr.whisper_features import HOP_LENGTH, N_FRAMES
from capswriter.asr.whisper_onnx import DecodeOptions, window_frames
from capswriter.audio import SAMPLE_RATE


def frames_of(seconds: float) -> int:
    return int(seconds * SAMPLE_RATE) // HOP_LENGTH


def test_without_a_pad_everything_is_read_in_the_full_window() -> None:
    assert window_frames(SAMPLE_RATE, DecodeOptions()) == N_FRAMES


def test_short_audio_gets_its_length_plus_the_pad_but_at_least_the_minimum() -> None:
    options = DecodeOptions(window_pad_s=3.0)
    assert window_frames(2 * SAMPLE_RATE, options) == frames_of(10.0)
    assert window_frames(12 * SAMPLE_RATE, options) == frames_of(15.0)
    assert window_frames(28 * SAMPLE_RATE, options) == N_FRAMES


def test_audio_past_the_sized_limit_gets_the_full_window() -> None:
    options = DecodeOptions(window_pad_s=3.0, sized_window_max_s=5.0)
    assert window_frames(2 * SAMPLE_RATE, options) == frames_of(10.0)
    assert window_frames(6 * SAMPLE_RATE, options) == N_FRAMES
