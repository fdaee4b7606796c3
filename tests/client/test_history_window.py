"""The history window lists, searches and copies what the history holds."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication

from capswriter.client.history import History
from capswriter.client.history_window import HistoryWindow


def test_lists_newest_first_searches_and_copies(qtbot, tmp_path):
    history = History(tmp_path / "h.sqlite3")
    history.add("dictation", "first words", created=1.0, latency_s=0.4)
    history.add("file", "meeting minutes", source="/data/meeting.mp3", created=2.0)
    history.add("dictation", "", status="pending", error="server down", created=3.0)
    repasted = []
    window = HistoryWindow(history, repasted.append)
    qtbot.addWidget(window)
    assert window.table.rowCount() == 3
    assert window.table.item(0, 5).text() == "pending: server down"
    assert window.table.item(2, 2).text() == "first words"
    window.search.setText("MEETING")
    qtbot.waitUntil(lambda: window.table.rowCount() == 1)
    assert window.table.item(0, 2).text() == "meeting minutes"
    window.table.selectRow(0)
    window.copy_selected()
    assert QGuiApplication.clipboard().text() == "meeting minutes"
    window.repaste_selected()
    qtbot.waitUntil(lambda: bool(repasted), timeout=2000)
    assert repasted == [window.entries[0].id]
    history.close()


def test_refreshes_when_told_history_changed(qtbot, tmp_path):
    history = History(tmp_path / "h.sqlite3")
    window = HistoryWindow(history, lambda entry_id: None)
    qtbot.addWidget(window)
    assert window.table.rowCount() == 0
    history.add("dictation", "new")
    window.refresh()
    assert window.table.item(0, 2).text() == "new"
    history.close()
