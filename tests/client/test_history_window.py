"""The history window lists, searches, copies, deletes and opens what the history holds."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QGuiApplication

from capswriter.client.history import History
from capswriter.client.ui.history_window import COLUMNS, HistoryWindow


@pytest.fixture
def history(tmp_path):
    h = History(tmp_path / "h.sqlite3")
    yield h
    h.close()


def make_window(qtbot, history, **kwargs) -> HistoryWindow:
    window = HistoryWindow(history, kwargs.pop("repaste", lambda entry_id: None), **kwargs)
    qtbot.addWidget(window)
    return window


def test_lists_newest_first_searches_and_copies(qtbot, history):
    history.add("dictation", "first words", created=1.0, latency_s=0.4, source="gedit")
    history.add("file", "meeting minutes", source="/data/meeting.mp3", created=2.0)
    history.add("dictation", "", status="pending", error="server down", created=3.0)
    repasted = []
    window = make_window(qtbot, history, repaste=repasted.append)
    assert window.table.rowCount() == 3
    assert window.table.item(0, 4).text() == "Waiting for the server: server down"
    assert window.table.item(2, 2).text() == "first words"
    assert window.table.item(2, 1).text() == "Dictation → gedit"
    assert window.table.item(1, 1).text() == "meeting.mp3"
    window.search.setText("MEETING")
    qtbot.waitUntil(lambda: window.table.rowCount() == 1)
    assert window.table.item(0, 2).text() == "meeting minutes"
    window.table.selectRow(0)
    window.copy_selected()
    assert QGuiApplication.clipboard().text() == "meeting minutes"
    window.repaste_selected()
    qtbot.waitUntil(lambda: bool(repasted), timeout=2000)
    assert repasted == [window.entries[0].id]


def test_headers_are_plain_words(qtbot, history):
    window = make_window(qtbot, history)
    headers = [window.table.horizontalHeaderItem(i).text() for i in range(len(COLUMNS))]
    assert headers == ["When", "From", "Text", "Length", "Status"]


def test_long_text_wraps_in_its_column_with_the_whole_text_as_tooltip(qtbot, history):
    long_text = "word " * 300
    history.add("dictation", long_text.strip())
    window = make_window(qtbot, history)
    window.show()
    qtbot.waitExposed(window)
    item = window.table.item(0, 2)
    assert item.toolTip() == long_text.strip()
    assert item.text().endswith("…") and len(item.text()) < len(long_text)
    assert window.table.wordWrap()
    # Wrapped, the row grows in height instead of the text running past the column's edge.
    assert window.table.rowHeight(0) > 2 * window.table.fontMetrics().height()
    header = window.table.horizontalHeader()
    right_edge = header.sectionPosition(4) + header.sectionSize(4)
    assert right_edge <= window.table.viewport().width()


def test_actions_follow_the_selection(qtbot, history, tmp_path):
    transcript = tmp_path / "talk.txt"
    transcript.write_text("words", encoding="utf-8")
    history.add("dictation", "spoken", created=1.0)
    history.add("file", "words", source=str(tmp_path / "talk.mp3"), created=2.0,
                outputs=[transcript])
    history.add("dictation", "", status="failed", error="no speech", created=3.0)
    window = make_window(qtbot, history)
    buttons = (window.copy_button, window.repaste_button, window.open_button,
               window.folder_button, window.delete_button)

    def enabled():
        return tuple(b.isEnabled() for b in buttons)

    assert enabled() == (False, False, False, False, False)  # nothing selected
    window.table.selectRow(2)  # a dictation
    assert enabled() == (True, True, False, False, True)
    window.table.selectRow(1)  # a file with its transcript
    assert enabled() == (True, True, True, True, True)
    window.table.selectRow(0)  # a failure: no text to copy or paste
    assert enabled() == (False, False, False, False, True)
    window.table.selectAll()  # several: deletable and copyable, not one to paste
    assert enabled() == (True, False, False, False, True)


def test_a_file_entry_opens_its_transcript_and_its_folder(qtbot, history, tmp_path):
    srt, txt = tmp_path / "talk.srt", tmp_path / "talk.txt"
    srt.write_text("1\n", encoding="utf-8")
    txt.write_text("words", encoding="utf-8")
    history.add("file", "words", source=str(tmp_path / "talk.mp3"), outputs=[srt, txt])
    opened = []
    window = make_window(qtbot, history, open_path=opened.append)
    window.table.selectRow(0)
    window.open_button.click()
    window.folder_button.click()
    assert opened == [txt, tmp_path]
    txt.unlink()  # the text file was deleted since: the subtitles are what is left to open
    window.refresh()
    window.open_button.click()
    assert opened[-1] == srt
    assert "talk.srt" in window.table.item(0, 4).toolTip()


def test_deleting_removes_the_selected_entries_after_confirmation(qtbot, history):
    ids = [history.add("dictation", f"entry {i}", created=float(i)) for i in range(3)]
    answers = [False, True]
    asked = []

    def confirm(count):
        asked.append(count)
        return answers.pop(0)

    window = make_window(qtbot, history, confirm_delete=confirm)
    window.table.setRangeSelected(_rows(window, 0, 1), True)  # entries 2 and 1
    window.delete_button.click()  # declined
    assert window.table.rowCount() == 3
    window.delete_button.click()
    assert asked == [2, 2]
    assert [e.id for e in history.recent()] == [ids[0]]
    assert window.table.rowCount() == 1 and window.table.item(0, 2).text() == "entry 0"
    assert not window.delete_button.isEnabled()


def _rows(window, first, last):
    from PySide6.QtWidgets import QTableWidgetSelectionRange

    return QTableWidgetSelectionRange(first, 0, last, len(COLUMNS) - 1)


def test_refreshes_when_told_history_changed(qtbot, history):
    window = make_window(qtbot, history)
    assert window.table.rowCount() == 0
    history.add("dictation", "new")
    window.refresh()
    assert window.table.item(0, 2).text() == "new"


def test_a_corrected_dictation_shows_what_was_heard_and_copies_the_corrected_text(
    qtbot, history
):
    history.add("dictation", "傅平写了20行", raw_text="付平写了二十行", created=1.0)
    history.add("dictation", "other words", created=0.5)
    window = make_window(qtbot, history)
    cell = window.table.item(0, 2)
    assert cell.text() == "傅平写了20行\nheard as: 付平写了二十行"
    assert "付平写了二十行" in cell.toolTip()
    window.table.selectRow(0)
    window.copy_selected()
    assert QGuiApplication.clipboard().text() == "傅平写了20行"
    window.search.setText("付平")  # only in the raw text
    qtbot.waitUntil(lambda: window.table.rowCount() == 1)
    assert window.entries[0].raw_text == "付平写了二十行"


def test_a_rewritten_dictation_names_its_role_shows_what_was_said_and_is_found_by_it(
    qtbot, history
):
    history.add("dictation", "Make this loud.", raw_text="polish, make this loud",
                role="polish")
    window = HistoryWindow(history, repaste=lambda entry_id: None)
    qtbot.addWidget(window)
    text_column = COLUMNS.index("Text")
    assert window.table.item(0, 1).text() == "Dictation · polish"
    assert window.table.item(0, text_column).text() == "Make this loud."
    assert window.table.item(0, text_column).toolTip().endswith(
        "As said: polish, make this loud")
    assert [e.text for e in history.search("polish, make")] == ["Make this loud."]
