"""Files dropped on the drop window become jobs on a real server, with outputs beside them."""

from __future__ import annotations

import shutil
import uuid
import warnings
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from capswriter.client.app import ClientApp
from capswriter.client.controller import ClientController, TrayState
from capswriter.client.drop_window import DropWindow
from capswriter.client.history import History
from capswriter.client.link import ServerLink
from capswriter.config import Settings

from .speech import AUDIO


def drop(window: DropWindow, paths: list[Path]) -> bool:
    """Drag ``paths`` over the window and release; returns whether the drag was welcome."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the QPoint form is the only one
        enter = QDragEnterEvent(
            QPoint(10, 10), Qt.DropAction.CopyAction, mime,
            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
        )
    QApplication.sendEvent(window, enter)
    event = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime,
        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, event)
    return enter.isAccepted()


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
