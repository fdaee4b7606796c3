"""Files transcribed from a terminal through the server pool, with a progress bar per file.

Uses a running server when one answers; otherwise starts one for the run and stops it after.
All files are sent at once, so the server spreads their segments over every
worker; the bars follow the server's queue_status and progress messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from capswriter.asr.result import Segment
from capswriter.client.link import ServerLink, launch_server
from capswriter.config import Settings
from capswriter.errors import CapsWriterError, QueueFull, ServerStartFailed, ServerUnavailable
from capswriter.files.decode import read_file_bytes
from capswriter.files.pipeline import FileTranscript
from capswriter.files.write import sharing_a_name, write_transcript
from capswriter.text import TextStage
from capswriter.wire import protocol
from capswriter.wire.client import RecognitionClient, server_url
from capswriter.wire.launch import server_log_path, wait_until_ready

BUSY_RETRIES = 30


@dataclass
class FileOutcome:
    path: Path
    transcript: FileTranscript | None = None
    outputs: list[Path] = field(default_factory=list)
    error: str = ""


@dataclass
class BatchSummary:
    outcomes: list[FileOutcome]
    wall_seconds: float
    started_server: bool

    @property
    def audio_seconds(self) -> float:
        return sum(o.transcript.audio_seconds for o in self.outcomes if o.transcript)

    @property
    def failures(self) -> int:
        return sum(1 for o in self.outcomes if o.error)


def ensure_server(settings: Settings, wait_s: float = 180.0, say: Callable[[str], None] = print):
    """Return None if a server already answers, else the process of one started and now ready."""
    link = ServerLink.from_settings(settings)
    log_path = server_log_path()
    try:
        health = link.health()
        if health.ready:
            return None
        if health.status != "down":  # someone else's server, still starting
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                if link.health().ready:
                    return None
                time.sleep(0.3)
            raise ServerUnavailable(
                f"the server did not become ready in {wait_s:.0f} s; see {log_path}"
            )
        say(f"no server at {settings.server.host}:{settings.server.port}; starting one")
        process = launch_server(settings, log_path)
        try:
            wait_until_ready(process, lambda: link.health().ready, timeout=wait_s,
                             log_path=log_path, poll_s=0.3)
        except ServerStartFailed:
            process.terminate()
            raise
        return process
    finally:
        link.close()


class _Bar:
    """A tqdm bar per file, driven by the server's messages."""

    def __init__(self, path: Path, position: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=1, desc=path.name[:28], position=position, unit="seg", leave=True,
            dynamic_ncols=True, bar_format="{desc:<28} {percentage:3.0f}%|{bar}| {postfix}",
        )  # fmt: skip

    def update(self, message: protocol.Message) -> None:
        if isinstance(message, protocol.QueueStatus):
            self.bar.set_postfix_str(
                f"queued #{message.position}, ~{message.eta_seconds:.0f}s", refresh=True
            )
        elif isinstance(message, protocol.Progress):
            self.bar.total = max(1, message.segments_total)
            self.bar.n = message.segments_done
            self.bar.set_postfix_str(
                f"{message.audio_seconds_done:.0f}/{message.audio_seconds_total:.0f}s audio",
                refresh=True,
            )

    def close(self, note: str, done: bool = True) -> None:
        if done:  # a failed file's bar stays where it got to
            self.bar.n = self.bar.total
        self.bar.set_postfix_str(note, refresh=True)
        self.bar.close()


async def _one(url: str, token: str, path: Path, position: int, language: str,
               formats: list[str], keep_suffix: bool,
               stage: TextStage | None = None) -> FileOutcome:  # fmt: skip
    outcome = FileOutcome(path)
    bar = _Bar(path, position)
    started = time.perf_counter()
    try:
        data = read_file_bytes(path)
        for attempt in range(BUSY_RETRIES + 1):
            try:
                # A connection streams one task's audio at a time, so each file gets its own.
                async with RecognitionClient(url, token) as client:
                    result = await client.transcribe_file(
                        data, filename=path.name, language=language, on_message=bar.update
                    )
                break
            except QueueFull as exc:
                if attempt == BUSY_RETRIES:
                    raise
                bar.bar.set_postfix_str(f"server busy, retrying in {exc.retry_after:.0f}s")
                await asyncio.sleep(exc.retry_after)
        outcome.transcript = FileTranscript(
            path=path,
            segments=[Segment.from_dict(s) for s in result.segments],
            text=result.text,
            audio_seconds=result.audio_seconds,
            wall_seconds=time.perf_counter() - started,
            model=result.model,
            decode_seconds=float(result.timings.get("decode", 0.0)),
            language=result.language,
        )
        outcome.transcript = outcome.transcript.rewritten(stage)
        outcome.outputs = write_transcript(outcome.transcript, formats, keep_suffix)
        bar.close("→ " + ", ".join(p.suffix[1:] for p in outcome.outputs))
    except (CapsWriterError, OSError) as exc:
        outcome.error = str(exc)
        bar.close("failed", done=False)
    return outcome


async def _run(url: str, token: str, paths: list[Path], language: str, formats: list[str],
               stage: TextStage | None = None):
    colliding = sharing_a_name(paths)
    return await asyncio.gather(
        *(
            _one(url, token, path, i, language, formats, path in colliding, stage)
            for i, path in enumerate(paths)
        )
    )


def transcribe_via_server(
    settings: Settings, paths: list[Path], *, formats: list[str], language: str = "",
    start_server: bool = True, stage: TextStage | None = None,
) -> BatchSummary:  # fmt: skip
    """Transcribe `paths` in parallel on the server pool and write outputs beside each file."""
    if start_server:
        process = ensure_server(settings)
    else:
        process = None
        link = ServerLink.from_settings(settings)
        status = link.health().status
        link.close()
        if status == "down":
            raise ServerUnavailable(
                f"no CapsWriter server answers at {settings.server.host}:{settings.server.port}; "
                "start one with `capswriter server` or drop --no-start"
            )
    started = time.perf_counter()
    try:
        url = server_url(settings.server.host, settings.server.port)
        outcomes = asyncio.run(_run(url, settings.server.token, paths, language, formats, stage))
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a stuck server must not keep the CLI alive
                process.kill()
    return BatchSummary(list(outcomes), time.perf_counter() - started, process is not None)
