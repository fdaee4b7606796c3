"""Edits the same TOML file the server and the CLI read (``Settings.save`` / ``load_settings``)."""

from __future__ import annotations

import copy
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QWidget,
)

from capswriter.config import Settings, config_file
from capswriter.errors import CapsWriterError

HOTKEYS = (
    "caps_lock", "scroll_lock", "f13", "f14", "f15", "alt_r", "ctrl_r", "mouse_x1", "mouse_x2"
)
FILE_FORMATS = ("txt", "srt", "vtt", "json")
# Each choice in the words of the people who read it.
CHINESE_SCRIPT_LABELS = {
    "simplified": "简体中文 (Simplified)",
    "traditional": "繁體中文 (Traditional)",
    "taiwan": "繁體中文·台灣 (zh-TW)",
    "hongkong": "繁體中文·香港 (zh-HK)",
    "as_heard": "As recognised (no conversion)",
}


def _microphones() -> list[str]:
    """Input device names, or none when the audio system cannot be asked (no sound server)."""
    try:
        from capswriter.client.recorder import input_devices

        return input_devices()
    except Exception:  # noqa: BLE001 - an empty list only means "type the name yourself"
        return []


class SettingsDialog(QDialog):
    saved = Signal(object)  # Settings

    def __init__(self, settings: Settings, path: Path | None = None, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("CapsWriter settings")
        self.settings = settings
        self.path = path or config_file()
        c, s, a = settings.client, settings.server, settings.asr

        self.hotkey = QComboBox(editable=True)
        self.hotkey.addItems(HOTKEYS)
        self.hotkey.setCurrentText(c.hotkey)
        self.hold_threshold = QDoubleSpinBox(minimum=0.05, maximum=2.0, singleStep=0.05, decimals=2)
        self.hold_threshold.setValue(c.hold_threshold_s)
        self.output_mode = QComboBox()
        self.output_mode.addItems(["paste", "type"])
        self.output_mode.setCurrentText(c.output_mode)
        self.trailing_punctuation = QCheckBox("Keep the final punctuation mark")
        self.trailing_punctuation.setChecked(c.trailing_punctuation)
        self.trailing_space = QCheckBox("Add a space after the text")
        self.trailing_space.setChecked(c.trailing_space)
        self.input_device = QComboBox(editable=True)
        self.input_device.addItem("")  # the system's default microphone
        self.input_device.addItems(_microphones())
        self.input_device.setCurrentText(c.input_device)
        self.input_device.lineEdit().setPlaceholderText("system default")
        self.keep_stream_open = QCheckBox("Keep the microphone open (no lost first syllable)")
        self.keep_stream_open.setChecked(c.keep_stream_open)
        self.stream_idle_minutes = QDoubleSpinBox(minimum=0.5, maximum=600, decimals=1)
        self.stream_idle_minutes.setValue(c.stream_idle_minutes)
        self.save_audio = QCheckBox("Keep the audio of every dictation in history")
        self.save_audio.setChecked(c.save_audio)
        self.host = QLineEdit(s.host)
        self.port = QSpinBox(minimum=1, maximum=65535)
        self.port.setValue(s.port)
        self.model = QLineEdit(a.model)
        self.language = QLineEdit(a.language)
        self.language.setPlaceholderText("auto")
        self.chinese_script = QComboBox()
        for script, label in CHINESE_SCRIPT_LABELS.items():
            self.chinese_script.addItem(label, script)
        self.chinese_script.setCurrentIndex(max(0, self.chinese_script.findData(a.chinese_script)))
        self.formats = {fmt: QCheckBox(fmt) for fmt in FILE_FORMATS}
        formats_row = QWidget()
        row = QHBoxLayout(formats_row)
        row.setContentsMargins(0, 0, 0, 0)
        for fmt, box in self.formats.items():
            box.setChecked(fmt in settings.files.formats)
            row.addWidget(box)

        form = QFormLayout(self)
        form.addRow("Push-to-talk key", self.hotkey)
        form.addRow("Hold for (s)", self.hold_threshold)
        form.addRow("Output", self.output_mode)
        form.addRow("", self.trailing_punctuation)
        form.addRow("", self.trailing_space)
        form.addRow("Microphone", self.input_device)
        form.addRow("", self.keep_stream_open)
        form.addRow("Release microphone after (min)", self.stream_idle_minutes)
        form.addRow("", self.save_audio)
        form.addRow("Server host", self.host)
        form.addRow("Server port", self.port)
        form.addRow("Model", self.model)
        form.addRow("Language", self.language)
        form.addRow("Chinese written as", self.chinese_script)
        form.addRow("File outputs", formats_row)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)

    def edited(self) -> Settings:
        """The settings as the form shows them, without touching the originals."""
        result = copy.deepcopy(self.settings)
        c, s, a = result.client, result.server, result.asr
        c.hotkey = self.hotkey.currentText().strip()
        c.hold_threshold_s = round(self.hold_threshold.value(), 2)
        c.output_mode = self.output_mode.currentText()
        c.trailing_punctuation = self.trailing_punctuation.isChecked()
        c.trailing_space = self.trailing_space.isChecked()
        c.input_device = self.input_device.currentText().strip()
        c.keep_stream_open = self.keep_stream_open.isChecked()
        c.stream_idle_minutes = round(self.stream_idle_minutes.value(), 1)
        c.save_audio = self.save_audio.isChecked()
        s.host = self.host.text().strip()
        s.port = self.port.value()
        a.model = self.model.text().strip()
        a.language = self.language.text().strip()
        a.chinese_script = self.chinese_script.currentData()
        result.files.formats = [fmt for fmt, box in self.formats.items() if box.isChecked()]
        return result

    def save(self) -> None:
        settings = self.edited()
        if not settings.files.formats:
            QMessageBox.warning(self, "CapsWriter", "Choose at least one file output format.")
            return
        try:
            settings.save(self.path)
        except (OSError, CapsWriterError) as exc:
            QMessageBox.critical(self, "CapsWriter", f"Could not save {self.path}: {exc}")
            return
        self.settings = settings
        self.saved.emit(settings)
        self.accept()
