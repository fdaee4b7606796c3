"""Every worker killed at once while uploads decode: each request must still end in its text or
a typed error, never a bare 500 and never silence.

Each trial sends one real recording through the OpenAI-compatible endpoint, waits until a worker
holds a piece of it, then kills every worker process with SIGKILL (as a crash or the OOM killer
would) and reads the answer. The server restarts the workers; a piece that was being decoded is
tried again, and a piece sent to a worker already dead is simply sent elsewhere.

    capswriter bench kill-workers --start-server 2 --tries 20
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from capswriter.tools.runlog import ServerAddress

# What a typed error body looks like: {"error": {"message", "type", "code"}}.
TYPED_KEYS = ("message", "code")


@dataclass
class KillTrial:
    status: int
    text: str = ""
    code: str = ""  # the typed error's code, when it failed
    killed: int = 0  # worker processes killed in this trial
    seconds: float = 0.0

    @property
    def answered(self) -> bool:
        """Text, or an error a client can act on: a code from the error table."""
        return (self.status == 200 and bool(self.text)) or (self.status != 200 and bool(self.code))


@dataclass
class KillSummary:
    trials: list[KillTrial] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.trials) and all(t.answered for t in self.trials)

    def table(self) -> str:
        outcomes = Counter(
            "text" if t.status == 200 else f"{t.status} {t.code or '(untyped)'}"
            for t in self.trials
        )
        lines = [f"{len(self.trials)} trials, {sum(t.killed for t in self.trials)} workers "
                 f"killed; answered with text or a typed error: "
                 f"{sum(t.answered for t in self.trials)} of {len(self.trials)}"]
        lines += [f"  {outcome:<28} {count}" for outcome, count in outcomes.most_common()]
        return "\n".join(lines)


def worker_pids(address: ServerAddress) -> list[int]:
    return [w.pid for w in address.health(timeout=5.0).workers if w.pid]


def wait_busy(address: ServerAddress, timeout: float) -> bool:
    """Wait until some worker holds a job."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(w.state == "busy" for w in address.health(timeout=5.0).workers):
            return True
        time.sleep(0.02)
    return False


def wait_all_ready(address: ServerAddress, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            workers = address.health(timeout=5.0).workers
        except (httpx.HTTPError, ValueError):
            workers = []
        if workers and all(w.state in ("idle", "busy") for w in workers):
            return True
        time.sleep(0.1)
    return False


def one_trial(address: ServerAddress, audio: Path, timeout: float = 300.0) -> KillTrial:
    answer: dict[str, httpx.Response | Exception] = {}

    def upload() -> None:
        try:
            with audio.open("rb") as f:
                answer["reply"] = httpx.post(
                    f"{address.http}/v1/audio/transcriptions", headers=address.headers(),
                    files={"file": (audio.name, f)}, data={"model": "whisper-1"},
                    timeout=timeout,
                )
        except Exception as exc:  # noqa: BLE001 - recorded as the trial's outcome
            answer["reply"] = exc

    started = time.monotonic()
    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    killed = 0
    if wait_busy(address, timeout=60.0):
        for pid in worker_pids(address):
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    sender.join(timeout + 5)
    seconds = time.monotonic() - started
    reply = answer.get("reply")
    if not isinstance(reply, httpx.Response):
        return KillTrial(0, code=f"no answer: {reply!r}", killed=killed, seconds=seconds)
    if reply.status_code == 200:
        return KillTrial(200, reply.json().get("text", ""), killed=killed, seconds=seconds)
    try:
        error = reply.json().get("error", {})
    except ValueError:
        error = {}
    typed = isinstance(error, dict) and all(error.get(k) for k in TYPED_KEYS)
    return KillTrial(reply.status_code, code=str(error.get("code", "")) if typed else "",
                     killed=killed, seconds=seconds)


def run_kill_trials(address: ServerAddress, audio: Path, tries: int,
                    on_trial: Callable[[KillTrial], None] | None = None) -> KillSummary:
    summary = KillSummary()
    for _ in range(tries):
        if not wait_all_ready(address, timeout=120.0):
            raise RuntimeError("the workers did not come back after the last kill")
        trial = one_trial(address, audio)
        summary.trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
    return summary
