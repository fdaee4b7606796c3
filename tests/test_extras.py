"""A command whose optional packages are missing says which extra to install, in one line,
before it starts any work."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import pytest

from capswriter.cli import main
from capswriter.config import PROJECT_ROOT
from capswriter.errors import MissingExtra
from capswriter.extras import EXTRAS, missing_modules, require_extra


def _without(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for module in modules:  # None in sys.modules is what import finds for a missing package
        monkeypatch.setitem(sys.modules, module, None)


def test_every_extra_is_declared_in_pyproject() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert set(EXTRAS) <= set(pyproject["project"]["optional-dependencies"])


def test_the_tray_app_without_the_client_extra(monkeypatch, capsys) -> None:
    _without(monkeypatch, "PySide6", "pynput")
    assert main(["client"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: the tray app needs the 'client' extra (PySide6, pynput missing); "
        "run: pip install 'capswriter[client]'\n"
    )


def test_bench_accuracy_without_the_tools_extra(monkeypatch, capsys, tmp_path) -> None:
    _without(monkeypatch, "whisper_normalizer")
    assert main(["bench", "accuracy", str(tmp_path)]) == 2
    assert "run: pip install 'capswriter[tools]'" in capsys.readouterr().err


def test_report_flags_are_checked_before_the_run(monkeypatch, capsys) -> None:
    _without(monkeypatch, "matplotlib")
    # Would start a server and measure for minutes if the check came after the run.
    assert main(["stress", "--start-server", "1", "--report"]) == 2
    assert "--report needs the 'tools' extra (matplotlib missing)" in capsys.readouterr().err


def test_present_extras_pass(monkeypatch) -> None:
    assert missing_modules("client") == []
    require_extra("tools", "anything")
    _without(monkeypatch, "onnx")
    with pytest.raises(MissingExtra, match=r"\(onnx missing\)"):
        require_extra("convert", "converting")
