"""Qt widgets are tested without a display; the end-to-end test starts its own Xvfb."""

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from .xsession import FocusTarget, XServer, require_x_tools


@pytest.fixture(scope="session")
def x_server():
    """One Xvfb for the session; DISPLAY is set so pyperclip, Xlib and pynput use it."""
    require_x_tools()
    server = XServer()
    server.start()
    previous = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = server.display
    yield server
    # pynput Controllers close their display on collection; do it while X still answers.
    gc.collect()
    if previous is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = previous
    server.stop()


@pytest.fixture
def focus_target(x_server, tmp_path):
    target = FocusTarget(x_server, tmp_path)
    yield target
    target.close()


@pytest.fixture(scope="session")
def pulse_source(tmp_path_factory):
    """A running PulseAudio whose default source plays what the test queues."""
    from .pulse import PulseServer, require_pulse, use_pulse_in_this_process

    require_pulse()
    server = PulseServer(tmp_path_factory.mktemp("pulse"))
    server.start()
    use_pulse_in_this_process(server)
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def isolated_user_dirs(tmp_path_factory):
    """Config, history and logs go to a temporary place, never the user's own."""
    root = tmp_path_factory.mktemp("user")
    for name in ("CONFIG_DIR", "DATA_DIR", "CACHE_DIR"):
        os.environ[f"CAPSWRITER_{name}"] = str(root / name.lower())
    os.environ["CAPSWRITER_CONFIG"] = str(root / "config_dir" / "config.toml")
    yield root


@pytest.fixture(scope="session")
def recognition_server(tmp_path_factory):
    """A real server with one worker and the installed model, on a free port."""
    from .servers import ServerProcess, require_model

    require_model()
    server = ServerProcess(tmp_path_factory.mktemp("server"))
    server.start()
    yield server
    server.stop()
