"""Qt widgets are tested without a display; the tests that type start their own Xvfb.

The fixtures holding processes (Xvfb, PulseAudio, a recognition server) live for this package
only, and every environment variable they set is put back afterwards, so the rest of the suite
sees neither their load nor their settings.
"""

import contextlib
import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from .xsession import FocusTarget, XServer, require_x_tools


@contextlib.contextmanager
def environ(**values: str):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="package", autouse=True)
def isolated_user_dirs(tmp_path_factory):
    """Config, history and logs go to a temporary place, never the user's own."""
    root = tmp_path_factory.mktemp("user")
    with environ(
        CAPSWRITER_CONFIG_DIR=str(root / "config"),
        CAPSWRITER_DATA_DIR=str(root / "data"),
        CAPSWRITER_CACHE_DIR=str(root / "cache"),
        CAPSWRITER_CONFIG=str(root / "config" / "config.toml"),
    ):
        yield root


@pytest.fixture(scope="package")
def x_server():
    """One Xvfb; DISPLAY is set so pyperclip, Xlib and pynput in this process use it."""
    require_x_tools()
    server = XServer()
    server.start()
    try:
        with environ(DISPLAY=server.display):
            yield server
            # pynput Controllers close their display on collection; do it while X still answers.
            gc.collect()
    finally:
        server.stop()


@pytest.fixture
def focus_target(x_server, tmp_path):
    target = FocusTarget(x_server, tmp_path)
    yield target
    target.close()


@pytest.fixture(scope="package")
def pulse_source(tmp_path_factory):
    """A running PulseAudio whose default source plays what the test queues."""
    from .pulse import PulseServer, require_pulse, use_pulse_in_this_process

    require_pulse()
    server = PulseServer(tmp_path_factory.mktemp("pulse"))
    server.start()
    try:
        with environ(**server.env):
            use_pulse_in_this_process(server)
            yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def recognition_server(tmp_path_factory):
    """A real server with one worker and the installed model, on a free port."""
    from .servers import ServerProcess, require_model

    require_model()
    server = ServerProcess(tmp_path_factory.mktemp("server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def offline_app(qtbot, tmp_path):
    """The tray app with its controller, no server (nothing listens on its port) and no hotkey;
    shut down after the test."""
    import uuid

    from capswriter.client.controller import ClientController
    from capswriter.client.history import History
    from capswriter.client.link import ServerLink
    from capswriter.client.ui.app import ClientApp
    from capswriter.config import Settings

    from .servers import free_port

    settings = Settings()
    settings.client.keep_stream_open = False
    settings.server.port = free_port()
    controller = ClientController(settings, history=History(tmp_path / "h.sqlite3"),
                                  link=ServerLink(port=settings.server.port), start_server=False)
    app = ClientApp(settings, controller, instance_name=f"t-{uuid.uuid4().hex[:8]}",
                    use_hotkey=False)
    yield app
    app.shutdown()
