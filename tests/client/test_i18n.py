"""The interface in English or Simplified Chinese, from the system locale or the settings."""

from __future__ import annotations

import copy
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtCore import QLocale

from capswriter.client.controller import TrayState
from capswriter.client.dictation import DictationOutcome, OutcomeKind, Shortfall
from capswriter.client.i18n import I18N_DIR, qm_path, resolve, use_language
from capswriter.client.ui.overlay import RecordingOverlay
from capswriter.client.ui.settings_dialog import SettingsDialog
from capswriter.client.ui.tray import MenuHandlers, build_menu, retranslate_menu
from capswriter.config import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def chinese(qapp):
    assert use_language("zh_CN") == "zh_CN"
    yield
    use_language("en")


def menu_texts(menu) -> dict[str, str]:
    return {a.objectName(): a.text() for a in menu.actions() if a.objectName()}


def handlers() -> MenuHandlers:
    return MenuHandlers(*(lambda: None for _ in range(7)))


@pytest.mark.parametrize(("locale", "expected"), [
    ("zh_CN", "zh_CN"), ("zh_SG", "zh_CN"), ("zh_TW", "en"), ("zh_HK", "en"),
    ("en_US", "en"), ("de_DE", "en"),
])
def test_auto_follows_the_system_locale(locale, expected):
    assert resolve("auto", QLocale(locale)) == expected
    assert resolve("en", QLocale(locale)) == "en"  # a choice in the settings wins


def test_with_the_chinese_translator_the_menu_and_settings_are_in_chinese(qtbot, tmp_path,
                                                                          chinese):
    menu = build_menu(None, handlers())
    texts = menu_texts(menu)
    assert texts["history"] == "历史记录"
    assert texts["settings"] == "设置"
    assert texts["quit"] == "退出"
    dialog = SettingsDialog(Settings(), tmp_path / "config.toml", rules_dir=tmp_path)
    qtbot.addWidget(dialog)
    assert dialog.tabs.tabText(0) == "听写"
    assert dialog.setting_label("client", "hotkey") == "“按住说话键”"
    assert dialog.hotkey.combo.currentText() == "Caps Lock（大写锁定）"
    assert dialog.windowTitle() == "CapsWriter 设置"
    assert dialog.setting_label("client", "sound_cues") == "“开始和停止录音时播放提示音”"
    assert dialog.recording_overlay.text() == "听写时在屏幕上显示一个小面板"


def test_the_recording_overlay_speaks_chinese(qtbot, chinese):
    overlay = RecordingOverlay()
    qtbot.addWidget(overlay)
    overlay.follow_state(TrayState.RECORDING)
    assert overlay.text == "正在听…"
    overlay.follow_state(TrayState.TRANSCRIBING)
    assert overlay.text == "正在转写…"
    overlay.show_outcome(DictationOutcome(None, "", True, 0.3, OutcomeKind.NOTHING_HEARD))
    assert overlay.text == "没有听到声音"
    overlay.show_outcome(DictationOutcome(4, "", False, 0.3, OutcomeKind.KEPT,
                                          Shortfall.SERVER_UNAVAILABLE))
    assert overlay.text == "服务器不可用：已保存在历史记录中"


def test_switching_the_language_retranslates_the_menu(qapp):
    use_language("en")
    menu = build_menu(None, handlers())
    assert menu_texts(menu)["history"] == "History"
    try:
        use_language("zh_CN")
        retranslate_menu(menu)
        assert menu_texts(menu)["history"] == "历史记录"
    finally:
        use_language("en")
    retranslate_menu(menu)
    assert menu_texts(menu)["history"] == "History"
    assert menu_texts(menu)["retry_server"] == "Retry connecting to the server"


def test_choosing_chinese_in_settings_switches_the_running_app(offline_app):
    app, settings = offline_app, offline_app.settings
    try:
        app.show_history()
        app.history_window.hide()
        assert menu_texts(app.view.menu)["history"] == "History"
        chosen = copy.deepcopy(settings)
        chosen.client.ui_language = "zh_CN"
        app.apply_settings(chosen)
        assert menu_texts(app.view.menu)["history"] == "历史记录"
        assert app.history_window is None  # built again, in Chinese, when next opened
        app.show_history()
        assert app.history_window.windowTitle() == "CapsWriter：历史记录"
        assert app.history_window.copy_button.text() == "复制"
    finally:
        use_language("en")


def test_every_string_has_a_chinese_translation():
    tree = ET.parse(I18N_DIR / "capswriter_zh_CN.ts")
    untranslated = [m.findtext("source") for m in tree.iter("message")
                    if m.find("translation").get("type") in ("unfinished", "vanished",
                                                              "obsolete")]
    assert untranslated == []
    assert len(list(tree.iter("message"))) > 150


def test_the_shipped_qm_is_compiled_from_the_ts():
    assert qm_path("zh_CN").is_file()
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "update_translations.py"),
                           "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
