"""The language of the windows and menus: English in the source, others from Qt translation
files (``assets/i18n/capswriter_<lang>.qm``, compiled from the ``.ts`` beside them).

Strings are marked where they are written with ``translate("Context", "text")`` (or a widget's
``self.tr``), which ``pyside6-lupdate`` finds; ``scripts/update_translations.py`` refreshes the
``.ts`` files and compiles them.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from capswriter.config import ASSETS_DIR

if TYPE_CHECKING:
    from PySide6.QtCore import QLocale, QTranslator

log = logging.getLogger(__name__)

I18N_DIR = ASSETS_DIR / "i18n"


def QT_TRANSLATE_NOOP(context: str, text: str) -> str:  # noqa: N802 - the name lupdate finds
    """Marks ``text`` for translation where it is defined; ``translate`` looks it up later."""
    return text


# The choices of ClientSettings.ui_language, each in its own language.
LANGUAGE_NAMES = {
    "auto": QT_TRANSLATE_NOOP("SettingsDialog", "Automatic (system language)"),
    "en": "English",
    "zh_CN": "简体中文",
}
TRANSLATED = ("zh_CN",)

_installed: QTranslator | None = None


def translate(context: str, text: str) -> str:
    """``text`` in the interface language; the source text when there is no translation.

    Qt is asked only once something has loaded it: the command line and the server share
    modules with the tray app and run without the client extra (no PySide6 at all).
    """
    qt = sys.modules.get("PySide6.QtCore")
    if qt is None:
        return text
    return str(qt.QCoreApplication.translate(context, text))


def qm_path(language: str) -> Path:
    return I18N_DIR / f"capswriter_{language}.qm"


def resolve(choice: str, system: QLocale | None = None) -> str:
    """The language a ui_language setting means here: "auto" follows the system locale."""
    if choice != "auto":
        return choice
    from PySide6.QtCore import QLocale

    system = system or QLocale.system()
    # Chinese in Simplified script (mainland China, Singapore) reads zh_CN; Traditional
    # readers (zh_TW, zh_HK) are better served by English than by the wrong script.
    if (system.language() == QLocale.Language.Chinese
            and system.script() == QLocale.Script.SimplifiedChineseScript):
        return "zh_CN"
    return "en"


def use_language(choice: str, system: QLocale | None = None) -> str:
    """Install the translator for a ui_language setting; returns the language now in use.

    Windows built afterwards are in that language; the tray menu is retranslated by its owner.
    """
    from PySide6.QtCore import QCoreApplication, QTranslator

    global _installed
    app = QCoreApplication.instance()
    if app is None:
        return "en"
    language = resolve(choice, system)
    if _installed is not None:
        app.removeTranslator(_installed)
        _installed = None
    if language in TRANSLATED:
        translator = QTranslator(app)
        if translator.load(str(qm_path(language))):
            app.installTranslator(translator)
            _installed = translator
        else:
            log.warning("no translation file %s; the interface stays in English",
                        qm_path(language))
            return "en"
    return language
