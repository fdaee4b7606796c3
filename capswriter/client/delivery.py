"""From processed text to characters in the focused window.

:class:`TextOutput` pastes or types the text into the focused application, in the mode the
output rules (:mod:`capswriter.client.output_rules`) choose for it, and puts a space between two
Latin dictations that follow each other in one window. When it cannot (no focused window,
clipboard or keyboard failure), the text is left on the clipboard and the result says why, so
the caller can keep it in history and tell the user.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from capswriter.client.output_rules import FocusedApp, WatchedFile, mode_for, parse_app_modes
from capswriter.config import Settings, config_dir
from capswriter.errors import CapsWriterError
from capswriter.sentences import needs_space_between

log = logging.getLogger(__name__)

# Text put into the same window within this many seconds continues what was put there before.
FOLLOW_ON_S = 120.0


class OutputError(CapsWriterError):
    """The text could not be put into the focused application."""


def focused_app() -> FocusedApp | None:
    """The focused top-level window's process and title, or None if nothing has focus."""
    if sys.platform.startswith("linux"):
        return _focused_app_x11()
    if sys.platform == "win32":  # pragma: no cover - Windows only
        return _focused_app_win32()
    return FocusedApp(process="", title="")  # macOS: no cheap query; assume focus


def _focused_app_x11() -> FocusedApp | None:
    try:
        from Xlib import X, display
    except ImportError:
        return FocusedApp(process="", title="")
    try:
        dpy = display.Display()
    except Exception:  # no X server (Wayland without XWayland, headless)
        return None
    try:
        window = dpy.get_input_focus().focus
        if isinstance(window, int) or window in (X.NONE, X.PointerRoot):
            return None
        root = dpy.screen().root
        if window == root:
            return None
        title, pid = "", 0
        pid_atom = dpy.intern_atom("_NET_WM_PID")
        name_atom = dpy.intern_atom("_NET_WM_NAME")
        utf8 = dpy.intern_atom("UTF8_STRING")
        while window and window != root:
            if not title:
                prop = window.get_full_property(name_atom, utf8)
                if prop is not None:
                    title = prop.value.decode("utf-8", "replace")
                else:
                    title = window.get_wm_name() or ""
            if not pid:
                prop = window.get_full_property(pid_atom, X.AnyPropertyType)
                pid = int(prop.value[0]) if prop is not None and len(prop.value) else 0
            if title and pid:
                break
            window = window.query_tree().parent
        return FocusedApp(process=_process_name(pid), title=str(title))
    except Exception as exc:  # a window vanishing mid-query raises BadWindow
        log.debug("focus query failed: %s", exc)
        return FocusedApp(process="", title="")
    finally:
        dpy.close()


def _focused_app_win32() -> FocusedApp | None:  # pragma: no cover - Windows only
    import ctypes
    from ctypes import wintypes

    user32 = ctypes.windll.user32
    hwnd = user32.GetForegroundWindow()
    if not hwnd:
        return None
    buf = ctypes.create_unicode_buffer(512)
    user32.GetWindowTextW(hwnd, buf, 512)
    pid = wintypes.DWORD()
    user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
    return FocusedApp(process=_process_name(pid.value), title=buf.value,
                      above_us=_integrity(pid.value) > _integrity(os.getpid()))


# Mandatory integrity levels (their RIDs): medium for a user's programs, high when elevated.
MEDIUM_INTEGRITY, HIGH_INTEGRITY = 0x2000, 0x3000


def _integrity(pid: int) -> int:  # pragma: no cover - Windows only
    """The process's integrity level; one whose token we may not read is taken as high, since
    that is what keeps a medium process out."""
    import ctypes
    from ctypes import wintypes

    kernel32, advapi32 = ctypes.windll.kernel32, ctypes.windll.advapi32
    process = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not process:
        return HIGH_INTEGRITY
    token = wintypes.HANDLE()
    try:
        if not advapi32.OpenProcessToken(process, 0x0008, ctypes.byref(token)):  # TOKEN_QUERY
            return HIGH_INTEGRITY
        try:
            size = wintypes.DWORD()
            advapi32.GetTokenInformation(token, 25, None, 0, ctypes.byref(size))  # IntegrityLevel
            buffer = ctypes.create_string_buffer(size.value)
            if not advapi32.GetTokenInformation(token, 25, buffer, size, ctypes.byref(size)):
                return MEDIUM_INTEGRITY
            sid = ctypes.cast(buffer, ctypes.POINTER(ctypes.c_void_p))[0]
            count = ctypes.cast(advapi32.GetSidSubAuthorityCount(ctypes.c_void_p(sid)),
                                ctypes.POINTER(ctypes.c_ubyte))[0]
            rid = advapi32.GetSidSubAuthority(ctypes.c_void_p(sid), count - 1)
            return int(ctypes.cast(rid, ctypes.POINTER(wintypes.DWORD))[0])
        finally:
            kernel32.CloseHandle(token)
    finally:
        kernel32.CloseHandle(process)


def _process_name(pid: int) -> str:
    if not pid:
        return ""
    try:
        import psutil

        return psutil.Process(pid).name()
    except Exception:
        return ""


class Clipboard:
    """pyperclip with the waits it needs: on X11 ``copy`` returns before xclip owns the text."""

    def __init__(self, timeout_s: float = 1.0) -> None:
        self.timeout_s = timeout_s

    def read(self) -> str | None:
        import pyperclip

        try:
            return pyperclip.paste()
        except Exception as exc:
            log.debug("clipboard read failed: %s", exc)
            return None

    def write(self, text: str) -> None:
        """Set the clipboard and return only once reading it gives the new text back."""
        import pyperclip

        try:
            if sys.platform == "win32":  # pragma: no cover - Windows only
                _write_out_of_history(text)
            else:
                pyperclip.copy(text)
        except Exception as exc:
            raise OutputError(f"could not set the clipboard: {exc}") from exc
        deadline = time.monotonic() + self.timeout_s
        while self.read() != text:
            if time.monotonic() > deadline:
                raise OutputError("the clipboard did not take the text in time")
            time.sleep(0.01)


def _write_out_of_history(text: str) -> None:  # pragma: no cover - Windows only
    """Put ``text`` on the Windows clipboard marked to stay out of Win+V history and the cloud
    clipboard: a paste and its restore would otherwise add two entries per dictation."""
    import ctypes
    from ctypes import wintypes

    user32, kernel32 = ctypes.windll.user32, ctypes.windll.kernel32
    kernel32.GlobalAlloc.restype = wintypes.HGLOBAL
    kernel32.GlobalLock.restype = ctypes.c_void_p
    user32.SetClipboardData.argtypes = (wintypes.UINT, wintypes.HANDLE)

    def global_copy(data: bytes) -> int:
        handle = kernel32.GlobalAlloc(0x0002, len(data))  # GMEM_MOVEABLE
        if not handle:
            raise OSError("out of memory for the clipboard")
        ctypes.memmove(kernel32.GlobalLock(handle), data, len(data))
        kernel32.GlobalUnlock(handle)
        return handle

    for _ in range(50):  # another program may hold the clipboard open for a moment
        if user32.OpenClipboard(None):
            break
        time.sleep(0.01)
    else:
        raise OSError("another program keeps the clipboard open")
    try:
        user32.EmptyClipboard()
        user32.SetClipboardData(13, global_copy((text + "\0").encode("utf-16-le")))  # UNICODE
        never = (0).to_bytes(4, "little")
        for name in ("CanIncludeInClipboardHistory", "CanUploadToCloudClipboard"):
            user32.SetClipboardData(user32.RegisterClipboardFormatW(name), global_copy(never))
    finally:
        user32.CloseClipboard()


@dataclass(frozen=True)
class LastOutput:
    """What was last put into a window, and when (time.monotonic())."""

    text: str
    at: float
    app: FocusedApp


@dataclass
class OutputResult:
    delivered: bool
    mode: str
    app: FocusedApp | None
    reason: str = ""
    # time.monotonic() when the last keystroke went out: the text is in the target from here.
    sent_at: float = 0.0


class TextOutput:
    """Puts text into the focused application by pasting or typing."""

    def __init__(
        self,
        settings: Settings,
        rules_dir: Path | None = None,
        clipboard: Clipboard | None = None,
        paste_settle_s: float = 0.3,
    ) -> None:
        self.settings = settings
        self.clipboard = clipboard or Clipboard()
        self.app_modes = WatchedFile((rules_dir or config_dir()) / "apps.toml", parse_app_modes, {})
        # The target reads the clipboard after it handles Ctrl+V; restoring earlier would
        # make it paste the old content.
        self.paste_settle_s = paste_settle_s
        self.last: LastOutput | None = None
        self._keyboard = None

    def mode_for(self, app: FocusedApp | None) -> str:
        modes = self.app_modes.current()
        return mode_for(modes, app, self.settings.client.output_mode)  # type: ignore[arg-type]

    def deliver(self, text: str, follow_on: bool = True,
                app: FocusedApp | None = None) -> OutputResult:
        """Paste or type ``text`` into ``app`` (default: the focused window); on failure leave
        it on the clipboard and say why.

        Text that continues Latin text put into the same window shortly before gets a space in
        front ("meters." then "Go forward"); Chinese never does. ``follow_on=False``: ``text``
        is the next piece of a text being streamed, and goes right after the last one.
        """
        app = app or focused_app()
        mode = self.mode_for(app)
        if not text:
            return OutputResult(True, mode, app)
        if app is None:
            self.last = None
            return self._fallback(text, mode, app, "no window has keyboard focus")
        if app.above_us:
            # Keystrokes would vanish and we would report success; the text must not be lost.
            self.last = None
            return self._fallback(
                text, mode, app, "the window runs as administrator and Windows keeps "
                "CapsWriter's keystrokes out of it; press Ctrl+V there")
        sent = " " + text if follow_on and self.follows_on(text, app, time.monotonic()) else text
        before = self.last.text if not follow_on and self.last is not None else ""
        try:
            if mode == "type":
                self._controller().type(sent)
                sent_at = time.monotonic()
            else:
                sent_at = self.paste(sent)
        except Exception as exc:
            log.warning("output failed: %s", exc)
            # Whether any of it arrived is unknown, so the next text cannot count on it.
            self.last = None
            return self._fallback(text, mode, app, str(exc))
        self.last = LastOutput(before + sent, sent_at, app)
        return OutputResult(True, mode, app, sent_at=sent_at)

    def follows_on(self, text: str, app: FocusedApp, now: float) -> bool:
        """True when ``text`` should be set apart by a space from the last text put into ``app``."""
        last = self.last
        return (
            last is not None
            and now - last.at <= FOLLOW_ON_S
            and last.app.same_window(app)
            and needs_space_between(last.text, text)
        )

    def paste(self, text: str) -> float:
        """Paste through the clipboard and put back what it held; returns when Ctrl+V went out."""
        saved = self.clipboard.read()
        self.clipboard.write(text)
        self._send_paste_keys()
        sent_at = time.monotonic()
        time.sleep(self.paste_settle_s)
        # An empty read may be an image or files the text clipboard cannot hold: writing ""
        # back would destroy them, so then the dictated text stays instead. What the user or
        # the target copied meanwhile stays too: only our own text is replaced.
        if saved and saved != text and self.clipboard.read() == text:
            try:
                self.clipboard.write(saved)
            except Exception as exc:  # noqa: BLE001 - the paste went out; do not report it lost
                # Saying "not inserted" now would make the user paste the text a second time.
                log.warning("could not put the previous clipboard back: %s", exc)
        return sent_at

    def close(self) -> None:
        """Let go of the keyboard connection (an X display on Linux)."""
        self._keyboard = None

    def _fallback(self, text: str, mode: str, app: FocusedApp | None, reason: str) -> OutputResult:
        try:
            self.clipboard.write(text)
        except OutputError as exc:
            reason = f"{reason}; {exc}"
        return OutputResult(False, mode, app, reason)

    def _controller(self):
        if self._keyboard is None:
            from pynput import keyboard

            self._keyboard = keyboard.Controller()
        return self._keyboard

    def _send_paste_keys(self) -> None:
        from pynput.keyboard import Key, KeyCode

        if sys.platform == "darwin":
            modifier, v = Key.cmd, KeyCode.from_char("v")
        elif sys.platform == "win32":
            modifier, v = Key.ctrl, KeyCode.from_vk(0x56)
        else:
            # With a vk pynput uses XTest, which every X client accepts; a plain char goes
            # through XSendEvent, which many applications ignore.
            modifier, v = Key.ctrl, KeyCode.from_vk(0x76)  # XK_v
        kb = self._controller()
        with kb.pressed(modifier):
            kb.press(v)
            kb.release(v)
