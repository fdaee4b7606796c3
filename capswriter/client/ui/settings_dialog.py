"""Edits the same TOML file the server and the CLI read (``Settings.save`` / ``load_settings``),
and the per-application output modes of ``apps.toml``.

Values are checked with :func:`capswriter.config.check_settings` — the check the settings file
gets when it is loaded — before anything is written; a refused value is named under the form
and the dialog stays open.
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QEvent, QLocale, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from capswriter.client.i18n import LANGUAGE_NAMES, translate
from capswriter.client.model_library import ModelLibrary
from capswriter.client.output_rules import MODES, parse_app_modes
from capswriter.client.roles import RoleBook
from capswriter.client.ui.hot_words_page import HotWordsEditor
from capswriter.client.ui.models_page import ModelsPage
from capswriter.client.ui.roles_page import TAB_NAME as ROLES_TAB
from capswriter.client.ui.roles_page import RolesPage
from capswriter.config import (
    FILE_FORMATS,
    ConfigError,
    InvalidSetting,
    Settings,
    check_settings,
    config_dir,
    config_file,
)
from capswriter.errors import CapsWriterError
from capswriter.keys import HOTKEY_NAMES, is_hotkey, key_label
from capswriter.text import TextOptions

# Each choice in the words of the people who read it.
CHINESE_SCRIPT_LABELS = {
    "simplified": "简体中文 (Simplified)",
    "traditional": "繁體中文 (Traditional)",
    "taiwan": "繁體中文·台灣 (zh-TW)",
    "hongkong": "繁體中文·香港 (zh-HK)",
    "as_heard": QT_TRANSLATE_NOOP("SettingsDialog", "As recognised (no conversion)"),
}
OUTPUT_MODE_LABELS = {
    "paste": QT_TRANSLATE_NOOP("SettingsDialog", "Paste (fast, uses the clipboard)"),
    "type": QT_TRANSLATE_NOOP("SettingsDialog", "Type key by key"),
}
FORMAT_LABELS = {
    "txt": QT_TRANSLATE_NOOP("SettingsDialog", "Plain text (.txt)"),
    "srt": QT_TRANSLATE_NOOP("SettingsDialog", "Subtitles (.srt)"),
    "vtt": QT_TRANSLATE_NOOP("SettingsDialog", "Web subtitles (.vtt)"),
    "json": QT_TRANSLATE_NOOP("SettingsDialog", "Text with timings (.json)"),
}
TABS = (
    QT_TRANSLATE_NOOP("SettingsDialog", "Dictation"),
    QT_TRANSLATE_NOOP("SettingsDialog", "Output"),
    QT_TRANSLATE_NOOP("SettingsDialog", "Files"),
    QT_TRANSLATE_NOOP("SettingsDialog", "Models and language"),
    QT_TRANSLATE_NOOP("SettingsDialog", "Server"),
    QT_TRANSLATE_NOOP("SettingsDialog", "Model library"),
    QT_TRANSLATE_NOOP("SettingsDialog", "Hot words"),
)
SPACING_LABELS = {
    "keep": QT_TRANSLATE_NOOP("SettingsDialog", "As recognised"),
    "space": QT_TRANSLATE_NOOP("SettingsDialog", "One space (用 Claude 写)"),
    "none": QT_TRANSLATE_NOOP("SettingsDialog", "No space (用Claude写)"),
}


def _tr(text: str) -> str:
    return translate("SettingsDialog", text)


# ---- hotkey capture ------------------------------------------------------------------------

_LOCK_AND_SPECIAL = {
    Qt.Key.Key_CapsLock: "caps_lock", Qt.Key.Key_ScrollLock: "scroll_lock",
    Qt.Key.Key_NumLock: "num_lock", Qt.Key.Key_Pause: "pause", Qt.Key.Key_Insert: "insert",
    Qt.Key.Key_Menu: "menu", Qt.Key.Key_Print: "print_screen", Qt.Key.Key_AltGr: "alt_gr",
}
_MODIFIERS = {Qt.Key.Key_Alt: "alt", Qt.Key.Key_Control: "ctrl", Qt.Key.Key_Shift: "shift",
              Qt.Key.Key_Meta: "cmd", Qt.Key.Key_Super_L: "cmd", Qt.Key.Key_Super_R: "cmd"}
# Qt names a modifier without its side; the native code tells left from right.
# X11 keysyms (nativeVirtualKey):
_X11_SIDES = {0xFFE1: "shift_l", 0xFFE2: "shift_r", 0xFFE3: "ctrl_l", 0xFFE4: "ctrl_r",
              0xFFE9: "alt_l", 0xFFEA: "alt_r", 0xFFE7: "cmd_l", 0xFFE8: "cmd_r",
              0xFFEB: "cmd_l", 0xFFEC: "cmd_r", 0xFE03: "alt_gr"}
# Windows scan codes with the extended-key bit (nativeScanCode):
_WIN_SIDES = {0x2A: "shift_l", 0x36: "shift_r", 0x1D: "ctrl_l", 0x11D: "ctrl_r",
              0x38: "alt_l", 0x138: "alt_r", 0x15B: "cmd_l", 0x15C: "cmd_r"}
# macOS virtual key codes (nativeVirtualKey):
_MAC_SIDES = {0x38: "shift_l", 0x3C: "shift_r", 0x3B: "ctrl_l", 0x3E: "ctrl_r",
              0x3A: "alt_l", 0x3D: "alt_r", 0x37: "cmd_l", 0x36: "cmd_r"}
_MOUSE = {Qt.MouseButton.BackButton: "mouse_x1", Qt.MouseButton.ForwardButton: "mouse_x2",
          Qt.MouseButton.MiddleButton: "mouse_middle"}


def hotkey_name(
    key: int, native_virtual_key: int = 0, native_scan_code: int = 0,
    platform: str = sys.platform,
) -> str | None:
    """The settings name of a pressed key, or None when push-to-talk cannot use it."""
    key = Qt.Key(key)
    if key in _LOCK_AND_SPECIAL:
        return _LOCK_AND_SPECIAL[key]
    if Qt.Key.Key_F1.value <= key.value <= Qt.Key.Key_F20.value:
        return f"f{key.value - Qt.Key.Key_F1.value + 1}"
    if key in _MODIFIERS:
        if platform.startswith("win"):
            side = _WIN_SIDES.get(native_scan_code)
        elif platform == "darwin":
            side = _MAC_SIDES.get(native_virtual_key)
        else:
            side = _X11_SIDES.get(native_virtual_key)
        # Without a native code (Wayland, remote desktops) the right-hand key is the safe guess
        # for Alt and Ctrl: left Alt and Ctrl are shortcut keys.
        return side or f"{_MODIFIERS[key]}_r"
    return None


class HotkeyPicker(QWidget):
    """A list of the usable keys, and a button that takes the next key pressed."""

    changed = Signal(str)

    def __init__(self, current: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        for name in HOTKEY_NAMES:
            self.combo.addItem(translate("Keys", key_label(name)), name)
        self.capture_button = QPushButton(self.tr("Press a key to set…"))
        self.capture_button.setCheckable(True)
        self.capture_button.installEventFilter(self)
        self.capture_button.toggled.connect(self._capturing)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.hide()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(self.capture_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.message)
        self.set_key(current)
        self.combo.currentIndexChanged.connect(lambda _i: self.changed.emit(self.key()))

    def key(self) -> str:
        return self.combo.currentData()

    def set_key(self, name: str) -> None:
        index = self.combo.findData(name)
        if index < 0:  # a name from the file this version does not offer: shown as it is
            self.combo.addItem(name, name)
            index = self.combo.count() - 1
        self.combo.setCurrentIndex(index)

    @property
    def capturing(self) -> bool:
        return self.capture_button.isChecked()

    def _capturing(self, on: bool) -> None:
        if on:
            self.capture_button.setText(self.tr("Press the key now (Esc cancels)"))
            self.capture_button.setFocus()
            self.capture_button.grabKeyboard()
        else:
            self.capture_button.releaseKeyboard()
            self.capture_button.setText(self.tr("Press a key to set…"))

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        # A dialog closed while listening must give the keyboard back.
        self.capture_button.setChecked(False)
        super().hideEvent(event)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if watched is not self.capture_button or not self.capturing:
            return False
        if event.type() == QEvent.Type.KeyPress:
            if event.isAutoRepeat():
                return True
            if event.key() == Qt.Key.Key_Escape:
                self.capture_button.setChecked(False)
                return True
            name = hotkey_name(event.key(), event.nativeVirtualKey(), event.nativeScanCode())
            self._take(name, event.text() or QKeySequence(event.key()).toString())
            return True
        if event.type() == QEvent.Type.MouseButtonPress and event.button() in _MOUSE:
            self._take(_MOUSE[event.button()], "")
            return True
        return event.type() in (QEvent.Type.KeyRelease, QEvent.Type.ShortcutOverride)

    def _take(self, name: str | None, typed: str) -> None:
        if name is None or not is_hotkey(name):
            shown = typed.strip() or self.tr("That key")
            self.message.setText(self.tr(
                "{key} cannot be used for push-to-talk: it types or is a shortcut. "
                "Try Caps Lock, Right Alt, Right Ctrl or F13."
            ).format(key=shown))
            self.message.show()
            return  # still listening for a usable key
        self.message.hide()
        self.set_key(name)
        self.capture_button.setChecked(False)


# ---- choices from the system -----------------------------------------------------------------


def _microphones() -> list[str]:
    """Input device names, or none when the audio system cannot be asked (no sound server)."""
    try:
        from capswriter.client.recorder import input_devices

        return input_devices()
    except Exception:  # noqa: BLE001 - an empty list only means "the system default only"
        return []


_ALSA_NAMES = {
    "default": QT_TRANSLATE_NOOP("SettingsDialog", "Default device (ALSA)"),
    "sysdefault": QT_TRANSLATE_NOOP("SettingsDialog", "System default device (ALSA)"),
    "pulse": QT_TRANSLATE_NOOP("SettingsDialog", "PulseAudio sound server"),
    "pipewire": QT_TRANSLATE_NOOP("SettingsDialog", "PipeWire sound server"),
}


def microphone_label(name: str) -> str:
    """A device name as a person would say it: ALSA's "HDA Intel PCH: ALC3246 Analog (hw:0,0)"
    becomes "ALC3246 Analog — HDA Intel PCH"; the host API after a comma goes in brackets."""
    if name in _ALSA_NAMES:
        return _tr(_ALSA_NAMES[name])
    base, api = name, ""
    if ", " in name:  # "name, host API" (the same device under several Windows APIs)
        base, api = name.rsplit(", ", 1)
    base = re.sub(r"\s*\((?:hw|plughw):\d+,\d+\)$", "", base)
    card, sep, device = base.partition(": ")
    label = f"{device} — {card}" if sep and device else base
    return f"{label} ({api})" if api else label


def installed_models(models_dir: Path) -> list[str]:
    """Speech models installed under ``models_dir`` (not the voice-activity model)."""
    from capswriter.asr.install import list_models

    return [m.name for m in list_models(models_dir) if m.status == "ok" and m.kind != "vad"]


def model_languages(models_dir: Path, model: str) -> tuple[str, ...] | None:
    """Language codes the model accepts; () when it takes none, None when it is not there."""
    from capswriter.asr.languages import accepted_languages
    from capswriter.asr.manifest import load_manifest

    try:
        manifest = load_manifest(models_dir / model)
    except CapsWriterError:
        return None
    return tuple(code for code in accepted_languages(manifest) or () if code != "auto")


def language_label(code: str) -> str:
    """"Chinese (zh)": the language's name in the interface language, then the code."""
    locale = QLocale(code)
    if locale.language() in (QLocale.Language.C, QLocale.Language.AnyLanguage):
        return code
    return f"{QLocale.languageToString(locale.language())} ({code})"


# ---- the dialog -----------------------------------------------------------------------------


class SettingsDialog(QDialog):
    saved = Signal(object)  # Settings

    def __init__(
        self,
        settings: Settings,
        path: Path | None = None,
        parent=None,
        rules_dir: Path | None = None,
        library: ModelLibrary | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("CapsWriter settings"))
        self.settings = settings
        self.path = path or config_file()
        self.apps_path = (rules_dir or config_dir()) / "apps.toml"
        self.tabs = QTabWidget()
        self._tab_of: dict[tuple[str, str], QWidget] = {}
        self._fields: dict[tuple[str, str], QWidget] = {}
        pages = {name: self._page() for name in TABS}
        for name, (page, _form) in pages.items():
            self.tabs.addTab(page, _tr(name))
        self._build_dictation(pages[TABS[0]][1], pages[TABS[0]][0])
        self._build_output(pages[TABS[1]][1], pages[TABS[1]][0])
        self._build_files(pages[TABS[2]][1], pages[TABS[2]][0])
        self._build_models(pages[TABS[3]][1], pages[TABS[3]][0])
        self._build_server(pages[TABS[4]][1], pages[TABS[4]][0])
        self._build_library(pages[TABS[5]][1], library)
        self._build_hot_words(pages[TABS[6]][1], pages[TABS[6]][0], rules_dir or config_dir())
        self.roles_page = RolesPage(RoleBook((rules_dir or config_dir()) / "roles.toml"))
        self.tabs.addTab(self.roles_page, translate("RolesPage", str(ROLES_TAB)))

        self.error = QLabel()
        self.error.setObjectName("settings_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020; font-weight: bold;")
        self.error.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(560, 480)

    # ---- pages -------------------------------------------------------------------------------

    @staticmethod
    def _page() -> tuple[QWidget, QFormLayout]:
        page = QWidget()
        form = QFormLayout(page)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        return page, form

    def _field(self, page: QWidget, section: str, key: str, widget: QWidget) -> QWidget:
        """Remember where a setting is edited, to show it when the check refuses its value."""
        self._tab_of[(section, key)] = page
        self._fields[(section, key)] = widget
        return widget

    def _build_dictation(self, form: QFormLayout, page: QWidget) -> None:
        c = self.settings.client
        self.hotkey = self._field(page, "client", "hotkey", HotkeyPicker(c.hotkey))
        self.hold_threshold = self._field(page, "client", "hold_threshold_s", QDoubleSpinBox(
            minimum=0.0, maximum=5.0, singleStep=0.05, decimals=2, suffix=self.tr(" s")))
        self.hold_threshold.setValue(c.hold_threshold_s)
        self.input_device = self._field(page, "client", "input_device", QComboBox())
        self.input_device.addItem(self.tr("System default"), "")
        for name in _microphones():
            self.input_device.addItem(microphone_label(name), name)
        self.set_microphone(c.input_device)
        self.keep_stream_open = QCheckBox(
            self.tr("Keep the microphone open (the first syllable is never lost)"))
        self.keep_stream_open.setChecked(c.keep_stream_open)
        self.stream_idle_minutes = self._field(page, "client", "stream_idle_minutes",
                                               QDoubleSpinBox(minimum=0.0, maximum=600,
                                                              decimals=1, suffix=self.tr(" min")))
        self.stream_idle_minutes.setValue(c.stream_idle_minutes)
        self.recording_overlay = self._field(page, "client", "recording_overlay", QCheckBox(
            self.tr("Show a small panel on screen while dictating")))
        self.recording_overlay.setChecked(c.recording_overlay)
        self.sound_cues = self._field(page, "client", "sound_cues", QCheckBox(
            self.tr("Play a short sound when recording starts and stops")))
        self.sound_cues.setChecked(c.sound_cues)
        self.save_audio = QCheckBox(self.tr("Keep the audio of every dictation in History"))
        self.save_audio.setChecked(c.save_audio)
        self.history_keep_days = self._field(page, "client", "history_keep_days", QSpinBox(
            minimum=0, maximum=36500, suffix=self.tr(" days")))
        self.history_keep_days.setSpecialValueText(self.tr("Forever"))
        self.history_keep_days.setValue(c.history_keep_days)
        self.history_keep_entries = self._field(page, "client", "history_keep_entries", QSpinBox(
            minimum=0, maximum=1_000_000, singleStep=100))
        self.history_keep_entries.setSpecialValueText(self.tr("All"))
        self.history_keep_entries.setValue(c.history_keep_entries)
        form.addRow(self.tr("Push-to-talk key"), self.hotkey)
        form.addRow(self.tr("Hold the key at least"), self.hold_threshold)
        form.addRow(self.tr("Microphone"), self.input_device)
        form.addRow("", self.keep_stream_open)
        form.addRow(self.tr("Release an unused microphone after"), self.stream_idle_minutes)
        form.addRow("", self.recording_overlay)
        form.addRow("", self.sound_cues)
        form.addRow("", self.save_audio)
        form.addRow(self.tr("Keep History for"), self.history_keep_days)
        form.addRow(self.tr("Keep at most (entries)"), self.history_keep_entries)

    def _build_output(self, form: QFormLayout, page: QWidget) -> None:
        c = self.settings.client
        self.output_mode = self._field(page, "client", "output_mode", QComboBox())
        for mode in MODES:
            self.output_mode.addItem(_tr(OUTPUT_MODE_LABELS[mode]), mode)
        self.output_mode.setCurrentIndex(max(0, self.output_mode.findData(c.output_mode)))
        self.trailing_punctuation = QCheckBox(self.tr("Keep the final punctuation mark"))
        self.trailing_punctuation.setChecked(c.trailing_punctuation)
        self.trailing_space = QCheckBox(self.tr("Add a space after the text"))
        self.trailing_space.setChecked(c.trailing_space)
        self.app_modes = QTableWidget(0, 2)
        self.app_modes.setHorizontalHeaderLabels(
            [self.tr("Application (part of its name or window title)"), self.tr("Insert by")])
        self.app_modes.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.app_modes.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.ResizeToContents)
        self.app_modes.verticalHeader().hide()
        self.app_modes.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        try:
            rules = parse_app_modes(self.apps_path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError):  # no file yet, or one the user must fix by hand
            rules = {}
        self._loaded_app_modes = rules
        for name, mode in rules.items():
            self.add_app_mode(name, mode)
        add = QPushButton(self.tr("Add application"))
        add.clicked.connect(lambda: self.add_app_mode("", self.output_mode.currentData()))
        self.remove_app_button = QPushButton(self.tr("Remove"))
        self.remove_app_button.clicked.connect(self._remove_app_mode)
        self.remove_app_button.setEnabled(False)
        self.app_modes.itemSelectionChanged.connect(
            lambda: self.remove_app_button.setEnabled(bool(self.app_modes.selectedItems())))
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(add)
        row.addWidget(self.remove_app_button)
        form.addRow(self.tr("Insert text by"), self.output_mode)
        form.addRow("", self.trailing_punctuation)
        form.addRow("", self.trailing_space)
        form.addRow(QLabel(self.tr("Applications that need another way:")))
        form.addRow(self.app_modes)
        form.addRow(row)

    def _build_files(self, form: QFormLayout, page: QWidget) -> None:
        self.formats = {fmt: QCheckBox(_tr(FORMAT_LABELS[fmt])) for fmt in FILE_FORMATS}
        box = self._field(page, "files", "formats", QWidget())
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        for fmt, check in self.formats.items():
            check.setChecked(fmt in self.settings.files.formats)
            column.addWidget(check)
        form.addRow(self.tr("Write beside each file"), box)

    def _build_models(self, form: QFormLayout, page: QWidget) -> None:
        a = self.settings.asr
        self.model = self._field(page, "asr", "model", QComboBox())
        for name in installed_models(self.settings.models_path):
            self.model.addItem(name, name)
        if self.model.findData(a.model) < 0:
            self.model.addItem(self.tr("{name} (not installed)").format(name=a.model), a.model)
        self.model.setCurrentIndex(self.model.findData(a.model))
        self.language = self._field(page, "asr", "language", QComboBox())
        self._fill_languages(a.language)
        self.model.currentIndexChanged.connect(lambda _i: self._fill_languages(
            self.language.currentData() or ""))
        self.chinese_script = self._field(page, "asr", "chinese_script", QComboBox())
        for script, label in CHINESE_SCRIPT_LABELS.items():
            self.chinese_script.addItem(_tr(label), script)
        self.chinese_script.setCurrentIndex(max(0, self.chinese_script.findData(a.chinese_script)))
        self.ui_language = self._field(page, "client", "ui_language", QComboBox())
        for code, name in LANGUAGE_NAMES.items():
            self.ui_language.addItem(_tr(name) if code == "auto" else name, code)
        self.ui_language.setCurrentIndex(
            max(0, self.ui_language.findData(self.settings.client.ui_language)))
        form.addRow(self.tr("Speech model"), self.model)
        form.addRow(self.tr("Spoken language"), self.language)
        form.addRow(self.tr("Write Chinese as"), self.chinese_script)
        form.addRow(self.tr("Language of CapsWriter"), self.ui_language)

    def _build_library(self, form: QFormLayout, library: ModelLibrary | None) -> None:
        if library is None:
            try:
                library = ModelLibrary(self.settings.models_path, self.settings.download.mirror)
            except CapsWriterError as exc:  # a mirror setting that is not an address
                form.addRow(QLabel(str(exc)))
                return
        self.library = library
        self.models_page = ModelsPage(library, self.use_model, lambda: self.settings.asr.model)
        note = QLabel(self.tr("Downloaded models are checked and tried on a sample before "
                              "they can be used. Use a model, then Save: the recognition "
                              "server switches to it."))  # fmt: skip
        note.setWordWrap(True)
        form.addRow(note)
        form.addRow(self.models_page)
        library.changed.connect(self._library_changed)  # let go of when the window goes

    def _library_changed(self, _name: str) -> None:
        self._refill_models()

    def use_model(self, name: str) -> None:
        """Pick an installed model for the server; Save applies it."""
        self._refill_models()
        self.model.setCurrentIndex(max(0, self.model.findData(name)))

    def _refill_models(self) -> None:
        current = self.model.currentData()
        names = installed_models(self.settings.models_path)
        if [self.model.itemData(i) for i in range(self.model.count())] == names:
            return
        self.model.blockSignals(True)
        self.model.clear()
        for name in names:
            self.model.addItem(name, name)
        if current and self.model.findData(current) < 0:
            self.model.addItem(self.tr("{name} (not installed)").format(name=current), current)
        self.model.setCurrentIndex(max(0, self.model.findData(current)))
        self.model.blockSignals(False)
        self._fill_languages(self.language.currentData() or "")

    def _fill_languages(self, current: str) -> None:
        self.language.clear()
        self.language.addItem(self.tr("Detect automatically"), "")
        codes = model_languages(self.settings.models_path, self.model.currentData() or "")
        for code in codes or ():
            self.language.addItem(language_label(code), code)
        if current and self.language.findData(current) < 0:
            self.language.addItem(self.tr("{code} (not known to this model)").format(code=current),
                                  current)
        self.language.setCurrentIndex(max(0, self.language.findData(current)))
        self.language.setEnabled(codes != ())  # a model that takes no language detects it

    def _build_server(self, form: QFormLayout, page: QWidget) -> None:
        s = self.settings.server
        note = QLabel(self.tr("For the recognition server CapsWriter starts on this computer, or "
                              "the one it connects to. Changes apply after a restart."))
        note.setWordWrap(True)
        self.host = self._field(page, "server", "host", QLineEdit(s.host))
        self.port = self._field(page, "server", "port", QSpinBox(minimum=1, maximum=65535))
        self.port.setValue(s.port)
        self.token = QLineEdit(s.token)
        self.token.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        self.token.setPlaceholderText(self.tr("none"))
        self.workers = self._field(page, "server", "workers", QSpinBox(minimum=0, maximum=256))
        self.workers.setSpecialValueText(self.tr("One per processor core"))
        self.workers.setValue(s.workers)
        self.dictation_worker = QCheckBox(
            self.tr("Keep one more worker for dictation (never waits behind files)"))
        self.dictation_worker.setChecked(s.dictation_worker)
        form.addRow(note)
        form.addRow(self.tr("Server address"), self.host)
        form.addRow(self.tr("Port"), self.port)
        form.addRow(self.tr("Access token"), self.token)
        form.addRow(self.tr("Recognition workers"), self.workers)
        form.addRow("", self.dictation_worker)

    def _build_hot_words(self, form: QFormLayout, page: QWidget, rules_dir: Path) -> None:
        t = self.settings.text
        self.itn = self._field(page, "text", "itn", QCheckBox(
            self.tr("Write spoken Chinese numbers in digits (二十三 → 23)")))
        self.itn.setChecked(t.itn)
        self.hot_words_on = self._field(page, "text", "hot_words", QCheckBox(
            self.tr("Match hot words by sound, not only by spelling")))
        self.hot_words_on.setChecked(t.hot_words)
        self.hot_word_threshold = self._field(page, "text", "hot_word_threshold", QDoubleSpinBox(
            minimum=0.5, maximum=1.0, singleStep=0.01, decimals=2))
        self.hot_word_threshold.setValue(t.hot_word_threshold)
        self.mixed_spacing = self._field(page, "text", "mixed_spacing", QComboBox())
        for value, label in SPACING_LABELS.items():
            self.mixed_spacing.addItem(_tr(label), value)
        self.mixed_spacing.setCurrentIndex(max(0, self.mixed_spacing.findData(t.mixed_spacing)))
        self.hot_words = HotWordsEditor(rules_dir / "hot_words.txt", self._text_options)
        for widget in (self.itn, self.hot_words_on):
            widget.toggled.connect(self.hot_words.try_sentence)
        self.hot_word_threshold.valueChanged.connect(self.hot_words.try_sentence)
        self.mixed_spacing.currentIndexChanged.connect(self.hot_words.try_sentence)
        form.addRow("", self.itn)
        form.addRow("", self.hot_words_on)
        form.addRow(self.tr("Replace when the sound matches at least"), self.hot_word_threshold)
        form.addRow(self.tr("Between Chinese and Latin"), self.mixed_spacing)
        form.addRow(self.hot_words)

    def _text_options(self) -> TextOptions:
        return TextOptions(itn=self.itn.isChecked(), hot_words=self.hot_words_on.isChecked(),
                           threshold=round(self.hot_word_threshold.value(), 2),
                           spacing=self.mixed_spacing.currentData())

    # ---- values ----------------------------------------------------------------------------

    def set_microphone(self, name: str) -> None:
        index = self.input_device.findData(name)
        if index < 0:  # the saved device is not connected now: keep it, say so
            self.input_device.addItem(
                self.tr("{name} (not connected)").format(name=microphone_label(name)), name)
            index = self.input_device.count() - 1
        self.input_device.setCurrentIndex(index)

    def add_app_mode(self, name: str, mode: str) -> None:
        row = self.app_modes.rowCount()
        self.app_modes.insertRow(row)
        self.app_modes.setItem(row, 0, QTableWidgetItem(name))
        combo = QComboBox()
        for value in MODES:
            combo.addItem(_tr(OUTPUT_MODE_LABELS[value]), value)
        combo.setCurrentIndex(max(0, combo.findData(mode)))
        self.app_modes.setCellWidget(row, 1, combo)

    def _remove_app_mode(self) -> None:
        for row in sorted({i.row() for i in self.app_modes.selectedIndexes()}, reverse=True):
            self.app_modes.removeRow(row)

    def edited_app_modes(self) -> dict[str, str]:
        """The per-application table; raises ConfigError for an empty or repeated name."""
        modes: dict[str, str] = {}
        for row in range(self.app_modes.rowCount()):
            item = self.app_modes.item(row, 0)
            name = (item.text() if item else "").strip().lower()
            if not name:
                raise ConfigError(self.tr("Row {row} of the applications has no name.")
                                  .format(row=row + 1))
            if name in modes:
                raise ConfigError(self.tr("'{name}' is in the applications twice.")
                                  .format(name=name))
            modes[name] = self.app_modes.cellWidget(row, 1).currentData()
        return modes

    def edited(self) -> Settings:
        """The settings as the form shows them, without touching the originals."""
        result = copy.deepcopy(self.settings)
        c, s, a = result.client, result.server, result.asr
        c.hotkey = self.hotkey.key()
        c.hold_threshold_s = round(self.hold_threshold.value(), 2)
        c.output_mode = self.output_mode.currentData()
        c.trailing_punctuation = self.trailing_punctuation.isChecked()
        c.trailing_space = self.trailing_space.isChecked()
        c.input_device = self.input_device.currentData()
        c.keep_stream_open = self.keep_stream_open.isChecked()
        c.stream_idle_minutes = round(self.stream_idle_minutes.value(), 1)
        c.recording_overlay = self.recording_overlay.isChecked()
        c.sound_cues = self.sound_cues.isChecked()
        c.save_audio = self.save_audio.isChecked()
        c.history_keep_days = self.history_keep_days.value()
        c.history_keep_entries = self.history_keep_entries.value()
        c.ui_language = self.ui_language.currentData()
        s.host = self.host.text().strip()
        s.port = self.port.value()
        s.token = self.token.text()
        s.workers = self.workers.value()
        s.dictation_worker = self.dictation_worker.isChecked()
        a.model = self.model.currentData()
        a.language = self.language.currentData()
        a.chinese_script = self.chinese_script.currentData()
        result.files.formats = [fmt for fmt, box in self.formats.items() if box.isChecked()]
        t = result.text
        t.itn, t.hot_words = self.itn.isChecked(), self.hot_words_on.isChecked()
        t.hot_word_threshold = round(self.hot_word_threshold.value(), 2)
        t.mixed_spacing = self.mixed_spacing.currentData()
        return result

    # ---- saving ----------------------------------------------------------------------------

    def setting_label(self, section: str, key: str) -> str:
        """The words the form shows beside a setting, or on its check box (its file name when it
        has no row)."""
        widget = self._fields.get((section, key))
        form = self._tab_of[(section, key)].layout() if widget is not None else None
        label = form.labelForField(widget) if isinstance(form, QFormLayout) else None
        if label is not None and label.text():
            return f"“{label.text()}”"
        if isinstance(widget, QCheckBox):
            return f"“{widget.text()}”"
        return f"[{section}] {key}"

    def show_error(self, message: str, setting: tuple[str, str] | None = None) -> None:
        """Name the problem under the form and bring the setting that has it into view."""
        for widget in self._fields.values():
            widget.setStyleSheet("")
        self.error.setText(message)
        self.error.show()
        if setting in self._fields:
            self.tabs.setCurrentWidget(self._tab_of[setting])
            widget = self._fields[setting]
            widget.setStyleSheet("border: 1px solid #b00020;")
            widget.setFocus()

    def save(self) -> None:
        settings = self.edited()
        try:
            check_settings(settings)
            app_modes = self.edited_app_modes()
        except InvalidSetting as exc:
            self.show_error(self.tr("Not saved: {setting} {problem}").format(
                setting=self.setting_label(exc.section, exc.key), problem=exc.problem),
                (exc.section, exc.key))
            return
        except ConfigError as exc:
            self.tabs.setCurrentIndex(TABS.index(TABS[1]))  # the applications table
            self.show_error(self.tr("Not saved: {reason}").format(reason=exc))
            return
        try:
            self.hot_words.check()
        except ValueError as exc:
            self.tabs.setCurrentIndex(TABS.index(TABS[6]))  # Hot words
            self.show_error(self.tr("Not saved: hot words {reason}").format(reason=exc))
            return
        try:
            settings.save(self.path)
            if app_modes != self._loaded_app_modes:
                self._save_app_modes(app_modes)
            self.hot_words.save()
        except (OSError, CapsWriterError) as exc:
            self.show_error(self.tr("Could not save {path}: {reason}").format(
                path=self.path, reason=exc))
            return
        self.error.hide()
        self.settings = settings
        self.saved.emit(settings)
        self.accept()

    def _save_app_modes(self, modes: dict[str, str]) -> None:
        import tomli_w

        text = ("# Output mode per application: part of its process name or window title"
                " (any case) = paste | type\n" + tomli_w.dumps({"apps": modes}))
        parse_app_modes(text)  # what TextOutput will read back
        self.apps_path.parent.mkdir(parents=True, exist_ok=True)
        self.apps_path.write_text(text, encoding="utf-8")
        self._loaded_app_modes = modes
