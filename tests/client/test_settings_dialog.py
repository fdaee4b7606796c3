"""The settings dialog: grouped pages, pickers, and the settings-file check before saving."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QApplication

from capswriter.client.delivery import TextOutput
from capswriter.client.ui.settings_dialog import (
    SettingsDialog,
    hotkey_name,
    installed_models,
    microphone_label,
)
from capswriter.config import Settings, default_models_dir, load_settings
from capswriter.keys import HOTKEY_NAMES

MODELS = default_models_dir()


def make_dialog(qtbot, tmp_path, settings: Settings | None = None) -> SettingsDialog:
    dialog = SettingsDialog(settings or Settings(), tmp_path / "config.toml",
                            rules_dir=tmp_path)
    qtbot.addWidget(dialog)
    return dialog


def press(widget, key: Qt.Key, native_virtual_key: int = 0, native_scan_code: int = 0,
          text: str = "") -> None:
    event = QKeyEvent(QEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier,
                      native_scan_code, native_virtual_key, 0, text)
    QApplication.sendEvent(widget, event)


def click_save(dialog: SettingsDialog) -> None:
    dialog.buttons.button(dialog.buttons.StandardButton.Save).click()


def test_saved_settings_round_trip_through_the_toml_file(qtbot, tmp_path):
    path = tmp_path / "config.toml"
    original = Settings()
    original.server.max_wait_s = 90.0  # not on the form: must survive the round trip
    dialog = make_dialog(qtbot, tmp_path, original)
    dialog.hotkey.set_key("f13")
    dialog.hold_threshold.setValue(0.45)
    dialog.output_mode.setCurrentIndex(dialog.output_mode.findData("type"))
    dialog.trailing_punctuation.setChecked(False)
    dialog.trailing_space.setChecked(True)
    dialog.keep_stream_open.setChecked(False)
    dialog.set_microphone("USB Microphone")
    dialog.stream_idle_minutes.setValue(3.5)
    dialog.save_audio.setChecked(True)
    dialog.recording_overlay.setChecked(False)
    dialog.sound_cues.setChecked(True)
    dialog.history_keep_days.setValue(30)
    dialog.history_keep_entries.setValue(500)
    dialog.port.setValue(7017)
    dialog.workers.setValue(3)
    dialog.dictation_worker.setChecked(False)
    dialog.language.setCurrentIndex(dialog.language.findData("zh"))
    dialog.chinese_script.setCurrentIndex(dialog.chinese_script.findData("hongkong"))
    dialog.ui_language.setCurrentIndex(dialog.ui_language.findData("zh_CN"))
    dialog.formats["json"].setChecked(False)
    dialog.formats["vtt"].setChecked(True)
    with qtbot.waitSignal(dialog.saved) as signal:
        click_save(dialog)
    loaded = load_settings(path, environ={})
    assert loaded == signal.args[0]
    c = loaded.client
    assert (c.hotkey, c.hold_threshold_s, c.output_mode) == ("f13", 0.45, "type")
    assert (c.trailing_punctuation, c.trailing_space, c.keep_stream_open) == (False, True, False)
    assert (c.stream_idle_minutes, c.save_audio) == (3.5, True)
    assert (c.recording_overlay, c.sound_cues) == (False, True)
    assert (c.history_keep_days, c.history_keep_entries, c.ui_language) == (30, 500, "zh_CN")
    assert c.input_device == "USB Microphone"
    s = loaded.server
    assert (s.port, s.workers, s.dictation_worker, s.max_wait_s) == (7017, 3, False, 90.0)
    assert (loaded.asr.language, loaded.asr.chinese_script) == ("zh", "hongkong")
    assert loaded.files.formats == ["txt", "srt", "vtt"]
    assert original.client.hotkey == "caps_lock"  # the caller's object is untouched


def test_dialog_shows_what_the_file_holds(qtbot, tmp_path):
    path = tmp_path / "config.toml"
    settings = Settings()
    settings.client.hotkey = "mouse_x1"
    settings.asr.chinese_script = "taiwan"
    settings.client.recording_overlay, settings.client.sound_cues = False, True
    settings.save(path)
    dialog = make_dialog(qtbot, tmp_path, load_settings(path, environ={}))
    assert dialog.hotkey.key() == "mouse_x1"
    assert dialog.hotkey.combo.currentText() == "Mouse back button"
    assert dialog.chinese_script.currentData() == "taiwan"
    assert "zh-TW" in dialog.chinese_script.currentText()
    assert not dialog.recording_overlay.isChecked() and dialog.sound_cues.isChecked()
    assert dialog.edited() == load_settings(path, environ={})


def test_settings_are_grouped_in_pages_with_plain_labels(qtbot, tmp_path):
    dialog = make_dialog(qtbot, tmp_path)
    pages = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert pages == ["Dictation", "Output", "Files", "Models and language", "Server",
                     "Model library", "Hot words", "Roles"]
    where = {
        "hotkey": dialog.hotkey, "input_device": dialog.input_device,
        "output_mode": dialog.output_mode, "formats": dialog.formats["txt"],
        "model": dialog.model, "language": dialog.language, "host": dialog.host,
        "dictation_worker": dialog.dictation_worker,
        "recording_overlay": dialog.recording_overlay, "sound_cues": dialog.sound_cues,
    }
    page = {name: dialog.tabs.tabText(dialog.tabs.indexOf(_page_of(dialog, w)))
            for name, w in where.items()}
    assert page == {
        "hotkey": "Dictation", "input_device": "Dictation", "output_mode": "Output",
        "formats": "Files", "model": "Models and language",
        "language": "Models and language", "host": "Server", "dictation_worker": "Server",
        "recording_overlay": "Dictation", "sound_cues": "Dictation",
    }
    assert dialog.setting_label("client", "hotkey") == "“Push-to-talk key”"
    assert dialog.setting_label("client", "recording_overlay") == \
        "“Show a small panel on screen while dictating”"
    assert dialog.setting_label("client", "sound_cues") == \
        "“Play a short sound when recording starts and stops”"
    # The defaults: the panel on, the sounds off.
    assert dialog.recording_overlay.isChecked() and not dialog.sound_cues.isChecked()
    assert dialog.output_mode.currentText() == "Paste (fast, uses the clipboard)"
    assert dialog.formats["srt"].text() == "Subtitles (.srt)"
    assert "caps_lock" not in dialog.hotkey.combo.currentText()
    assert dialog.hotkey.combo.currentText() == "Caps Lock"


def _page_of(dialog: SettingsDialog, widget):
    while widget is not None and dialog.tabs.indexOf(widget) < 0:
        widget = widget.parentWidget()
    return widget


def test_hotkey_list_offers_only_keys_push_to_talk_can_use(qtbot, tmp_path):
    dialog = make_dialog(qtbot, tmp_path)
    combo = dialog.hotkey.combo
    names = [combo.itemData(i) for i in range(combo.count())]
    assert names == list(HOTKEY_NAMES)
    labels = {combo.itemData(i): combo.itemText(i) for i in range(combo.count())}
    assert (labels["caps_lock"], labels["alt_r"], labels["f13"]) == ("Caps Lock", "Right Alt",
                                                                      "F13")


def test_hotkey_capture_takes_the_next_usable_key(qtbot, tmp_path):
    dialog = make_dialog(qtbot, tmp_path)
    picker = dialog.hotkey
    button = picker.capture_button
    button.click()
    assert picker.capturing
    press(button, Qt.Key.Key_A, 0x61, 38, "a")  # a letter types: refused, still listening
    assert picker.capturing and picker.key() == "caps_lock"
    assert "cannot be used for push-to-talk" in picker.message.text()
    assert picker.message.text().startswith("a ")
    press(button, Qt.Key.Key_Alt, 0xFFEA, 108)  # X11 Alt_R
    assert not picker.capturing
    assert picker.key() == "alt_r" and picker.combo.currentText() == "Right Alt"
    assert picker.message.isHidden()
    button.click()
    press(button, Qt.Key.Key_F13, 0xFFCA, 191)
    assert picker.key() == "f13"
    button.click()
    press(button, Qt.Key.Key_Escape)  # Esc cancels and keeps the key
    assert not picker.capturing and picker.key() == "f13"
    button.click()
    QApplication.sendEvent(button, QMouseEvent(
        QEvent.Type.MouseButtonPress, QPointF(QPoint(5, 5)), QPointF(QPoint(5, 5)),
        Qt.MouseButton.BackButton, Qt.MouseButton.BackButton, Qt.KeyboardModifier.NoModifier))
    assert picker.key() == "mouse_x1"
    assert dialog.edited().client.hotkey == "mouse_x1"


@pytest.mark.parametrize(("key", "native_vk", "scan", "platform", "expected"), [
    (Qt.Key.Key_CapsLock, 0xFFE5, 66, "linux", "caps_lock"),
    (Qt.Key.Key_Control, 0xFFE4, 105, "linux", "ctrl_r"),
    (Qt.Key.Key_Control, 0xFFE3, 37, "linux", "ctrl_l"),
    (Qt.Key.Key_Shift, 0xFFE2, 62, "linux", "shift_r"),
    (Qt.Key.Key_AltGr, 0xFE03, 108, "linux", "alt_gr"),
    (Qt.Key.Key_Alt, 0x12, 0x138, "win32", "alt_r"),
    (Qt.Key.Key_Alt, 0x12, 0x38, "win32", "alt_l"),
    (Qt.Key.Key_Alt, 0x3D, 0, "darwin", "alt_r"),
    (Qt.Key.Key_F20, 0, 0, "linux", "f20"),
    (Qt.Key.Key_Space, 0x20, 65, "linux", None),
    (Qt.Key.Key_F21, 0, 0, "linux", None),
])
def test_pressed_keys_map_to_their_settings_names(key, native_vk, scan, platform, expected):
    assert hotkey_name(key, native_vk, scan, platform) == expected


def test_model_and_language_lists_come_from_the_installed_models(qtbot, tmp_path):
    if not (MODELS / "whisper-base").is_dir():
        pytest.skip("whisper-base is not installed")
    dialog = make_dialog(qtbot, tmp_path)
    models = [dialog.model.itemData(i) for i in range(dialog.model.count())]
    assert models == installed_models(MODELS)
    assert "whisper-base" in models and "silero-vad" not in models
    languages = [dialog.language.itemData(i) for i in range(dialog.language.count())]
    assert languages[0] == "" and dialog.language.itemText(0) == "Detect automatically"
    assert {"en", "zh", "ja"} <= set(languages)
    assert dialog.language.itemText(dialog.language.findData("zh")) == "Chinese (zh)"


def test_a_model_that_is_not_installed_is_shown_as_such(qtbot, tmp_path):
    settings = Settings()
    settings.asr.model = "whisper-large-v9"
    dialog = make_dialog(qtbot, tmp_path, settings)
    assert dialog.model.currentData() == "whisper-large-v9"
    assert dialog.model.currentText() == "whisper-large-v9 (not installed)"
    assert dialog.language.currentData() == ""  # nothing to list: detect is what is left


def test_microphones_have_friendly_names():
    assert microphone_label("HDA Intel PCH: ALC3246 Analog (hw:0,0)") == (
        "ALC3246 Analog — HDA Intel PCH")
    assert microphone_label("pulse") == "PulseAudio sound server"
    assert microphone_label("Microphone (USB Audio), Windows WASAPI") == (
        "Microphone (USB Audio) (Windows WASAPI)")


def test_without_a_sound_card_the_system_default_is_offered(qtbot, tmp_path):
    dialog = make_dialog(qtbot, tmp_path)
    assert dialog.input_device.itemText(0) == "System default"
    assert dialog.input_device.itemData(0) == ""
    assert dialog.edited().client.input_device == ""


def test_output_mode_per_application_is_saved_to_apps_toml(qtbot, tmp_path):
    (tmp_path / "apps.toml").write_text('[apps]\n"Konsole" = "type"\n', encoding="utf-8")
    dialog = make_dialog(qtbot, tmp_path)
    assert dialog.app_modes.rowCount() == 1
    assert dialog.app_modes.item(0, 0).text() == "konsole"
    dialog.add_app_mode("LibreOffice", "paste")
    dialog.app_modes.selectRow(0)
    assert dialog.remove_app_button.isEnabled()
    dialog.remove_app_button.click()
    with qtbot.waitSignal(dialog.saved):
        click_save(dialog)
    output = TextOutput(Settings(), rules_dir=tmp_path)
    assert output.app_modes.current() == {"libreoffice": "paste"}


@pytest.mark.parametrize(("break_it", "tab", "words"), [
    (lambda d: d.hold_threshold.setValue(0.0), "Dictation", "“Hold the key at least” must be"),
    (lambda d: d.host.setText("my server"), "Server", "“Server address”"),
    (lambda d: [box.setChecked(False) for box in d.formats.values()], "Files",
     "“Write beside each file” must name at least one of txt"),
    (lambda d: d.add_app_mode("  ", "type"), "Output", "Row 1 of the applications has no name"),
])
def test_a_refused_value_is_named_and_nothing_is_saved(qtbot, tmp_path, break_it, tab, words):
    dialog = make_dialog(qtbot, tmp_path)
    dialog.show()
    dialog.tabs.setCurrentIndex(3)
    break_it(dialog)
    saved = []
    dialog.saved.connect(saved.append)
    click_save(dialog)
    assert dialog.isVisible() and dialog.result() == 0
    assert saved == [] and not (tmp_path / "config.toml").exists()
    assert not (tmp_path / "apps.toml").exists()
    assert dialog.error.isVisible()
    assert words in dialog.error.text(), dialog.error.text()
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == tab


def test_the_dialog_refuses_what_the_settings_file_check_refuses(qtbot, tmp_path):
    """One check for both: a hotkey the file may not hold is refused by the dialog too."""
    settings = Settings()
    settings.client.hotkey = "capslock"  # as a user might type it in the file
    dialog = make_dialog(qtbot, tmp_path, settings)
    dialog.show()
    assert dialog.hotkey.key() == "capslock"
    click_save(dialog)
    assert dialog.isVisible() and not (tmp_path / "config.toml").exists()
    assert "“Push-to-talk key”" in dialog.error.text()
    assert "not a key push-to-talk can use" in dialog.error.text()
    dialog.hotkey.set_key("caps_lock")
    with qtbot.waitSignal(dialog.saved):
        click_save(dialog)
    assert load_settings(tmp_path / "config.toml", environ={}).client.hotkey == "caps_lock"


def test_nothing_is_written_when_cancelled(qtbot, tmp_path):
    dialog = make_dialog(qtbot, tmp_path)
    dialog.port.setValue(9999)
    dialog.buttons.button(dialog.buttons.StandardButton.Cancel).click()
    assert not (tmp_path / "config.toml").exists()


def test_the_hot_words_page_edits_the_file_and_tries_a_sentence_with_scores(qtbot, tmp_path):
    (tmp_path / "hot_words.txt").write_text("傅平 ~~~ 扶贫\n", encoding="utf-8")
    dialog = make_dialog(qtbot, tmp_path)
    page = dialog.hot_words
    assert page.text() == "傅平 ~~~ 扶贫\n"
    page.sample.setText("付平写了二十行")
    shown = page.result.text()
    assert "傅平写了20行" in shown and "付平 → 傅平" in shown and "score 1.00" in shown
    page.editor.setPlainText("傅平 ~~~ 扶贫\nClaude | cloud\n")
    page.sample.setText("我用cloud")
    assert "cloud → Claude" in page.result.text()
    dialog.itn.setChecked(False)
    page.sample.setText("付平写了二十行")
    assert "傅平写了二十行" in page.result.text()
    page.sample.setText("我们在扶贫")
    assert page.result.text() == "Nothing would change."
    dialog.hot_word_threshold.setValue(0.9)
    dialog.mixed_spacing.setCurrentIndex(dialog.mixed_spacing.findData("space"))
    click_save(dialog)
    saved = load_settings(tmp_path / "config.toml", environ={})
    assert (saved.text.itn, saved.text.hot_word_threshold, saved.text.mixed_spacing) == (
        False, 0.9, "space")
    assert (tmp_path / "hot_words.txt").read_text(encoding="utf-8") == \
        "傅平 ~~~ 扶贫\nClaude | cloud\n"


def test_a_hot_word_list_with_a_bad_line_is_named_and_nothing_is_saved(qtbot, tmp_path):
    dialog = make_dialog(qtbot, tmp_path)
    dialog.hot_words.editor.setPlainText("ok\n| alias without a word\n")
    dialog.hot_words.sample.setText("测试")
    assert "line 2" in dialog.hot_words.result.text()
    click_save(dialog)
    assert not dialog.error.isHidden() and "line 2" in dialog.error.text()
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Hot words"
    assert not (tmp_path / "config.toml").exists()
    assert not (tmp_path / "hot_words.txt").exists()
