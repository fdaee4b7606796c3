"""Logging set-up in one place: one format for the server, workers, client and tools."""

from __future__ import annotations

import logging
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
