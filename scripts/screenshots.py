"""Pictures of the client's windows for the README, drawn without a desktop.

    python scripts/screenshots.py [--out docs/screenshots] [--language en|zh_CN]

Runs Qt on the offscreen platform (or the display it is given, e.g. under Xvfb) with sample
history and file jobs in a temporary folder; the user's own settings and history are not read.
Chinese pictures need a CJK font (e.g. fonts-noto-cjk) installed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's package, not another installed one


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--language", default="en", choices=("en", "zh_CN"))
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as tmp:
        # Sample data only: nothing of the user's config, history or logs.
        for name in ("CONFIG_DIR", "DATA_DIR", "CACHE_DIR"):
            os.environ[f"CAPSWRITER_{name}"] = str(Path(tmp) / name.lower())
        os.environ["CAPSWRITER_CONFIG"] = str(Path(tmp) / "config.toml")
        written = take_all(args.out, args.language, Path(tmp))
    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


def take_all(out: Path, language: str, tmp: Path) -> list[Path]:
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    from capswriter.client.i18n import use_language

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("CapsWriter")
    use_language(language)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if language == "en" else f"-{language}"
    shots = {
        "tray-menu": tray_menu(),
        **settings_tabs(tmp),
        "history": history_window(tmp),
        "drop-window": drop_window(tmp),
        "drop-window-drag": drop_window(tmp, dragging=True),
        "settings-recovery": recovery_dialog(tmp),
        "overlay-recording": recording_overlay(),
    }
    written = []
    for name, widget in shots.items():
        app.processEvents()
        path = out / f"{name}{suffix}.png"
        widget.grab().save(str(path))
        written.append(path)
    # Widgets left to the interpreter's exit are destroyed after Qt's own state: a crash.
    for widget in shots.values():
        widget.close()
        widget.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    app.processEvents()
    return written


def tray_menu():
    from capswriter.client.ui.tray import MenuHandlers, build_menu

    menu = build_menu(None, MenuHandlers(*(lambda: None for _ in range(7))))
    menu.adjustSize()
    return menu


def settings_tabs(tmp: Path) -> dict:
    from capswriter.client.ui.settings_dialog import SettingsDialog
    from capswriter.config import Settings

    (tmp / "apps.toml").write_text('[apps]\nkonsole = "type"\n', encoding="utf-8")
    shots = {}
    for index, name in enumerate(("dictation", "output", "files", "models", "server")):
        dialog = SettingsDialog(Settings(), tmp / "config.toml", rules_dir=tmp)
        dialog.tabs.setCurrentIndex(index)
        dialog.resize(600, 500)
        dialog.show()
        shots[f"settings-{name}"] = dialog
    return shots


def history_window(tmp: Path):
    from capswriter.client.history import History
    from capswriter.client.ui.history_window import HistoryWindow

    history = History(tmp / "history.sqlite3")
    now = time.time()
    talk = tmp / "team meeting.mp3"
    outputs = [talk.with_suffix(".txt"), talk.with_suffix(".srt")]
    for path in outputs:
        path.write_text("…", encoding="utf-8")
    history.add("dictation", "Let's move the review to Thursday afternoon, after the demo.",
                duration_s=4.2, latency_s=0.61, source="thunderbird", created=now - 3600)
    history.add("file", "Good morning everyone. First item on the agenda is the release plan "
                "for the desktop app, then the translation work and the new settings window, "
                "which several of you asked about last week.", duration_s=1834.0,
                source=str(talk), created=now - 1800, outputs=outputs)
    history.add("dictation", "", duration_s=6.3, status="pending",
                error="nothing answers at 127.0.0.1:6016", created=now - 600)
    history.add("dictation", "Meeting tomorrow at ten, please be on time.", duration_s=3.1,
                latency_s=0.48, source="gedit", created=now - 60)
    window = HistoryWindow(history, lambda entry_id: None, open_path=lambda path: None)
    window.table.selectRow(2)
    window.resize(860, 420)
    window.show()
    return window


def drop_window(tmp: Path, dragging: bool = False):
    import warnings

    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent
    from PySide6.QtWidgets import QApplication

    from capswriter.client.file_jobs import FileJob
    from capswriter.client.ui.drop_window import DropWindow
    from capswriter.wire.jobs import JobState

    window = DropWindow()
    window.resize(400, 440)
    window.show()
    jobs = [
        FileJob(tmp / "interview part 1.m4a", state=JobState.RUNNING, fraction=0.64),
        FileJob(tmp / "lecture.mp4", queue_position=2),
        FileJob(tmp / "team meeting.mp3", state=JobState.DONE,
                outputs=[tmp / "team meeting.txt", tmp / "team meeting.srt"]),
        FileJob(tmp / "voice memo.amr", state=JobState.FAILED,
                error="the audio could not be decoded: ffmpeg found no audio stream in it "
                      "(is it a video without sound?)"),
    ]
    for job in jobs:
        window.show_job(job)
    if dragging:
        sample = tmp / "new recording.wav"
        sample.write_bytes(b"RIFF")
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(sample))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            event = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                                    Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(window, event)
    return window


def recording_overlay():
    """The panel while dictating, its meter at speech loudness (-20 dB)."""
    from PySide6.QtWidgets import QApplication

    from capswriter.client.recorder import Level
    from capswriter.client.ui.overlay import RecordingOverlay

    overlay = RecordingOverlay(level=lambda: Level(rms=0.1, peak=0.5))
    overlay.show_recording()
    deadline = time.monotonic() + 5.0
    while overlay.meter == 0.0 and time.monotonic() < deadline:  # the meter's first reading
        QApplication.processEvents()
        time.sleep(0.01)
    return overlay


def recovery_dialog(tmp: Path):
    from capswriter.client.ui.settings_recovery import recovery_box
    from capswriter.config import load_settings
    from capswriter.errors import ConfigError

    path = tmp / "broken.toml"
    path.write_text('[client]\nhold_threshold_s = "0.3s"\n', encoding="utf-8")
    try:
        load_settings(path, environ={})
    except ConfigError as exc:
        error = exc
    box, _open, _reset = recovery_box(error)
    box.show()
    return box


if __name__ == "__main__":
    sys.exit(main())
