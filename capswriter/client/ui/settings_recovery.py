"""A settings file the app cannot use, shown where a desktop user looks: a dialog, not stderr.

The user may open the file to fix it, or reset it to the defaults; the broken file is kept
beside it (``config.toml.bad``) so nothing they wrote is lost.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from capswriter.client.i18n import translate, use_language
from capswriter.config import Settings, load_settings
from capswriter.errors import ConfigError

log = logging.getLogger(__name__)

OPEN = QT_TRANSLATE_NOOP("SettingsRecovery", "Open the settings file")
RESET = QT_TRANSLATE_NOOP("SettingsRecovery", "Reset to defaults")


def reset_settings(path: Path) -> Path:
    """Move the broken file aside and write the defaults in its place; returns the backup."""
    backup = path.with_name(path.name + ".bad")
    path.replace(backup)
    Settings().save(path)
    log.warning("settings reset to defaults; the old file is %s", backup)
    return backup


def recovery_box(error: ConfigError) -> tuple[QMessageBox, QPushButton, QPushButton]:
    """The question, built but not shown: the box, its Open button and its Reset button."""
    box = QMessageBox(QMessageBox.Icon.Warning, "CapsWriter", translate(
        "SettingsRecovery", "CapsWriter cannot start with its settings file."))
    box.setInformativeText(translate(
        "SettingsRecovery", "{error}\n\nFix the file and start CapsWriter again, or reset the "
        "settings to their defaults (the current file is kept as a backup).").format(error=error))
    open_button = box.addButton(translate("SettingsRecovery", OPEN),
                                QMessageBox.ButtonRole.ActionRole)
    reset_button = box.addButton(translate("SettingsRecovery", RESET),
                                 QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Close)
    return box, open_button, reset_button


def recover_settings(path: Path, error: ConfigError) -> Settings | None:
    """Ask what to do with a settings file that cannot be used; the settings to run with, or
    None when the app should not start (the user opens the file to fix it, or closes)."""
    QApplication.instance() or QApplication([])
    use_language("auto")  # the file that names the language is the one that cannot be read
    box, open_button, reset_button = recovery_box(error)
    box.exec()
    clicked = box.clickedButton()
    if clicked is reset_button:
        reset_settings(path)
        return load_settings(path)
    if clicked is open_button:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
    return None
