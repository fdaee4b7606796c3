"""A small always-on-top drop zone: files dropped here become transcription jobs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from capswriter.client.file_jobs import FileJob
from capswriter.wire.jobs import JobState


def dropped_files(mime) -> list[Path]:
    """Local files among the dropped URLs; folders and remote URLs are not audio files."""
    paths = []
    for url in mime.urls() if mime.hasUrls() else []:
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path.is_file():
                paths.append(path)
    return paths


def describe(job: FileJob) -> str:
    if job.state is JobState.QUEUED:
        where = f" (position {job.queue_position})" if job.queue_position else ""
        return f"{job.path.name}: queued{where}"
    if job.state is JobState.RUNNING:
        return f"{job.path.name}: {job.fraction:.0%}"
    if job.state is JobState.DONE:
        return f"{job.path.name}: done → " + ", ".join(p.suffix[1:] for p in job.outputs)
    return f"{job.path.name}: failed: {job.error}"


class DropWindow(QWidget):
    files_dropped = Signal(list)  # list[Path]

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("CapsWriter: drop files")
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        self.setAcceptDrops(True)
        self.hint = QLabel("Drop audio or video files here")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setMinimumHeight(80)
        self.hint.setStyleSheet("border: 2px dashed #888; border-radius: 8px;")
        self.jobs = QListWidget()
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addWidget(self.jobs)
        self.resize(320, 240)
        self._items: dict[int, QListWidgetItem] = {}

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        paths = dropped_files(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.files_dropped.emit(paths)

    def show_job(self, job: FileJob) -> None:
        item = self._items.get(id(job))
        if item is None:
            item = QListWidgetItem()
            self.jobs.addItem(item)
            self._items[id(job)] = item
        item.setText(describe(job))

    def job_lines(self) -> list[str]:
        return [self.jobs.item(i).text() for i in range(self.jobs.count())]
