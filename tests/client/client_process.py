"""The desktop client as a user runs it: ``run_client`` in a process of its own on an X display,
recording from the private PulseAudio, driven by real keys (xdotool) and ended by a signal or by
its own Quit menu entry. Used by test_exit and by ``scripts/bench_exit.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from capswriter.config import PROJECT_ROOT, Settings

from .pulse import PulseServer
from .xsession import XServer, wait_until

# SIGUSR1 stands for a click on Quit: the menu's own action is triggered, as the click would.
CLIENT = """
import signal, sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication
from capswriter.client.ui.app import run_client
from capswriter.config import load_settings

def click_quit(*_):
    for widget in QApplication.topLevelWidgets():
        action = widget.findChild(QAction, "quit")
        if action is not None:
            QTimer.singleShot(0, action.trigger)
            return

signal.signal(signal.SIGUSR1, click_quit)
sys.exit(run_client(load_settings(), []))
"""


class ClientProcess:
    def __init__(
        self, workdir: Path, x: XServer, pulse: PulseServer, settings: Settings,
        env: dict[str, str] | None = None,
    ) -> None:
        self.dir = workdir
        self.x = x
        self.config = workdir / "config.toml"
        settings.save(self.config)
        self.log = workdir / "cache" / "logs" / "client.log"
        self.env = {
            **os.environ, **pulse.env,
            "CAPSWRITER_CONFIG": str(self.config),
            "CAPSWRITER_DATA_DIR": str(workdir / "data"),
            "CAPSWRITER_CACHE_DIR": str(workdir / "cache"),
            "QT_QPA_PLATFORM": "xcb",
            "DISPLAY": x.display,
            # Its own single-instance socket.
            "XDG_RUNTIME_DIR": str(workdir),
            "TMPDIR": str(workdir),
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None
        self._read = 0

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CLIENT], env=self.env,
                                     cwd=PROJECT_ROOT)

    def _find(self, text: str) -> int:
        """Where ``text`` is logged after the line last waited for; -1 if not yet."""
        if not self.log.exists():
            return -1
        return self.log.read_text(encoding="utf-8", errors="replace").find(text, self._read)

    def wait_for_log(self, *texts: str, timeout: float = 30.0) -> None:
        """Wait until the client logs each of ``texts`` (in any order) after what the previous
        wait found."""
        def all_found() -> bool:
            return all(self._find(text) >= 0 for text in texts)

        wait_until(lambda: all_found() or self.proc.poll() is not None, timeout, interval=0.05)
        missing = [text for text in texts if self._find(text) < 0]
        if missing:
            raise AssertionError(f"the client never logged {missing}; see {self.log}")
        self._read = max(self._find(text) + len(text) for text in texts)

    def hold_hotkey(self) -> None:
        self.x.xdotool("keydown", "Caps_Lock")

    def release_hotkey(self) -> None:
        self.x.xdotool("keyup", "Caps_Lock")

    def end(self, how: str) -> float:
        """``sigterm`` or ``quit``; returns the seconds from request to exit (60 at most)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGUSR1)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        return time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def server_pid(client: ClientProcess) -> int | None:
    """The pid of the server the client said it stops, from its log."""
    for line in client.log.read_text(encoding="utf-8", errors="replace").splitlines():
        if "stopping the server we started (pid " in line:
            return int(line.rsplit("(pid ", 1)[1].rstrip(")"))
    return None


def process_gone(pid: int) -> bool:
    """Gone or a zombie waiting for its new parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"
