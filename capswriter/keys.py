"""The keys and mouse buttons push-to-talk can use, by their settings name, with the name a
user knows them by.

Settings names are pynput's (``caps_lock``, ``alt_r``) plus ``mouse_x1``/``mouse_x2``/
``mouse_middle``; the settings check refuses any other, so a mistyped key cannot silently
disable push-to-talk.
"""

from __future__ import annotations


def QT_TRANSLATE_NOOP(context: str, text: str) -> str:  # noqa: N802 - the name lupdate looks for
    """Marks a label for translation (the client shows it through Qt's translator)."""
    return text


# Keys with no ordinary meaning while typing come first: those are the good choices.
KEY_LABELS: dict[str, str] = {
    "caps_lock": QT_TRANSLATE_NOOP("Keys", "Caps Lock"),
    "scroll_lock": QT_TRANSLATE_NOOP("Keys", "Scroll Lock"),
    "num_lock": QT_TRANSLATE_NOOP("Keys", "Num Lock"),
    "pause": QT_TRANSLATE_NOOP("Keys", "Pause"),
    "insert": QT_TRANSLATE_NOOP("Keys", "Insert"),
    "menu": QT_TRANSLATE_NOOP("Keys", "Menu"),
    "print_screen": QT_TRANSLATE_NOOP("Keys", "Print Screen"),
    "alt_r": QT_TRANSLATE_NOOP("Keys", "Right Alt"),
    "alt_gr": QT_TRANSLATE_NOOP("Keys", "AltGr"),
    "ctrl_r": QT_TRANSLATE_NOOP("Keys", "Right Ctrl"),
    "shift_r": QT_TRANSLATE_NOOP("Keys", "Right Shift"),
    "cmd_r": QT_TRANSLATE_NOOP("Keys", "Right Windows / Command"),
    "alt_l": QT_TRANSLATE_NOOP("Keys", "Left Alt"),
    "ctrl_l": QT_TRANSLATE_NOOP("Keys", "Left Ctrl"),
    "shift_l": QT_TRANSLATE_NOOP("Keys", "Left Shift"),
    "cmd_l": QT_TRANSLATE_NOOP("Keys", "Left Windows / Command"),
    **{f"f{n}": f"F{n}" for n in range(1, 21)},
    "mouse_x1": QT_TRANSLATE_NOOP("Keys", "Mouse back button"),
    "mouse_x2": QT_TRANSLATE_NOOP("Keys", "Mouse forward button"),
    "mouse_middle": QT_TRANSLATE_NOOP("Keys", "Middle mouse button"),
}
HOTKEY_NAMES = tuple(KEY_LABELS)


def is_hotkey(name: str) -> bool:
    """True for a key the push-to-talk listener can watch."""
    return name in KEY_LABELS


def key_label(name: str) -> str:
    """How the key is written on keyboards and in menus (the raw name for an unknown one)."""
    return KEY_LABELS.get(name, name)
