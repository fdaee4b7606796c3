"""Logging set-up in one place: one format for the server, workers, client and tools.

Logs cannot flood: a message repeated faster than a few times a second (one per bad frame of a
hostile client, one per failed accept while out of file handles) is summarised instead of
written each time, and a log file rotates instead of growing without end. A process without a
console (the windowed desktop program) writes what it prints to a log file (ensure_std_streams).
"""

from __future__ import annotations

import codecs
import logging
import logging.handlers
import os
import sys
import threading
import time
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# A log file is cut at this size and the last few kept beside it (name.log.1, .2, ...).
MAX_LOG_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 3
# Each (logger, message template) may be written this many times per window; the rest are
# counted and reported once when the window ends.
REPEATS_PER_WINDOW = 5
WINDOW_S = 10.0


class RepeatLimiter(logging.Filter):
    """Drop a message written more than REPEATS_PER_WINDOW times in WINDOW_S, and say so."""

    def __init__(self, repeats: int = REPEATS_PER_WINDOW, window_s: float = WINDOW_S) -> None:
        super().__init__()
        self.repeats = repeats
        self.window_s = window_s
        self._lock = threading.Lock()
        # (logger name, template) → [window start, written, suppressed]
        self._seen: dict[tuple[str, str], list] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            entry = self._seen.get(key)
            if entry is None or now - entry[0] > self.window_s:
                suppressed = entry[2] if entry is not None else 0
                self._seen[key] = [now, 1, 0]
                if len(self._seen) > 10_000:  # many distinct messages: forget old windows
                    self._seen = {k: v for k, v in self._seen.items()
                                  if now - v[0] <= self.window_s}
                if suppressed:
                    record.msg = f"{record.msg} (and {suppressed} more like it not logged)"
                return True
            entry[1] += 1
            if entry[1] <= self.repeats:
                return True
            entry[2] += 1
            return False


def configure(level: str | int = "INFO", stream=None, file: Path | None = None) -> None:
    """Configure the root logger once; later calls only change the level.

    With ``file`` the log goes to that file (rotated at MAX_LOG_BYTES) instead of stderr.
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_capswriter", False)]
    if file is not None:
        # The command line configures logging before a command reads its --log-file: the
        # file then takes the place of the terminal.
        target = str(Path(file).resolve())
        if not any(getattr(h, "baseFilename", None) == target for h in ours):
            for handler in ours:
                if not isinstance(handler, logging.FileHandler):
                    root.removeHandler(handler)
            add_file(file)
    elif not ours:
        _add(logging.StreamHandler(stream or sys.stderr))
    root.setLevel(level)
    # One line per HTTP request from the health poller drowns everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)


# After a rotation the system refused, the next attempt waits this long.
ROTATE_RETRY_S = 60.0


class PatientRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Rotation that waits when the system refuses it.

    On Windows a log file cannot be renamed while another process has it open (the tray app
    reading the server's log, a second server that stopped at the port check, an editor).
    The stock handler then prints a traceback for every record that follows; this one keeps
    writing to the current file and tries again a minute later.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._next_try = 0.0

    def shouldRollover(self, record: logging.LogRecord) -> int:  # noqa: N802 - stdlib's name
        if time.monotonic() < self._next_try:
            return 0
        return super().shouldRollover(record)

    def doRollover(self) -> None:  # noqa: N802 - stdlib's name
        try:
            super().doRollover()
        except PermissionError:
            self._next_try = time.monotonic() + ROTATE_RETRY_S
            if self.stream is None or self.stream.closed:
                self.stream = self._open()


def add_file(path: Path) -> None:
    """Also write the log to ``path``, rotated at MAX_LOG_BYTES with LOG_BACKUPS kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _add(PatientRotatingFileHandler(
        path, maxBytes=MAX_LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    ))


def _add(handler: logging.Handler) -> None:
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RepeatLimiter())
    handler._capswriter = True  # type: ignore[attr-defined]
    logging.getLogger().addHandler(handler)


def utf8_redirected_output() -> None:
    """Write UTF-8 where our output is redirected to a file or pipe in a narrower encoding.

    Outside UTF-8 mode, Python on Windows writes redirected output in the ANSI code page, and
    `capswriter transcribe --print-text ... > out.txt` on a cp1252 system fails on the first
    Chinese letter. A console gets whatever it needs already (Python writes it as UTF-16).
    """
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None)
        if not encoding or not hasattr(stream, "reconfigure"):
            continue
        try:
            if codecs.lookup(encoding).name in ("utf-8", "utf-16", "utf-32") or stream.isatty():
                continue
            stream.reconfigure(encoding="utf-8")
        except (LookupError, OSError, ValueError):
            continue


def ensure_std_streams() -> None:
    """Give a process without a console (the windowed desktop program on Windows, whose
    stdout and stderr are None) a log file as both, so printing and logging never fail."""
    if sys.stdout is not None and sys.stderr is not None:
        return
    from capswriter.config import data_dir

    try:
        folder = data_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        stream = open(folder / "console.log", "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    except OSError:
        stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = stream
    if sys.stderr is None:
        sys.stderr = stream
