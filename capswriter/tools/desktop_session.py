"""A private desktop to run the tray app in as a user does: an X server (Xvfb), a text field in
another process to type into, and a PulseAudio server whose microphone plays real recordings.

Used by the desktop soak (``capswriter bench soak``) and by the client tests. Each part runs
in a folder of its own and uses nothing of the machine's own session: no other X display, no
other sound server, whatever the environment says.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RATE = 16000
BLOCK = RATE // 50  # the microphone is fed 20 ms at a time
# X tools and sound server the desktop needs (Debian packages: xvfb xdotool xclip pulseaudio).
X_TOOLS = ("Xvfb", "xdotool", "xclip")


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.02) -> Any:
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
        self.proc: subprocess.Popen[bytes] | None = None

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

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DISPLAY": self.display}

    def xdotool(self, *args: str) -> str:
        out = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True,
                             timeout=10, check=True)
        return out.stdout.strip()

    def caps_lock_on(self) -> bool:
        """The Lock modifier as X applies it to the next key event."""
        from Xlib import X, display

        dpy = display.Display(self.display)
        try:
            return bool(dpy.screen().root.query_pointer().mask & X.LockMask)
        finally:
            dpy.close()

    def set_clipboard(self, text: str) -> None:
        subprocess.run(["xclip", "-selection", "clipboard", "-i"], input=text.encode(),
                       env=self.env, timeout=10, check=True)

    def clipboard(self) -> str:
        out = subprocess.run(["xclip", "-selection", "clipboard", "-o"], env=self.env,
                             capture_output=True, timeout=10)
        return out.stdout.decode("utf-8", "replace")


FOCUS_FIELD = """
import sys
from pathlib import Path
from PySide6.QtWidgets import QApplication, QLineEdit

mirror = Path(sys.argv[1])
app = QApplication(sys.argv[:1])
field = QLineEdit()
field.setWindowTitle("capswriter focus target")
field.resize(900, 40)
field.textChanged.connect(lambda text: mirror.write_text(text, encoding="utf-8"))
field.show()
print(int(field.winId()), flush=True)
app.exec()
"""


class FocusTarget:
    """A Qt window with one text field, in a process of its own; ``text()`` reads what it
    holds (mirrored into a file at every change)."""

    def __init__(self, x: XServer, workdir: Path) -> None:
        self.mirror = workdir / "field.txt"
        self.mirror.write_text("", encoding="utf-8")
        env = {**x.env, "QT_QPA_PLATFORM": "xcb"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", FOCUS_FIELD, str(self.mirror)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
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


class PulseServer:
    """A private PulseAudio server whose default source is a FIFO fed with real speech.

    sounddevice records it through PortAudio's ALSA ``pulse`` device, so the recorder runs its
    real device path. The feeder writes 20 ms of audio in real time, silence unless a clip is
    queued: with no writer on the FIFO, closing the input stream blocks for about 10 s.
    """

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.socket = workdir / "native"
        self.fifo = workdir / "dictation.fifo"
        self.proc: subprocess.Popen[bytes] | None = None
        self._queue: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._running = False
        self._thread: threading.Thread | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_SOURCE": "dictation"}

    def start(self, timeout: float = 30.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "default.pa"
        config.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            "load-module module-null-sink sink_name=silence\n"
            f"load-module module-pipe-source source_name=dictation file={self.fifo}"
            f" format=s16le rate={RATE} channels=1\n"
            "set-default-source dictation\n",
            encoding="utf-8",
        )
        # Nothing of another sound server may leak in: its address, runtime or state folder
        # would make this one refuse to start or talk to the wrong daemon.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
        env.update(HOME=str(self.dir), XDG_RUNTIME_DIR=str(self.dir),
                   PULSE_RUNTIME_PATH=str(self.dir / "runtime"),
                   PULSE_STATE_PATH=str(self.dir / "state"))
        log = self.dir / "pulseaudio.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1",
                 "--use-pid-file=no", "--disable-shm=yes", "--system=no", "-F", str(config)],
                env=env, stdout=subprocess.DEVNULL, stderr=out,
            )
        if not wait_until(lambda: self.socket.exists() and self.fifo.exists()
                          or self.proc.poll() is not None, timeout):
            pass
        if not (self.socket.exists() and self.fifo.exists()):
            self.stop()
            raise RuntimeError("PulseAudio did not start: "
                               + log.read_text(errors="replace")[-1500:])
        self._running = True
        self._thread = threading.Thread(target=self._feed, name="pulse-feeder", daemon=True)
        self._thread.start()

    def play(self, samples: np.ndarray) -> float:
        """Queue int16 16 kHz samples; returns their duration in seconds."""
        with self._lock:
            self._queue.append(np.asarray(samples, dtype=np.int16))
        return len(samples) / RATE

    def idle(self) -> bool:
        with self._lock:
            return not self._queue

    def _feed(self) -> None:
        try:
            self._write_forever()
        except OSError:
            pass  # the PulseAudio process went away (some tests kill it on purpose)

    def _write_forever(self) -> None:
        silence = np.zeros(BLOCK, np.int16)
        pending = np.zeros(0, np.int16)
        with open(self.fifo, "wb", buffering=0) as fifo:
            start, sent = time.monotonic(), 0
            while self._running:
                if len(pending) < BLOCK:
                    with self._lock:
                        if self._queue:
                            pending = np.concatenate([pending, *self._queue])
                            self._queue.clear()
                block = pending[:BLOCK] if len(pending) else silence
                pending = pending[len(block):]
                if len(block) < BLOCK:
                    block = np.concatenate([block, silence[: BLOCK - len(block)]])
                fifo.write(block.tobytes())
                sent += 1
                delay = start + sent * BLOCK / RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
