"""Search the history, copy an entry, paste it again into the focused window, open the
transcripts of a file, or delete entries."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from capswriter.client.history import Entry, History
from capswriter.client.i18n import translate

COLUMNS = (
    QT_TRANSLATE_NOOP("HistoryWindow", "When"),
    QT_TRANSLATE_NOOP("HistoryWindow", "From"),
    QT_TRANSLATE_NOOP("HistoryWindow", "Text"),
    QT_TRANSLATE_NOOP("HistoryWindow", "Length"),
    QT_TRANSLATE_NOOP("HistoryWindow", "Status"),
)
TEXT_COLUMN = 2
# Widest a column other than the text is made at first (its text wraps; the user may widen it).
MAX_COLUMN_WIDTH = {1: 200, 4: 220}
# Longer texts are cut in the table (the full text is the cell's tooltip, and Copy copies it).
SHOWN_CHARS = 400
STATUS_WORDS = {
    "done": QT_TRANSLATE_NOOP("HistoryWindow", "Done"),
    "pending": QT_TRANSLATE_NOOP("HistoryWindow", "Waiting for the server"),
    "failed": QT_TRANSLATE_NOOP("HistoryWindow", "Failed"),
}


def _tr(text: str) -> str:
    return translate("HistoryWindow", text)


def _opener(path: Path) -> None:
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def row_values(entry: Entry) -> tuple[str, ...]:
    """The cells of an entry, in words: where it came from, its text, how long, how it went."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.created))
    if entry.kind == "file":
        origin = Path(entry.source).name
    else:
        origin = translate("HistoryWindow", "Dictation")
        if entry.role:  # rewritten by a role's model
            origin += f" · {entry.role}"
        if entry.source:
            origin += f" → {entry.source}"
    text = _shown(entry.text)
    if entry.raw_text and not entry.role:
        # Hot words or number rules changed it: what was heard stays in view.
        heard = translate("HistoryWindow", "heard as: {raw}")
        text += "\n" + heard.format(raw=_shown(entry.raw_text))
    length = duration_text(entry.duration_s)
    status = _tr(STATUS_WORDS.get(entry.status, entry.status))
    if entry.error:
        status += f": {entry.error}"
    return (when, origin, text, length, status)


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


def duration_text(seconds: float) -> str:
    """"4.2 s" for a dictation, "30:34" or "1:02:05" for a recording."""
    if not seconds:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def row_tooltips(entry: Entry) -> tuple[str, ...]:
    took = ""
    if entry.kind == "dictation" and entry.latency_s is not None:
        took = translate("HistoryWindow", "Text ready {seconds:.2f} s after the key was "
                         "released").format(seconds=entry.latency_s)
    outputs = "\n".join(str(p) for p in entry.outputs)
    text = entry.text
    if entry.raw_text and entry.role:  # a role rewrote what was said
        text += "\n\n" + translate("HistoryWindow", "As said: {text}").format(text=entry.raw_text)
    elif entry.raw_text:
        text += "\n\n" + translate("HistoryWindow", "heard as: {raw}").format(raw=entry.raw_text)
    return ("", entry.source if entry.kind == "file" else "", text, took,
            (entry.error or "") + ("\n" + outputs if outputs else ""))


class HistoryWindow(QWidget):
    def __init__(
        self,
        history: History,
        repaste: Callable[[int], object],
        open_path: Callable[[Path], None] = _opener,
        confirm_delete: Callable[[int], bool] | None = None,
    ) -> None:
        super().__init__()
        self.history = history
        self.repaste = repaste
        self.open_path = open_path
        self.confirm_delete = confirm_delete or self._ask_delete
        self.setWindowTitle(self.tr("CapsWriter: history"))
        self.search = QLineEdit()
        self.search.setPlaceholderText(self.tr("Search text or file name"))
        self.search.setClearButtonEnabled(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([_tr(c) for c in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        self.table.verticalHeader().hide()
        # The text takes the room that is left and wraps in it, so it is never cut at the edge.
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(TEXT_COLUMN, QHeaderView.ResizeMode.Stretch)
        # Wrapped text needs taller rows when its column gets narrower.
        header.sectionResized.connect(lambda *_: self.table.resizeRowsToContents())
        self.copy_button = QPushButton(self.tr("Copy"))
        self.repaste_button = QPushButton(self.tr("Paste again"))
        self.open_button = QPushButton(self.tr("Open transcript"))
        self.folder_button = QPushButton(self.tr("Show in folder"))
        self.delete_button = QPushButton(self.tr("Delete"))
        buttons = QHBoxLayout()
        buttons.addWidget(self.delete_button)
        buttons.addStretch(1)
        for button in (self.open_button, self.folder_button, self.copy_button,
                       self.repaste_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.resize(820, 460)
        # Searching on every keystroke would query SQLite per character; wait for a pause.
        self._debounce = QTimer(self, singleShot=True, interval=150)
        self._debounce.timeout.connect(self.refresh)
        self.search.textChanged.connect(lambda _text: self._debounce.start())
        self.copy_button.clicked.connect(self.copy_selected)
        self.repaste_button.clicked.connect(self.repaste_selected)
        self.open_button.clicked.connect(self.open_selected)
        self.folder_button.clicked.connect(self.show_selected_folder)
        self.delete_button.clicked.connect(self.delete_selected)
        self.table.itemSelectionChanged.connect(self.update_actions)
        self.table.doubleClicked.connect(lambda _index: self.open_selected())
        self.entries: list[Entry] = []
        self.refresh()

    def refresh(self) -> None:
        chosen = {e.id for e in self.selected_entries()}
        query = self.search.text().strip()
        self.entries = self.history.search(query) if query else self.history.recent()
        self.table.clearSelection()
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            cells = zip(row_values(entry), row_tooltips(entry), strict=True)
            for column, (value, tip) in enumerate(cells):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, entry.id)
                if tip:
                    item.setToolTip(tip)
                self.table.setItem(row, column, item)
            if entry.id in chosen:
                self.table.selectRow(row)
        for column in range(len(COLUMNS)):
            if column != TEXT_COLUMN:
                self.table.resizeColumnToContents(column)
                limit = MAX_COLUMN_WIDTH.get(column)
                if limit and self.table.columnWidth(column) > limit:
                    self.table.setColumnWidth(column, limit)
        self.table.resizeRowsToContents()
        self.update_actions()

    # ---- selection and what it allows ------------------------------------------------------

    def selected_entries(self) -> list[Entry]:
        model = self.table.selectionModel()
        rows = sorted(index.row() for index in model.selectedRows()) if model else []
        return [self.entries[row] for row in rows if row < len(self.entries)]

    def selected(self) -> Entry | None:
        """The one entry selected, or None when none or several are."""
        chosen = self.selected_entries()
        return chosen[0] if len(chosen) == 1 else None

    def transcript_of(self, entry: Entry | None) -> Path | None:
        """The file entry's transcript to open: its text file first, else the first it wrote."""
        if entry is None:
            return None
        existing = [p for p in entry.outputs if p.is_file()]
        for path in existing:
            if path.suffix == ".txt":
                return path
        return existing[0] if existing else None

    def update_actions(self) -> None:
        chosen = self.selected_entries()
        one = chosen[0] if len(chosen) == 1 else None
        self.copy_button.setEnabled(any(e.text for e in chosen))
        self.repaste_button.setEnabled(one is not None and bool(one.text))
        self.open_button.setEnabled(self.transcript_of(one) is not None)
        self.folder_button.setEnabled(one is not None and one.kind == "file"
                                      and Path(one.source).parent.is_dir())
        self.delete_button.setEnabled(bool(chosen))

    # ---- actions -----------------------------------------------------------------------------

    def copy_selected(self) -> None:
        texts = [e.text for e in self.selected_entries() if e.text]
        if texts:
            QGuiApplication.clipboard().setText("\n".join(texts))

    def repaste_selected(self) -> None:
        entry = self.selected()
        if entry is not None and entry.text:
            # Hide first so the window that had focus before gets it back and receives the text.
            self.hide()
            QTimer.singleShot(300, lambda: self.repaste(entry.id))

    def open_selected(self) -> None:
        path = self.transcript_of(self.selected())
        if path is not None:
            self.open_path(path)

    def show_selected_folder(self) -> None:
        entry = self.selected()
        if entry is not None and entry.kind == "file":
            self.open_path(Path(entry.source).parent)

    def delete_selected(self) -> None:
        chosen = self.selected_entries()
        if chosen and self.confirm_delete(len(chosen)):
            self.history.delete(e.id for e in chosen)
            self.refresh()

    def _ask_delete(self, count: int) -> bool:
        answer = QMessageBox.question(
            self, self.tr("Delete from history"),
            self.tr("Delete %n entries from the history? Their text and audio are removed; "
                    "transcript files stay where they are.", "", count),
        )
        return answer == QMessageBox.StandardButton.Yes
