"""Fixtures for the file-transcription tests: real audio re-encoded by FFmpeg into the
containers users bring (MP3, M4A, MP4 with a picture, WebM, Ogg)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from capswriter.asr.engine import Engine
from capswriter.config import Settings
from capswriter.errors import CapsWriterError
from capswriter.files.segment import Segmenter

INSTALL_HINT = "run `capswriter models install whisper-base`"


def encode(
    samples: np.ndarray,
    rate: int,
    path: Path,
    *,
    codec: str,
    with_video: bool = False,
    seekable: bool = True,
) -> Path:
    """Write ``samples`` ((n,) mono or (n, channels)) with FFmpeg; the container follows the suffix.

    ``with_video`` adds a small moving picture first, so the audio is the second stream, as it
    is in most screen recordings and phone videos. ``seekable=False`` writes the way a browser's
    MediaRecorder or a live stream does: the muxer cannot go back, so no duration is stored.
    """
    frames = samples.reshape(len(samples), -1).astype(np.float32)
    channels = frames.shape[1]
    layout = "mono" if channels == 1 else "stereo"
    sink = _ForwardOnly()
    target = str(path) if seekable else sink
    container_format = None if seekable else {
        ".webm": "webm", ".mkv": "matroska", ".flac": "flac"}[path.suffix]
    with av.open(target, mode="w", format=container_format) as container:
        video = None
        if with_video:
            video_codec = "libvpx" if path.suffix == ".webm" else "mpeg4"
            video = container.add_stream(video_codec, rate=10)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream(codec, rate=rate, layout=layout)
        # Encoders want their own sample format and frame size; let FFmpeg's resampler
        # re-chunk and convert, keeping the rate.
        fifo = av.AudioResampler(
            format=audio.codec_context.codec.audio_formats[0].name,
            layout=layout,
            rate=rate,
            frame_size=audio.codec_context.frame_size or 1024,
        )
        chunk = 4096
        for offset in range(0, len(frames), chunk):
            block = np.ascontiguousarray(frames[offset : offset + chunk].T)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate = rate
            frame.pts = offset
            frame.time_base = Fraction(1, rate)
            for converted in fifo.resample(frame):
                container.mux(audio.encode(converted))
        for converted in fifo.resample(None):
            container.mux(audio.encode(converted))
        container.mux(audio.encode(None))
        if video is not None:
            seconds = len(frames) / rate
            for index in range(int(seconds * 10)):
                picture = np.full((48, 64, 3), (index * 7) % 255, dtype=np.uint8)
                image = av.VideoFrame.from_ndarray(picture, format="rgb24")
                container.mux(video.encode(image))
            container.mux(video.encode(None))
    if not seekable:
        path.write_bytes(bytes(sink.data))
    return path


class _ForwardOnly:
    """A file object with no seek, so FFmpeg writes as it would to a pipe."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)


@pytest.fixture(scope="session")
def encode_audio() -> Callable[..., Path]:
    return encode


@pytest.fixture(scope="session")
def segmenter(vad_model_path: Path) -> Segmenter:
    return Segmenter(vad_model_path, max_segment_s=28.0)


@pytest.fixture(scope="session")
def engine(models_dir: Path) -> Engine:
    """The installed whisper-base with default settings, loaded once, on one thread."""
    try:
        return Engine.load(Settings().asr, models_dir, num_threads=1)
    except CapsWriterError as exc:
        pytest.fail(f"Cannot load the recognizer ({exc}); {INSTALL_HINT}.")


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Which outputs CapsWriter wrote is remembered in the data dir; the tests keep their own."""
    monkeypatch.setenv("CAPSWRITER_DATA_DIR", str(tmp_path_factory.mktemp("data")))
