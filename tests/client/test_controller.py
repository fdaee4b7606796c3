"""The controller's state follows the server's health and the dictation and file jobs."""

from __future__ import annotations

import copy

import pytest
from tiny_models import make_release, pack_release

from capswriter.asr.archive import install_archive
from capswriter.client import controller as controller_module
from capswriter.client.controller import ClientController, Connection, TrayState, tray_state
from capswriter.client.dictation import DictationPhase
from capswriter.client.history import History
from capswriter.client.link import ServerLink
from capswriter.config import PROJECT_ROOT, Settings, default_models_dir

from .servers import free_port, require_model
from .speech import clip_pcm, heard_clip

P = DictationPhase


@pytest.mark.parametrize(
    ("connection", "phase", "files", "expected"),
    [
        (Connection.STARTING, P.IDLE, False, TrayState.STARTING),
        (Connection.LOADING, P.IDLE, False, TrayState.LOADING),
        (Connection.READY, P.IDLE, False, TrayState.READY),
        (Connection.READY, P.IDLE, True, TrayState.BUSY),
        (Connection.READY, P.RECORDING, True, TrayState.RECORDING),
        (Connection.READY, P.TRANSCRIBING, True, TrayState.TRANSCRIBING),
        (Connection.DOWN, P.IDLE, True, TrayState.ERROR),
        # The microphone being live is shown even when the server is gone.
        (Connection.DOWN, P.RECORDING, False, TrayState.RECORDING),
        (Connection.LOADING, P.TRANSCRIBING, False, TrayState.TRANSCRIBING),
    ],
)
def test_tray_state_table(connection, phase, files, expected):
    assert tray_state(connection, phase, files) is expected


def make_controller(tmp_path, port: int, start_server: bool) -> ClientController:
    settings = Settings()
    settings.server.port = port
    settings.client.keep_stream_open = False
    return ClientController(
        settings,
        history=History(tmp_path / "history.sqlite3"),
        link=ServerLink(port=port),
        start_server=start_server,
        health_interval_s=0.2,
    )


def test_history_is_kept_as_long_as_the_settings_say(qtbot, tmp_path):
    controller = make_controller(tmp_path, free_port(), start_server=False)
    history = controller.history
    ids = [history.add("dictation", f"entry {i}", created=float(i + 1)) for i in range(4)]
    controller.settings.client.history_keep_entries = 3
    changed = []
    controller.history_changed.connect(lambda: changed.append(True))
    try:
        controller.startup()
        assert [e.id for e in history.recent()] == ids[:0:-1]
        saved = copy.deepcopy(controller.settings)
        saved.client.history_keep_entries = 0
        saved.client.history_keep_days = 1  # the entries are from 1970
        controller.apply_settings(saved)
        assert history.recent() == [] and len(changed) == 2
    finally:
        controller.shutdown()


def test_no_server_and_not_allowed_to_start_one_is_an_error(qtbot, tmp_path):
    controller = make_controller(tmp_path, free_port(), start_server=False)
    try:
        with qtbot.waitSignal(controller.state_changed, timeout=5000) as signal:
            controller.startup()
        assert signal.args == [TrayState.ERROR]
        assert "No recognition server" in controller.status_text()
    finally:
        controller.shutdown()


def test_connects_to_a_running_server_and_shows_ready(qtbot, tmp_path, recognition_server):
    controller = make_controller(tmp_path, recognition_server.port, start_server=False)
    try:
        controller.startup()
        qtbot.waitUntil(lambda: controller.state is TrayState.READY, timeout=5000)
        assert controller.health.model == "whisper-base"
        assert "hold Caps Lock" in controller.status_text()
    finally:
        controller.shutdown()


def test_a_dictation_kept_while_the_server_was_up_is_retried_without_a_restart(
    qtbot, tmp_path, recognition_server, monkeypatch,
):
    # E.g. refused as busy: the server never went away, so no "back online" moment comes.
    monkeypatch.setattr(controller_module, "PENDING_RETRY_S", 0.5)
    controller = make_controller(tmp_path, recognition_server.port, start_server=False)
    try:
        controller.startup()
        qtbot.waitUntil(lambda: controller.state is TrayState.READY, timeout=5000)
        kept = controller.history.add("dictation", status="pending", duration_s=3.0,
                                      error="the server is busy", audio=clip_pcm())
        qtbot.waitUntil(lambda: controller.history.get(kept).status == "done", timeout=60000)
        assert heard_clip(controller.history.get(kept).text)
        assert not controller.history.pending()
    finally:
        controller.shutdown()


def test_starts_a_server_when_none_answers_and_goes_through_loading_to_ready(
    qtbot, tmp_path, monkeypatch
):
    require_model()
    monkeypatch.setenv("CAPSWRITER_SERVER_WORKERS", "1")
    monkeypatch.setenv("CAPSWRITER_ASR_NUM_THREADS", "1")
    controller = make_controller(tmp_path, free_port(), start_server=True)
    seen: list[TrayState] = []
    controller.state_changed.connect(seen.append)
    try:
        controller.startup()
        qtbot.waitUntil(lambda: controller.state is TrayState.READY, timeout=120_000)
        assert controller.server_process is not None
        # state_changed crosses from the watcher thread as a queued signal: wait for it too.
        qtbot.waitUntil(lambda: bool(seen) and seen[-1] is TrayState.READY, timeout=10_000)
        assert TrayState.ERROR not in seen
    finally:
        controller.shutdown()
    assert controller.server_process.wait(timeout=20) is not None


def test_a_server_that_cannot_start_is_reported_and_retried_once_fixed(
    qtbot, tmp_path, monkeypatch
):
    require_model()
    models = default_models_dir()
    # No model where the server looks: it refuses to start, and the user hears why.
    monkeypatch.setenv("CAPSWRITER_MODELS_DIR", str(tmp_path / "no-models"))
    monkeypatch.setenv("CAPSWRITER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CAPSWRITER_CACHE_DIR", str(tmp_path / "cache"))  # its own server.log
    controller = make_controller(tmp_path, free_port(), start_server=True)
    notices = []
    controller.notice.connect(notices.append)
    try:
        controller.startup()
        qtbot.waitUntil(lambda: any("stopped" in n.title for n in notices), timeout=60_000)
        notice = next(n for n in notices if "stopped" in n.title)
        assert "capswriter models install whisper-base" in notice.message
        qtbot.waitUntil(lambda: controller.state is TrayState.ERROR, timeout=10_000)
        # In words a user can act on, not "[Errno 111] Connection refused".
        assert "nothing answers at 127.0.0.1:" in controller.status_text()
        assert controller.server_process is None  # not at once: it would only fail again
        # The user installs the model (here: points at it) and asks to retry from the menu.
        monkeypatch.setenv("CAPSWRITER_MODELS_DIR", str(models))
        monkeypatch.setenv("CAPSWRITER_SERVER_WORKERS", "1")
        monkeypatch.setenv("CAPSWRITER_ASR_NUM_THREADS", "1")
        controller.retry_server()
        qtbot.waitUntil(lambda: controller.state is TrayState.READY, timeout=120_000)
        # The earlier notice is resolved in so many words.
        qtbot.waitUntil(lambda: notices[-1].title == "The recognition server is back",
                        timeout=10_000)
        assert notices[-1].topic == notice.topic == "server"
    finally:
        controller.shutdown()


def test_saved_microphone_and_language_settings_apply_without_a_restart(qtbot, tmp_path):
    controller = make_controller(tmp_path, free_port(), start_server=False)
    try:
        settings = copy.deepcopy(controller.settings)
        settings.client.input_device = "no such microphone"
        settings.client.stream_idle_minutes = 3.0
        settings.asr.language = "zh"
        settings.files.formats = ["srt"]
        controller.apply_settings(settings)
        recorder = controller.recorder
        assert (recorder.device, recorder.keep_open, recorder.idle_s) == (
            "no such microphone", False, 180.0)
        assert controller.files.language == "zh" and controller.files.formats == ["srt"]
        # Keeping the stream open now opens the chosen device at once, and says it is missing.
        settings = copy.deepcopy(settings)
        settings.client.keep_stream_open = True
        with qtbot.waitSignal(controller.notice, timeout=5000) as signal:
            controller.apply_settings(settings)
        assert signal.args[0].title == "Microphone unavailable"
        assert recorder.keep_open
    finally:
        controller.shutdown()


def test_saved_settings_are_a_new_value_the_next_dictation_reads(qtbot, tmp_path):
    controller = make_controller(tmp_path, free_port(), start_server=False)
    try:
        before = controller.settings
        assert controller.post.process("done.") == "done."
        assert controller.output.mode_for(None) == "paste"
        saved = copy.deepcopy(before)
        saved.client.trailing_punctuation = False
        saved.client.output_mode = "type"
        saved.client.save_audio = True
        controller.apply_settings(saved)
        assert controller.post.process("done.") == "done"
        assert controller.output.mode_for(None) == "type"
        assert controller.flow.settings.client.save_audio
        # The value the services held before is left as it was.
        assert before.client.trailing_punctuation and not before.client.save_audio
    finally:
        controller.shutdown()


def test_paste_again_inserts_the_history_text_off_the_gui_thread(qtbot, tmp_path, focus_target):
    controller = make_controller(tmp_path, free_port(), start_server=False)
    try:
        entry = controller.history.add("dictation", "typed from history", duration_s=1.0)
        done = controller.repaste(entry)
        assert done is not None and done.result(timeout=10) is True
        qtbot.waitUntil(lambda: focus_target.text() == "typed from history", timeout=5000)
        assert controller.repaste(10_000) is None  # no such entry: nothing to do
    finally:
        controller.shutdown()


def test_a_saved_model_switch_restarts_our_server_on_the_new_model(
    qtbot, tmp_path, monkeypatch
):
    models = tmp_path / "models"
    models.mkdir()
    (models / "silero-vad").symlink_to(PROJECT_ROOT / "models" / "silero-vad")
    names = []
    for kind in ("paraformer", "sense_voice"):
        folder = make_release(kind, tmp_path / "build")
        installed = install_archive(pack_release(folder, tmp_path / "archives"), models)
        names += installed.model_names
    config = tmp_path / "config.toml"
    monkeypatch.setenv("CAPSWRITER_CONFIG", str(config))
    monkeypatch.setenv("CAPSWRITER_MODELS_DIR", str(models))
    monkeypatch.setenv("CAPSWRITER_SERVER_WORKERS", "1")
    monkeypatch.setenv("CAPSWRITER_ASR_NUM_THREADS", "1")
    controller = make_controller(tmp_path, free_port(), start_server=True)
    controller.settings.asr.model = names[0]
    controller.settings.save(config)
    notices = []
    controller.notice.connect(notices.append)
    try:
        controller.startup()
        qtbot.waitUntil(lambda: controller.state is TrayState.READY, timeout=60_000)
        assert controller.health.model == names[0]
        first = controller.server_process
        # What the settings dialog does on Save: write the file, hand over the new value.
        new = copy.deepcopy(controller.settings)
        new.asr.model = names[1]
        new.save(config)
        controller.apply_settings(new)
        qtbot.waitUntil(lambda: controller.health.ready and controller.health.model == names[1],
                        timeout=60_000)
        assert controller.server_process is not None and controller.server_process is not first
        assert first.poll() is not None
        assert not any("stopped" in n.title for n in notices)  # a switch, not a crash
        # Settings that leave the model alone keep the server as it is.
        same = copy.deepcopy(new)
        same.client.history_keep_days = 3
        running = controller.server_process
        controller.apply_settings(same)
        assert controller.server_process is running and running.poll() is None
    finally:
        controller.shutdown()
