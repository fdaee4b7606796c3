"""Every worker killed at once while an upload decodes: the upload still gets its text."""

from __future__ import annotations

from pathlib import Path

from capswriter.tools.local_server import LocalServer
from capswriter.tools.worker_kills import run_kill_trials

REAL = Path(__file__).parent.parent / "data" / "real"


def test_uploads_survive_every_worker_being_killed_at_once(tmp_path: Path,
                                                           models_dir: Path) -> None:
    server = LocalServer(2, 1, models_dir=models_dir, log_path=tmp_path / "server.log",
                         env={"CAPSWRITER_CONFIG": str(tmp_path / "none.toml")})
    server.start()
    try:
        summary = run_kill_trials(server.address, REAL / "en_jfk.wav", tries=3)
    finally:
        server.stop()
    assert [t.status for t in summary.trials] == [200, 200, 200], summary.table()
    assert all(t.killed >= 2 for t in summary.trials), summary.table()
    assert all("ask not what your country" in t.text.lower() for t in summary.trials)
    log = (tmp_path / "server.log").read_text(errors="replace")
    # A worker whose server is gone leaves quietly; none of the kills is blamed on the audio.
    assert "it will not be retried" not in log
    assert "BrokenPipeError" not in log
