"""The client leaves when asked, microphone used or not: SIGTERM (what a logout sends) and the
Quit menu entry, with a real PortAudio stream on the private PulseAudio source.

Exit times are printed by ``scripts/bench_exit.py``; here the failure is not exiting at all.
"""

from __future__ import annotations

import time

import pytest

from capswriter.client.history import History
from capswriter.config import Settings

from .client_process import ClientProcess, process_gone, server_pid
from .servers import free_port, require_model
from .speech import clip_pcm
from .xsession import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def restore_caps_lock(x_server):
    before = x_server.caps_lock_on()
    yield
    if x_server.caps_lock_on() != before:
        x_server.xdotool("key", "Caps_Lock")


def client_settings(port: int) -> Settings:
    settings = Settings()
    settings.server.port = port
    settings.server.workers = 1
    settings.asr.num_threads = 1
    settings.client.keep_stream_open = True  # the stream runs from the start
    return settings


def test_sigterm_while_recording_exits_keeps_the_audio_and_stops_the_server_it_started(
    tmp_path, x_server, pulse_source, restore_caps_lock
):
    require_model()
    client = ClientProcess(tmp_path, x_server, pulse_source, client_settings(free_port()))
    client.start()
    try:
        # Nothing answered, so it starts its own server.
        client.wait_for_log("starting a server", "microphone open", "push-to-talk ready")
        client.hold_hotkey()
        client.wait_for_log("state: recording")
        seconds = pulse_source.play(clip_pcm())
        time.sleep(seconds)
        client.end("sigterm")
        assert client.proc.returncode == 0
    finally:
        client.release_hotkey()
        client.kill()
    pid = server_pid(client)
    assert pid is not None, "the client did not stop the server it started"
    assert wait_until(lambda: process_gone(pid), 30)
    # The recording under way when the signal came is kept for the next start.
    history = History(tmp_path / "data" / "history.sqlite3")
    try:
        [kept] = history.pending()
        assert kept.has_audio and kept.duration_s >= seconds
    finally:
        history.close()


def test_quit_after_a_dictation_exits(
    tmp_path, x_server, pulse_source, recognition_server, restore_caps_lock
):
    settings = client_settings(recognition_server.port)
    settings.client.sound_cues = True  # an output stream too, on the private sound server
    client = ClientProcess(tmp_path, x_server, pulse_source, settings)
    client.start()
    try:
        client.wait_for_log("state: ready", "microphone open", "push-to-talk ready")
        client.hold_hotkey()
        client.wait_for_log("state: recording")
        time.sleep(pulse_source.play(clip_pcm()))
        client.release_hotkey()
        client.wait_for_log("state: transcribing")
        client.wait_for_log("state: ready")
        client.end("quit")
        assert client.proc.returncode == 0
    finally:
        client.kill()
    # Only the server it started is its to stop: this one was already running.
    assert server_pid(client) is None and recognition_server.ready()


def test_an_app_killed_mid_dictation_costs_nothing(
    tmp_path, x_server, pulse_source, restore_caps_lock
):
    """SIGKILL while the key is held: the server it started goes too, and the next start puts
    CapsLock back and transcribes what was recorded."""
    import psutil

    from .speech import heard_clip

    require_model()
    client = ClientProcess(tmp_path, x_server, pulse_source, client_settings(free_port()))
    caps_before = x_server.caps_lock_on()
    client.start()
    try:
        client.wait_for_log("starting a server", "microphone open", "push-to-talk ready",
                            timeout=60)
        client.wait_for_log("state: ready", timeout=120)
        [server] = psutil.Process(client.proc.pid).children()
        client.hold_hotkey()
        client.wait_for_log("state: recording")
        time.sleep(pulse_source.play(clip_pcm()) + 0.3)
        client.kill()
        client.release_hotkey()
        # The hold toggled the lock and nobody was left to put it back.
        assert x_server.caps_lock_on() != caps_before
        assert wait_until(lambda: process_gone(server.pid), 30), "the server outlived its app"

        client.start()
        client.wait_for_log("push-to-talk ready", timeout=60)
        assert wait_until(lambda: x_server.caps_lock_on() == caps_before, 5)
        client.wait_for_log("Kept dictation transcribed", timeout=180)
        client.end("quit")
    finally:
        client.kill()
    history = History(tmp_path / "data" / "history.sqlite3")
    try:
        [entry] = history.recent()
        assert entry.status == "done" and heard_clip(entry.text), entry
    finally:
        history.close()
    assert not list((tmp_path / "data" / "recording").glob("*.pcm"))
