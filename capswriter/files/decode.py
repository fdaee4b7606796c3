"""Any audio or video file in, float32 mono 16 kHz samples out.

WAV, FLAC and Ogg go through libsndfile (``soundfile``); MP3 and video containers (mp4, mkv,
m4a, webm, ...) go through FFmpeg (``av``). The format is recognised from the content, never
from the file name: the server receives bytes and a name chosen by the client, and a name
proves nothing about what is inside.

Limits are checked as early as the input allows: the byte size before anything is opened,
the duration from the header or container before decoding, and the decoded length again while
decoding, because some headers (raw MP3, streamed WebM) do not know their duration.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from capswriter.audio import SAMPLE_RATE
from capswriter.errors import AudioTooLarge, DecodeCancelled, UnsupportedAudio

# FFmpeg's own notes ("Trying to resync...") would reach the user's terminal; what matters
# comes back as our errors.
av.logging.set_level(av.logging.ERROR)

# What libsndfile reports as the length of a stream that does not know it (SF_COUNT_MAX).
_SF_UNKNOWN_FRAMES = 2**63 - 1
# Read this many source frames at a time so memory stays near the size of the output.
_BLOCK_FRAMES = 1 << 16
# Without a duration in the header, decoded audio is announced to `before_decode` this many
# seconds at a time, as it is decoded.
_CHARGE_STEP_S = 60.0

# libsndfile reads MP3 too, but FFmpeg handles ID3 tags, VBR and encoder delay better, so MP3
# always takes the FFmpeg path and libsndfile keeps the formats it is best at.
_FFMPEG_ONLY_FORMATS = {"MP3"}

# A path (str or Path) to open, or the file's content.
Source = Path | str | bytes


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header without decoding the samples."""

    # "libsndfile" or "ffmpeg": which library will decode the samples.
    decoder: str
    container: str
    codec: str
    sample_rate: int
    channels: int
    # None when the container cannot tell without decoding everything.
    duration_s: float | None


def probe(source: Source, *, name: str | None = None) -> AudioInfo:
    """Read the header of ``source``; raise UnsupportedAudio if it is not audio we can decode."""
    source = Path(source) if isinstance(source, str) else source
    label = _label(source, name)
    size = _size(source, label)
    if size == 0:
        raise UnsupportedAudio(f"{label} is empty (0 bytes); choose a file that contains audio.")
    info = _probe_soundfile(source)
    if info is None:
        info = _probe_ffmpeg(source, label)
    return info


def load_audio(
    source: Source,
    *,
    max_bytes: int | None = None,
    max_seconds: float | None = None,
    name: str | None = None,
    before_decode: Callable[[float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Decode ``source`` (a path or the file's bytes) to float32 mono samples at 16 kHz.

    ``name`` labels bytes input in error messages (the server passes the uploaded file name).
    ``before_decode(seconds)`` is told how much audio is about to be decoded before it is (the
    header's duration, or step by step when the header does not know it), so a caller can
    charge the memory first and raise to refuse. ``cancelled()`` is asked between blocks;
    when it is true, DecodeCancelled is raised.
    Raises UnsupportedAudio for empty, unknown, corrupt or truncated input and AudioTooLarge
    when ``max_bytes`` or ``max_seconds`` is exceeded.
    """
    source = Path(source) if isinstance(source, str) else source
    label = _label(source, name)
    size = _size(source, label)
    if max_bytes is not None and size > max_bytes:
        raise AudioTooLarge(
            f"{label} is {_size_text(size)}, over the {_size_text(max_bytes)} limit; "
            "split it into shorter files or compress it (e.g. to MP3 or Opus)."
        )
    info = probe(source, name=name)
    if max_seconds is not None and info.duration_s is not None and info.duration_s > max_seconds:
        raise AudioTooLarge(_too_long(label, info.duration_s, max_seconds, exact=True))

    if info.decoder == "libsndfile":
        _check_wav_complete(source, label, info)
        blocks = _blocks_soundfile(source, label)
    else:
        blocks = _blocks_ffmpeg(source, label)
    budget = _Budget(before_decode, info.duration_s)
    samples = _mono_16k(blocks, info.sample_rate, label, max_seconds, budget, cancelled)
    if samples.size == 0:
        raise UnsupportedAudio(
            f"{label} contains no audio samples; check that the recording is not empty."
        )
    return samples


# --- sources ---------------------------------------------------------------------------------


def _label(source: Source, name: str | None) -> str:
    if name:
        return name
    return str(source) if isinstance(source, Path) else "The uploaded audio"


def read_file_bytes(path: Path) -> bytes:
    """A file's bytes for upload, with the same words as a local decode when it cannot be read."""
    _size(path, str(path))
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UnsupportedAudio(
            f"{path} cannot be read ({exc.strerror}); check the path and its permissions."
        ) from None


def _size(source: Source, label: str) -> int:
    if isinstance(source, bytes):
        return len(source)
    if source.is_dir():
        raise UnsupportedAudio(f"{label} is a folder, not an audio file; name the files in it.")
    try:
        return source.stat().st_size
    except OSError as exc:
        raise UnsupportedAudio(
            f"{label} cannot be read ({exc.strerror}); check the path and its permissions."
        ) from exc


def _open(source: Source) -> str | io.BytesIO:
    # Both libraries accept a path or a seekable file object; a fresh BytesIO per call keeps
    # each reader's position its own.
    return str(source) if isinstance(source, Path) else io.BytesIO(source)


# --- libsndfile ------------------------------------------------------------------------------


def _probe_soundfile(source: Source) -> AudioInfo | None:
    try:
        info = sf.info(_open(source))
    except RuntimeError:
        return None  # not a format libsndfile knows; FFmpeg gets its turn
    if info.format in _FFMPEG_ONLY_FORMATS:
        return None
    if info.frames >= _SF_UNKNOWN_FRAMES:
        # A stream written to a pipe (FLAC with total_samples = 0): libsndfile reports the
        # largest count there is and cannot read it block by block, FFmpeg decodes it as it
        # comes, charging the memory budget step by step.
        return None
    return AudioInfo(
        decoder="libsndfile",
        container=info.format,
        codec=info.subtype,
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        duration_s=info.frames / info.samplerate if info.samplerate else None,
    )


def _check_wav_complete(source: Source, label: str, info: AudioInfo) -> None:
    """Reject a WAV whose data chunk is shorter than its header says.

    libsndfile silently reads what is there, which would hand the recognizer a clipped
    recording without telling anyone; a copy that stopped half-way should be noticed.
    """
    if info.container not in {"WAV", "WAVEX"}:
        return
    with (open(source, "rb") if isinstance(source, Path) else io.BytesIO(source)) as handle:
        head = handle.read(1 << 16)
        handle.seek(0, io.SEEK_END)
        total = handle.tell()
    declared, offset = _wav_data_chunk(head)
    # 0 and 0xFFFFFFFF are what recorders write while still streaming; not a truncation.
    if declared in (None, 0, 0xFFFFFFFF) or offset is None:
        return
    present = total - offset
    if present < declared:
        raise UnsupportedAudio(
            f"{label} is truncated: its header promises {declared} bytes of audio but only "
            f"{present} are present; copy or export the file again."
        )


def _wav_data_chunk(head: bytes) -> tuple[int | None, int | None]:
    """Declared size and byte offset of the 'data' chunk of a RIFF/WAVE header."""
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        return None, None
    order = "<" if head[:4] == b"RIFF" else ">"
    pos = 12
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        (chunk_size,) = struct.unpack(order + "I", head[pos + 4 : pos + 8])
        if chunk_id == b"data":
            return chunk_size, pos + 8
        pos += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
    return None, None


def _blocks_soundfile(source: Source, label: str) -> Iterator[np.ndarray]:
    try:
        with sf.SoundFile(_open(source)) as handle:
            while True:
                block = handle.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
                if not len(block):
                    return
                yield block
    except (RuntimeError, ValueError, TypeError) as exc:
        raise UnsupportedAudio(
            f"{label} is damaged and cannot be decoded ({exc}); export or copy it again."
        ) from exc


# --- FFmpeg ----------------------------------------------------------------------------------

# FFmpeg guesses the format from the content, and some of its demuxers (concat, HLS, image
# sequences...) open further files or URLs named inside the data: bytes from a client could then
# make the server read local files. Only containers that hold their media themselves are allowed,
# and no protocol may be opened from inside them.
_FFMPEG_DEMUXERS = "wav,w64,flac,ogg,mp3,aac,mov,matroska,asf,avi,flv,mpegts,caf,aiff,amr"


def _av_open(source: Source):
    opened = _open(source)
    # A local path needs the file protocol to be opened at all; bytes need none.
    protocols = "file" if isinstance(opened, str) else ""
    options = {"format_whitelist": _FFMPEG_DEMUXERS, "protocol_whitelist": protocols}
    # Tags that are not valid UTF-8 (old taggers wrote local code pages) say nothing about the
    # audio; they are read with replacement characters instead of failing the file.
    return av.open(opened, mode="r", options=options, metadata_errors="replace")


def _probe_ffmpeg(source: Source, label: str) -> AudioInfo:
    try:
        with _av_open(source) as container:
            if not container.streams.audio:
                raise UnsupportedAudio(
                    f"{label} has no audio track; choose a file with sound in it."
                )
            stream = container.streams.audio[0]
            duration: float | None = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            codec = stream.codec_context.name if stream.codec_context is not None else None
            if not codec:
                raise UnsupportedAudio(
                    f"{label} has an audio track in an unknown codec; convert it to WAV, "
                    "FLAC, MP3 or Opus."
                )
            return AudioInfo(
                decoder="ffmpeg",
                container=container.format.name,
                codec=codec,
                sample_rate=int(stream.rate or 0),
                channels=int(stream.channels or 0),
                duration_s=duration,
            )
    except UnsupportedAudio:
        raise
    except (av.FFmpegError, UnicodeDecodeError, ValueError, TypeError, AttributeError,
            OverflowError, MemoryError) as exc:
        # Not only FFmpeg's own errors: PyAV turns malformed metadata (text that is not UTF-8,
        # absurd values) into Python exceptions while reading the header.
        raise UnsupportedAudio(
            f"{label} is not a recognised audio or video file, or it is damaged or incomplete; "
            "use a complete WAV, FLAC, Ogg, MP3, M4A, MP4, MKV or WebM file."
        ) from exc


def _blocks_ffmpeg(source: Source, label: str) -> Iterator[np.ndarray]:
    # Convert every frame to planar float at its own rate and layout; channel mixing and
    # rate conversion happen once, below, the same way for both backends.
    resampler = av.AudioResampler(format="fltp")
    try:
        with _av_open(source) as container:
            stream = container.streams.audio[0]
            for frame in container.decode(stream):
                for converted in resampler.resample(frame):
                    yield converted.to_ndarray().T
            for converted in resampler.resample(None):
                yield converted.to_ndarray().T
    except (av.FFmpegError, UnicodeDecodeError, ValueError, TypeError, AttributeError,
            OverflowError) as exc:
        raise UnsupportedAudio(
            f"{label} is damaged and cannot be decoded ({exc}); export or copy it again."
        ) from exc


# --- conversion ------------------------------------------------------------------------------


class _Budget:
    """Announces decoded seconds to the caller before they are decoded."""

    def __init__(self, before_decode: Callable[[float], None] | None,
                 duration_s: float | None) -> None:
        self.before_decode = before_decode
        self.charged = 0.0
        if duration_s is not None and math.isfinite(duration_s) and duration_s >= 0:
            self.cover(duration_s)

    def cover(self, seconds: float) -> None:
        """Make sure at least ``seconds`` of audio have been announced."""
        if self.before_decode is None or seconds <= self.charged:
            return
        step = max(seconds - self.charged, min(_CHARGE_STEP_S, seconds))
        self.before_decode(step)
        self.charged += step


class _Samples:
    """A float32 array filled block by block; preallocated when the length is known, so the
    decoded audio is held once, not as blocks plus their concatenation."""

    def __init__(self, expected: int) -> None:
        self.data = np.empty(max(expected, _BLOCK_FRAMES), dtype=np.float32)
        self.length = 0

    def append(self, block: np.ndarray) -> None:
        end = self.length + len(block)
        if end > len(self.data):
            grown = np.empty(max(end, len(self.data) * 3 // 2), dtype=np.float32)
            grown[: self.length] = self.data[: self.length]
            self.data = grown
        self.data[self.length : end] = block
        self.length = end

    def result(self) -> np.ndarray:
        if self.length != len(self.data):
            try:
                self.data.resize(self.length, refcheck=False)  # shrinks in place, no copy
            except ValueError:  # another reference holds the array (not ours to shrink)
                self.data = self.data[: self.length].copy()
        return self.data


def _mono_16k(
    blocks: Iterator[np.ndarray], rate: int, label: str, max_seconds: float | None,
    budget: _Budget | None = None, cancelled: Callable[[], bool] | None = None,
) -> np.ndarray:
    if rate <= 0:
        raise UnsupportedAudio(f"{label} declares no sample rate; export it again.")
    budget = budget or _Budget(None, None)
    limit = None if max_seconds is None else int(max_seconds * rate)
    stream = None
    if rate != SAMPLE_RATE:
        stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
    out = _Samples(int(budget.charged * SAMPLE_RATE) + SAMPLE_RATE)
    seen = 0
    for block in blocks:
        if cancelled is not None and cancelled():
            raise DecodeCancelled(f"decoding {label} was stopped: nobody waits for it any more")
        seen += len(block)
        if limit is not None and seen > limit:
            raise AudioTooLarge(_too_long(label, seen / rate, max_seconds or 0.0, exact=False))
        budget.cover(seen / rate)
        mono = np.ascontiguousarray(block.mean(axis=1, dtype=np.float32))
        out.append(_finite(mono) if stream is None else stream.resample_chunk(_finite(mono)))
    if stream is not None:
        out.append(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    return out.result()


def _finite(samples: np.ndarray) -> np.ndarray:
    """Float files may hold NaN or infinity (a broken encoder); the recognizer would turn them
    into nonsense or NaN scores. Such samples become silence and the rest is kept in range."""
    if not np.isfinite(samples).all():
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    return samples


def _too_long(label: str, seconds: float, limit: float, *, exact: bool) -> str:
    # While decoding we stop at the limit, so only "longer than" is known, not the length.
    length = f"is {_duration(seconds)} long, over" if exact else "is longer than"
    return f"{label} {length} the {_duration(limit)} limit; split it into shorter files."


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def _size_text(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"
