"""Logging cannot flood: repeats are summarised, files rotate."""

from __future__ import annotations

import logging

from capswriter import logs


def test_a_message_repeated_in_a_burst_is_written_a_few_times_then_summarised() -> None:
    limiter = logs.RepeatLimiter(repeats=3, window_s=0.2)

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("capswriter.server", logging.WARNING, __file__, 1, msg,
                                 None, None)

    passed = [limiter.filter(record("bad frame from %s")) for _ in range(1000)]
    assert sum(passed) == 3
    assert limiter.filter(record("another message"))  # other messages are not held back
    import time

    time.sleep(0.25)
    later = record("bad frame from %s")
    assert limiter.filter(later)
    assert "997 more like it not logged" in later.getMessage()


def test_a_log_file_rotates_instead_of_growing(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(logs, "MAX_LOG_BYTES", 2000)
    logger = logging.getLogger("capswriter.test_rotation")
    root = logging.getLogger()
    before = list(root.handlers)
    logs.add_file(tmp_path / "server.log")
    added = [h for h in root.handlers if h not in before]
    try:
        for i in range(200):
            logger.warning(f"line {i} with some text to fill the file")  # distinct messages
    finally:
        for handler in added:
            root.removeHandler(handler)
            handler.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["server.log", "server.log.1", "server.log.2", "server.log.3"]
    assert all((tmp_path / f).stat().st_size <= 2200 for f in files)
