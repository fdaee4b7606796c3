"""`capswriter transcribe` through the server pool: starts a server when none answers, runs the
files in parallel, writes outputs beside them, reports bad files without losing the good ones."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from capswriter.cli import main
from capswriter.client.batch import transcribe_via_server
from capswriter.client.link import ServerLink
from capswriter.config import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("CAPSWRITER_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("CAPSWRITER_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_files_run_on_a_server_started_for_the_run(isolated: Path, real_clips) -> None:
    english = isolated / "jfk.wav"
    chinese = isolated / "guangzhou.wav"
    broken = isolated / "notes.wav"
    shutil.copy(real_clips["en_jfk.wav"].path, english)
    shutil.copy(real_clips["zh_aishell_BAC009S0724W0121.wav"].path, chinese)
    broken.write_text("this is a text file, not audio")
    settings = Settings()
    settings.server.port = _free_port()

    summary = transcribe_via_server(
        settings, [english, chinese, broken], formats=["txt", "srt", "json"], language=""
    )

    assert summary.started_server
    by_name = {o.path.name: o for o in summary.outcomes}
    assert "country" in by_name["jfk.wav"].transcript.text.lower()
    assert "广州" in by_name["guangzhou.wav"].transcript.text
    assert by_name["notes.wav"].error and by_name["notes.wav"].transcript is None
    assert summary.failures == 1
    for stem in ("jfk", "guangzhou"):
        data = json.loads((isolated / f"{stem}.json").read_text())
        assert data["segments"] and data["model"] == "whisper-base"
        assert (isolated / f"{stem}.srt").read_text().startswith("1\n00:00:")
    # The server started for the run is gone again.
    link = ServerLink("127.0.0.1", settings.server.port)
    assert link.health().status == "down"
    link.close()


def test_no_start_flag_reports_a_missing_server(isolated: Path, real_clips, capsys) -> None:
    clip = isolated / "a.wav"
    shutil.copy(real_clips["en_goforward.wav"].path, clip)
    code = main(["transcribe", str(clip), "--port", str(_free_port()), "--no-start"])
    assert code == 2
    assert "no CapsWriter server answers" in capsys.readouterr().err
    assert not clip.with_suffix(".txt").exists()


def test_in_process_mode_needs_no_server(isolated: Path, real_clips, capsys) -> None:
    clip = isolated / "b.wav"
    shutil.copy(real_clips["en_goforward.wav"].path, clip)
    assert main(["transcribe", str(clip), "--in-process", "--formats", "txt", "--print-text"]) == 0
    assert "forward" in clip.with_suffix(".txt").read_text().lower()


def test_transcribe_works_without_the_client_extra(isolated: Path, real_clips) -> None:
    """PySide6 blocked as if it were not installed: the command line still transcribes."""
    import subprocess
    import sys

    clip = isolated / "jfk.wav"
    shutil.copy(real_clips["en_jfk.wav"].path, clip)
    script = (
        "import sys\n"
        "sys.modules['PySide6'] = None  # any import of it now fails, as without the extra\n"
        "from capswriter.cli import main\n"
        f"code = main(['transcribe', {str(clip)!r}, '--port', '{_free_port()}',"
        " '--formats', 'txt', '--print-text'])\n"
        "assert not any(m.startswith('PySide6.') for m in sys.modules), 'Qt was imported'\n"
        "sys.exit(code)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ask not what your country can do for you" in run.stdout.lower()
    assert "PySide6" not in run.stderr
    assert (isolated / "jfk.txt").exists()
