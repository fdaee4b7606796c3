"""Search the history, copy an entry, or paste it again into the focused window."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from capswriter.client.history import Entry, History

COLUMNS = ("Time", "Kind", "Text", "Seconds", "Latency", "Status")


def row_values(entry: Entry) -> tuple[str, ...]:
    latency = f"{entry.latency_s:.2f}" if entry.latency_s is not None else ""
    status = entry.status + (f": {entry.error}" if entry.error else "")
    text = entry.text or (entry.source if entry.kind == "file" else "")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.created))
    return (when, entry.kind, text, f"{entry.duration_s:.1f}", latency, status)


class HistoryWindow(QWidget):
    def __init__(self, history: History, repaste: Callable[[int], object]) -> None:
        super().__init__()
        self.history = history
        self.repaste = repaste
        self.setWindowTitle("CapsWriter: history")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search text or file name")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.copy_button = QPushButton("Copy")
        self.repaste_button = QPushButton("Paste again")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.repaste_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.resize(720, 420)
        # Searching on every keystroke would query SQLite per character; wait for a pause.
        self._debounce = QTimer(self, singleShot=True, interval=150)
        self._debounce.timeout.connect(self.refresh)
        self.search.textChanged.connect(lambda _text: self._debounce.start())
        self.copy_button.clicked.connect(self.copy_selected)
        self.repaste_button.clicked.connect(self.repaste_selected)
        self.entries: list[Entry] = []
        self.refresh()

    def refresh(self) -> None:
        query = self.search.text().strip()
        self.entries = self.history.search(query) if query else self.history.recent()
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            for column, value in enumerate(row_values(entry)):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, entry.id)
                self.table.setItem(row, column, item)

    def selected(self) -> Entry | None:
        rows = self.table.selectionModel().selectedRows()
        return self.entries[rows[0].row()] if rows else None

    def copy_selected(self) -> None:
        entry = self.selected()
        if entry is not None:
            QGuiApplication.clipboard().setText(entry.text)

    def repaste_selected(self) -> None:
        entry = self.selected()
        if entry is not None:
            # Hide first so the window that had focus before gets it back and receives the text.
            self.hide()
            QTimer.singleShot(300, lambda: self.repaste(entry.id))
