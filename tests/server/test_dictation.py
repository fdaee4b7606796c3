"""Early decoding: the stream is cut at pauses, pieces decode while audio still arrives, and
the joined text has every word once."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from server_helpers import (
    REAL,
    ServerProcess,
    recv,
    recv_until,
    send,
    silence,
    words,
)

from capswriter.server.dictation import FRAME, SAMPLE_RATE, PauseCutter
from capswriter.wire import protocol

CLIPS = ["en_jfk.wav", "en_goforward.wav", "en_sr_one_two_three.wav", "en_jfk.wav"]
EXPECTED = words(
    "And so my fellow Americans, ask not what your country can do for you, ask what you can "
    "do for your country. Go forward 10 meters. 1, 2, 3. And so my fellow Americans, ask not "
    "what your country can do for you, ask what you can do for your country."
)


def speech_with_pauses() -> np.ndarray:
    parts = []
    for name in CLIPS:
        data, _ = sf.read(REAL / name, dtype="float32")
        parts.extend([data, np.zeros(int(0.8 * SAMPLE_RATE), dtype=np.float32)])
    return np.concatenate(parts)


def test_pieces_cover_the_stream_exactly_and_end_inside_pauses() -> None:
    audio = speech_with_pauses()
    cutter = PauseCutter()
    pieces = []
    for i in range(0, len(audio), 1600):  # 100 ms frames, as a microphone delivers them
        pieces.extend(cutter.feed(audio[i : i + 1600]))
    last = cutter.finish()
    assert last is not None
    pieces.append(last)
    assert len(pieces) >= 3
    assert np.array_equal(np.concatenate([p.samples for p in pieces]), audio)
    assert [p.index for p in pieces] == list(range(len(pieces)))
    for piece in pieces[:-1]:
        duration = len(piece.samples) / SAMPLE_RATE
        assert 6.0 <= duration <= 25.0
        frames = piece.samples[: len(piece.samples) // FRAME * FRAME].reshape(-1, FRAME)
        rms = np.sqrt(np.mean(frames * frames, axis=1))
        # The cut is in a stretch far quieter than the speech around it.
        assert rms[-1] < 0.1 * rms.max()
    offsets = [p.offset for p in pieces]
    assert offsets == sorted(offsets) and offsets[0] == 0.0


def test_tiny_frames_cut_the_same_pieces_as_large_ones() -> None:
    """A client may send a sample per frame; the pieces must not depend on frame size."""
    audio = speech_with_pauses()[: 14 * SAMPLE_RATE]
    large, tiny = PauseCutter(), PauseCutter()
    expected = large.feed(audio)
    got = []
    for i in range(len(audio)):
        got.extend(tiny.feed(audio[i : i + 1]))
    assert [(p.index, p.offset) for p in got] == [(p.index, p.offset) for p in expected]
    assert all(np.array_equal(a.samples, b.samples) for a, b in zip(got, expected, strict=True))
    assert tiny.speech_frames > 0


def test_speech_without_pauses_is_cut_before_whisper_window_fills() -> None:
    rng = np.random.default_rng(3)
    tone = (0.3 * np.sin(np.arange(40 * SAMPLE_RATE) * 0.05)).astype(np.float32)
    tone += rng.normal(0, 0.01, tone.size).astype(np.float32)
    cutter = PauseCutter()
    pieces = cutter.feed(tone)
    assert pieces and all(len(p.samples) <= 25 * SAMPLE_RATE for p in pieces)


def test_pieces_are_decoded_while_the_key_is_still_held(server: ServerProcess) -> None:
    audio = speech_with_pauses()
    pcm = (audio * 32768).astype("<i2").tobytes()
    first_pause = int((11.0 + 0.8) * SAMPLE_RATE) * 2
    seen: list[protocol.Message] = []
    with server.ws() as ws:
        send(ws, protocol.Start(task_id="held"))
        assert isinstance(recv(ws), protocol.Accepted)
        for i in range(0, first_pause, 3200):
            ws.send(pcm[i : min(i + 3200, first_pause)])
        # The key is still down: the first finished piece comes back before any `end`.
        early = recv_until(ws, (protocol.SegmentResult,), timeout=60, seen=seen)
        assert early.index == 0 and early.text
        for i in range(first_pause, len(pcm), 3200):
            ws.send(pcm[i : i + 3200])
        ws.send(silence(0.3))
        send(ws, protocol.End(task_id="held"))
        result = recv_until(ws, (protocol.Result,), seen=seen)
    # Every word once, in order: nothing dropped or repeated at the cuts.
    assert words(result.text) == EXPECTED
    segments = [m for m in seen if isinstance(m, protocol.SegmentResult)] + [early]
    assert len(segments) >= 3
    assert result.timings["after_end"] <= result.timings["total"]
