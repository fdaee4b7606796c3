"""A real X server (Xvfb) and a focused text field in another process, for tests that type."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
X_TOOLS = ("Xvfb", "xdotool", "xclip")


def missing_x_tools() -> list[str]:
    return [tool for tool in X_TOOLS if shutil.which(tool) is None]


def wait_until(predicate, timeout: float, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


class XServer:
    """``Xvfb -noreset``: without it the server resets when its last client leaves and
    the CapsLock state is lost between steps."""

    def __init__(self) -> None:
        self.display = ""
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        for number in range(90, 130):
            if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
                continue
            proc = subprocess.Popen(
                ["Xvfb", f":{number}", "-noreset", "-screen", "0", "1024x768x24",
                 "-nolisten", "tcp"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if wait_until(lambda n=number: Path(f"/tmp/.X11-unix/X{n}").exists(), 5):
                self.proc, self.display = proc, f":{number}"
                return
            proc.kill()
        raise RuntimeError("could not start Xvfb")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=5)

    def xdotool(self, *args: str) -> str:
        out = subprocess.run(
            ["xdotool", *args], env={**os.environ, "DISPLAY": self.display},
            capture_output=True, text=True, timeout=10, check=True,
        )
        return out.stdout.strip()

    def caps_lock_on(self) -> bool:
        """The Lock modifier as X applies it to the next key event."""
        from Xlib import X, display

        dpy = display.Display(self.display)
        try:
            return bool(dpy.screen().root.query_pointer().mask & X.LockMask)
        finally:
            dpy.close()


class FocusTarget:
    """The Qt text field process; ``text()`` reads what it holds."""

    def __init__(self, x: XServer, workdir: Path) -> None:
        self.mirror = workdir / "field.txt"
        self.mirror.write_text("", encoding="utf-8")
        env = {**os.environ, "DISPLAY": x.display, "QT_QPA_PLATFORM": "xcb"}
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "focus_target.py"), str(self.mirror)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.window = self.proc.stdout.readline().strip()
        if not self.window:
            self.proc.wait(timeout=5)
            raise RuntimeError(
                "the Qt test window did not start; Qt's xcb plugin needs libxcb-icccm4 "
                "libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 "
                "libxkbcommon-x11-0 libxcb-cursor0:\n" + self.proc.stderr.read()[-2000:]
            )
        self.x = x
        self.focus()

    def focus(self) -> None:
        self.x.xdotool("windowfocus", "--sync", self.window)

    def text(self) -> str:
        return self.mirror.read_text(encoding="utf-8")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)


def unavailable(reason: str) -> None:
    """Skip on a developer machine without the tool; fail in CI, where it must be installed."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this test must run)")
    pytest.skip(reason)


def require_x_tools() -> None:
    missing = missing_x_tools()
    if missing:
        unavailable(f"needs {', '.join(missing)} (apt: xvfb xdotool xclip)")
