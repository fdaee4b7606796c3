"""A real X server (Xvfb) and a focused text field in another process, for tests that type.

The parts themselves are the package's (``capswriter.tools.desktop_session``, also used by the
desktop soak); here is what is particular to tests: skipping or failing when a tool is missing.
"""

from __future__ import annotations

import os
import shutil

import pytest

from capswriter.tools.desktop_session import X_TOOLS, FocusTarget, XServer, wait_until

__all__ = ["FocusTarget", "XServer", "missing_x_tools", "require_x_tools", "unavailable",
           "wait_until"]


def missing_x_tools() -> list[str]:
    return [tool for tool in X_TOOLS if shutil.which(tool) is None]


def unavailable(reason: str) -> None:
    """Skip on a developer machine without the tool; fail in CI, where it must be installed."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this test must run)")
    pytest.skip(reason)


def require_x_tools() -> None:
    missing = missing_x_tools()
    if missing:
        unavailable(f"needs {', '.join(missing)} (apt: xvfb xdotool xclip)")
