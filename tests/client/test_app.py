"""``run_client`` as a user starts it: its own process on an X display, a second launch
handing over files, and a clean exit on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

from capswriter.config import Settings

from .speech import AUDIO
from .xsession import wait_until

CLIENT = """
import sys
from pathlib import Path
from capswriter.client.ui.app import run_client
from capswriter.config import load_settings
sys.exit(run_client(load_settings(), [Path(p) for p in sys.argv[1:]]))
"""


def test_second_launch_hands_its_file_to_the_running_client(
    tmp_path, x_server, recognition_server
):
    config = tmp_path / "config.toml"
    settings = Settings()
    settings.server.port = recognition_server.port
    settings.client.keep_stream_open = False  # no microphone needed here
    settings.files.formats = ["txt"]
    settings.save(config)
    env = {
        **os.environ,
        "CAPSWRITER_CONFIG": str(config),
        "CAPSWRITER_DATA_DIR": str(tmp_path / "data"),
        "CAPSWRITER_CACHE_DIR": str(tmp_path / "cache"),
        "QT_QPA_PLATFORM": "xcb",
        "DISPLAY": x_server.display,
        # A private runtime dir gives this test its own single-instance socket.
        "XDG_RUNTIME_DIR": str(tmp_path),
        "TMPDIR": str(tmp_path),
    }
    first = subprocess.Popen([sys.executable, "-c", CLIENT], env=env)
    try:
        assert wait_until(lambda: (tmp_path / "cache" / "logs" / "client.log").exists(), 30)
        clip = tmp_path / "talk.wav"
        shutil.copy(AUDIO / "en_jfk.wav", clip)
        second = subprocess.run(
            [sys.executable, "-c", CLIENT, str(clip)], env=env, capture_output=True, text=True,
            timeout=60,
        )
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stdout
        assert wait_until(lambda: clip.with_suffix(".txt").exists(), 60)
        assert "ask not" in clip.with_suffix(".txt").read_text(encoding="utf-8").lower()
        assert first.poll() is None
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=15) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
