"""Capture: the resampling pipeline on synthetic signals, the recorder on real PulseAudio."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from capswriter.client.recorder import SAMPLE_RATE, AudioPipeline, Recorder, RecorderError
from capswriter.config import PROJECT_ROOT

from .speech import AUDIO
from .xsession import wait_until

CLIP = AUDIO / "en_sr_one_two_three.wav"


def sine(rate: int, seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[np.argmax(spectrum)])


def feed_in_blocks(pipeline: AudioPipeline, audio: np.ndarray, block: int) -> None:
    for start in range(0, len(audio), block):
        pipeline.feed(audio[start:start + block])


@pytest.mark.parametrize("rate", [44100, 48000, 8000, 16000])
def test_pipeline_resamples_any_native_rate_to_16k_keeping_pitch_and_length(rate):
    p = AudioPipeline(rate)
    p.arm()
    feed_in_blocks(p, sine(rate, 2.0), rate // 50)
    audio = p.finish()
    assert abs(len(audio) - 2 * SAMPLE_RATE) <= 2
    assert dominant_frequency(audio, SAMPLE_RATE) == pytest.approx(440, abs=2)
    middle = audio[SAMPLE_RATE // 2: -SAMPLE_RATE // 2]
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_pipeline_rejects_content_above_the_new_nyquist():
    p = AudioPipeline(48000)
    p.arm()
    feed_in_blocks(p, sine(48000, 1.0, freq=12000), 960)
    audio = p.finish()
    # 12 kHz would alias to 4 kHz with a naive decimator; a proper resampler removes it.
    assert np.sqrt(np.mean(audio[1000:-1000] ** 2)) < 0.01


def test_pipeline_streams_fixed_chunks_backlog_first_and_they_sum_to_the_capture():
    p = AudioPipeline(48000, chunk_s=0.1)
    chunks: list[np.ndarray] = []
    p.arm()
    feed_in_blocks(p, sine(48000, 0.35), 960)  # before the hold threshold: backlog
    assert chunks == []
    p.stream_to(chunks.append)
    assert len(chunks) == 3
    feed_in_blocks(p, sine(48000, 0.5), 960)
    audio = p.finish()
    assert all(len(c) == 1600 for c in chunks[:-1])
    assert 0 < len(chunks[-1]) <= 1600
    np.testing.assert_array_equal(np.concatenate(chunks), audio)


def test_pipeline_preroll_includes_audio_heard_before_arm():
    p = AudioPipeline(16000, ring_s=1.0)
    before = np.linspace(-1, 1, 16000, dtype=np.float32)
    feed_in_blocks(p, before, 320)
    p.arm(preroll_s=0.25)
    p.feed(np.ones(320, np.float32))
    audio = p.finish()
    np.testing.assert_array_equal(audio[:4000], before[-4000:])
    assert len(audio) == 4000 + 320


def test_pipeline_discard_drops_the_capture_and_returns_to_the_ring():
    p = AudioPipeline(16000)
    chunks = []
    p.arm()
    p.stream_to(chunks.append)
    p.feed(np.ones(800, np.float32))
    p.discard()
    assert not p.capturing
    p.feed(np.ones(3200, np.float32))
    assert chunks == [] and len(p.finish()) == 0


def best_alignment(recorded: np.ndarray, clip: np.ndarray) -> tuple[int, float]:
    """Offset of ``clip`` in ``recorded`` and the normalised correlation there."""
    corr = np.correlate(recorded, clip, "valid")
    offset = int(np.argmax(corr))
    window = recorded[offset:offset + len(clip)]
    score = float(corr[offset] / (np.linalg.norm(window) * np.linalg.norm(clip) + 1e-9))
    return offset, score


def load_clip() -> tuple[np.ndarray, np.ndarray]:
    pcm, rate = sf.read(CLIP, dtype="int16")
    assert rate == SAMPLE_RATE
    return pcm, pcm.astype(np.float32) / 32768


def test_recorder_captures_real_speech_from_the_device_at_16k(pulse_source):
    pcm, clip = load_clip()
    chunks: list[np.ndarray] = []
    rec = Recorder(keep_open=True, idle_minutes=5)
    try:
        rec.open()
        assert rec.input_rate and rec.input_rate != SAMPLE_RATE  # the pulse device runs at 44.1k
        time.sleep(0.3)
        rec.arm()
        rec.start(chunks.append)
        pulse_source.play(pcm)
        wait_until(pulse_source.idle, 10)
        time.sleep(len(pcm) / SAMPLE_RATE + 0.5)
        audio = rec.stop()
    finally:
        rec.close()
    np.testing.assert_array_equal(np.concatenate(chunks), audio)
    offset, score = best_alignment(audio, clip)
    assert score > 0.95, score
    assert len(audio) >= offset + len(clip)


def test_keep_open_recorder_includes_the_preroll_before_the_press(pulse_source):
    pcm, clip = load_clip()
    rec = Recorder(keep_open=True, preroll_s=0.3)
    try:
        rec.open()
        time.sleep(0.3)
        pulse_source.play(pcm)
        wait_until(pulse_source.idle, 10)
        time.sleep(1.2)  # "press" just after "two" begins (it starts 1.0 s into the clip)
        rec.arm()
        time.sleep(0.6)
        audio = rec.stop()
    finally:
        rec.close()
    assert len(audio) == pytest.approx(0.9 * SAMPLE_RATE, abs=0.15 * SAMPLE_RATE)
    # The capture is the slice of the clip around the press, starting 0.3 s before it.
    offset, score = best_alignment(clip, audio)
    assert score > 0.9, score
    print("capture starts at", offset / SAMPLE_RATE, "s into the clip")
    assert offset / SAMPLE_RATE == pytest.approx(0.9, abs=0.2)


def test_open_on_press_recorder_holds_the_device_only_while_recording(pulse_source):
    rec = Recorder(keep_open=False)
    assert not rec.is_open
    rec.arm()
    assert rec.is_open
    time.sleep(0.3)
    audio = rec.stop()
    assert not rec.is_open
    assert len(audio) == pytest.approx(0.3 * SAMPLE_RATE, abs=0.15 * SAMPLE_RATE)
    rec.arm()
    rec.cancel()
    assert not rec.is_open


def test_idle_stream_is_released_after_the_configured_time(pulse_source):
    rec = Recorder(keep_open=True, idle_minutes=0.3 / 60)
    try:
        rec.open()
        rec.arm()
        rec.cancel()
        assert rec.is_open
        assert wait_until(lambda: not rec.is_open, 3)
        rec.arm()  # reopens on the next press
        assert rec.is_open
        rec.cancel()
    finally:
        rec.close()


def test_missing_device_is_a_clear_error(pulse_source):
    rec = Recorder(device="no such microphone", keep_open=False)
    with pytest.raises(RecorderError, match="No usable microphone"):
        rec.arm()
    assert not rec.is_open
    assert len(rec.stop()) == 0



def test_device_lost_mid_dictation_is_reported_and_what_was_heard_is_kept(tmp_path):
    from .pulse import require_pulse

    require_pulse()
    # Its own process: PortAudio is re-initialised against a sound server that then dies,
    # which must not disturb the device the other tests share.
    probe = subprocess.run(
        [sys.executable, "-m", "tests.client.device_loss_probe", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=90,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert "stopped delivering audio" in result["error"]
    assert result["stop_seconds"] < 1.0  # no hang on a dead device
    # Everything up to the loss (0.5 s in) is kept, nothing after it.
    assert result["samples"] == pytest.approx(0.5 * SAMPLE_RATE, abs=0.2 * SAMPLE_RATE)
    # The next press tries the device afresh and says clearly that there is none.
    assert "No usable microphone" in result["next_press"]
