"""The status view shows the controller's state and forwards menu choices."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QPushButton, QSystemTrayIcon

from capswriter.client.controller import ClientController, TrayState
from capswriter.client.dictation import Notice
from capswriter.client.history import History
from capswriter.client.link import ServerLink
from capswriter.client.ui.tray import (
    MENU_ENTRIES,
    MenuHandlers,
    StatusWindow,
    icon_path,
    make_status_view,
)
from capswriter.config import Settings

from .servers import free_port


@pytest.fixture
def controller(tmp_path):
    settings = Settings()
    settings.client.keep_stream_open = False
    c = ClientController(settings, history=History(tmp_path / "h.sqlite3"),
                         link=ServerLink(port=free_port()), start_server=False)
    yield c
    c.shutdown()


@pytest.fixture
def calls():
    return []


@pytest.fixture
def handlers(calls):
    names = [name for _, name in MENU_ENTRIES if name]
    return MenuHandlers(**{name: (lambda n=name: calls.append(n)) for name in names})


def test_every_state_has_an_icon_file():
    for state in TrayState:
        assert icon_path(state).is_file(), state


def test_without_a_system_tray_a_status_window_takes_its_place(qtbot, controller, handlers):
    assert not QSystemTrayIcon.isSystemTrayAvailable()  # offscreen has no tray
    view = make_status_view(controller, handlers)
    qtbot.addWidget(view)
    assert isinstance(view, StatusWindow) and view.isVisible()
    assert view.shown_state is TrayState.STARTING


def test_status_window_follows_connection_and_job_states(qtbot, controller, handlers):
    view = StatusWindow(controller, handlers)
    qtbot.addWidget(view)
    with qtbot.waitSignal(controller.state_changed, timeout=5000):
        controller.startup()  # nothing answers on the port: error
    assert view.shown_state is TrayState.ERROR
    assert "No recognition server" in view.status_label.text()
    assert not view.icon_label.pixmap().isNull()
    # A dictation that starts while the server is away still shows the live microphone.
    controller.flow._set(recording=True)
    qtbot.waitUntil(lambda: view.shown_state is TrayState.RECORDING)
    assert view.status_label.text() == "Listening…"
    controller.flow._set(recording=False)
    qtbot.waitUntil(lambda: view.shown_state is TrayState.ERROR)


def test_menu_buttons_forward_to_the_handlers(qtbot, controller, handlers, calls):
    view = StatusWindow(controller, handlers)
    qtbot.addWidget(view)
    for _, name in MENU_ENTRIES:
        if name:
            view.findChild(QPushButton, f"button_{name}").click()
    assert calls == [name for _, name in MENU_ENTRIES if name]


def test_notices_are_shown_with_an_open_folder_button(qtbot, controller, handlers):
    view = StatusWindow(controller, handlers)
    qtbot.addWidget(view)
    opened = []
    view.on_open_folder(opened.append)
    controller.notice.emit(Notice("Transcribed talk.wav", "Wrote talk.txt", folder="/tmp/x"))
    assert "Transcribed talk.wav" in view.notice_label.text()
    assert view.open_folder_button.isVisibleTo(view)
    view.open_folder_button.click()
    assert opened == ["/tmp/x"]


def alpha_mask(state: TrayState, size: int) -> list[bool]:
    image = QIcon(str(icon_path(state))).pixmap(size, size).toImage()
    return [image.pixelColor(x, y).alpha() > 128 for y in range(size) for x in range(size)]


@pytest.mark.parametrize("size", [22, 64])
def test_every_state_has_its_own_shape_not_only_its_own_colour(qtbot, size):
    masks = {state: alpha_mask(state, size) for state in TrayState}
    states = list(TrayState)
    for i, a in enumerate(states):
        for b in states[i + 1:]:
            both = sum(x and y for x, y in zip(masks[a], masks[b], strict=True))
            either = sum(x or y for x, y in zip(masks[a], masks[b], strict=True))
            # Silhouettes overlapping this little are told apart without colour.
            assert both / either < 0.8, (a, b, round(both / either, 2))
