"""The settings dialog writes the TOML file that load_settings reads back."""

from __future__ import annotations

from capswriter.client.settings_dialog import SettingsDialog
from capswriter.config import Settings, load_settings


def test_saved_settings_round_trip_through_the_toml_file(qtbot, tmp_path):
    path = tmp_path / "config.toml"
    original = Settings()
    original.server.workers = 3  # not on the form: must survive the round trip
    dialog = SettingsDialog(original, path)
    qtbot.addWidget(dialog)
    dialog.hotkey.setCurrentText("f13")
    dialog.hold_threshold.setValue(0.45)
    dialog.output_mode.setCurrentText("type")
    dialog.trailing_punctuation.setChecked(False)
    dialog.trailing_space.setChecked(True)
    dialog.keep_stream_open.setChecked(False)
    dialog.input_device.setCurrentText("USB Microphone")
    dialog.stream_idle_minutes.setValue(3.5)
    dialog.save_audio.setChecked(True)
    dialog.port.setValue(7017)
    dialog.language.setText("zh")
    dialog.formats["json"].setChecked(False)
    dialog.formats["vtt"].setChecked(True)
    with qtbot.waitSignal(dialog.saved) as signal:
        dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    loaded = load_settings(path, environ={})
    assert loaded == signal.args[0]
    c = loaded.client
    assert (c.hotkey, c.hold_threshold_s, c.output_mode) == ("f13", 0.45, "type")
    assert (c.trailing_punctuation, c.trailing_space, c.keep_stream_open) == (False, True, False)
    assert (c.stream_idle_minutes, c.save_audio) == (3.5, True)
    assert c.input_device == "USB Microphone"
    assert (loaded.server.port, loaded.server.workers, loaded.asr.language) == (7017, 3, "zh")
    assert loaded.files.formats == ["txt", "srt", "vtt"]
    assert original.client.hotkey == "caps_lock"  # the caller's object is untouched


def test_dialog_shows_what_the_file_holds(qtbot, tmp_path):
    path = tmp_path / "config.toml"
    settings = Settings()
    settings.client.hotkey = "mouse_x1"
    settings.asr.chinese_script = "taiwan"
    settings.save(path)
    dialog = SettingsDialog(load_settings(path, environ={}), path)
    qtbot.addWidget(dialog)
    assert dialog.hotkey.currentText() == "mouse_x1"
    assert dialog.chinese_script.currentData() == "taiwan"
    assert "zh-TW" in dialog.chinese_script.currentText()
    assert dialog.edited() == load_settings(path, environ={})


def test_nothing_is_written_when_cancelled(qtbot, tmp_path):
    path = tmp_path / "config.toml"
    dialog = SettingsDialog(Settings(), path)
    qtbot.addWidget(dialog)
    dialog.port.setValue(9999)
    dialog.buttons.button(dialog.buttons.StandardButton.Cancel).click()
    assert not path.exists()
