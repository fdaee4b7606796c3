"""The interface in English or Simplified Chinese, from the system locale or the settings."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtCore import QLocale

from capswriter.client.i18n import I18N_DIR, qm_path, resolve, use_language
from capswriter.client.settings_dialog import SettingsDialog
from capswriter.client.tray import MenuHandlers, build_menu, retranslate_menu
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
