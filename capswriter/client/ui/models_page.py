"""The model library page of the settings: the catalogue and the installed models in one table,
with download (progress, pause, resume), install from a file, delete, and "use this model"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from capswriter.client.model_library import ModelLibrary, ModelRow, RowState
from capswriter.errors import CapsWriterError

COLUMNS = (
    QT_TRANSLATE_NOOP("ModelsPage", "Model"),
    QT_TRANSLATE_NOOP("ModelsPage", "Languages"),
    QT_TRANSLATE_NOOP("ModelsPage", "Size"),
    QT_TRANSLATE_NOOP("ModelsPage", "Licence"),
    QT_TRANSLATE_NOOP("ModelsPage", "Status"),
)


class ModelsPage(QWidget):
    """Shows `library`'s rows and forwards the buttons to it; `use` picks the server's model."""

    def __init__(
        self,
        library: ModelLibrary,
        use: Callable[[str], None],
        in_use: Callable[[], str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self._use = use
        self._in_use = in_use
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([self.tr(c) for c in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.download_button = QPushButton(self.tr("Download"))
        self.pause_button = QPushButton(self.tr("Pause"))
        self.use_button = QPushButton(self.tr("Use this model"))
        self.delete_button = QPushButton(self.tr("Delete"))
        self.file_button = QPushButton(self.tr("Install from file…"))
        buttons = QHBoxLayout()
        for button in (self.download_button, self.pause_button, self.use_button,
                       self.delete_button, self.file_button):  # fmt: skip
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.details)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.download_button.clicked.connect(lambda: self._act(self.library.download))
        self.pause_button.clicked.connect(lambda: self._act(self.library.pause))
        self.use_button.clicked.connect(lambda: self._act(self._use))
        self.delete_button.clicked.connect(
            lambda: self._act(lambda name: self.library.delete(name, self._in_use()))
        )
        self.file_button.clicked.connect(self._choose_file)
        self.table.itemSelectionChanged.connect(self._show_selected)
        library.changed.connect(self._update_row)
        self.fill()

    # ---- showing -----------------------------------------------------------------------------

    def fill(self) -> None:
        selected = self.selected()
        rows = self.library.rows()
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            self._write(i, row)
        if selected:
            self.select(selected)
        self._show_selected()

    def _status(self, row: ModelRow) -> str:
        if row.state is RowState.DOWNLOADING and row.total:
            return self.tr("Downloading {percent} %").format(percent=int(row.fraction * 100))
        if row.state is RowState.INSTALLED and row.name == self._in_use():
            return self.tr("In use")
        return {
            RowState.AVAILABLE: self.tr("Not installed"),
            RowState.DOWNLOADING: self.tr("Downloading"),
            RowState.PAUSED: self.tr("Paused"),
            RowState.INSTALLING: self.tr("Installing"),
            RowState.INSTALLED: self.tr("Installed"),
            RowState.FAILED: self.tr("Failed"),
        }[row.state]

    def _write(self, i: int, row: ModelRow) -> None:
        size = f"{row.size_mb:.0f} MB" if row.size_mb else ""
        for column, text in enumerate(
            (row.name, row.languages, size, row.license, self._status(row))
        ):
            item = QTableWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, row.name)
            self.table.setItem(i, column, item)

    def _update_row(self, name: str) -> None:
        names = [self.table.item(i, 0).data(Qt.ItemDataRole.UserRole)
                 for i in range(self.table.rowCount())]  # fmt: skip
        rows = {row.name: row for row in self.library.rows()}
        if set(names) != set(rows):
            self.fill()  # a model came or went
            return
        self._write(names.index(name), rows[name])
        if name == self.selected():
            self._show_selected()

    def selected(self) -> str:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else ""

    def select(self, name: str) -> None:
        for i in range(self.table.rowCount()):
            if self.table.item(i, 0).data(Qt.ItemDataRole.UserRole) == name:
                self.table.selectRow(i)
                return

    def _show_selected(self) -> None:
        name = self.selected()
        row = next((r for r in self.library.rows() if r.name == name), None)
        if row is None:
            self.details.setText(self.tr("Choose a model to download, use or delete."))
            for button in (self.download_button, self.pause_button, self.use_button,
                           self.delete_button):  # fmt: skip
                button.setEnabled(False)
            self.progress.setValue(0)
            return
        busy = row.state in (RowState.DOWNLOADING, RowState.INSTALLING)
        text = row.description or row.kind
        if row.message:
            text = f"{text}\n{row.message}"
        self.details.setText(text)
        self.progress.setValue(int(row.fraction * 1000) if row.state is not RowState.INSTALLED
                               else 1000)  # fmt: skip
        self.download_button.setEnabled(
            row.in_catalogue and row.state in (RowState.AVAILABLE, RowState.PAUSED,
                                               RowState.FAILED))  # fmt: skip
        self.download_button.setText(
            self.tr("Resume") if row.state is RowState.PAUSED or (
                row.state is RowState.FAILED and row.done) else self.tr("Download"))  # fmt: skip
        self.pause_button.setEnabled(row.state is RowState.DOWNLOADING)
        self.use_button.setEnabled(row.state is RowState.INSTALLED and row.name != self._in_use())
        self.delete_button.setEnabled(row.state is RowState.INSTALLED and not busy)

    # ---- acting ------------------------------------------------------------------------------

    def _act(self, action: Callable[[str], object]) -> None:
        name = self.selected()
        if not name:
            return
        try:
            action(name)
        except CapsWriterError as exc:
            self.details.setText(str(exc))
            return
        self.fill()

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, self.tr("Install a model archive"), str(Path.home()),
            self.tr("Model archives (*.tar.bz2 *.tar.gz *.tgz *.tar.xz *.tar)"),
        )  # fmt: skip
        if path:
            self.install_file(Path(path))

    def install_file(self, path: Path) -> None:
        self.library.install_file(path)
        self.fill()
