"""Microphone capture for dictation: native rate in, 16 kHz mono chunks out.

:class:`AudioPipeline` is the device-free part (pre-roll ring, streaming resampler, chunking) and
is tested with synthetic signals; :class:`Recorder` wraps a sounddevice input stream around it.

A dictation is *armed* when the key goes down and only *started* once the hold threshold has
passed, so the pipeline keeps everything from the press on (plus a pre-roll when the stream is
already open) and hands the backlog over when streaming starts: the first syllable is never lost
to the tap-or-hold decision.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from capswriter.audio import SAMPLE_RATE
from capswriter.errors import CapsWriterError

log = logging.getLogger(__name__)

ChunkSink = Callable[[np.ndarray], None]


class RecorderError(CapsWriterError):
    """No usable microphone, or it went away while recording."""


@dataclass(frozen=True)
class Level:
    """How loud the latest block from the microphone was, as full-scale fractions."""

    rms: float = 0.0
    peak: float = 0.0

    @classmethod
    def of(cls, block: np.ndarray) -> Level:
        if len(block) == 0:
            return cls()
        return cls(float(np.sqrt(np.mean(np.square(block, dtype=np.float64)))),
                   float(np.max(np.abs(block))))


SILENT = Level()


class AudioPipeline:
    """Pre-roll, resampling to 16 kHz and fixed-size chunking of one capture at a time."""

    def __init__(self, input_rate: int, ring_s: float = 1.0, chunk_s: float = 0.1) -> None:
        self.input_rate = int(input_rate)
        self.chunk_samples = int(round(chunk_s * SAMPLE_RATE))
        self._ring: deque[np.ndarray] = deque()
        self._ring_samples = 0
        self._ring_limit = int(ring_s * self.input_rate)
        self._resampler = None
        self._captured: list[np.ndarray] | None = None
        self._unsent: list[np.ndarray] = []
        self._unsent_samples = 0
        self._sink: ChunkSink | None = None

    @property
    def capturing(self) -> bool:
        return self._captured is not None

    def feed(self, block: np.ndarray) -> None:
        """One block of mono float32 at the input rate, in arrival order."""
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        if self._captured is not None:
            self._push(self._resample(block))
        else:
            self._ring.append(block)
            self._ring_samples += len(block)
            while self._ring and self._ring_samples - len(self._ring[0]) >= self._ring_limit:
                self._ring_samples -= len(self._ring.popleft())

    def arm(self, preroll_s: float = 0.0) -> None:
        """Begin a capture with the last ``preroll_s`` seconds already heard."""
        self._captured = []
        self._unsent, self._unsent_samples, self._sink = [], 0, None
        self._resampler = self._new_resampler()
        wanted = int(preroll_s * self.input_rate)
        if wanted > 0 and self._ring:
            recent = np.concatenate(list(self._ring))[-wanted:]
            self._push(self._resample(recent))
        self._ring.clear()
        self._ring_samples = 0

    def stream_to(self, sink: ChunkSink) -> None:
        """Send the backlog and every later chunk to ``sink``."""
        self._sink = sink
        self._emit(final=False)

    def finish(self) -> np.ndarray:
        """End the capture: flush the resampler and the last partial chunk; return all of it."""
        if self._captured is None:
            return np.zeros(0, dtype=np.float32)
        if self._resampler is not None:
            self._push(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        self._emit(final=True)
        audio = np.concatenate(self._captured) if self._captured else np.zeros(0, np.float32)
        self._captured, self._sink, self._resampler = None, None, None
        return audio.astype(np.float32, copy=False)

    def discard(self) -> None:
        self._captured, self._sink, self._resampler = None, None, None
        self._unsent, self._unsent_samples = [], 0

    def _new_resampler(self):
        if self.input_rate == SAMPLE_RATE:
            return None
        import soxr

        return soxr.ResampleStream(self.input_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")

    def _resample(self, block: np.ndarray) -> np.ndarray:
        if self._resampler is None:
            return block
        return self._resampler.resample_chunk(block)

    def _push(self, samples: np.ndarray) -> None:
        if len(samples) == 0:
            return
        self._captured.append(samples)
        self._unsent.append(samples)
        self._unsent_samples += len(samples)
        self._emit(final=False)

    def _emit(self, final: bool) -> None:
        if self._sink is None:
            return
        if self._unsent_samples < (1 if final else self.chunk_samples):
            return
        pending = np.concatenate(self._unsent)
        cut = len(pending) if final else len(pending) - len(pending) % self.chunk_samples
        for start in range(0, cut, self.chunk_samples):
            self._sink(pending[start:start + self.chunk_samples])
        rest = pending[cut:]
        self._unsent = [rest] if len(rest) else []
        self._unsent_samples = len(rest)


def input_devices() -> list[str]:
    """Names of the input devices PortAudio sees, for the settings dialog."""
    import sounddevice as sd

    inputs = [d for d in sd.query_devices() if d["max_input_channels"] > 0]
    names = [d["name"] for d in inputs]
    apis = sd.query_hostapis()
    # Windows lists one microphone under MME, DirectSound and WASAPI alike; a bare name would
    # then match several and open none. "name, host API" is what sounddevice matches exactly.
    return [
        f"{d['name']}, {apis[d['hostapi']]['name']}" if names.count(d["name"]) > 1 else d["name"]
        for d in inputs
    ]


class Recorder:
    """A sounddevice input stream feeding an :class:`AudioPipeline` on its own thread.

    ``keep_open`` keeps the stream running between dictations (no first-syllable loss, a
    pre-roll before the press) and closes it after ``idle_minutes`` without use; otherwise the
    stream opens on each press. ``on_error`` hears about a device lost mid-capture.
    """

    def __init__(
        self,
        device: str | int | None = None,
        keep_open: bool = True,
        idle_minutes: float = 10.0,
        preroll_s: float = 0.3,
        block_s: float = 0.02,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.device = device if device not in ("", None) else None
        self.keep_open = keep_open
        self.idle_s = idle_minutes * 60.0
        self.preroll_s = preroll_s
        self.block_s = block_s
        self.on_error = on_error or (lambda message: log.error("%s", message))
        self._stream = None
        self._pipeline: AudioPipeline | None = None
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_used = time.monotonic()
        self._idle_timer: threading.Timer | None = None
        self._lost = threading.Event()
        self._stream_token: object | None = None
        self._level = SILENT

    @property
    def is_open(self) -> bool:
        return self._stream is not None

    @property
    def level(self) -> Level:
        """The loudness of the latest block heard; silent while the device is closed."""
        return self._level if self._stream is not None else SILENT

    @property
    def input_rate(self) -> int | None:
        return self._pipeline.input_rate if self._pipeline else None

    def open(self) -> None:
        """Open the device now (keep-open mode does this at start-up)."""
        with self._lock:
            self._open_locked()

    def arm(self) -> None:
        """The key went down: capture from now (and the pre-roll, if the stream was open)."""
        with self._lock:
            was_open = self._stream is not None
            self._open_locked()
            preroll = self.preroll_s if was_open else 0.0
            self._call(lambda p: p.arm(preroll))

    def start(self, sink: ChunkSink) -> None:
        """The dictation is confirmed: stream the backlog and further chunks to ``sink``."""
        self._call(lambda p: p.stream_to(sink))

    def stop(self) -> np.ndarray:
        """The key went up: return the whole 16 kHz capture after sending the last chunk."""
        stream = self._stream
        if stream is not None and not self._lost.is_set():
            # Blocks still inside PortAudio at release time belong to the dictation.
            time.sleep(min(0.2, float(stream.latency) + self.block_s))
        audio = self._call(lambda p: p.finish())
        self._after_use()
        return audio if audio is not None else np.zeros(0, np.float32)

    def cancel(self) -> None:
        """It was a tap: drop the capture."""
        self._call(lambda p: p.discard())
        self._after_use()

    def reconfigure(self, device: str | int | None, keep_open: bool, idle_minutes: float) -> bool:
        """Take new settings; the device is let go when it changed or may no longer stay open.

        Returns whether anything changed. Not during a dictation: the controller waits for idle.
        """
        new = (device if device not in ("", None) else None, keep_open, idle_minutes * 60.0)
        with self._lock:
            old = (self.device, self.keep_open, self.idle_s)
            if new[0] != self.device or (self.keep_open and not keep_open):
                self._close_locked()
            self.device, self.keep_open, self.idle_s = new
        return new != old

    def close(self, timeout: float = 1.5) -> bool:
        """Release the device and end the worker; the recorder is not used afterwards.

        Waits up to ``timeout`` for PortAudio to let go of the stream and returns whether it
        did. The application closes the recorder before the interpreter exits: a stream still
        open (or still closing on another thread) when sounddevice's exit handler terminates
        PortAudio can hang that handler for good.
        """
        with self._lock:
            closing = self._close_locked(abort=True)
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            worker, self._worker = self._worker, None
        if worker is not None:
            self._inbox.put(None)
        released = True
        if closing is not None:
            closing.join(timeout)
            released = not closing.is_alive()
            if not released:
                log.warning("the microphone did not close within %.1f s", timeout)
        if worker is not None:
            worker.join(timeout=1)
        return released

    def _open_locked(self) -> None:
        if self._stream is not None:
            if not self._lost.is_set():
                return
            self._close_locked()  # the device went away: try it afresh
        import sounddevice as sd

        try:
            info = sd.query_devices(self.device, "input")
            rate = int(info["default_samplerate"])
            token = object()  # tells this stream's end apart from a later stream's
            pipeline = AudioPipeline(rate, ring_s=max(1.0, self.preroll_s * 2))
            stream = sd.InputStream(
                device=self.device,
                samplerate=rate,
                channels=1,
                dtype="float32",
                blocksize=int(rate * self.block_s),
                callback=self._on_audio,
                finished_callback=lambda: self._on_finished(token),
            )
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            name = self.device or "default"
            raise RecorderError(f"No usable microphone ({name}): {exc}") from exc
        self._lost.clear()
        self._pipeline = pipeline
        self._stream, self._stream_token = stream, token
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="recorder", daemon=True)
            self._worker.start()
        log.info("microphone open: %s at %d Hz", info["name"], rate)

    def _close_locked(self, abort: bool = False) -> threading.Thread | None:
        """Let go of the stream on a thread of its own, which is returned."""
        stream, self._stream = self._stream, None
        if stream is None:
            return None
        # stop() can block for seconds when the device has stalled; never on the caller's thread.
        # abort() drops what is buffered instead of playing it out: for when nothing more is
        # wanted from the stream.
        closing = threading.Thread(target=_close_quietly, args=(stream, abort),
                                   name="mic-close", daemon=True)
        closing.start()
        return closing

    def _on_audio(self, indata, frames, time_info, status) -> None:
        self._inbox.put(indata[:, 0].copy())

    def _on_finished(self, token: object) -> None:
        # A stream we closed ourselves is no longer current; only an unexpected end is a loss.
        if self._stream_token is token and self._stream is not None and not self._lost.is_set():
            self._lost.set()
            self.on_error("The microphone stopped delivering audio (device lost?).")

    def _call(self, command: Callable[[AudioPipeline], object]) -> object:
        """Run ``command`` on the worker after every block already received."""
        if self._pipeline is None:
            return None
        done: queue.SimpleQueue = queue.SimpleQueue()
        self._inbox.put((command, done))
        try:
            result = done.get(timeout=5)
        except queue.Empty as exc:
            raise RecorderError("the recorder stopped responding") from exc
        if isinstance(result, Exception):
            raise RecorderError(f"audio handling failed: {result}") from result
        return result

    def _run(self) -> None:
        while True:
            item = self._inbox.get()
            if item is None:
                return
            pipeline = self._pipeline
            if isinstance(item, tuple):
                command, done = item
                try:
                    done.put(command(pipeline) if pipeline is not None else None)
                except Exception as exc:  # a failing sink must not stall the recorder
                    log.exception("recorder command failed")
                    done.put(exc)
            elif pipeline is not None:
                self._level = Level.of(item)
                try:
                    pipeline.feed(item)
                except Exception:
                    log.exception("audio chunk handling failed")

    def _after_use(self) -> None:
        self._last_used = time.monotonic()
        with self._lock:
            if not self.keep_open:
                self._close_locked()
                return
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            self._idle_timer = threading.Timer(self.idle_s, self._close_if_idle)
            self._idle_timer.daemon = True
            self._idle_timer.start()

    def _close_if_idle(self) -> None:
        with self._lock:
            if time.monotonic() - self._last_used >= self.idle_s - 0.01 and not (
                self._pipeline and self._pipeline.capturing
            ):
                log.info("microphone idle for %.0f min, releasing it", self.idle_s / 60)
                self._close_locked()


def _close_quietly(stream, abort: bool = False) -> None:
    try:
        if abort:
            stream.abort()
        else:
            stream.stop()
        stream.close()
    except Exception as exc:
        log.debug("closing the input stream: %s", exc)
