"""The recognizers `capswriter bench accuracy` puts side by side, each behind one call.

- ``ours``: our engine without the server (``Engine.transcribe``; a long file goes through
  the file pipeline, VAD segmenter first, as ``capswriter transcribe --in-process`` does).
- ``server``: each clip sent as a file to a local server, as ``capswriter transcribe`` does.
- ``dictation``: each clip streamed as microphone audio in 100 ms frames, as the tray client
  streams while the key is held; the server cuts and decodes at pauses as the audio arrives.
- ``bare``: sherpa-onnx on the same model files with its defaults and nothing of ours around it
  (no speech gate, no padding, no retries); audio over 29 s is cut at quiet points.
- ``fw1``, ``fw5``: faster-whisper on the same weights (its CTranslate2 copy), int8, beam 1
  or 5, its VAD on and its defaults otherwise (temperature fallback, timestamps).

Every system takes a :class:`Clip` and returns text; timing and scoring are the caller's.
The in-process ones run in a child process (:class:`Isolated`), so that a clip which hangs a
recognizer costs that clip and not the run.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from capswriter.audio import SAMPLE_RATE, to_pcm16
from capswriter.config import Settings
from capswriter.errors import CapsWriterError
from capswriter.tools.runlog import ServerAddress

SYSTEMS = ("ours", "server", "dictation", "bare", "fw1", "fw5")
SERVER_SYSTEMS = ("server", "dictation")
# Whisper sees 30 s; sherpa-onnx drops what is past about 29.5 s of one input.
BARE_MAX_SECONDS = 29.0
BARE_PIECE_SECONDS = 28.0
DICTATION_FRAME_S = 0.1  # what the recorder hands the link while recording


@dataclass
class Clip:
    """One recording with its reference: samples for in-process systems, a file for the rest."""

    file: str  # the name it is reported under
    language: str
    reference: str
    samples: np.ndarray  # float32 mono 16 kHz
    path: Path  # the file a user would hand in

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


class System(Protocol):
    name: str
    description: str

    def transcribe(self, clip: Clip) -> str: ...


class Ours:
    """Our engine in this process."""

    def __init__(self, settings: Settings, threads: int, as_files: bool = False) -> None:
        from capswriter.asr.engine import Engine

        self.name = "ours"
        self.engine = Engine.load(settings.asr, settings.models_path, num_threads=threads)
        self.language = settings.asr.language or None
        self.segmenter = None
        if as_files:
            from capswriter.asr.engine import vad_model_path
            from capswriter.files.segment import Segmenter

            self.segmenter = Segmenter(vad_model_path(settings.models_path),
                                       settings.files.max_segment_s)
        path = "file pipeline" if as_files else "Engine.transcribe"
        self.description = (f"our engine without the server ({path}, "
                            f"{settings.asr.precision}, {threads} threads)")

    def transcribe(self, clip: Clip) -> str:
        if self.segmenter is None:
            return self.engine.transcribe(clip.samples, language=self.language).text
        from capswriter.files.pipeline import transcribe_file

        return transcribe_file(clip.path, self.engine, self.segmenter,
                               language=self.language).text


class Server:
    """Each clip's file sent to a running server, waiting for the whole text."""

    def __init__(self, address: ServerAddress, language: str = "",
                 timeout: Callable[[Clip], float] = lambda clip: 600.0) -> None:
        self.name = "server"
        self.description = "clips sent as files to a local server"
        self.address = address
        self.language = language
        self.timeout = timeout

    def transcribe(self, clip: Clip) -> str:
        from capswriter.wire.client import RecognitionClient

        async def send() -> str:
            async with RecognitionClient(self.address.ws, self.address.token) as client:
                result = await client.transcribe_file(
                    clip.path.read_bytes(), filename=clip.path.name, language=self.language,
                    timeout=self.timeout(clip),
                )
                return result.text

        return asyncio.run(send())


class Dictation:
    """Each clip streamed as a dictation, ``speed`` times faster than it was spoken.

    Where the server cuts a dictation depends only on the audio (pauses it hears), so sending
    faster than real time changes when pieces are decoded, never which pieces there are.
    """

    def __init__(self, address: ServerAddress, speed: float, language: str = "",
                 timeout: Callable[[Clip], float] = lambda clip: 600.0) -> None:
        self.name = "dictation"
        pace = f"{speed:g}× real time" if speed > 0 else "unpaced"
        self.description = f"clips streamed as dictations in 100 ms frames ({pace})"
        self.address = address
        self.speed = speed
        self.language = language
        self.timeout = timeout

    def transcribe(self, clip: Clip) -> str:
        from capswriter.wire.client import RecognitionClient

        async def stream() -> str:
            async with RecognitionClient(self.address.ws, self.address.token) as client:
                result = await client.dictate(self._frames(clip.samples), language=self.language,
                                              timeout=self.timeout(clip))
                return result.text

        return asyncio.run(stream())

    async def _frames(self, samples: np.ndarray) -> AsyncIterator[bytes]:
        step = int(DICTATION_FRAME_S * SAMPLE_RATE)
        started = time.monotonic()
        for i, offset in enumerate(range(0, len(samples), step)):
            if self.speed > 0:
                delay = started + i * DICTATION_FRAME_S / self.speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield to_pcm16(samples[offset : offset + step])


class Bare:
    """sherpa-onnx's recognizer on the model's files, as its examples call it."""

    def __init__(self, settings: Settings, threads: int, precision: str) -> None:
        import sherpa_onnx

        from capswriter.asr.manifest import load_manifest, recognizer_arguments

        model_dir = settings.models_path / settings.asr.model
        manifest = load_manifest(model_dir)
        # For Whisper: language "" (detect), task "transcribe", sherpa-onnx's tail padding.
        factory, kwargs = recognizer_arguments(
            manifest, model_dir, num_threads=threads, language="",
            variant=None if precision == "auto" else precision,
        )
        fp32_encoder = manifest.variants.get("fp32", {}).get("encoder")
        if precision == "auto" and fp32_encoder and (model_dir / fp32_encoder).is_file():
            kwargs["encoder"] = str(model_dir / fp32_encoder)  # the engine's "auto" encoder
        if manifest.kind == "whisper" and precision == "auto":
            # The same encoder file ours loads for "auto" (sherpa-onnx's own decoder layout).
            from capswriter.asr.engine import whisper_files

            kwargs["encoder"] = str(whisper_files(manifest, model_dir, precision)["encoder"])
        self.recognizer = getattr(sherpa_onnx.OfflineRecognizer, factory)(**kwargs)
        self.name = "bare"
        files = ", ".join(Path(kwargs[arg]).name for arg in manifest.spec.files
                          if arg != "tokens")  # fmt: skip
        self.description = f"bare sherpa-onnx {factory} ({files}, {threads} threads)"

    def transcribe(self, clip: Clip) -> str:
        texts = []
        for start, end in cut_pieces(clip.samples):
            stream = self.recognizer.create_stream()
            stream.accept_waveform(SAMPLE_RATE, clip.samples[start:end])
            self.recognizer.decode_stream(stream)
            texts.append(stream.result.text.strip())
        return " ".join(t for t in texts if t)


def cut_pieces(samples: np.ndarray, max_seconds: float = BARE_MAX_SECONDS,
               piece_seconds: float = BARE_PIECE_SECONDS) -> list[tuple[int, int]]:
    """(start, end) pieces of at most ``piece_seconds``, each cut at the quietest 0.1 s of its
    last 5 s; audio up to ``max_seconds`` stays whole.

    The baseline's own cutter, so that it does not change when our engine's does.
    """
    if len(samples) <= max_seconds * SAMPLE_RATE:
        return [(0, len(samples))]
    limit, window, search = (int(s * SAMPLE_RATE) for s in (piece_seconds, 0.1, 5.0))
    pieces = []
    start = 0
    while len(samples) - start > limit:
        lo = start + limit - search
        frames = samples[lo : start + limit].reshape(-1, window)
        quietest = int(np.argmin(np.mean(frames * frames, axis=1)))
        cut = lo + quietest * window + window // 2
        pieces.append((start, cut))
        start = cut
    pieces.append((start, len(samples)))
    return pieces


class FasterWhisper:
    """faster-whisper as its users run it: VAD on, beam ``beam``, its other defaults."""

    def __init__(self, model, beam: int) -> None:
        self.model = model  # a bench_faster_whisper.FasterWhisper
        self.beam = beam
        self.name = f"fw{beam}"
        self.description = (f"faster-whisper {model.version}, int8, beam {beam}, VAD on, "
                            "language detected")

    def transcribe(self, clip: Clip) -> str:
        return self.model.decode(clip.samples, beam_size=self.beam, vad_filter=True)


@dataclass
class SystemSpec:
    """What it takes to build an in-process system, in a form another process can receive."""

    name: str
    settings: Settings
    threads: int
    bare_precision: str
    as_files: bool = False


def load_system(spec: SystemSpec) -> System | str:
    """An in-process system (ours, bare, fw1, fw5), or a sentence saying why it cannot run."""
    if spec.name == "ours":
        return Ours(spec.settings, spec.threads, spec.as_files)
    if spec.name == "bare":
        return Bare(spec.settings, spec.threads, spec.bare_precision)
    from capswriter.tools.bench_faster_whisper import load_faster_whisper

    model = load_faster_whisper(spec.settings.asr.model, spec.threads)
    if isinstance(model, str):
        return model
    return FasterWhisper(model, beam=int(spec.name[2:]))


class ClipFailed(CapsWriterError):
    """A system gave no text for a clip: it raised, hung past the deadline, or died."""


class Isolated:
    """An in-process system in a child process of its own, with a deadline for each clip.

    The child loads the system once and transcribes clips as they are sent. A clip past its
    deadline, or one that kills the child, fails alone: the child is replaced (the reload is
    part of that clip's time) and the next clip goes to the new one.
    """

    def __init__(self, spec: SystemSpec, timeout: Callable[[Clip], float],
                 load_timeout: float = 600.0) -> None:
        self.spec = spec
        self.name = spec.name
        self.description = ""
        self.timeout = timeout
        self.load_timeout = load_timeout
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Any = None

    def start(self) -> str:
        """Start the child and load the system: "" once it is ready, else why it is not."""
        context = multiprocessing.get_context("spawn")  # a fresh interpreter, no copied state
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_end, self.spec),
                                        name=f"accuracy-{self.name}", daemon=True)
        self._process.start()
        child_end.close()
        if not self._conn.poll(self.load_timeout):
            self.stop()
            return f"not loaded after {self.load_timeout:.0f} s"
        try:
            kind, detail = self._conn.recv()
        except EOFError:
            return f"its process exited with code {self.stop()} while loading"
        if kind != "ready":
            self.stop()
            return detail
        self.description = detail
        return ""

    def transcribe(self, clip: Clip) -> str:
        if self._process is None:
            reason = self.start()
            if reason:
                raise ClipFailed(f"the recognizer could not be started again: {reason}")
        deadline = self.timeout(clip)
        self._conn.send(clip)
        if not self._conn.poll(deadline):
            self._replace()
            raise ClipFailed(f"no text after {deadline:.0f} s; the recognizer was stopped")
        try:
            kind, detail = self._conn.recv()
        except EOFError:
            code = self._replace()
            raise ClipFailed(f"the recognizer's process died (exit code {code})") from None
        if kind != "text":
            raise ClipFailed(detail)
        return detail

    def _replace(self) -> int | None:
        code = self.stop()
        self.start()
        return code

    def stop(self) -> int | None:
        """End the child (asked first, killed if it does not go); its exit code."""
        process, self._process = self._process, None
        if process is None:
            return None
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            pass
        process.join(5.0)
        if process.is_alive():
            process.kill()
            process.join()
        self._conn.close()
        return process.exitcode


def _serve(conn: Any, spec: SystemSpec) -> None:
    """The child's life: load the system, then text for each clip received until None."""
    try:
        system = load_system(spec)
    except Exception as exc:  # noqa: BLE001 - the parent reports it as the reason
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    if isinstance(system, str):
        conn.send(("failed", system))
        return
    conn.send(("ready", system.description))
    while True:
        try:
            clip = conn.recv()
        except EOFError:  # the parent is gone
            return
        if clip is None:
            return
        try:
            conn.send(("text", system.transcribe(clip)))
        except Exception as exc:  # noqa: BLE001 - one clip's failure, sent as its result
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
