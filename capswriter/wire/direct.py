"""Requests to this machine go straight to it, never through a proxy.

httpx and websockets take the proxy from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY)
but, on Windows, not the system's bypass list (httpx #1512, #1536): with Clash or v2rayN set as
the system proxy, a request to our own server on 127.0.0.1 goes to the proxy, fails, and the
tray app takes its server for dead and starts another. A server on another machine keeps the
proxy its user set.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from capswriter.config import is_loopback


def to_this_machine(url: str) -> bool:
    """True when ``url`` names a loopback host (127.0.0.0/8, ::1, localhost)."""
    return is_loopback(urlsplit(url).hostname or "")


def http_get(url: str, **kwargs: Any) -> httpx.Response:
    """``httpx.get`` that bypasses any proxy for this machine."""
    return httpx.get(url, trust_env=not to_this_machine(url), **kwargs)


def http_client(base_url: str, **kwargs: Any) -> httpx.Client:
    """An ``httpx.Client`` for ``base_url`` that bypasses any proxy for this machine."""
    return httpx.Client(trust_env=not to_this_machine(base_url), **kwargs)


def websocket_options(url: str) -> dict[str, Any]:
    """Keyword arguments for ``websockets.connect``: no proxy for this machine."""
    return {"proxy": None} if to_this_machine(url) else {}
