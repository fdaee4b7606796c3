"""The worker process: load the engine once, then decode one job at a time from its pipe.

Only plain data crosses the pipe (the messages of ``worker_messages``), so a native crash in the
recognizer takes down this process and nothing else. The worker also watches its parent and
leaves as soon as the server is gone, even if the server was killed with SIGKILL. The pool's side
of the pipe is ``worker_process.WorkerProcess``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from capswriter.server.worker_messages import (
    Decoded,
    DecodeFailed,
    DecodeRequest,
    LoadFailed,
    Ready,
    Taken,
    WorkerReply,
)

log = logging.getLogger("capswriter.worker")

# Test-only fault injection. With CAPSWRITER_FAULT_HOOK=1 in the worker's environment, audio
# that starts with FAULT_PREFIX followed by an action code makes the worker crash, hang or raise,
# so supervision is tested with real process deaths. Without the variable the hook is inert.
FAULT_HOOK_ENV = "CAPSWRITER_FAULT_HOOK"
FAULT_PREFIX = (1234, -1234, 1234, -1234, 4321, -4321, 4321, -4321)
FAULT_ACTIONS = {"crash": 11, "hang": 22, "error": 33}
PARENT_CHECK_INTERVAL_S = 0.5
# How far file workers step back: at nice 10 a process gets about a tenth of the CPU time of
# one at nice 0 when both want it, and all of it when it runs alone.
BACKGROUND_NICENESS = 10


def fault_marker(action: str) -> np.ndarray:
    """int16 samples that, put at the start of audio, trigger ``action`` in a hooked worker."""
    return np.array([*FAULT_PREFIX, FAULT_ACTIONS[action]], dtype=np.int16)


def _fault_action(samples: np.ndarray) -> str | None:
    if os.environ.get(FAULT_HOOK_ENV) != "1" or len(samples) < len(FAULT_PREFIX) + 1:
        return None
    head = np.round(samples[: len(FAULT_PREFIX) + 1] * 32768.0).astype(np.int64)
    if tuple(head[: len(FAULT_PREFIX)]) != FAULT_PREFIX:
        return None
    code = int(head[len(FAULT_PREFIX)])
    return next((name for name, value in FAULT_ACTIONS.items() if value == code), None)


def _inject_fault(action: str) -> None:
    if action == "crash":
        # A real, unclean death like a segfault: no cleanup, no reply on the pipe.
        if hasattr(signal, "SIGKILL"):
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(139)
    if action == "hang":
        while True:
            time.sleep(3600)
    if action == "error":
        raise RuntimeError("fault hook: injected recognizer error")


def _parent_alive(parent_pid: int) -> bool:
    if os.name == "posix":
        # Re-parented to init/subreaper means the server is gone.
        return os.getppid() == parent_pid
    return bool(psutil.pid_exists(parent_pid))


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_CHECK_INTERVAL_S)
        if not _parent_alive(parent_pid):
            os._exit(0)


def run_worker(
    conn: Connection,
    worker_id: int,
    asr_settings: dict[str, Any],
    models_dir: str,
    parent_pid: int,
    log_level: str = "INFO",
    background: bool = False,
) -> None:
    """Entry point of a worker process (started with the spawn method).

    A `background` worker runs at a lower CPU priority, so that the dictation worker gets the
    cores at once when someone dictates while files are transcribed.
    """
    # Ctrl+C reaches the whole process group; the server decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if background:
        _lower_priority()
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    from capswriter import logs

    logs.configure(log_level)
    started = time.monotonic()
    try:
        from capswriter.asr.engine import Engine
        from capswriter.config import AsrSettings

        engine = Engine.load(AsrSettings(**asr_settings), Path(models_dir))
    except Exception as exc:  # noqa: BLE001 - any load failure is reported, not raised
        _reply(conn, LoadFailed(f"{type(exc).__name__}: {exc}"))
        sys.exit(3)
    _reply(conn, Ready(os.getpid(), round(time.monotonic() - started, 3), engine.model_name))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the server closed our pipe
        if not isinstance(request, DecodeRequest):  # Stop
            return
        _reply(conn, Taken(request.job_id))
        samples = np.frombuffer(request.samples, dtype=np.float32)
        try:
            transcript = decode(engine, samples, request.language, request.kind, request.speech)
        except Exception as exc:  # noqa: BLE001 - the job fails, the worker lives on
            log.exception("worker %d: job %d failed", worker_id, request.job_id)
            _reply(conn, DecodeFailed(request.job_id, f"{type(exc).__name__}: {exc}"))
        else:
            _reply(conn, Decoded(request.job_id, transcript))


def _reply(conn: Connection, message: WorkerReply) -> None:
    """Send to the server; if it is gone, leave at once and quietly: nobody is left to answer
    and a traceback per worker would only bury the server's own last words."""
    try:
        conn.send(message)
    except (OSError, EOFError, ValueError):
        os._exit(0)


def decode(
    engine: Any, samples: np.ndarray, language: str, kind: str,
    speech: list[tuple[int, int]] | None,
) -> dict[str, Any]:
    """Decode one job's samples into a plain Transcript dict (also used by remote workers)."""
    action = _fault_action(samples)
    if action:
        _inject_fault(action)
    transcript = engine.transcribe(
        samples, language=language or None, dictation=kind == "dictation", speech=speech
    )
    result = _plain(transcript)
    _give_back_memory()
    return result


def _lower_priority() -> None:
    """Below normal CPU priority (nice 10 on Unix), for file work."""
    try:
        psutil.Process().nice(
            psutil.BELOW_NORMAL_PRIORITY_CLASS if sys.platform == "win32" else BACKGROUND_NICENESS
        )
    except (psutil.Error, OSError) as exc:  # a sandbox may forbid it; work goes on
        log.warning("could not lower the worker's priority: %s", exc)


def _give_back_memory() -> None:
    """Return the freed buffers of a decode to the system (glibc keeps them otherwise), so a
    worker's size after a long segment is its model, not its largest job."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:  # not glibc (e.g. musl): nothing to trim
            pass


def _plain(transcript: Any) -> dict[str, Any]:
    return transcript.to_dict() if hasattr(transcript, "to_dict") else asdict(transcript)
