"""Which way imports run between the package's rooms, read from the source with ast.

The ground floor (``asr``, ``files``) knows nothing above it; ``wire`` (what clients share with
the server) knows no server; clients and tools reach the server only through ``wire``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "capswriter"

# room → rooms it must not import (a room is the first part below ``capswriter``).
FORBIDDEN = {
    "asr": {"files", "server", "client", "tools", "wire", "cli"},
    "text": {"asr", "files", "server", "client", "tools", "wire", "cli"},
    "files": {"server", "client", "tools", "wire", "cli"},
    "wire": {"asr", "files", "server", "client", "tools", "cli"},
    "server": {"client", "tools", "cli"},
    "client": {"server", "tools"},
    "tools": {"server", "client"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every capswriter module named by an import in ``path``, lazy ones inside functions too."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            # `from capswriter.server import app` names the module capswriter.server.app
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "capswriter"}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def arrows() -> list[tuple[str, str]]:
    return sorted(
        (module_name(path), target)
        for path in PACKAGE.rglob("*.py")
        for target in imports_of(path)
    )


def test_the_walk_finds_the_package_and_its_imports() -> None:
    found = arrows()
    assert ("capswriter.server.app", "capswriter.server.service") in found
    assert ("capswriter.client.link", "capswriter.wire.client") in found
    # Relative imports resolve against the importing module's package.
    rel = PACKAGE / "wire" / "__init__.py"
    assert module_name(rel) == "capswriter.wire"


@pytest.mark.parametrize("source_room", sorted(FORBIDDEN))
def test_no_import_runs_against_the_layers(source_room: str) -> None:
    wrong = [
        f"{source} imports {target}"
        for source, target in arrows()
        if room(source) == source_room and room(target) in FORBIDDEN[source_room]
        and room(target) != room(source)
    ]
    assert wrong == []


# What the client's services may take from Qt: signals and translation (QtCore) and the
# single-instance socket (QtNetwork); widgets, painting and the windows are client/ui's.
SERVICE_QT = {"PySide6", "PySide6.QtCore", "PySide6.QtNetwork"}


def qt_imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if node.module == "PySide6")
    return {name for name in found if name.split(".")[0] == "PySide6"}


def test_the_client_services_know_no_window() -> None:
    services = sorted((PACKAGE / "client").glob("*.py"))
    assert PACKAGE / "client" / "controller.py" in services
    assert (PACKAGE / "client" / "ui" / "app.py").exists()
    wrong = [
        f"{module_name(path)} imports {target}"
        for path in services
        for target in imports_of(path) | qt_imports_of(path)
        if target.startswith("capswriter.client.ui") or
        (target.startswith("PySide6") and target not in SERVICE_QT)
    ]
    assert wrong == []
