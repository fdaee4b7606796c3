"""Push-to-talk: a pure state machine over key events, and a thin pynput adapter that feeds it.

The machine decides between a *tap* (the key keeps its ordinary meaning) and a *hold* (a
dictation) and says what to do through :class:`Action` values; it touches no OS hook, so it is
tested with plain timestamps. The adapter (:class:`HotkeyListener`) turns pynput callbacks into
calls on the machine and carries the actions out.

CapsLock needs care because the OS toggles its state on every physical tap:

* On X11 the key cannot be suppressed, so a hold toggles Lock like any tap would; after the
  dictation the machine asks for one synthetic tap to put the state back.
* On Windows the key is suppressed through pynput's ``win32_event_filter``; a hold then changes
  nothing, and a short tap has to be replayed as a synthetic tap.

A key sent by pynput's Controller comes back to the listener twice on X11: once at once, marked
injected (pynput's in-process notification), and once 10-20 ms later through the X RECORD
extension, not marked. The machine ignores both so its own restore tap never looks like a user's.
"""

from __future__ import annotations

import enum
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from capswriter.client.recovery import LockDebt

log = logging.getLogger(__name__)

LOCK_KEYS = frozenset({"caps_lock", "num_lock", "scroll_lock"})
# Windows virtual-key codes of the lock keys, for the low-level filter that suppresses them.
LOCK_VK = {"caps_lock": 0x14, "num_lock": 0x90, "scroll_lock": 0x91}
MOUSE_BUTTONS = frozenset({"mouse_x1", "mouse_x2", "mouse_middle"})
# Keys whose release after a hold Windows reads as a press of its own: Win opens Start, Alt and
# the menu key the menu bar. A tap of an unassigned key (0xE8) in between keeps that from
# happening, as it does for any shortcut held with them.
MENU_KEY_VKS = {"cmd": (0x5B, 0x5C), "cmd_l": (0x5B,), "cmd_r": (0x5C,),
                "alt": (0x12, 0xA4, 0xA5), "alt_l": (0xA4,), "alt_r": (0xA5,),
                "alt_gr": (0xA5,), "menu": (0x5D,)}
MASK_VK = 0xE8


def masks_release(key: str, platform: str = sys.platform) -> bool:
    """Whether a hold of ``key`` must be masked before its release reaches the OS."""
    return platform.startswith("win") and key in MENU_KEY_VKS


class Action(enum.Enum):
    ARM = "arm"  # the key went down: keep audio from this instant, it may become a dictation
    START = "start"  # held past the threshold: a dictation begins
    STOP = "stop"  # released after a dictation: send what was recorded
    DISARM = "disarm"  # released before the threshold: a tap, drop the audio
    TAP_KEY = "tap_key"  # send one synthetic tap of the key (restore or replay the lock state)


class Phase(enum.Enum):
    IDLE = "idle"
    PENDING = "pending"  # down, not yet long enough to be a dictation
    RECORDING = "recording"


@dataclass
class HotkeyMachine:
    """Tap-or-hold decisions for one key.

    ``toggles_lock``: the key is a lock key whose OS state must end as if only taps happened.
    ``suppressed``: the OS hook swallows the physical key (Windows), so taps must be replayed.
    ``expects_echo``: synthetic taps come back once more without the injected mark (X11).
    """

    threshold_s: float = 0.3
    toggles_lock: bool = True
    suppressed: bool = False
    expects_echo: bool = True
    echo_window_s: float = 0.5

    def __post_init__(self) -> None:
        self.phase = Phase.IDLE
        self.pressed_at = 0.0
        self._echo_presses = 0
        self._echo_releases = 0
        self._echo_until = 0.0

    @property
    def next_deadline(self) -> float | None:
        """When :meth:`poll` must be called to start a dictation on time, if a press is pending."""
        return self.pressed_at + self.threshold_s if self.phase is Phase.PENDING else None

    def press(self, at: float, injected: bool = False) -> list[Action]:
        if injected or self._is_echo(at, press=True):
            return []
        if self.phase is not Phase.IDLE:
            return []  # auto-repeat while held
        self.phase = Phase.PENDING
        self.pressed_at = at
        return [Action.ARM]

    def release(self, at: float, injected: bool = False) -> list[Action]:
        if injected or self._is_echo(at, press=False):
            return []
        if self.phase is Phase.IDLE:
            return []  # release without press (e.g. held since before the app started)
        actions = self.poll(at)
        if self.phase is Phase.RECORDING:
            actions.append(Action.STOP)
            if self.toggles_lock and not self.suppressed:
                actions.extend(self._synthetic_tap(at))
        else:
            actions.append(Action.DISARM)
            if self.toggles_lock and self.suppressed:
                actions.extend(self._synthetic_tap(at))
        self.phase = Phase.IDLE
        return actions

    def poll(self, now: float) -> list[Action]:
        """Start the dictation once the key has been down for the threshold."""
        # The tolerance absorbs float rounding of timestamps taken from a monotonic clock.
        if self.phase is Phase.PENDING and now - self.pressed_at >= self.threshold_s - 1e-6:
            self.phase = Phase.RECORDING
            return [Action.START]
        return []

    def _synthetic_tap(self, at: float) -> list[Action]:
        if self.expects_echo:
            self._echo_presses = 1
            self._echo_releases = 1
            self._echo_until = at + self.echo_window_s
        return [Action.TAP_KEY]

    def _is_echo(self, at: float, press: bool) -> bool:
        if at > self._echo_until:
            self._echo_presses = self._echo_releases = 0
            return False
        if press and self._echo_presses and self.phase is Phase.IDLE:
            self._echo_presses -= 1
            return True
        if not press and self._echo_releases and not self._echo_presses:
            self._echo_releases -= 1
            return True
        return False


def machine_for(key: str, threshold_s: float, platform: str = sys.platform) -> HotkeyMachine:
    """The machine configured for a key name from the settings on this platform."""
    lock = key in LOCK_KEYS
    windows = platform.startswith("win")
    return HotkeyMachine(
        threshold_s=threshold_s,
        toggles_lock=lock,
        suppressed=lock and windows,
        expects_echo=platform.startswith("linux"),
    )


def x11_lock_state(key: str) -> bool | None:
    """Whether ``key``'s lock is on, as the X server applies it to the next key; None where
    that cannot be read (not X11, or a key without a modifier bit)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        from Xlib import X, display

        mask = {"caps_lock": X.LockMask, "num_lock": X.Mod2Mask}.get(key)
        if mask is None:
            return None
        dpy = display.Display()
        try:
            return bool(dpy.screen().root.query_pointer().mask & mask)
        finally:
            dpy.close()
    except Exception as exc:  # no X display (Wayland-only, a console): nothing to restore
        log.debug("lock state unreadable: %s", exc)
        return None


class HotkeyListener:
    """Feeds a :class:`HotkeyMachine` from pynput and runs its actions.

    ``on_action`` receives ARM/START/STOP/DISARM on a worker thread (never the hook thread, which
    must return quickly or the OS drops the hook); TAP_KEY is carried out here.
    """

    def __init__(
        self,
        key: str,
        threshold_s: float,
        on_action: Callable[[Action], None],
        clock: Callable[[], float] = time.monotonic,
        lock_debt: LockDebt | None = None,
        on_escape: Callable[[], None] = lambda: None,
    ) -> None:
        self.key_name = key
        # Where a hold notes the lock state it owes, so an app that dies mid-dictation has it
        # put back at the next start (X11 only: elsewhere the hold changes no lock state).
        self.lock_debt = lock_debt
        # The lock state between dictations, read while the key is up: during a hold X shows
        # the lock on whatever it was before (xkb locks on press, unlocks on release).
        self._idle_lock: bool | None = None
        # Esc stops a role's answer while it streams; the listener sees every key anyway.
        self.on_escape = on_escape
        self.machine = machine_for(key, threshold_s)
        self.on_action = on_action
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: list[Action] = []
        self._running = False
        self._listener = None
        self._worker: threading.Thread | None = None
        self._controller = None
        self._target = None
        # Replayed taps of a suppressed key go out on their own thread: behind ARM, which opens
        # the microphone, a tap would land after the next letters were typed (wrong case).
        self._taps = 0
        self._tapper: threading.Thread | None = None

    def start(self) -> None:
        from pynput import keyboard, mouse

        self._running = True
        self._start_threads()
        if self.key_name in MOUSE_BUTTONS:
            self._target = _mouse_button(self.key_name)
            self._listener = mouse.Listener(on_click=self._on_click)
        else:
            self._target = _keyboard_key(self.key_name)
            self._controller = keyboard.Controller()
            kwargs = {}
            if self.machine.suppressed or masks_release(self.key_name):
                kwargs["win32_event_filter"] = self._win32_filter
            self._listener = keyboard.Listener(
                on_press=self._on_press, on_release=self._on_release, **kwargs
            )
        self._listener.start()
        self._listener.wait()
        self._settle_lock_debt()

    def _start_threads(self) -> None:
        self._worker = threading.Thread(target=self._run, name="hotkey", daemon=True)
        self._worker.start()
        if self.machine.suppressed:
            self._tapper = threading.Thread(target=self._tap_replays, name="hotkey-taps",
                                            daemon=True)
            self._tapper.start()

    def _tap_replays(self) -> None:
        while True:
            with self._wake:
                while self._running and not self._taps:
                    self._wake.wait()
                if not self._running:
                    return
                self._taps -= 1
            try:
                self._controller.press(self._target)  # type: ignore[union-attr]
                self._controller.release(self._target)  # type: ignore[union-attr]
            except Exception:  # a failing tap must not end the thread
                log.exception("replaying a tap of %s failed", self.key_name)

    def _owes_lock_tap(self) -> bool:
        machine = self.machine
        return self.lock_debt is not None and machine.toggles_lock and not machine.suppressed

    def _settle_lock_debt(self) -> None:
        """A hold the last run never finished left the lock toggled: put it back now."""
        if self.lock_debt is None or self._controller is None:
            return
        restore_to = self.lock_debt.outstanding(self.key_name)
        if restore_to is not None and x11_lock_state(self.key_name) not in (None, restore_to):
            log.warning("%s was left toggled by a dictation that never finished; putting it "
                        "back", self.key_name)
            self.machine._synthetic_tap(self._clock())  # its echo is ours, not the user's
            self._controller.press(self._target)
            self._controller.release(self._target)
        self.lock_debt.paid()
        self._idle_lock = restore_to if restore_to is not None \
            else x11_lock_state(self.key_name)

    def stop(self) -> None:
        with self._wake:
            self._running = False
            self._wake.notify_all()
        if self._listener is not None:
            self._listener.stop()
            # pynput disables X recording on the connection that is blocked reading events, so
            # its thread would wait for the next key; a request on its other connection ends it now.
            other = getattr(self._listener, "_display_stop", None)
            context = getattr(self._listener, "_context", None)
            if other is not None and context is not None:
                try:
                    other.record_disable_context(context)
                    other.flush()
                except Exception as exc:
                    log.debug("stopping X recording: %s", exc)
            self._listener.join(timeout=2)
        for thread in (self._worker, self._tapper):
            if thread is not None:
                thread.join(timeout=2)
        self._listener = self._controller = None

    # pynput callbacks; pynput passes `injected` as a second argument since 1.8.
    def _on_press(self, key, injected: bool = False) -> None:
        if key == self._target:
            self._feed(self.machine.press, injected)
        elif not injected and getattr(key, "name", None) == "esc":
            self.on_escape()

    def _on_release(self, key, injected: bool = False) -> None:
        if key == self._target:
            self._feed(self.machine.release, injected)

    def _on_click(self, x, y, button, pressed, injected: bool = False) -> None:
        if button == self._target:
            self._feed(self.machine.press if pressed else self.machine.release, injected)

    def _win32_filter(self, msg, data) -> bool:  # pragma: no cover - Windows only
        # A suppressed event never reaches the pynput callbacks, so the machine is fed here.
        # LLKHF_INJECTED (0x10) marks our own replayed tap, which must reach the OS.
        if self.key_name in MENU_KEY_VKS:
            if data.vkCode in MENU_KEY_VKS[self.key_name] and msg in (0x101, 0x105) \
                    and self.machine.phase is Phase.RECORDING and not data.flags & 0x10:
                # Before the release goes on to Windows; keyed from here, like the user's keys.
                self._controller.press(_key_by_vk(MASK_VK))  # type: ignore[union-attr]
                self._controller.release(_key_by_vk(MASK_VK))  # type: ignore[union-attr]
            return True
        if data.vkCode == LOCK_VK[self.key_name] and not data.flags & 0x10:
            pressed = msg in (0x100, 0x104)  # WM_KEYDOWN, WM_SYSKEYDOWN
            self._feed(self.machine.press if pressed else self.machine.release, False)
            self._listener.suppress_event()
        return True

    def _feed(self, step, injected: bool) -> None:
        with self._wake:
            actions = step(self._clock(), injected)
            if self._tapper is not None:
                self._taps += actions.count(Action.TAP_KEY)
                actions = [a for a in actions if a is not Action.TAP_KEY]
            self._queue.extend(actions)
            self._wake.notify_all()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._running and not self._queue:
                    deadline = self.machine.next_deadline
                    if deadline is not None:
                        wait = deadline - self._clock()
                        if wait <= 0:
                            self._queue.extend(self.machine.poll(self._clock()))
                            continue
                        self._wake.wait(wait)
                    else:
                        self._wake.wait()
                if not self._running:
                    return
                actions, self._queue = self._queue, []
            for action in actions:
                try:
                    if action is Action.START and self._owes_lock_tap() \
                            and self._idle_lock is not None:
                        self.lock_debt.owe(self.key_name, self._idle_lock)  # type: ignore[union-attr]
                    if action is Action.TAP_KEY:
                        self._controller.press(self._target)
                        self._controller.release(self._target)
                        if self.lock_debt is not None:
                            self.lock_debt.paid()
                    else:
                        self.on_action(action)
                    if action is Action.DISARM and self._owes_lock_tap():
                        # A tap changed the lock as the user meant it to.
                        self._idle_lock = x11_lock_state(self.key_name)
                except Exception:  # a failing handler must not kill the hotkey
                    log.exception("hotkey action %s failed", action.value)


def _key_by_vk(vk: int):
    from pynput.keyboard import KeyCode

    return KeyCode.from_vk(vk)


def _keyboard_key(name: str):
    from pynput import keyboard

    if hasattr(keyboard.Key, name):
        return getattr(keyboard.Key, name)
    if len(name) == 1:
        return keyboard.KeyCode.from_char(name)
    raise ValueError(f"unknown hotkey '{name}': use a pynput Key name such as caps_lock or f13")


def _mouse_button(name: str):
    from pynput import mouse

    side = {"mouse_x1": ("x1", "button8"), "mouse_x2": ("x2", "button9")}
    if name == "mouse_middle":
        return mouse.Button.middle
    for candidate in side[name]:
        if hasattr(mouse.Button, candidate):
            return getattr(mouse.Button, candidate)
    raise ValueError(f"mouse button '{name}' is not available on this platform")
