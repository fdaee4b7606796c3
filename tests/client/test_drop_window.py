"""Files dropped on the drop window become jobs on a real server, with outputs beside them."""

from __future__ import annotations

import shutil
import uuid
import warnings
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from capswriter.client.controller import ClientController, TrayState
from capswriter.client.file_jobs import FileJob
from capswriter.client.history import History
from capswriter.client.link import ServerLink
from capswriter.client.ui.app import ClientApp
from capswriter.client.ui.drop_window import DRAG_STYLE, DropWindow
from capswriter.config import Settings
from capswriter.wire.jobs import JobState

from .speech import AUDIO


def drag_over(window: DropWindow, paths: list[Path]) -> tuple[bool, QMimeData]:
    """Hold ``paths`` over the window; returns whether the drag was welcome, and its data."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the QPoint form is the only one
        enter = QDragEnterEvent(
            QPoint(10, 10), Qt.DropAction.CopyAction, mime,
            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
        )
    QApplication.sendEvent(window, enter)
    return enter.isAccepted(), mime


def drop(window: DropWindow, paths: list[Path]) -> bool:
    """Drag ``paths`` over the window and release; returns whether the drag was welcome."""
    welcome, mime = drag_over(window, paths)
    event = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime,
        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, event)
    return welcome


def test_drop_window_accepts_local_files_only(qtbot, tmp_path):
    window = DropWindow()
    qtbot.addWidget(window)
    window.show()  # Qt ignores drops on hidden widgets
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF")
    got = []
    window.files_dropped.connect(got.append)
    assert not drop(window, [tmp_path])  # a folder: nothing to transcribe
    assert got == []
    assert drop(window, [audio, tmp_path / "missing.wav"])
    assert got == [[audio]]


def test_the_zone_lights_up_while_files_are_held_over_it(qtbot, tmp_path):
    window = DropWindow()
    qtbot.addWidget(window)
    window.show()
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF")
    idle_style, idle_text = window.hint.styleSheet(), window.hint.text()
    assert not drag_over(window, [tmp_path])[0]  # a folder is not welcome: no highlight
    assert not window.dragging and window.hint.styleSheet() == idle_style
    assert drag_over(window, [audio])[0]
    assert window.dragging and window.hint.styleSheet() == DRAG_STYLE
    assert window.hint.text() == "Release to transcribe"
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert not window.dragging
    assert (window.hint.styleSheet(), window.hint.text()) == (idle_style, idle_text)
    drop(window, [audio])
    assert not window.dragging  # a drop ends the highlight too


def test_each_file_shows_its_percentage_and_a_failure_in_full(qtbot, tmp_path):
    window = DropWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    running = FileJob(tmp_path / "talk.mp3", state=JobState.RUNNING, fraction=0.42)
    window.show_job(running)
    row = window.job_row(running)
    assert row.progress.value() == 42 and row.progress.text() == "42%"
    assert row.status.text() == "talk.mp3: 42%"
    running.fraction = 0.875
    window.show_job(running)
    assert row.progress.text() == "88%" and window.job_lines() == ["talk.mp3: 88%"]
    reason = ("the server refused the file: the audio could not be decoded (ffmpeg: invalid "
              "data found when processing input; moov atom not found) — try converting it")
    failed = FileJob(tmp_path / "broken recording from the meeting.m4a", state=JobState.FAILED,
                     error=reason)
    window.show_job(failed)
    failed_row = window.job_row(failed)
    assert failed_row.status.text().endswith(reason)  # the whole reason, not cut
    assert reason in failed_row.status.toolTip()
    assert failed_row.status.wordWrap() and failed_row.progress.isHidden()
    # The row is as tall as the wrapped text needs, and no wider than the list.
    item = window.jobs.item(1)
    width = window.jobs.viewport().width()
    assert item.sizeHint().width() <= width
    assert item.sizeHint().height() >= failed_row.status.heightForWidth(width - 12)
    assert failed_row.status.heightForWidth(width - 12) > 2 * row.status.sizeHint().height()


def test_dropped_files_are_transcribed_with_outputs_beside_them(
    qtbot, tmp_path, recognition_server
):
    clip = tmp_path / "ask not.wav"
    shutil.copy(AUDIO / "en_jfk.wav", clip)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    settings = Settings()
    settings.server.port = recognition_server.port
    settings.client.keep_stream_open = False
    settings.files.formats = ["txt", "srt", "json"]
    controller = ClientController(
        settings, history=History(tmp_path / "h.sqlite3"),
        link=ServerLink(port=recognition_server.port), start_server=False,
        health_interval_s=0.2,
    )
    app = ClientApp(settings, controller, instance_name=f"t-{uuid.uuid4().hex[:8]}",
                    use_hotkey=False)
    notices = []
    controller.notice.connect(notices.append)
    states = []
    controller.state_changed.connect(states.append)
    try:
        app.start([])
        qtbot.waitUntil(lambda: controller.state is TrayState.READY, timeout=10000)
        app.show_drop_window()
        drop(app.drop_window, [clip, broken])
        qtbot.waitUntil(lambda: not controller.files.active, timeout=60000)
        qtbot.waitUntil(lambda: controller.state is TrayState.READY, timeout=5000)
        assert TrayState.BUSY in states
        text = clip.with_suffix(".txt").read_text(encoding="utf-8").lower()
        assert "ask not what your country can do for you" in text, text
        assert clip.with_suffix(".srt").read_text(encoding="utf-8").startswith("1\n00:00:")
        assert clip.with_suffix(".json").is_file()
        qtbot.waitUntil(lambda: app.drop_window.job_lines()[0].endswith("json"))
        lines = app.drop_window.job_lines()
        assert lines[0] == "ask not.wav: done → txt, srt, json"
        assert lines[1].startswith("broken.wav: failed")
        entries = {e.source: e for e in controller.history.recent()}
        assert entries[str(clip)].status == "done" and entries[str(clip)].duration_s > 10
        assert entries[str(broken)].status == "failed"
        # Notices cross from the network thread to the GUI thread as queued signals.
        qtbot.waitUntil(lambda: any(n.title == "Transcribed ask not.wav" for n in notices))
        done = [n for n in notices if n.title == "Transcribed ask not.wav"]
        assert done[0].folder == str(tmp_path)
    finally:
        app.shutdown()
