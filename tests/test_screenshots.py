"""The screenshot script draws every window into PNG files without a desktop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = ("tray-menu", "settings-dictation", "settings-output", "settings-files",
           "settings-models", "settings-server", "history", "drop-window", "drop-window-drag",
           "settings-recovery", "overlay-recording")
# The recording panel is a strip, not a window.
MIN_HEIGHT = {"overlay-recording": 40}


def test_every_window_is_drawn(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "screenshots.py"),
                           "--out", str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    for name in WINDOWS:
        image = QImage(str(tmp_path / f"{name}.png"))
        assert not image.isNull(), name
        assert image.width() > 150 and image.height() > MIN_HEIGHT.get(name, 100), \
            (name, image.size())
    referenced = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"docs/screenshots/{name}.png" in referenced for name in WINDOWS)
    assert all((ROOT / "docs" / "screenshots" / f"{name}.png").is_file() for name in WINDOWS)
