"""Optional parts of the package (pip extras) and the one-line message when one is missing.

Commands check their extra before they start work (and before any download), so a missing
package is one sentence with the install command instead of a ModuleNotFoundError traceback.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from capswriter.config import FROZEN
from capswriter.errors import MissingExtra


@dataclass(frozen=True)
class Extra:
    name: str
    modules: tuple[str, ...]
    install: str  # the pip command that adds it


EXTRAS: dict[str, Extra] = {
    "client": Extra(
        "client",
        ("PySide6", "sounddevice", "pynput", "pyperclip"),
        "pip install 'capswriter[client]'",
    ),
    "tools": Extra(
        "tools", ("matplotlib", "whisper_normalizer"), "pip install 'capswriter[tools]'"
    ),
    # The CPU build of torch, pinned so pip does not pick a CUDA build (see scripts/setup.sh).
    "convert": Extra(
        "convert", ("torch", "onnx"), "pip install 'capswriter[convert]' torch==2.13.0"
    ),
}


def missing_modules(extra: str) -> list[str]:
    """The modules of `extra` that cannot be imported here."""
    return [m for m in EXTRAS[extra].modules if importlib.util.find_spec(m) is None]


def require_extra(extra: str, purpose: str, *, frozen_hint: str = "") -> None:
    """Raise MissingExtra naming the install command unless every module of `extra` is present.

    In the desktop build pip cannot add anything, so `frozen_hint` says what to do instead.
    """
    missing = missing_modules(extra)
    if not missing:
        return
    if FROZEN:
        hint = frozen_hint or f"it comes with the Python package: {EXTRAS[extra].install}"
        raise MissingExtra(
            f"{purpose} is not part of the desktop app ({', '.join(missing)} missing); {hint}"
        )
    raise MissingExtra(
        f"{purpose} needs the '{extra}' extra ({', '.join(missing)} missing); "
        f"run: {EXTRAS[extra].install}"
    )
