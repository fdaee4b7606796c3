"""Logging set-up in one place: one format for the server, workers, client and tools."""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure(level: str | int = "INFO", stream=None) -> None:
    """Configure the root logger once; later calls only change the level."""
    root = logging.getLogger()
    if not any(getattr(h, "_capswriter", False) for h in root.handlers):
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._capswriter = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # One line per HTTP request from the health poller drowns everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)


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
