"""A bind the system refuses ends the server with exit 2 and one sentence, before any worker;
whoever started it (the tray app, `transcribe`) shows that sentence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import free_port

from capswriter.config import PROJECT_ROOT
from capswriter.errors import ServerStartFailed
from capswriter.wire.launch import start_server_process, wait_until_ready

PRIVILEGED_PORT = 80


def _privileged_ports_kept() -> bool:
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        start = 1024
    return start > PRIVILEGED_PORT


@pytest.fixture()
def public_dir() -> Iterator[Path]:
    """A folder another user can read and write (pytest's own are private)."""
    path = Path(tempfile.mkdtemp(prefix="capswriter-bind-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _as_ordinary_user() -> list[str]:
    """Run the child as an ordinary user, as a desktop user is (we may be root here)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux) to drop to an ordinary user")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.skipif(sys.platform == "win32" or not _privileged_ports_kept(),
                    reason="needs a port the system keeps from ordinary users")
def test_a_port_the_system_refuses_gives_exit_2_and_a_sentence(public_dir: Path) -> None:
    # On Windows the same refusal (WinError 10013) comes from Hyper-V's reserved ranges.
    env = {**os.environ, "HOME": str(public_dir), "CAPSWRITER_CONFIG": str(public_dir / "no.toml"),
           "CAPSWRITER_MODELS_DIR": str(PROJECT_ROOT / "models")}
    done = subprocess.run(
        [*_as_ordinary_user(), sys.executable, "-m", "capswriter", "server",
         "--port", str(PRIVILEGED_PORT)],
        env=env, capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"does not let CapsWriter use port {PRIVILEGED_PORT}" in done.stderr
    assert "--port" in done.stderr


def test_whoever_started_the_server_is_told_why_it_refused(tmp_path: Path) -> None:
    """The tray app and `transcribe` show the server's sentence, not only its exit code."""
    log = tmp_path / "server.log"
    process = start_server_process(
        ["--host", "192.0.2.7", "--port", str(free_port()), "--log-file", str(log)],
        models_dir=PROJECT_ROOT / "models", output=log.with_suffix(".out"), cwd=PROJECT_ROOT,
        env={"CAPSWRITER_CONFIG": str(tmp_path / "no.toml"),
             "CAPSWRITER_SERVER_TOKEN": "a-token-for-a-public-address"},
    )
    with pytest.raises(ServerStartFailed, match="192.0.2.7 is not an address of this machine"):
        wait_until_ready(process, lambda: False, timeout=120, log_path=log)
    assert process.returncode == 2


def test_an_address_not_of_this_machine_gives_exit_2_and_a_sentence(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "capswriter", "server", "--host", "192.0.2.7",
         "--port", str(free_port())],
        env={**os.environ, "CAPSWRITER_CONFIG": str(tmp_path / "no.toml"),
             "CAPSWRITER_MODELS_DIR": str(PROJECT_ROOT / "models"),
             "CAPSWRITER_SERVER_TOKEN": "a-token-for-a-public-address"},
        capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "192.0.2.7 is not an address of this machine" in done.stderr
