"""The tray icon, or a small status window where the desktop has no tray; both only show the
controller's state and forward menu choices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, Qt, QTimer
from PySide6.QtGui import QAction, QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from capswriter.client.controller import ClientController, TrayState
from capswriter.client.dictation import Notice
from capswriter.client.i18n import translate
from capswriter.client.notices import DISPLAY_S, NoticeQueue
from capswriter.config import ASSETS_DIR

ASSETS = ASSETS_DIR


def icon_path(state: TrayState) -> Path:
    return ASSETS / f"tray-{state.value}.png"


def state_icon(state: TrayState) -> QIcon:
    return QIcon(str(icon_path(state)))


@dataclass
class MenuHandlers:
    """What each menu entry asks for; the application wires these to windows and the controller."""

    transcribe_files: Callable[[], None]
    drop_window: Callable[[], None]
    history: Callable[[], None]
    settings: Callable[[], None]
    open_logs: Callable[[], None]
    retry_server: Callable[[], None]
    quit: Callable[[], None]


MENU_ENTRIES = (
    (QT_TRANSLATE_NOOP("Tray", "Transcribe files…"), "transcribe_files"),
    (QT_TRANSLATE_NOOP("Tray", "Drop window"), "drop_window"),
    (QT_TRANSLATE_NOOP("Tray", "History"), "history"),
    (QT_TRANSLATE_NOOP("Tray", "Settings"), "settings"),
    (QT_TRANSLATE_NOOP("Tray", "Open logs"), "open_logs"),
    (QT_TRANSLATE_NOOP("Tray", "Retry connecting to the server"), "retry_server"),
    (None, None),
    (QT_TRANSLATE_NOOP("Tray", "Quit"), "quit"),
)


def build_menu(parent: QWidget | None, handlers: MenuHandlers) -> QMenu:
    menu = QMenu(parent)
    for label, name in MENU_ENTRIES:
        if label is None:
            menu.addSeparator()
            continue
        action = QAction(translate("Tray", label), menu)
        action.setObjectName(name)
        action.triggered.connect(lambda _checked=False, n=name: getattr(handlers, n)())
        menu.addAction(action)
    return menu


def retranslate_menu(menu: QMenu) -> None:
    """Menu entries in the interface language now in use (after it was changed)."""
    labels = {name: label for label, name in MENU_ENTRIES if name}
    for action in menu.actions():
        if action.objectName() in labels:
            action.setText(translate("Tray", labels[action.objectName()]))


class TrayView:
    """The system tray icon; notifications are the tray's balloon messages."""

    def __init__(self, controller: ClientController, handlers: MenuHandlers) -> None:
        self.controller = controller
        self.icon = QSystemTrayIcon()
        self.menu = build_menu(None, handlers)
        self.icon.setContextMenu(self.menu)
        self.shown_state: TrayState | None = None
        self._folder: str = ""
        self._open_folder: Callable[[str], None] = lambda folder: None
        controller.state_changed.connect(self.show_state)
        self.notices = NoticeQueue()
        self._next_notice = QTimer()
        self._next_notice.setSingleShot(True)
        self._next_notice.timeout.connect(lambda: self._display(self.notices.shown()))
        controller.notice.connect(self.show_notice)
        self.icon.messageClicked.connect(lambda: self._folder and self._open_folder(self._folder))
        self.show_state(controller.state)
        self.icon.show()

    def on_open_folder(self, opener: Callable[[str], None]) -> None:
        self._open_folder = opener

    def show_state(self, state: TrayState) -> None:
        self.shown_state = state
        self.icon.setIcon(state_icon(state))
        self.icon.setToolTip(f"CapsWriter: {self.controller.status_text()}")

    def show_notice(self, notice: Notice) -> None:
        """Show it now, or after the notices before it (the tray shows one balloon at a time)."""
        self._display(self.notices.push(notice))

    def _display(self, notice: Notice | None) -> None:
        if notice is None:
            return
        self._folder = notice.folder
        kind = {
            "error": QSystemTrayIcon.MessageIcon.Critical,
            "warning": QSystemTrayIcon.MessageIcon.Warning,
        }.get(notice.level, QSystemTrayIcon.MessageIcon.Information)
        message = notice.message
        if notice.folder:
            message += "\n" + translate("Tray", "Click to open the folder.")
        self.icon.showMessage(notice.title, message, kind, int(DISPLAY_S * 1000))
        self._next_notice.start(int(DISPLAY_S * 1000))

    def close(self) -> None:
        self.icon.hide()


class StatusWindow(QWidget):
    """Stands in for the tray: the state icon and text, the last notice, the menu as buttons."""

    def __init__(self, controller: ClientController, handlers: MenuHandlers) -> None:
        super().__init__()
        self.controller = controller
        self.closing_for_good = False
        self.setWindowTitle("CapsWriter")
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        self.icon_label = QLabel()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.notice_label = QLabel()
        self.notice_label.setWordWrap(True)
        self.open_folder_button = QPushButton(translate("Tray", "Open folder"))
        self.open_folder_button.hide()
        self._folder = ""
        self._open_folder: Callable[[str], None] = lambda folder: None
        self.open_folder_button.clicked.connect(lambda: self._open_folder(self._folder))
        self.menu = build_menu(self, handlers)
        top = QHBoxLayout()
        top.addWidget(self.icon_label)
        top.addWidget(self.status_label, 1)
        buttons = QHBoxLayout()
        for action in self.menu.actions():
            if action.isSeparator():
                continue
            button = QPushButton(action.text())
            button.setObjectName(f"button_{action.objectName()}")
            button.clicked.connect(action.trigger)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.notice_label)
        layout.addWidget(self.open_folder_button)
        layout.addLayout(buttons)
        self.shown_state: TrayState | None = None
        controller.state_changed.connect(self.show_state)
        controller.notice.connect(self.show_notice)
        self.show_state(controller.state)

    def on_open_folder(self, opener: Callable[[str], None]) -> None:
        self._open_folder = opener

    def show_state(self, state: TrayState) -> None:
        self.shown_state = state
        self.icon_label.setPixmap(QPixmap(str(icon_path(state))).scaled(32, 32))
        self.status_label.setText(self.controller.status_text())
        self.setWindowIcon(state_icon(state))

    def show_notice(self, notice: Notice) -> None:
        self.notice_label.setText(f"<b>{notice.title}</b><br>{notice.message}")
        self._folder = notice.folder
        self.open_folder_button.setVisible(bool(notice.folder))

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        # Closing the window stands for "hide the tray icon": the app keeps running via Quit.
        # At the end of the session or on Quit it closes like any window.
        if self.closing_for_good:
            event.accept()
            return
        event.ignore()
        self.showMinimized()


def make_status_view(controller: ClientController, handlers: MenuHandlers):
    """A tray icon where the desktop has one, else the status window."""
    if QSystemTrayIcon.isSystemTrayAvailable():
        return TrayView(controller, handlers)
    window = StatusWindow(controller, handlers)
    window.show()
    return window
