"""A private PulseAudio server whose default source is a FIFO we feed with real speech.

sounddevice records it through PortAudio's ALSA ``pulse`` device, so the recorder under test
runs its real device path. The feeder writes 20 ms of audio in real time, silence unless a clip
is queued: with no writer on the FIFO, closing the input stream blocks for about 10 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from .xsession import unavailable, wait_until

RATE = 16000
BLOCK = RATE // 50


class PulseServer:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.socket = workdir / "native"
        self.fifo = workdir / "dictation.fifo"
        self.proc: subprocess.Popen | None = None
        self._queue: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._running = False
        self._thread: threading.Thread | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_SOURCE": "dictation"}

    def start(self) -> None:
        config = self.dir / "default.pa"
        config.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            "load-module module-null-sink sink_name=silence\n"
            f"load-module module-pipe-source source_name=dictation file={self.fifo}"
            f" format=s16le rate={RATE} channels=1\n"
            "set-default-source dictation\n",
            encoding="utf-8",
        )
        env = {**os.environ, "HOME": str(self.dir), "XDG_RUNTIME_DIR": str(self.dir)}
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
             "--disable-shm=yes", "-F", str(config)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        if not wait_until(lambda: self.socket.exists() and self.fifo.exists(), 10):
            self.stop()
            raise RuntimeError("PulseAudio did not start")
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
        silence = np.zeros(BLOCK, np.int16)
        pending = np.zeros(0, np.int16)
        try:
            self._write_forever(silence, pending)
        except OSError:
            pass  # the PulseAudio process went away (some tests kill it on purpose)

    def _write_forever(self, silence: np.ndarray, pending: np.ndarray) -> None:
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
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=5)


def require_pulse() -> None:
    if shutil.which("pulseaudio") is None:
        unavailable("needs pulseaudio, libportaudio2 and libasound2-plugins")


def use_pulse_in_this_process(server: PulseServer) -> None:
    """Make PortAudio enumerate again, now that the ALSA pulse plugin can reach ``server``.

    The caller sets ``server.env`` first; the plugin reads it when a device is opened.
    """
    import sounddevice as sd

    sd._terminate()
    sd._initialize()
