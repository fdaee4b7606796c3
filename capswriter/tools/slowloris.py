"""``capswriter bench slowloris``: slow clients against a server on this machine, and how fast
the server still answers those that are not slow.

Two floods, each bounded in sockets and seconds and sent to loopback only:

- **waiting sockets**: connections that send half a request line and nothing more, opened at a
  steady rate, the oldest dropped and reopened past a cap (as a slowloris does when the server's
  header deadline closes them);
- **trickled uploads**: chunked uploads sending a small chunk now and then, holding their slot.

Meanwhile probes ask for ``/health`` and ``/v1/models`` with the token on a new connection each
time, and upload a short recording; the table gives their latency (p50, p95, max) and failures.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import statistics
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from capswriter.config import PROJECT_ROOT, Settings, is_loopback
from capswriter.errors import ConfigError

SAMPLE = PROJECT_ROOT / "capswriter" / "assets" / "samples" / "en_jfk.wav"
# Hard bounds, whatever the flags say: this is a measurement, not a weapon.
MOST_SOCKETS = 4000
MOST_SECONDS = 600.0


@dataclass
class SlowlorisConfig:
    sockets: int = 1100  # waiting sockets held at once
    rate: float = 110.0  # new waiting sockets per second
    trickles: int = 32  # trickled uploads held at once
    trickle_every_s: float = 20.0
    seconds: float = 30.0
    probe_every_s: float = 0.2


class WaitingSocketFlood:
    """Opens sockets that send half a request line, at ``rate`` per second, never more than
    ``sockets`` at once (the oldest is dropped and a new one opened), until stopped."""

    def __init__(self, host: str, port: int, sockets: int, rate: float) -> None:
        if not is_loopback(host):
            raise ConfigError("the slowloris flood runs against loopback only")
        self.address = (host, port)
        self.sockets = min(sockets, MOST_SOCKETS)
        self.rate = rate
        self.opened = 0
        self.closed_by_server = 0
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slowloris", daemon=True)

    def start(self) -> WaitingSocketFlood:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        held: deque[socket.socket] = deque()
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                due = started + self.opened / self.rate
                self._stop.wait(max(0.0, due - time.monotonic()))
                if len(held) >= self.sockets:
                    held.popleft().close()
                try:
                    sock = socket.create_connection(self.address, timeout=2)
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    held.append(sock)
                except OSError:
                    self.refused += 1
                self.opened += 1
                if self.opened % 20 == 0:
                    self._drop_closed(held)
        finally:
            for sock in held:
                sock.close()

    def _drop_closed(self, held: deque[socket.socket]) -> None:
        readable, _, _ = select.select(list(held)[:1000], [], [], 0)
        for sock in readable:
            try:
                closed = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except (BlockingIOError, InterruptedError):
                closed = False
            except OSError:  # reset by the server
                closed = True
            if closed:
                self.closed_by_server += 1
                held.remove(sock)
                sock.close()


class TrickledUploads:
    """``count`` chunked uploads each sending a 1 KiB chunk every ``every_s``; a refused or
    cut one is started again, until stopped."""

    def __init__(self, url: str, token: str, count: int, every_s: float) -> None:
        host = httpx.URL(url).host
        if not is_loopback(host):
            raise ConfigError("the trickled uploads run against loopback only")
        self.address = (host, httpx.URL(url).port or 80)
        self.token = token
        self.count = min(count, MOST_SOCKETS)
        self.every_s = every_s
        self.started = 0
        self.cut = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True)
                         for _ in range(self.count)]

    def start(self) -> TrickledUploads:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _run(self) -> None:
        auth = f"Authorization: Bearer {self.token}\r\n".encode() if self.token else b""
        while not self._stop.is_set():
            self.started += 1
            try:
                with socket.create_connection(self.address, timeout=1) as sock:
                    sock.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 + auth + b"Content-Type: multipart/form-data; boundary=b\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n")
                    part = (b'--b\r\nContent-Disposition: form-data; name="file"; '
                            b'filename="a.wav"\r\n\r\n')
                    sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                    while not self._stop.is_set():
                        sock.sendall(b"400\r\n" + b"x" * 1024 + b"\r\n")
                        if _answered(sock, self.every_s, self._stop):
                            self.cut += 1
                            self._stop.wait(0.05)
                            break
            except OSError:
                self.cut += 1
                self._stop.wait(0.1)


def _answered(sock: socket.socket, within: float, stop: threading.Event) -> bool:
    """True when the server replied to (or closed) ``sock`` within ``within`` seconds."""
    end = time.monotonic() + within
    while not stop.is_set() and time.monotonic() < end:
        readable, _, _ = select.select([sock], [], [], min(0.5, end - time.monotonic()))
        if readable:
            return True
    return False


@dataclass
class ProbeFigures:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)

    def add(self, started: float, status: int | str) -> None:
        if status == 200:
            self.latencies_ms.append(1000 * (time.monotonic() - started))
        else:
            self.failures[str(status)] = self.failures.get(str(status), 0) + 1

    def summary(self) -> dict[str, float | int | dict[str, int]]:
        data = sorted(self.latencies_ms)
        if not data:
            return {"ok": 0, "failures": self.failures}
        return {"ok": len(data), "failures": self.failures,
                "p50_ms": round(statistics.median(data), 1),
                "p95_ms": round(data[min(len(data) - 1, int(0.95 * len(data)))], 1),
                "max_ms": round(data[-1], 1)}


def probe(url: str, token: str, seconds: float, every_s: float,
          upload_every_s: float = 3.0) -> list[ProbeFigures]:
    """For ``seconds``, ask /health and /v1/models (each on a new connection, each in its own
    thread, every ``every_s``) and upload SAMPLE every ``upload_every_s``."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    clip = SAMPLE.read_bytes()
    end = time.monotonic() + seconds

    def ask(figures: ProbeFigures, pause: float, request: Callable[[], httpx.Response]) -> None:
        while time.monotonic() < end:
            started = time.monotonic()
            try:
                reply = request()
                status: int | str = reply.status_code
                if status != 200:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        status = f"{status} {reply.json()['error']['code']}"
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            figures.add(started, status)
            time.sleep(max(0.0, pause - (time.monotonic() - started)))

    figures = [ProbeFigures(name) for name in ("/health", "/v1/models", "upload")]
    requests: list[tuple[float, Callable[[], httpx.Response]]] = [
        (every_s, lambda: httpx.get(url + "/health", headers=headers, timeout=10)),
        (every_s, lambda: httpx.get(url + "/v1/models", headers=headers, timeout=10)),
        (upload_every_s, lambda: httpx.post(url + "/v1/audio/transcriptions", headers=headers,
                                            files={"file": ("jfk.wav", clip)}, timeout=120)),
    ]
    threads = [threading.Thread(target=ask, args=(f, pause, request), daemon=True)
               for f, (pause, request) in zip(figures, requests, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 130)
    return figures


def run_slowloris(settings: Settings, config: SlowlorisConfig, output: Path | None = None,
                  ) -> dict[str, object]:
    """Start a server with a token, flood it for ``config.seconds``, and probe it meanwhile."""
    from capswriter.tools.local_server import LocalServer

    seconds = min(config.seconds, MOST_SECONDS)
    token = "slowloris-bench-token"
    with tempfile.TemporaryDirectory(prefix="capswriter-slowloris-") as folder, LocalServer(
        1, 1, models_dir=settings.models_path, log_path=Path(folder) / "server.log",
        env={"CAPSWRITER_SERVER_TOKEN": token},
    ) as server:
        url = server.address.http
        calm = probe(url, token, 5.0, config.probe_every_s, upload_every_s=10.0)
        flood = WaitingSocketFlood("127.0.0.1", server.port, config.sockets, config.rate).start()
        trickles = TrickledUploads(url, token, config.trickles, config.trickle_every_s).start()
        try:
            flooded = probe(url, token, seconds, config.probe_every_s)
        finally:
            flood.stop()
            trickles.stop()
        result: dict[str, object] = {
            "config": asdict(config),
            "calm": {f.name: f.summary() for f in calm},
            "flooded": {f.name: f.summary() for f in flooded},
            "waiting_sockets": {"opened": flood.opened, "closed_by_server": flood.closed_by_server,
                                "refused": flood.refused},
            "trickled_uploads": {"started": trickles.started, "cut": trickles.cut},
        }
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2))
    return result


def table(result: dict[str, object]) -> str:
    lines = [f"{'phase':8} {'probe':12} {'ok':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  "
             "failures"]
    for phase in ("calm", "flooded"):
        for name, s in result[phase].items():  # type: ignore[attr-defined]
            lines.append(f"{phase:8} {name:12} {s['ok']:>5} {s.get('p50_ms', '-'):>8} "
                         f"{s.get('p95_ms', '-'):>8} {s.get('max_ms', '-'):>8}  "
                         f"{s['failures'] or '-'}")
    lines.append(f"waiting sockets: {result['waiting_sockets']}")
    lines.append(f"trickled uploads: {result['trickled_uploads']}")
    return "\n".join(lines)
