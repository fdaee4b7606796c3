"""File transcription from the desktop: jobs sent to the server in parallel, outputs beside the
source, each job recorded in history. The server's scheduler keeps dictation ahead of files.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from capswriter.asr.result import Segment
from capswriter.client.dictation import Notice
from capswriter.client.history import History
from capswriter.client.i18n import translate
from capswriter.client.link import ServerLink
from capswriter.files.pipeline import FileTranscript
from capswriter.files.write import sharing_a_name, write_transcript
from capswriter.wire import protocol
from capswriter.wire.jobs import JobState

log = logging.getLogger(__name__)


@dataclass
class FileJob:
    """One file's progress as the user sees it."""

    path: Path
    state: JobState = JobState.QUEUED
    fraction: float = 0.0
    queue_position: int = 0
    outputs: list[Path] = field(default_factory=list)
    error: str = ""
    text: str = ""
    started: float = field(default_factory=time.monotonic)
    # Another file of the batch has the same name: outputs keep the extension (talk.mp3.txt).
    keep_suffix: bool = False

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)


class FileJobs:
    """Submits files and follows them until their transcripts are written."""

    def __init__(
        self,
        link: ServerLink,
        history: History,
        formats: list[str],
        on_update: Callable[[FileJob], None] = lambda job: None,
        on_notice: Callable[[Notice], None] = lambda notice: None,
        on_history: Callable[[], None] = lambda: None,
        language: str = "",
    ) -> None:
        self.link = link
        self.history = history
        self.formats = formats
        self.on_update = on_update
        self.on_notice = on_notice
        self.on_history = on_history
        self.language = language
        self.jobs: list[FileJob] = []
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        with self._lock:
            return any(not job.finished for job in self.jobs)

    def submit(self, paths: list[Path]) -> list[FileJob]:
        """Start one server task per file; returns the jobs at once."""
        jobs = []
        colliding = sharing_a_name(Path(p) for p in paths)
        for path in paths:
            job = FileJob(Path(path), keep_suffix=Path(path) in colliding)
            with self._lock:
                self.jobs.append(job)
            jobs.append(job)
            if not job.path.is_file():
                self._fail(job, translate("Notices", "{path} is not a file").format(
                    path=job.path))
                continue
            self.on_update(job)
            future = self.link.transcribe_file(
                job.path, on_message=lambda m, j=job: self._progress(j, m), language=self.language
            )
            future.add_done_callback(lambda f, j=job: self._done(j, f))
        return jobs

    def _progress(self, job: FileJob, message: protocol.Message) -> None:
        if isinstance(message, protocol.QueueStatus):
            job.queue_position = message.position
        elif isinstance(message, protocol.Progress):
            job.state = JobState.RUNNING
            job.queue_position = 0
            if message.audio_seconds_total > 0:
                job.fraction = message.audio_seconds_done / message.audio_seconds_total
        self.on_update(job)

    def _done(self, job: FileJob, future) -> None:
        try:
            result: protocol.Result = future.result()
        except Exception as exc:
            self._fail(job, str(exc) or type(exc).__name__)
            return
        wall = time.monotonic() - job.started
        transcript = FileTranscript(
            path=job.path,
            segments=[Segment.from_dict(s) for s in result.segments],
            text=result.text,
            audio_seconds=result.audio_seconds,
            wall_seconds=wall,
            model=result.model,
            language=result.language,
        )
        try:
            job.outputs = write_transcript(transcript, self.formats, job.keep_suffix)
        except Exception as exc:
            self._fail(job, translate("Notices", "transcribed, but writing the outputs failed: "
                                      "{reason}").format(reason=exc), text=result.text)
            return
        job.state, job.fraction, job.text = JobState.DONE, 1.0, result.text
        self.history.add(
            "file", result.text, duration_s=result.audio_seconds, latency_s=wall,
            source=str(job.path), outputs=job.outputs,
        )
        self.on_history()
        self.on_update(job)
        self.on_notice(Notice(
            translate("Notices", "Transcribed {name}").format(name=job.path.name),
            translate("Notices", "Wrote {files}").format(
                files=", ".join(p.name for p in job.outputs)),
            folder=str(job.path.parent),
        ))

    def _fail(self, job: FileJob, reason: str, text: str = "") -> None:
        job.state, job.error = JobState.FAILED, reason
        self.history.add("file", text, status="failed", error=reason, source=str(job.path))
        self.on_history()
        self.on_update(job)
        self.on_notice(Notice(
            translate("Notices", "Could not transcribe {name}").format(name=job.path.name),
            reason, "error",
        ))
