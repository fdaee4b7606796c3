"""Without a console (the windowed desktop program) stdout and stderr are None; printing,
progress bars and help go to a log file instead of failing."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from capswriter.cli import main


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
