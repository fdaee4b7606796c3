"""What ``GET /health`` answers: the server's state, its workers, queues and job counts.

The server builds a ``HealthReport`` and sends ``to_dict()``; the desktop client and the tools
read it back with ``from_dict``, which takes what it knows and leaves the rest at defaults, so a
client reads the report of an older or newer server.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from capswriter.wire.protocol import PROTOCOL_VERSION

# Server states: workers still loading, ready, or stopping (no new work).
STARTING = "starting"
OK = "ok"
DRAINING = "draining"


@dataclass
class WorkerHealth:
    """One local worker process as the pool sees it."""

    id: int
    role: str = "general"
    pid: int | None = None
    state: str = ""
    job: int | None = None
    task: str | None = None
    jobs_done: int = 0
    restarts: int = 0
    rss_bytes: int | None = None
    load_seconds: float | None = None
    last_death: str | None = None


@dataclass
class HealthReport:
    status: str
    model: str = ""
    protocol_version: int = PROTOCOL_VERSION
    workers: list[WorkerHealth] = field(default_factory=list)
    workers_ready: int = 0
    queues: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    open_tasks: int = 0
    connections: int = 0
    upload_bytes: int = 0
    supervisor_errors: int = 0
    # Broker mode only: the remote workers and the streams (see server/broker_dispatch.py).
    broker: dict[str, Any] | None = None

    @property
    def ready(self) -> bool:
        return self.status == OK

    @property
    def restarts(self) -> int:
        """Worker restarts since the server started, over all local workers."""
        return sum(w.restarts for w in self.workers)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.broker is None:
            del data["broker"]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> HealthReport:
        """Raises ValueError for anything but a report (another program on the port)."""
        if not isinstance(data, dict):
            raise ValueError("/health did not answer with a JSON object")
        values = _known(cls, data)
        values["status"] = str(values.get("status", "down"))
        workers = values.get("workers") or []
        if not isinstance(workers, list) or not all(isinstance(w, dict) for w in workers):
            raise ValueError("/health lists its workers in an unknown shape")
        try:
            values["workers"] = [WorkerHealth(**_known(WorkerHealth, w)) for w in workers]
            return cls(**values)
        except TypeError as exc:  # a worker without an id
            raise ValueError(f"/health answered an unknown shape: {exc}") from None


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}
