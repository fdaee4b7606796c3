"""Starting the server: the checks before any worker starts, the listening socket, uvicorn.

``run_server`` refuses a non-loopback address without a token, a missing model (or a precision
or language it lacks) and a port in use before loading anything, then runs the application of
``app.create_app`` until SIGINT/SIGTERM, letting open tasks know why they end.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import socket
import threading
import time
from pathlib import Path

import psutil
import uvicorn

from capswriter import logs
from capswriter.config import Settings, is_loopback
from capswriter.errors import ConfigError, PortInUse, PortUnavailable, UnsupportedLanguage
from capswriter.server.app import create_app
from capswriter.server.http_protocol import header_timeout_protocol
from capswriter.server.service import RecognitionService

log = logging.getLogger("capswriter.server")


class RedactTokens(logging.Filter):
    """uvicorn logs WebSocket paths with their query string; keep tokens out of the log."""

    _pattern = re.compile(r"(token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(
                self._pattern.sub(r"\1***", a) if isinstance(a, str) else a
                for a in (record.args if isinstance(record.args, tuple) else (record.args,))
            )
        record.msg = self._pattern.sub(r"\1***", str(record.msg))
        return True


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves so a second server fails before loading models."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if os.name == "nt":
        # On Windows SO_REUSEADDR would let a second server share the port; forbid that.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)  # type: ignore[attr-defined]
    else:
        # Allows a restart while old connections sit in TIME_WAIT; a live listener still
        # makes bind fail on POSIX.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)) or \
                getattr(exc, "winerror", None) == 10048:
            raise PortInUse(
                f"port {port} on {host} is already in use — is another CapsWriter server "
                f"running? Stop it or choose another port with --port."
            ) from None
        raise bind_refusal(exc, host, port) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def bind_refusal(exc: OSError, host: str, port: int) -> OSError | PortUnavailable:
    """The sentence for a bind the system refuses; other errors as they are."""
    if exc.errno in (errno.EACCES, getattr(errno, "WSAEACCES", -1)) or \
            getattr(exc, "winerror", None) == 10013:
        # On Windows, Hyper-V, WSL and Docker reserve port ranges that move at every boot.
        return PortUnavailable(
            f"the system does not let CapsWriter use port {port} on {host} ({exc.strerror}): "
            f"the port may be reserved (on Windows see `netsh interface ipv4 show "
            f"excludedportrange protocol=tcp`) or kept for administrators; choose another "
            f"port with --port or [server] port in the settings."
        )
    if exc.errno in (errno.EADDRNOTAVAIL, getattr(errno, "WSAEADDRNOTAVAIL", -1)) or \
            getattr(exc, "winerror", None) == 10049:
        return PortUnavailable(
            f"{host} is not an address of this machine ({exc.strerror}); bind 127.0.0.1 or "
            f"one of this machine's addresses."
        )
    return exc


def check_security(settings: Settings) -> None:
    """Refuse to listen beyond this machine without a token."""
    if not is_loopback(settings.server.host) and not settings.server.token:
        raise ConfigError(
            f"refusing to listen on {settings.server.host} without a token: anyone on the "
            "network could use this server. Set server.token (or CAPSWRITER_SERVER_TOKEN), "
            "or bind 127.0.0.1."
        )


class _Server(uvicorn.Server):
    """uvicorn's server, telling open tasks why they end before it closes connections."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        service: RecognitionService = self.config.loaded_app_service  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            await service.drain()
        await super().shutdown(sockets)


def check_models(settings: Settings) -> None:
    """Refuse to start without the model (or with a precision or language it lacks): workers
    would only fail to load it, again and again."""
    from capswriter.asr.engine import vad_model_path
    from capswriter.asr.languages import check_language
    from capswriter.asr.manifest import load_manifest
    from capswriter.asr.model_check import check_model_files

    model_dir = settings.models_path / settings.asr.model
    manifest = load_manifest(model_dir)
    manifest.check_precision(settings.asr.precision)
    # A file sherpa-onnx cannot read would end every worker at start, not raise in it.
    check_model_files(manifest, model_dir, settings.asr.precision)
    try:
        check_language(manifest, settings.asr.language)
    except UnsupportedLanguage as exc:
        raise ConfigError(f"[asr] {exc}") from None
    vad_model_path(settings.models_path)


def _raise_open_files_limit() -> None:
    """Use the hard limit of open files: every client connection is one, and running out
    stops worker restarts (pipes) and log writes."""
    try:
        import resource
    except ImportError:  # Windows: no such per-process limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# How often a server started by the tray app looks whether the app is still there.
OWNER_CHECK_S = 1.0


def owner_alive(owner: psutil.Process) -> bool:
    """True while the process that started us runs (a zombie has ended; a new process with its
    old pid is not it)."""
    try:
        return bool(owner.is_running() and owner.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _stop_when_owner_ends(server: uvicorn.Server, owner_pid: int) -> None:
    """Leave as SIGTERM would when the owner is gone: a tray app killed, crashed or aborted
    must not leave its server and workers running on their own."""
    try:
        owner = psutil.Process(owner_pid)
    except psutil.Error:
        owner = None
    while owner is not None and owner_alive(owner):
        time.sleep(OWNER_CHECK_S)
    log.warning("the process that started this server (pid %d) is gone; stopping", owner_pid)
    server.should_exit = True


def run_server(settings: Settings, log_file: Path | None = None,
               owner_pid: int | None = None) -> None:
    """Run the server in the foreground until SIGINT/SIGTERM; log to stderr or ``log_file``
    (rotated).

    Raises ConfigError (non-loopback bind without a token), ModelNotInstalled or PortInUse before
    any worker starts.
    """
    logs.configure(settings.log_level, file=log_file)
    check_security(settings)
    if settings.server.broker:
        from capswriter.wire import broker

        broker.check_broker_url(settings.server.broker, settings.server.broker_allow_open)
        broker.require_redis()
        # A Redis that is down now is waited for; one that answers without a password is not.
        with contextlib.suppress(*broker.connection_errors()):
            broker.check_password_enforced(settings.server.broker,
                                           settings.server.broker_allow_open)
    check_models(settings)
    sock = bind_socket(settings.server.host, settings.server.port)
    app = create_app(settings)
    _raise_open_files_limit()
    s = settings.server
    config = uvicorn.Config(
        app,
        http=header_timeout_protocol(s.header_timeout_s, s.max_waiting_connections_per_client,
                                     s.max_waiting_connections),
        # No blanket connection limit: uvicorn's would answer 503 to every request, /health and
        # those with the right token included, once a flood of waiting sockets filled it. The
        # waiting connections are bounded by the protocol's gate, WebSockets by the service,
        # uploads by the guard.
        limit_concurrency=None,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=64 * 1024,
        log_level=settings.log_level.lower(),
        # Bigger than our own frame limit so oversized frames reach us and get an error reply.
        ws_max_size=settings.server.max_message_bytes * 2 + 1024,
        ws_ping_interval=20.0,
        timeout_graceful_shutdown=5,
        access_log=False,
        # uvicorn's loggers propagate to ours, so its lines pass the same repeat limiter.
        log_config=None,
    )
    config.loaded_app_service = app.state.service  # type: ignore[attr-defined]
    for name in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(RedactTokens())
    pool = app.state.service.pool
    log.info("CapsWriter server on %s:%d (model %s, %d workers%s%s)",
             settings.server.host, settings.server.port, settings.asr.model, pool.size,
             " + 1 for dictations" if pool.dictation_worker else "",
             " + remote workers" if pool.remote is not None else "")
    server = _Server(config)
    if owner_pid is not None:
        threading.Thread(target=_stop_when_owner_ends, args=(server, owner_pid),
                         name="owner-watch", daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
