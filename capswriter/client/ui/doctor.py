"""`capswriter doctor`: what this machine gives the desktop app, checked one part at a time.

Each check reports ``ok``, ``warning`` (the app works, with less) or ``problem`` (a part of the
app will not work), with a sentence; the command exits 1 when any problem is found. It is the
first thing to run, and to paste into a bug report, when the app misbehaves on a machine.
"""

from __future__ import annotations

import importlib.metadata
import locale
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from capswriter import __version__
from capswriter.asr.native_path import ansi_codec, spellable

OK, WARNING, PROBLEM = "ok", "warning", "problem"
CLIPBOARD_PROBE = "CapsWriter 中文测试 ✓"
VERSIONED = ("sherpa-onnx", "onnxruntime", "numpy", "av", "PySide6-Essentials", "pynput",
             "sounddevice", "pyperclip", "httpx", "websockets")


@dataclass(frozen=True)
class Finding:
    check: str
    status: str
    detail: str


def versions() -> Finding:
    found = [f"capswriter {__version__}", f"Python {platform.python_version()}",
             f"{platform.system()} {platform.release()} ({platform.machine()})"]
    for name in VERSIONED:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} -")
    return Finding("versions", OK, ", ".join(found))


def code_page() -> Finding:
    parts = [f"preferred encoding {locale.getpreferredencoding(False)}",
             f"UTF-8 mode {'on' if sys.flags.utf8_mode else 'off'}",
             f"stdout {getattr(sys.stdout, 'encoding', None)}",
             f"file names {sys.getfilesystemencoding()}"]
    if sys.platform == "win32":  # pragma: no cover - Windows only
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        parts.insert(0, f"ANSI code page {kernel32.GetACP()}, OEM {kernel32.GetOEMCP()}")
    return Finding("code page", OK, ", ".join(parts))


def model_paths(models_dir: Path) -> Finding:
    """Whether sherpa-onnx can open the models folder by name (see asr/native_path.py)."""
    where = str(models_dir.resolve())
    if not models_dir.is_dir():
        return Finding("models folder", WARNING, f"{where} does not exist yet")
    if spellable(where, ansi_codec()):
        return Finding("models folder", OK, where)
    return Finding("models folder", WARNING,
                   f"{where} has letters this system's code page cannot spell; models run "
                   f"from their short names or a copy (moving them to an ASCII-named folder "
                   f"avoids the copy)")


def hook_backend() -> Finding:
    try:
        from pynput import keyboard
    except Exception as exc:  # pynput raises ImportError with a list of reasons
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Finding("keyboard hook", PROBLEM, f"pynput cannot hook the keyboard: {first}")
    backend = keyboard.Listener.__module__.rsplit(".", 1)[-1].lstrip("_")
    version = importlib.metadata.version("pynput")
    status = OK if _at_least(version, (1, 8)) else WARNING
    note = "" if status == OK else "; 1.8 or later is needed to tell our own key presses apart"
    return Finding("keyboard hook", status, f"pynput {version}, backend {backend}{note}")


def audio() -> Finding:
    try:
        import sounddevice as sd

        apis = sd.query_hostapis()
        devices = sd.query_devices()
    except Exception as exc:  # PortAudio missing or failing to start
        return Finding("audio", PROBLEM, f"PortAudio is not usable: {exc}")
    inputs = [d for d in devices if d["max_input_channels"] > 0]
    names = ", ".join(f"{api['name']} ({len(api['devices'])})" for api in apis)
    if not inputs:
        return Finding("audio", WARNING, f"host APIs: {names or 'none'}; no microphone found")
    try:
        default = sd.query_devices(kind="input")["name"]
    except Exception:  # no default input set
        default = "none"
    return Finding("audio", OK, f"host APIs: {names}; {len(inputs)} inputs, default {default}")


def clipboard() -> Finding:
    from capswriter.client.delivery import Clipboard
    from capswriter.errors import CapsWriterError

    board = Clipboard()
    before = board.read()
    try:
        board.write(CLIPBOARD_PROBE)
        back = board.read()
    except CapsWriterError as exc:
        return Finding("clipboard", PROBLEM, str(exc))
    finally:
        if before is not None:
            try:
                board.write(before)
            except CapsWriterError:
                pass
    if back != CLIPBOARD_PROBE:
        return Finding("clipboard", PROBLEM, f"wrote {CLIPBOARD_PROBE!r}, read back {back!r}")
    return Finding("clipboard", OK, "Chinese text went through and back unchanged")


def tray_and_translations() -> list[Finding]:
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    from capswriter.client import i18n

    app = QApplication.instance() or QApplication([])
    tray = (Finding("tray", OK, "the system tray is available")
            if QSystemTrayIcon.isSystemTrayAvailable()
            else Finding("tray", WARNING, f"no system tray on this desktop "
                         f"({app.platformName()}); the app runs without its icon"))
    missing = [lang for lang in i18n.TRANSLATED if not i18n.qm_path(lang).is_file()]
    system = i18n.resolve("auto")
    if missing:
        words = Finding("translations", PROBLEM,
                        f"missing: {', '.join(str(i18n.qm_path(lang)) for lang in missing)}")
    else:
        words = Finding("translations", OK, f"{', '.join(i18n.TRANSLATED)} installed; "
                        f"this system's language gives {system}")
    return [tray, words]


def run_checks(models_dir: Path) -> list[Finding]:
    """Every check; one that fails unexpectedly is reported as a problem, not raised."""
    findings: list[Finding] = []
    checks: list[tuple[str, Callable[[], Finding | list[Finding]]]] = [
        ("versions", versions), ("code page", code_page),
        ("models folder", lambda: model_paths(models_dir)), ("keyboard hook", hook_backend),
        ("audio", audio), ("clipboard", clipboard), ("tray", tray_and_translations),
    ]
    for name, check in checks:
        try:
            result = check()
        except Exception as exc:  # a check must not stop the others
            result = Finding(name, PROBLEM, f"{type(exc).__name__}: {exc}")
        findings.extend(result if isinstance(result, list) else [result])
    return findings


def report(findings: list[Finding]) -> str:
    width = max(len(f.check) for f in findings)
    # One line per check, so the report pastes into an issue as it is.
    return "\n".join(f"{f.status:<8} {f.check:<{width}}  {' '.join(f.detail.split())}"
                     for f in findings)


def _at_least(version: str, wanted: tuple[int, ...]) -> bool:
    numbers = []
    for part in version.split(".")[: len(wanted)]:
        digits = "".join(ch for ch in part if ch.isdigit())
        numbers.append(int(digits or 0))
    return tuple(numbers) >= wanted


def doctor(models_dir: Path) -> int:
    """Print the report; 1 when any part of the app will not work here."""
    findings = run_checks(models_dir)
    print(report(findings))
    problems = [f for f in findings if f.status == PROBLEM]
    print(f"{len(problems)} problem(s)" if problems else "no problems found")
    return 1 if problems else 0

