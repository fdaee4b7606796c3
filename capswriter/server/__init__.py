"""The local recognition server: worker pool, scheduling, protocol, HTTP API.

``run_server`` and ``create_app`` are loaded on first use, so clients that only need
``capswriter.server.protocol`` or ``client_api`` do not import FastAPI and the pool.
"""

from typing import Any

__all__ = ["PortInUse", "create_app", "run_server"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from capswriter.server import app

        return getattr(app, name)
    raise AttributeError(name)
