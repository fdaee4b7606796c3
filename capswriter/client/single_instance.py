"""One client per user: a second launch hands its files to the running one and exits."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

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


class InstanceServer(QObject):
    """Listens for later launches; ``files_received`` carries the files they were given."""

    files_received = Signal(list)  # list[Path]

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = name or default_name()
        self.server = QLocalServer(self)
        self.server.newConnection.connect(self._accept)

    def listen(self) -> bool:
        """Become the instance later launches reach; False when a live one already is."""
        if self.server.isListening() or self.server.listen(self.name):
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
