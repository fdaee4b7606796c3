"""A second launch hands its files to the running instance."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

from capswriter.client.single_instance import InstanceServer, forward_files


def test_files_from_a_second_launch_reach_the_first(qtbot, tmp_path):
    name = f"capswriter-test-{uuid.uuid4().hex[:8]}"
    assert not forward_files([tmp_path / "a.wav"], name=name)  # nobody running yet
    first = InstanceServer(name)
    assert first.listen()
    try:
        received = []
        first.files_received.connect(received.append)
        sent = [tmp_path / "a.wav", tmp_path / "b c.mp3"]
        # forward_files blocks on the socket; the first instance answers on the same event loop.
        assert forward_files(sent, name=name)
        qtbot.waitUntil(lambda: bool(received), timeout=3000)
        assert received == [[Path(p).resolve() for p in sent]]
    finally:
        first.close()


def test_a_second_process_forwards_and_exits(qtbot, tmp_path):
    name = f"capswriter-test-{uuid.uuid4().hex[:8]}"
    first = InstanceServer(name)
    assert first.listen()
    try:
        received = []
        first.files_received.connect(received.append)
        code = (
            "import sys; from pathlib import Path;"
            "from capswriter.client.single_instance import forward_files;"
            f"sys.exit(0 if forward_files([Path({str(tmp_path / 'talk.wav')!r})], name={name!r})"
            " else 3)"
        )
        second = subprocess.Popen([sys.executable, "-c", code])
        qtbot.waitUntil(lambda: second.poll() is not None, timeout=20000)
        assert second.returncode == 0
        qtbot.waitUntil(lambda: bool(received), timeout=3000)
        assert received == [[(tmp_path / "talk.wav").resolve()]]
    finally:
        first.close()


def test_a_live_instance_keeps_its_name_against_a_second_launch(qtbot, tmp_path):
    name = f"capswriter-test-{uuid.uuid4().hex[:8]}"
    first = InstanceServer(name)
    assert first.listen()
    try:
        # A second launch that got past forward_files must not take the name over.
        second = InstanceServer(name)
        assert not second.listen()
        received = []
        first.files_received.connect(received.append)
        assert forward_files([tmp_path / "a.wav"], name=name)
        qtbot.waitUntil(lambda: bool(received), timeout=3000)
    finally:
        first.close()


def test_the_socket_a_crashed_instance_left_behind_is_taken_over(tmp_path):
    import socket

    from PySide6.QtCore import QDir

    name = f"capswriter-test-{uuid.uuid4().hex[:8]}"
    stale = Path(QDir.tempPath()) / name
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(stale))  # bound, never listening, then gone: what a crash leaves
    dead.close()
    assert stale.exists()
    instance = InstanceServer(name)
    try:
        assert instance.listen()
    finally:
        instance.close()


def test_two_launches_at_the_same_instant_make_one_instance(tmp_path):
    """Both start listening together; on Windows both would get the pipe name, so the OS file
    lock decides: exactly one becomes the instance."""
    name = f"capswriter-test-{uuid.uuid4().hex[:8]}"
    go = tmp_path / "go"
    code = (
        "import sys, time; from pathlib import Path;"
        "from PySide6.QtCore import QCoreApplication; app = QCoreApplication([]);"
        "from capswriter.client.single_instance import InstanceServer;"
        f"s = InstanceServer({name!r});"
        f"[time.sleep(0.005) for _ in range(4000) if not Path({str(go)!r}).exists()];"
        "print(s.listen(wait_for_other_s=1.0), flush=True); time.sleep(2)"
    )
    launches = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
                for _ in range(2)]
    time.sleep(3)  # both imported and waiting
    go.touch()
    answers = sorted(p.communicate(timeout=30)[0].strip() for p in launches)
    assert answers == ["False", "True"]
