"""Fixtures for the server tests: real servers in subprocesses, real workers, the real model.

Each test module shares one server (module scope) so the model loads once per module; the
servers run 2 workers with 1 recognizer thread each, which is what a 2-core machine holds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_helpers import ServerProcess, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server with 2 workers, shared by the tests of a module."""
    srv = start_server(tmp_path_factory.mktemp("server"))
    yield srv
    srv.stop()
