"""One client per user: a second launch hands its files to the running one and exits."""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from pathlib import Path
from typing import IO

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket


def default_name() -> str:
    return f"capswriter-client-{getpass.getuser()}"


def forward_files(files: list[Path], name: str | None = None, timeout_ms: int = 500) -> bool:
    """Give ``files`` to a running instance; False when none is running."""
    socket = QLocalSocket()
    socket.connectToServer(name or default_name())
    if not socket.waitForConnected(timeout_ms):
        return False
    payload = json.dumps({"files": [str(Path(f).resolve()) for f in files]}).encode() + b"\n"
    socket.write(payload)
    socket.flush()
    socket.waitForBytesWritten(timeout_ms)
    socket.disconnectFromServer()
    return True


class InstanceLock:
    """An OS lock on a file, held for the instance's life and let go by the OS however the
    process ends. Two launches at the same instant cannot both hold it; the local socket alone
    does not stop that on Windows, where a second server may listen on the same pipe name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+b")  # noqa: SIM115 - held until release()
        try:
            if sys.platform == "win32":  # pragma: no cover - Windows only
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(str(os.getpid()).encode())
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing lets go of the lock
            self._file = None


class InstanceServer(QObject):
    """Listens for later launches; ``files_received`` carries the files they were given."""

    files_received = Signal(list)  # list[Path]

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = name or default_name()
        self.server = QLocalServer(self)
        self.server.newConnection.connect(self._accept)
        from capswriter.config import data_dir

        self.lock = InstanceLock(data_dir() / f"{self.name}.lock")

    def listen(self, wait_for_other_s: float = 2.0) -> bool:
        """Become the instance later launches reach; False when a live one already is (one
        started at the same instant gets ``wait_for_other_s`` to start listening)."""
        if self.server.isListening():
            return True
        if not self.lock.acquire():
            probe = QLocalSocket()
            end = time.monotonic() + wait_for_other_s
            while time.monotonic() < end:
                probe.connectToServer(self.name)
                if probe.waitForConnected(100):
                    probe.disconnectFromServer()
                    break
                time.sleep(0.05)
            return False
        if self.server.listen(self.name):
            return True
        probe = QLocalSocket()
        probe.connectToServer(self.name)
        if probe.waitForConnected(200):
            probe.disconnectFromServer()
            return False  # another instance answers: taking its name would make two
        # A crashed instance leaves its socket file behind; nothing answers on it any more.
        QLocalServer.removeServer(self.name)
        return self.server.listen(self.name)

    def close(self) -> None:
        self.server.close()
        self.lock.release()

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            buffer = bytearray()

            def read(s=socket, buf=buffer) -> None:
                buf.extend(bytes(s.readAll()))
                if buf.endswith(b"\n"):
                    self._deliver(bytes(buf))
                    buf.clear()

            socket.readyRead.connect(read)
            socket.disconnected.connect(socket.deleteLater)

    def _deliver(self, data: bytes) -> None:
        try:
            files = [Path(f) for f in json.loads(data).get("files", [])]
        except (ValueError, AttributeError):
            return
        self.files_received.emit(files)
