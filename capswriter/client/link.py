"""The client's line to the recognition server: health, dictation streams, file jobs, launch.

The server speaks asyncio WebSockets (``capswriter.wire.client``); the hotkey, recorder and
Qt run on ordinary threads. :class:`ServerLink` owns one event loop on a thread of its own and
offers blocking or future-returning calls that are safe from any thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import logging
import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from capswriter.audio import to_pcm16
from capswriter.client.i18n import translate
from capswriter.config import Settings, url_host
from capswriter.errors import ServerUnavailable
from capswriter.wire import protocol
from capswriter.wire.client import RecognitionClient, server_url
from capswriter.wire.direct import http_get
from capswriter.wire.health import HealthReport
from capswriter.wire.launch import server_output_path, start_server_process

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    """What ``/health`` said: ``ok``, ``starting``, ``draining``; ``down`` if nothing answered."""

    status: str
    model: str = ""
    workers_ready: int = 0
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.status == "ok"


class DictationStream:
    """One dictation: chunks go out as they are recorded, ``finish`` waits for the text."""

    def __init__(self, link: ServerLink, language: str = "") -> None:
        self._loop = link.loop
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.seconds_sent = 0.0
        self._future = asyncio.run_coroutine_threadsafe(self._run(link, language), self._loop)

    async def _run(self, link: ServerLink, language: str) -> protocol.Result:
        async def chunks():
            while (chunk := await self._chunks.get()) is not None:
                yield chunk

        async with RecognitionClient(link.url, link.token, open_timeout=3.0) as client:
            return await client.dictate(chunks(), language=language)

    @property
    def failed(self) -> bool:
        f = self._future
        return f.done() and (f.cancelled() or f.exception() is not None)

    def send(self, samples: np.ndarray) -> None:
        """Queue 16 kHz float32 samples; safe from the recorder's thread."""
        self.seconds_sent += len(samples) / protocol.SAMPLE_RATE
        self._loop.call_soon_threadsafe(self._chunks.put_nowait, to_pcm16(samples))

    def finish(self, timeout: float = 60.0) -> protocol.Result:
        """No more audio: return the final result or raise what went wrong."""
        self._loop.call_soon_threadsafe(self._chunks.put_nowait, None)
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            self._future.cancel()
            raise ServerUnavailable(f"the server gave no result within {timeout:.0f} s") from exc

    def abort(self) -> None:
        self._future.cancel()


# Kept dictations up to this long are replayed as dictations (at most a handful of pieces);
# longer ones are sent as files.
REPLAY_AS_DICTATION_S = 60.0


class ServerLink:
    """Thread-safe access to one server address."""

    def __init__(self, host: str = "127.0.0.1", port: int = 6016, token: str = "") -> None:
        # A wildcard bind address is not something to connect to.
        self.host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.port = port
        self.token = token
        self.url = server_url(self.host, port)
        self.http_url = f"http://{url_host(self.host)}:{port}"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="server-link", daemon=True
        )
        self._thread.start()

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerLink:
        return cls(settings.server.host, settings.server.port, settings.server.token)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=2)

    def health(self, timeout: float = 1.0) -> Health:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            reply = http_get(f"{self.http_url}/health", timeout=timeout, headers=headers)
            reply.raise_for_status()
            report = HealthReport.from_dict(reply.json())
        except Exception as exc:  # noqa: BLE001 - e.g. httpx.InvalidURL for a mistyped host
            return Health("down", detail=self._why_down(exc))
        return Health(report.status, str(report.model), int(report.workers_ready))

    def _why_down(self, exc: Exception) -> str:
        """Why the server could not be asked, in the words a user acts on (not "[Errno 111]")."""
        where = f"{self.host}:{self.port}"
        if isinstance(exc, httpx.ConnectError):
            return translate("Link", "nothing answers at {where}").format(where=where)
        if isinstance(exc, httpx.TimeoutException):
            return translate("Link", "the server at {where} does not answer in time").format(
                where=where)
        if isinstance(exc, httpx.HTTPStatusError):
            if exc.response.status_code in (401, 403):
                return translate("Link", "the server at {where} refuses this client: check the "
                                 "token in Settings").format(where=where)
            return translate("Link", "the server at {where} answered with an error "
                             "({status})").format(where=where, status=exc.response.status_code)
        if isinstance(exc, ValueError):
            return translate("Link", "something else answers at {where}: is the port "
                             "right?").format(where=where)
        return translate("Link", "the server at {where} cannot be reached ({error})").format(
            where=where, error=type(exc).__name__)

    def open_dictation(self, language: str = "") -> DictationStream:
        return DictationStream(self, language)

    def transcribe_file(
        self,
        path: Path,
        on_message: Callable[[protocol.Message], None] | None = None,
        language: str = "",
    ) -> concurrent.futures.Future[protocol.Result]:
        """Send one file; ``on_message`` hears queue and progress messages on the link thread."""

        async def run() -> protocol.Result:
            data = await asyncio.to_thread(path.read_bytes)
            async with RecognitionClient(self.url, self.token) as client:
                return await client.transcribe_file(
                    data, filename=path.name, language=language, on_message=on_message
                )

        return asyncio.run_coroutine_threadsafe(run(), self.loop)

    def transcribe_samples(self, samples: np.ndarray, timeout: float = 120.0) -> protocol.Result:
        """Kept dictation audio, sent again once the server is back.

        A short one goes as the dictation it was; a long one as a file: replayed at once as a
        dictation, minutes of audio would be cut into more pieces than the dictation queue
        holds and refused, while a file task is cut at pauses on the server and queued whole.
        """
        if len(samples) <= REPLAY_AS_DICTATION_S * protocol.SAMPLE_RATE:
            stream = self.open_dictation()
            for start in range(0, len(samples), protocol.SAMPLE_RATE):
                stream.send(samples[start:start + protocol.SAMPLE_RATE])
            return stream.finish(timeout)
        buffer = io.BytesIO()
        sf.write(buffer, samples.astype(np.float32, copy=False), protocol.SAMPLE_RATE,
                 format="WAV", subtype="PCM_16")
        data = buffer.getvalue()

        async def run() -> protocol.Result:
            async with RecognitionClient(self.url, self.token) as client:
                return await client.transcribe_file(
                    data, filename="kept-dictation.wav", timeout=timeout
                )

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout + 30.0)


def launch_server(settings: Settings, log_path: Path | None = None) -> subprocess.Popen:
    """Start `capswriter server` for the configured address, detached from our stdin."""
    # The server stops when we do, however we end (a crash included): see --owner-pid.
    args = ["--host", settings.server.host, "--port", str(settings.server.port),
            "--owner-pid", str(os.getpid())]
    if log_path is not None:
        args += ["--log-file", str(log_path)]
    return start_server_process(
        args, models_dir=settings.models_dir or None, detached=True,
        # Through the environment, not argv: other users can read a process's command line.
        env={"CAPSWRITER_SERVER_TOKEN": settings.server.token} if settings.server.token else {},
        # Started afresh at each launch.
        output=server_output_path(log_path) if log_path else None,
    )
