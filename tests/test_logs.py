"""Logging cannot flood: repeats are summarised, files rotate. Without a console (the windowed
desktop program) stdout and stderr are None; printing, progress bars and help go to a log file
instead of failing."""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from capswriter import logs
from capswriter.cli import main


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


@contextmanager
def no_console() -> Iterator[None]:
    # Inside the test body: pytest sets its own capture streams around fixtures.
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.stdout is not None:
            sys.stdout.flush()
        sys.stdout, sys.stderr = saved


@pytest.fixture
def console_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("CAPSWRITER_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data" / "logs" / "console.log"


def test_help_goes_to_the_console_log(console_log: Path) -> None:
    with no_console(), pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    assert "usage: capswriter" in console_log.read_text()


def test_a_transcription_with_its_progress_bar_runs_without_a_console(
    console_log: Path, models_dir: Path, real_clips, tmp_path: Path
) -> None:
    clip = tmp_path / "clip.wav"
    shutil.copy(real_clips["en_jfk.wav"].path, clip)
    with no_console():
        code = main(["--models-dir", str(models_dir), "transcribe", str(clip), "--in-process",
                     "--print-text", "--formats", "txt"])  # fmt: skip
    assert code == 0
    log = console_log.read_text()
    assert "country" in log.lower() and "1 of 1 files" in log


def test_a_rotation_the_system_refuses_keeps_the_log_going_without_tracebacks(tmp_path) -> None:
    """Windows refuses to rename a log another process holds open; here a folder the writer
    may not rename in stands in for that. Every line still lands, and no traceback is printed."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import pytest

    from capswriter.config import PROJECT_ROOT

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to make a folder another user may not rename in")
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        log = folder / "server.log"
        log.touch()
        log.chmod(0o666)
        code = ("import logging, sys; from pathlib import Path; from capswriter import logs;"
                "logs.MAX_LOG_BYTES = 2000; logs.add_file(Path(sys.argv[1]));"
                "logging.getLogger().setLevel('INFO');"
                "[logging.getLogger('t').info('line %03d of the log' % i) for i in range(200)]")
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
             "-c", code, str(log)], capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr and "Logging error" not in done.stderr
        text = log.read_text(encoding="utf-8")
        assert "line 000 of the log" in text and "line 199 of the log" in text
        assert not (folder / "server.log.1").exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
