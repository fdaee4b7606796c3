"""Start a local server process and wait until it is ready, the one way everything does.

The desktop client and ``capswriter transcribe`` start a server when none answers; the tools
and the tests start their own for a run. All run ``capswriter server`` (the console program of
the desktop build, or the CLI through this Python) with ``start_server_process`` and wait with
``wait_until_ready``. The server writes its own log (``--log-file``); what it prints before
logging starts (a refusal to start, a crash) goes to ``output``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from capswriter.config import CONSOLE_PROGRAM, FROZEN, log_dir
from capswriter.errors import ServerStartFailed
from capswriter.wire.direct import http_get
from capswriter.wire.health import HealthReport

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 180.0


def server_log_path() -> Path:
    """Where a server started for the desktop client or the CLI writes its log."""
    return log_dir() / "server.log"


def server_output_path(log_path: Path) -> Path:
    """Where a launched server's standard output and error go, beside its log."""
    return log_path.with_suffix(".out")


def cli_command() -> list[str]:
    """How to run the `capswriter` CLI from this process.

    The desktop build runs its console program (beside the windowed one, which has no
    stdout for the server's logs); from source or a wheel, the same CLI through this Python.
    """
    if not FROZEN:
        return [sys.executable, "-m", "capswriter"]
    console = Path(sys.executable).with_name(CONSOLE_PROGRAM)
    return [str(console if console.is_file() else sys.executable)]


def server_command(
    server_args: Sequence[str] = (), *, models_dir: str | Path | None = None
) -> list[str]:
    """``capswriter [--models-dir DIR] server ARGS`` as this process can run it."""
    command = cli_command()
    if models_dir:
        command += ["--models-dir", str(models_dir)]
    return [*command, "server", *server_args]


def start_server_process(
    server_args: Sequence[str] = (),
    *,
    models_dir: str | Path | None = None,
    env: dict[str, str] | None = None,
    output: Path | None = None,
    append: bool = False,
    detached: bool = False,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``capswriter server ARGS``; ``env`` is added to this process's environment.

    A ``detached`` server outlives us quietly: no console window on Windows, and on POSIX a
    session of its own, so Ctrl+C in our terminal is not for it. Secrets go in ``env``, never
    in the arguments: other users can read a process's command line.
    """
    args = server_command(server_args, models_dir=models_dir)
    out: Any = subprocess.DEVNULL
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        out = open(output, "ab" if append else "wb")  # noqa: SIM115 - closed below
    kwargs: dict[str, Any] = {}
    if detached:
        if sys.platform == "win32":  # pragma: no cover - Windows only
            kwargs["creationflags"] = subprocess.CREATE_NO_WINDOW
        else:
            kwargs["start_new_session"] = True
    log.info("starting a server: %s", " ".join(args))
    try:
        return subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})}, cwd=cwd, **kwargs,
        )
    finally:
        if out is not subprocess.DEVNULL:
            out.close()  # the child holds its own descriptor


def wait_until_ready(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    timeout: float = READY_TIMEOUT_S,
    log_path: Path | None = None,
    poll_s: float = 0.2,
) -> None:
    """Return once ``ready()`` says so; ServerStartFailed if the process exits first or the
    time runs out (the process is then left to the caller to stop)."""
    see = f"; see {log_path}" if log_path else ""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            why = refusal(server_output_path(log_path)) if log_path else ""
            raise ServerStartFailed(
                f"the server exited with code {process.returncode} while starting"
                + (f": {why}" if why else see)
            )
        try:
            if ready():
                return
        except (httpx.HTTPError, ValueError, OSError):
            pass  # not listening yet, or still binding
        time.sleep(poll_s)
    raise ServerStartFailed(f"the server was not ready after {timeout:.0f} s{see}")


def refusal(output: Path) -> str:
    """The sentence a server that refused to start (exit 2) printed last, if any."""
    try:
        lines = output.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.startswith("error: "):
            return line[len("error: "):]
    return ""


def fetch_health(http_url: str, token: str = "", timeout: float = 2.0) -> HealthReport:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reply = http_get(f"{http_url}/health", headers=headers, timeout=timeout)
    reply.raise_for_status()
    return HealthReport.from_dict(reply.json())


def every_worker_ready(report: HealthReport, workers: int) -> bool:
    """Every slot is up, the dictation worker's too when the server keeps one."""
    return report.workers_ready == len(report.workers) >= workers
