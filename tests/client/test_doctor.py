"""`capswriter doctor` on a desktop (Xvfb): every part is checked and named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from capswriter import __version__
from capswriter.client.ui.doctor import CLIPBOARD_PROBE, OK, PROBLEM, WARNING, run_checks
from capswriter.config import PROJECT_ROOT


def test_every_check_reports_and_the_clipboard_keeps_chinese(x_server, qapp, tmp_path) -> None:
    from capswriter.client.delivery import Clipboard

    Clipboard().write("what the user had copied")
    findings = {f.check: f for f in run_checks(tmp_path / "模型 目录")}
    assert set(findings) == {"versions", "code page", "models folder", "keyboard hook", "audio",
                             "clipboard", "tray", "translations"}
    assert f"capswriter {__version__}" in findings["versions"].detail
    assert "sherpa-onnx" in findings["versions"].detail
    assert "UTF-8 mode" in findings["code page"].detail
    assert findings["keyboard hook"].status == OK and "xorg" in findings["keyboard hook"].detail
    assert findings["clipboard"].status == OK
    # The round trip put back what was there.
    assert Clipboard().read() == "what the user had copied" != CLIPBOARD_PROBE
    assert findings["translations"].status == OK
    assert findings["audio"].status in (OK, WARNING)
    assert findings["models folder"].status == WARNING  # not created yet
    assert all(f.status in (OK, WARNING, PROBLEM) and f.detail for f in findings.values())


def _doctor(args: list[str], env: dict[str, str], out: Path) -> tuple[int, str]:
    # Output to a file, not a pipe: xclip stays behind to serve the clipboard and would hold a
    # pipe open.
    with out.open("w", encoding="utf-8") as handle:
        done = subprocess.run([sys.executable, "-m", "capswriter", *args, "doctor"], env=env,
                              stdout=handle, stderr=subprocess.STDOUT, timeout=120,
                              cwd=PROJECT_ROOT)
    return done.returncode, out.read_text(encoding="utf-8")


def test_the_command_prints_one_line_per_check_and_fails_on_a_problem(x_server, tmp_path) -> None:
    env = {**os.environ, "DISPLAY": x_server.display, "QT_QPA_PLATFORM": "offscreen",
           "CAPSWRITER_CONFIG": str(tmp_path / "none.toml")}
    code, text = _doctor(["--models-dir", str(PROJECT_ROOT / "models")], env, tmp_path / "a")
    lines = text.splitlines()
    assert code == 0, text
    assert lines[-1] == "no problems found"
    assert [line.split()[1] for line in lines[:3]] == ["versions", "code", "models"]
    # Without a display, the hook and the clipboard cannot work: a problem, exit 1.
    env.pop("DISPLAY")
    code, text = _doctor([], env, tmp_path / "b")
    assert code == 1, text
    assert any(line.startswith("problem  keyboard hook") for line in text.splitlines())
