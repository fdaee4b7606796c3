"""A local HTTP file server for download tests: serves a folder, answers Range requests (the
standard library's handler does not), and can cut a response short to test resuming."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class ServerLog:
    ranges: list[str | None] = field(default_factory=list)  # the Range header of each GET
    # Bytes after which the next response is cut (the connection closed mid-body); reset after.
    cut_after: int | None = None
    ignore_range: bool = False
    # Bytes after which the next response waits for `release` before sending the rest.
    hold_after: int | None = None
    release: threading.Event = field(default_factory=threading.Event)


class RangeHandler(SimpleHTTPRequestHandler):
    server_log: ServerLog

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        log = self.server_log
        log.ranges.append(self.headers.get("Range"))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        size = path.stat().st_size
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and not log.ignore_range:
            start = int(match.group(1))
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(size - start))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        limit, log.cut_after = log.cut_after, None
        hold, log.hold_after = log.hold_after, None
        with open(path, "rb") as fh:
            fh.seek(start)
            try:
                if hold is not None:
                    self.wfile.write(fh.read(hold))
                    self.wfile.flush()
                    log.release.wait(30)
                if limit is None:
                    shutil.copyfileobj(fh, self.wfile)
                    return
                self.wfile.write(fh.read(limit))
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading, as a refused download does
            self.close_connection = True


@contextmanager
def serve_folder(folder: Path) -> Iterator[tuple[str, ServerLog]]:
    """Serve `folder` on a free loopback port; yields (base URL ending in /, request log)."""
    log = ServerLog()
    handler = type("Handler", (RangeHandler,), {"server_log": log})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", log
    finally:
        server.shutdown()
        server.server_close()
