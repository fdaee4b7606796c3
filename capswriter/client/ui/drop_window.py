"""A small always-on-top drop zone: files dropped here become transcription jobs, each shown
with its progress in percent and, when it fails, the whole reason."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from capswriter.client.file_jobs import FileJob
from capswriter.client.i18n import translate
from capswriter.wire.jobs import JobState

IDLE_STYLE = "QLabel { border: 2px dashed #888; border-radius: 8px; }"
# A file held over the window: the zone says it will take it.
DRAG_STYLE = ("QLabel { border: 3px solid #2a7ae2; border-radius: 8px; background: #dcebfd;"
              " color: #0b3d91; }")
FAILED_STYLE = "color: #b00020;"


def _tr(text: str) -> str:
    return translate("DropWindow", text)


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
    """The job in one line: its file and where it is (queued, a percentage, done, failed)."""
    name = job.path.name
    if job.state is JobState.QUEUED:
        if job.queue_position:
            return translate("DropWindow", "{name}: waiting (position {position})").format(
                name=name, position=job.queue_position)
        return translate("DropWindow", "{name}: waiting").format(name=name)
    if job.state is JobState.RUNNING:
        return f"{name}: {job.fraction:.0%}"
    if job.state is JobState.DONE:
        return translate("DropWindow", "{name}: done → {formats}").format(
            name=name, formats=", ".join(p.suffix[1:] for p in job.outputs))
    return translate("DropWindow", "{name}: failed: {reason}").format(name=name, reason=job.error)


class JobRow(QWidget):
    """One file: its name, a progress bar with the percentage, and the status in full."""

    def __init__(self) -> None:
        super().__init__()
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setFormat("%p%")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(2)
        layout.addWidget(self.status)
        layout.addWidget(self.progress)

    def show_job(self, job: FileJob) -> None:
        line = describe(job)
        self.status.setText(line)
        self.status.setToolTip(str(job.path) + "\n" + line)
        self.status.setStyleSheet(FAILED_STYLE if job.state is JobState.FAILED else "")
        self.progress.setValue(round(100 * (1.0 if job.state is JobState.DONE else job.fraction)))
        self.progress.setVisible(job.state in (JobState.QUEUED, JobState.RUNNING))


class DropWindow(QWidget):
    files_dropped = Signal(list)  # list[Path]

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(self.tr("CapsWriter: drop files"))
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        self.setAcceptDrops(True)
        self.hint = QLabel(self.tr("Drop audio or video files here"))
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setMinimumHeight(80)
        self.hint.setWordWrap(True)
        self.jobs = QListWidget()
        self.jobs.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.jobs.setResizeMode(QListWidget.ResizeMode.Adjust)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addWidget(self.jobs)
        self.resize(380, 300)
        self.dragging = False
        self._show_dragging(False)
        self._rows: dict[int, tuple[QListWidgetItem, JobRow]] = {}

    def _show_dragging(self, on: bool) -> None:
        self.dragging = on
        self.hint.setStyleSheet(DRAG_STYLE if on else IDLE_STYLE)
        self.hint.setText(self.tr("Release to transcribe") if on
                          else self.tr("Drop audio or video files here"))

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()
            self._show_dragging(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._show_dragging(False)

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._show_dragging(False)
        paths = dropped_files(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.files_dropped.emit(paths)

    def show_job(self, job: FileJob) -> None:
        found = self._rows.get(id(job))
        if found is None:
            item, row = QListWidgetItem(), JobRow()
            self.jobs.addItem(item)
            self.jobs.setItemWidget(item, row)
            self._rows[id(job)] = found = (item, row)
        item, row = found
        row.show_job(job)
        self._fit(item, row)

    def _fit(self, item: QListWidgetItem, row: JobRow) -> None:
        # The list sizes its rows once; a status that wraps over more lines needs more room.
        width = self.jobs.viewport().width()
        height = row.heightForWidth(width) if row.hasHeightForWidth() else -1
        item.setSizeHint(QSize(width, height if height > 0 else row.sizeHint().height()))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        for item, row in self._rows.values():
            self._fit(item, row)

    def job_lines(self) -> list[str]:
        return [row.status.text() for _item, row in self._rows.values()]

    def job_row(self, job: FileJob) -> JobRow:
        return self._rows[id(job)][1]
