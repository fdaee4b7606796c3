"""``capswriter client``: wires the controller, the hotkey and the windows, and runs Qt.

Entry point: :func:`run_client`.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QFileDialog

from capswriter import logs
from capswriter.client.controller import ClientController, TrayState
from capswriter.client.dictation import Notice
from capswriter.client.hotkey import HotkeyListener
from capswriter.client.i18n import translate, use_language
from capswriter.client.model_library import ModelLibrary
from capswriter.client.recovery import LockDebt
from capswriter.client.single_instance import InstanceServer, forward_files
from capswriter.client.sounds import SoundCues
from capswriter.client.ui.drop_window import DropWindow
from capswriter.client.ui.history_window import HistoryWindow
from capswriter.client.ui.overlay import RecordingOverlay, follow
from capswriter.client.ui.settings_dialog import SettingsDialog
from capswriter.client.ui.tray import MenuHandlers, StatusWindow, make_status_view, retranslate_menu
from capswriter.config import Settings, data_dir
from capswriter.errors import CapsWriterError

log = logging.getLogger(__name__)


class ClientApp:
    """The running desktop client: one controller, one status view, windows opened on demand."""

    def __init__(
        self,
        settings: Settings,
        controller: ClientController | None = None,
        instance_name: str | None = None,
        use_hotkey: bool = True,
        instance: InstanceServer | None = None,
    ) -> None:
        self.settings = settings
        self.controller = controller or ClientController(settings)
        self.instance = instance or InstanceServer(instance_name)
        self.instance.files_received.connect(self.transcribe)
        handlers = MenuHandlers(
            transcribe_files=self.choose_files,
            drop_window=self.show_drop_window,
            history=self.show_history,
            settings=self.show_settings,
            open_logs=self.open_logs,
            retry_server=self.controller.retry_server,
            quit=self.quit,
        )
        self.view = make_status_view(self.controller, handlers)
        self.view.on_open_folder(self.open_folder)
        self.drop_window: DropWindow | None = None
        self.history_window: HistoryWindow | None = None
        self.settings_dialog: SettingsDialog | None = None
        # One library for the app's life: a download goes on when the settings window closes.
        self.model_library: ModelLibrary | None = None
        self.use_hotkey = use_hotkey
        self.hotkey: HotkeyListener | None = None
        self._shut_down: bool | None = None  # set by shutdown(): whether devices were released
        self.controller.file_job_changed.connect(self._show_job)
        recorder = self.controller.recorder
        self.overlay = RecordingOverlay(level=lambda: recorder.level)
        self.overlay.set_enabled(settings.client.recording_overlay)
        follow(self.overlay, self.controller)
        self.sounds = SoundCues(settings.client.sound_cues)
        self._was_recording = False
        self.controller.state_changed.connect(self._cue)

    def start(self, files: list[Path]) -> None:
        if not self.instance.listen():
            log.warning("could not listen for other launches on %s", self.instance.name)
        self.controller.startup()
        if self.use_hotkey:
            self.start_hotkey()
        if files:
            self.transcribe(files)

    def start_hotkey(self) -> None:
        if self.hotkey is not None:
            self.hotkey.stop()
        client = self.settings.client
        try:
            self.hotkey = HotkeyListener(
                client.hotkey, client.hold_threshold_s, self.controller.flow.handle,
                lock_debt=LockDebt(data_dir() / "lock-restore.json"),
                on_escape=self.controller.roles.cancel,
            )
            self.hotkey.start()
            log.info("push-to-talk ready: hold %s", client.hotkey)
        except Exception as exc:  # no X display, no accessibility permission, unknown key
            self.hotkey = None
            self.controller.notice.emit(Notice(
                translate("Notices", "Push-to-talk unavailable"),
                translate("Notices", "{reason}. Files can still be transcribed.").format(
                    reason=exc),
                "error",
            ))

    # ---- menu entries --------------------------------------------------------------------

    def transcribe(self, files: list[Path]) -> None:
        if files:
            self.show_drop_window()
            self.controller.transcribe_files(files)

    def choose_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(
            None, translate("Tray", "Transcribe files"), str(Path.home()),
            translate("Tray", "Audio and video")
            + " (*.wav *.mp3 *.m4a *.flac *.ogg *.opus *.aac *.wma *.mp4 *.mkv *.mov *.webm *.avi)"
            + ";;" + translate("Tray", "All files") + " (*)",
        )
        self.transcribe([Path(n) for n in names])

    def show_drop_window(self) -> None:
        if self.drop_window is None:
            self.drop_window = DropWindow()
            self.drop_window.files_dropped.connect(self.controller.transcribe_files)
        self.drop_window.show()
        self.drop_window.raise_()

    def show_history(self) -> None:
        if self.history_window is None:
            self.history_window = HistoryWindow(self.controller.history, self.controller.repaste)
            self.controller.history_changed.connect(self.history_window.refresh)
        self.history_window.refresh()
        self.history_window.show()
        self.history_window.raise_()

    def show_settings(self) -> None:
        self.settings_dialog = SettingsDialog(self.settings, library=self._library())
        self.settings_dialog.saved.connect(self.apply_settings)
        self.settings_dialog.show()

    def _library(self) -> ModelLibrary | None:
        """The model library for the current models folder and mirror (None: a bad mirror,
        which the settings window then names)."""
        library = self.model_library
        source = (self.settings.models_path, self.settings.download.mirror)
        if library is None or ((library.models_dir, library.mirror) != source
                               and not library.busy()):  # fmt: skip
            try:
                library = self.model_library = ModelLibrary(*source)
            except CapsWriterError:
                return None
        return library

    def apply_settings(self, new: Settings) -> None:
        """Take the settings the dialog saved (a new value) and hand them to the services."""
        moved = (new.server.host, new.server.port) != (
            self.settings.server.host, self.settings.server.port
        )
        relabel = new.client.ui_language != self.settings.client.ui_language
        self.settings = new
        self.controller.apply_settings(new)
        self.overlay.set_enabled(self.settings.client.recording_overlay)
        self.sounds.set_enabled(self.settings.client.sound_cues)
        if self.use_hotkey:
            self.start_hotkey()
        if relabel:
            self.use_language(new.client.ui_language)
        if moved:
            self.controller.notice.emit(Notice(
                translate("Notices", "Settings saved"),
                translate("Notices", "The new server address is used after a restart."),
            ))

    def use_language(self, choice: str) -> None:
        """Menus and windows in the chosen interface language from now on."""
        use_language(choice)
        retranslate_menu(self.view.menu)
        # Windows are built in one language; hidden ones are built again when next opened.
        for name in ("drop_window", "history_window"):
            window = getattr(self, name)
            if window is not None and not window.isVisible():
                window.deleteLater()
                setattr(self, name, None)

    def open_logs(self) -> None:
        folder = self.controller.log_path()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def open_folder(self, folder: str) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(folder))

    def quit(self) -> None:
        # exit(), not quit(): Qt 6's quit() first asks windows to close, and the status window
        # refuses (closing it only minimises), which would veto the Quit menu entry.
        app = QApplication.instance()
        if app is not None:
            app.exit(0)

    def end_session(self, manager=None) -> None:
        """The desktop session is ending (logout): let the status window close with it.

        Qt then quits by closing every window; the status window, which otherwise only
        minimises, would veto that. History is written as it happens: nothing is left to save.
        """
        if isinstance(self.view, StatusWindow):
            self.view.closing_for_good = True

    def shutdown(self) -> bool:
        """Release everything (once); returns whether the sound devices were let go of in time."""
        if self._shut_down is not None:
            return self._shut_down
        self._shut_down = False
        try:
            if self.hotkey is not None:
                self.hotkey.stop()
            self.instance.close()
        finally:
            released = self.controller.shutdown()
            sounds_closed = self.sounds.close()
            self._shut_down = released and sounds_closed
        self.overlay.clear()
        if hasattr(self.view, "close"):
            if isinstance(self.view, StatusWindow):
                self.view.closing_for_good = True
            self.view.close()
        return self._shut_down

    def _cue(self, state: TrayState) -> None:
        recording = state is TrayState.RECORDING
        if recording != self._was_recording:
            self.sounds.play("start" if recording else "stop")
        self._was_recording = recording

    def _show_job(self, job) -> None:
        if self.drop_window is not None:
            self.drop_window.show_job(job)


def run_client(settings: Settings, files: list[Path]) -> int:
    """Run the desktop client until Quit; a second launch hands ``files`` over and returns 0."""
    logs.configure(settings.log_level)
    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    qapp.setApplicationName("CapsWriter")
    qapp.setQuitOnLastWindowClosed(False)  # the tray keeps the app alive
    problem = qt_binding_problem()
    if problem:
        log.critical("%s", problem)
        print(f"error: {problem}", file=sys.stderr)
        return 2
    use_language(settings.client.ui_language)
    # Claim the instance name before anything slow, so two launches at once make one client.
    instance = InstanceServer()
    handed_over = forward_files(files, name=instance.name)
    if not handed_over and not instance.listen():
        handed_over = forward_files(files, name=instance.name)  # the other launch won the race
    if handed_over or not instance.server.isListening():
        print("CapsWriter is already running; files handed over." if files
              else "CapsWriter is already running.")
        return 0
    app = ClientApp(settings, instance=instance)
    logs.add_file(app.controller.log_path() / "client.log")
    # Every way out (Quit, a signal, the end of the desktop session) passes through shutdown,
    # which closes the microphone while the interpreter still runs.
    qapp.aboutToQuit.connect(app.shutdown)
    qapp.commitDataRequest.connect(app.end_session)
    app.start(files)
    _quit_on_signals(qapp)
    code = 1
    try:
        code = qapp.exec()
    finally:
        released = app.shutdown()
    log.info("exiting")
    if not released:
        # PortAudio still holds a stream: sounddevice's exit handler would wait on it for
        # good. Leave without it (the system releases the device with the process).
        log.warning("a sound device did not close in time; leaving without waiting for it")
        logging.shutdown()
        os._exit(code)
    return code


def none_references_lost(calls: int = 200) -> int:
    """How many references to None ``calls`` Qt calls that return nothing lose.

    PySide6 6.12.0 loses one per such call. On Python < 3.12, where None is an ordinary
    object, its count then reaches zero within minutes of repainting ("Fatal Python error:
    none_dealloc"); from 3.12 on None is immortal and the loss is harmless.
    """
    from PySide6.QtWidgets import QWidget

    probe = QWidget()
    before = sys.getrefcount(None)
    for _ in range(calls):
        probe.update()
    lost = before - sys.getrefcount(None)
    probe.deleteLater()
    return max(0, lost)


def qt_binding_problem() -> str:
    """Why this Qt binding would crash the app, in one sentence; empty when it is fine."""
    if sys.version_info >= (3, 12) or none_references_lost() < 100:
        return ""
    import PySide6

    return (f"PySide6 {PySide6.__version__} on Python {sys.version_info.major}."
            f"{sys.version_info.minor} corrupts Python's None and would crash CapsWriter within "
            "minutes; install a tested version: pip install 'PySide6-Essentials<6.12'")


def _quit_on_signals(qapp: QApplication) -> None:
    """Ctrl+C in the terminal, SIGTERM (sent at logout) and SIGHUP (the terminal closed) end the
    client cleanly (history closed, mic released, our server stopped)."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: qapp.exit(0))
    # Python runs signal handlers only between bytecodes; Qt's C++ loop needs a nudge.
    timer = QTimer(qapp)
    timer.timeout.connect(lambda: None)
    timer.start(250)
