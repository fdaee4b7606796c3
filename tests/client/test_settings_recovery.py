"""A settings file the tray app cannot use is shown in a dialog that can reset it."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from capswriter.client.ui.settings_recovery import OPEN, RESET, recover_settings
from capswriter.config import Settings, load_settings
from capswriter.errors import ConfigError


def click_when_shown(label: str, seen: list[str]) -> None:
    """Press the dialog's button named ``label`` once the dialog is up."""

    def press() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(50, press)
            return
        seen.append(box.informativeText())
        for button in box.findChildren(QPushButton):
            if button.text() == label:
                button.click()
                return

    QTimer.singleShot(50, press)


def broken_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[client]\nhold_threshold_s = "0.3s"\n', encoding="utf-8")
    try:
        load_settings(path, environ={})
    except ConfigError as exc:
        return path, exc
    raise AssertionError("the file should have been refused")


def test_reset_keeps_the_broken_file_and_starts_with_defaults(qtbot, tmp_path) -> None:
    path, error = broken_file(tmp_path)
    seen: list[str] = []
    click_when_shown(RESET, seen)
    settings = recover_settings(path, error)
    assert settings == Settings()
    assert "hold_threshold_s" in seen[0]  # the user is told which setting is wrong
    assert (tmp_path / "config.toml.bad").read_text(encoding="utf-8").count("0.3s") == 1
    assert load_settings(path, environ={}) == Settings()


def test_choosing_to_fix_the_file_starts_nothing_and_changes_nothing(qtbot, tmp_path) -> None:
    path, error = broken_file(tmp_path)
    before = path.read_text(encoding="utf-8")
    seen: list[str] = []
    click_when_shown(OPEN, seen)
    assert recover_settings(path, error) is None
    assert seen and path.read_text(encoding="utf-8") == before
    assert not (tmp_path / "config.toml.bad").exists()
