"""The push-to-talk state machine, driven with plain timestamps and a model of the OS lock state."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capswriter.client.hotkey import Action, HotkeyMachine, Phase, machine_for

A = Action


def x11() -> HotkeyMachine:
    return machine_for("caps_lock", 0.3, platform="linux")


def windows() -> HotkeyMachine:
    return machine_for("caps_lock", 0.3, platform="win32")


def test_short_tap_is_not_a_dictation_and_leaves_the_os_toggle_alone_on_x11():
    m = x11()
    assert m.press(10.0) == [A.ARM]
    assert m.poll(10.1) == []
    assert m.release(10.1) == [A.DISARM]
    assert m.phase is Phase.IDLE


def test_hold_past_threshold_starts_then_release_stops_and_restores_lock_on_x11():
    m = x11()
    m.press(10.0)
    assert m.poll(10.29) == []
    assert m.poll(10.3) == [A.START]
    assert m.poll(10.5) == []
    assert m.release(12.0) == [A.STOP, A.TAP_KEY]


def test_release_after_threshold_without_poll_still_counts_as_dictation():
    m = x11()
    m.press(0.0)
    assert m.release(0.45) == [A.START, A.STOP, A.TAP_KEY]


def test_very_short_hold_just_below_threshold_is_a_tap():
    m = x11()
    m.press(0.0)
    assert m.release(0.2999) == [A.DISARM]


def test_zero_length_press_is_a_tap():
    m = x11()
    m.press(5.0)
    assert m.release(5.0) == [A.DISARM]


def test_key_repeat_presses_are_ignored():
    m = x11()
    m.press(0.0)
    for i in range(1, 20):
        assert m.press(0.03 * i) == []
    assert m.poll(0.6) == [A.START]
    assert m.press(0.65) == []
    assert m.release(1.0) == [A.STOP, A.TAP_KEY]


def test_release_without_press_is_ignored():
    m = x11()
    assert m.release(1.0) == []
    assert m.phase is Phase.IDLE
    assert m.press(2.0) == [A.ARM]


def test_injected_events_are_ignored():
    m = x11()
    assert m.press(0.0, injected=True) == []
    assert m.release(1.0, injected=True) == []
    assert m.phase is Phase.IDLE


def test_own_restore_tap_echo_is_ignored_on_x11():
    m = x11()
    m.press(0.0)
    assert m.release(1.0) == [A.START, A.STOP, A.TAP_KEY]
    # pynput reports the Controller's tap in-process (injected) and again via X RECORD.
    assert m.press(1.0, injected=True) == []
    assert m.release(1.0, injected=True) == []
    assert m.press(1.012) == []
    assert m.release(1.013) == []
    # The next real tap is a tap again.
    assert m.press(1.5) == [A.ARM]
    assert m.release(1.6) == [A.DISARM]


def test_echo_that_never_comes_does_not_swallow_a_later_press():
    m = x11()
    m.press(0.0)
    m.release(1.0)
    assert m.press(2.0) == [A.ARM]


def test_windows_tap_is_replayed_and_hold_needs_no_restore():
    m = windows()
    m.press(0.0)
    assert m.release(0.1) == [A.DISARM, A.TAP_KEY]
    # The replayed tap comes back injected only; no un-marked echo on Windows.
    assert m.press(0.1, injected=True) == []
    assert m.release(0.1, injected=True) == []
    m.press(0.2)
    assert m.release(1.0) == [A.START, A.STOP]
    assert m.press(1.01) == [A.ARM]


def test_non_lock_key_never_asks_for_a_synthetic_tap():
    for platform in ("linux", "win32", "darwin"):
        m = machine_for("f13", 0.3, platform=platform)
        m.press(0.0)
        assert m.release(0.1) == [A.DISARM]
        m.press(1.0)
        assert m.release(2.0) == [A.START, A.STOP]


def test_mouse_side_button_is_a_plain_push_to_talk_key():
    m = machine_for("mouse_x1", 0.5, platform="linux")
    assert not m.toggles_lock
    m.press(0.0)
    assert m.poll(0.49) == []
    assert m.poll(0.5) == [A.START]


def test_threshold_is_configurable():
    m = machine_for("caps_lock", 1.0, platform="linux")
    m.press(0.0)
    assert m.poll(0.9) == []
    assert m.release(0.95) == [A.DISARM]


def test_next_deadline_is_set_only_while_pending():
    m = x11()
    assert m.next_deadline is None
    m.press(3.0)
    assert m.next_deadline == pytest.approx(3.3)
    m.poll(3.3)
    assert m.next_deadline is None


# --- A model of the OS around the machine -------------------------------------------------

ECHO_DELAY = 0.012  # pynput's X listener sees synthetic keys 10-16 ms late


@dataclass
class World:
    """The OS lock state and event delivery around a machine, on X11 or Windows."""

    machine: HotkeyMachine
    lock: bool = False
    actions: list[Action] = field(default_factory=list)
    pending_echo: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def x11(self) -> bool:
        return not self.machine.suppressed

    def _run(self, actions: list[Action], at: float) -> None:
        self.actions.extend(actions)
        for action in actions:
            if action is Action.TAP_KEY:
                self.lock = not self.lock
                # In-process injected report arrives at once...
                assert self.machine.press(at, injected=True) == []
                assert self.machine.release(at, injected=True) == []
                # ...and on X11 the real event comes back later, un-marked.
                if self.x11:
                    self.pending_echo += [(at + ECHO_DELAY, True), (at + ECHO_DELAY + 0.001, False)]

    def deliver_echo_until(self, t: float) -> None:
        while self.pending_echo and self.pending_echo[0][0] <= t:
            at, is_press = self.pending_echo.pop(0)
            step = self.machine.press if is_press else self.machine.release
            self._run(step(at), at)

    def user_press(self, at: float) -> None:
        self.deliver_echo_until(at)
        self._run(self.machine.press(at), at)

    def user_release(self, at: float) -> None:
        self.deliver_echo_until(at)
        if self.x11:
            self.lock = not self.lock  # X: one physical press+release toggles Lock once
        self._run(self.machine.release(at), at)

    def poll(self, at: float) -> None:
        self.deliver_echo_until(at)
        self._run(self.machine.poll(at), at)


user_gesture = st.tuples(
    st.floats(min_value=0.0, max_value=1.2),  # how long the key is held
    st.floats(min_value=0.05, max_value=1.0),  # pause before the next gesture
    st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=5),  # auto-repeat points
    st.floats(min_value=0.0, max_value=0.05),  # how late the poll timer fires
    st.booleans(),  # a stray release before the gesture
)


@settings(max_examples=400, deadline=None)
@given(
    gestures=st.lists(user_gesture, min_size=1, max_size=12),
    initial_lock=st.booleans(),
    platform=st.sampled_from(["linux", "win32"]),
    threshold=st.sampled_from([0.15, 0.3, 0.6]),
)
def test_lock_toggles_once_per_tap_and_never_per_dictation(
    gestures, initial_lock, platform, threshold
):
    world = World(machine_for("caps_lock", threshold, platform=platform), lock=initial_lock)
    expected_lock = initial_lock
    t = 100.0
    for held, pause, repeats, timer_lag, stray_release in gestures:
        if stray_release:
            world.user_release(t)  # no machine reaction; on X11 the OS still toggles
            if world.x11:
                expected_lock = not expected_lock
            t += 0.05
        before = len(world.actions)
        world.user_press(t)
        for r in sorted(repeats):
            if r < held:
                world.user_press(t + r)
        if held >= threshold + timer_lag - 1e-6:
            world.poll(t + threshold + timer_lag)
        world.user_release(t + held)
        t += held + pause
        world.deliver_echo_until(t)
        gesture = world.actions[before:]
        dictation = held >= threshold - 1e-6
        if dictation:
            assert [a for a in gesture if a in (A.ARM, A.START, A.STOP, A.DISARM)] == [
                A.ARM, A.START, A.STOP
            ]
        else:
            assert [a for a in gesture if a is not A.TAP_KEY] == [A.ARM, A.DISARM]
            expected_lock = not expected_lock
        assert world.lock == expected_lock, "lock state after the gesture"
    assert world.machine.phase is Phase.IDLE
    assert world.actions.count(A.START) == world.actions.count(A.STOP)


@pytest.mark.parametrize(("key", "vk"), [("caps_lock", 0x14), ("num_lock", 0x90),
                                         ("scroll_lock", 0x91)])
def test_the_windows_filter_suppresses_the_configured_lock_key_and_nothing_else(key, vk):
    from types import SimpleNamespace

    from capswriter.client.hotkey import LOCK_VK, HotkeyListener

    listener = HotkeyListener(key, 0.3, on_action=lambda action: None, clock=lambda: 0.0)
    assert machine_for(key, 0.3, platform="win32").suppressed
    suppressed: list[int] = []
    listener._listener = SimpleNamespace(suppress_event=lambda: suppressed.append(1))
    for other in set(LOCK_VK.values()) - {vk}:
        listener._win32_filter(0x100, SimpleNamespace(vkCode=other, flags=0))
    assert suppressed == []
    listener._win32_filter(0x100, SimpleNamespace(vkCode=vk, flags=0))  # the user's press
    listener._win32_filter(0x100, SimpleNamespace(vkCode=vk, flags=0x10))  # our own replay
    assert suppressed == [1]


def test_a_replayed_tap_does_not_wait_for_the_microphone_to_open(x_server):
    """Windows: CapsLock is suppressed and a short tap replayed. Behind a slow ARM (the
    microphone opening) the replay would land after the next letters, in the wrong case."""
    import threading
    import time
    from types import SimpleNamespace

    from pynput import keyboard

    from capswriter.client.hotkey import HotkeyListener, x11_lock_state

    from .xsession import wait_until

    arm_done = threading.Event()

    def on_action(action: Action) -> None:
        if action is A.ARM:
            time.sleep(1.5)  # a microphone that takes its time
            arm_done.set()

    listener = HotkeyListener("caps_lock", 0.3, on_action=on_action)
    listener.machine = machine_for("caps_lock", 0.3, platform="win32")
    listener._controller, listener._target = keyboard.Controller(), keyboard.Key.caps_lock
    listener._listener = SimpleNamespace(suppress_event=lambda: None, stop=lambda: None,
                                         join=lambda timeout=None: None)
    listener._running = True
    listener._start_threads()
    before = x11_lock_state("caps_lock")
    assert before is not None
    try:
        listener._win32_filter(0x100, SimpleNamespace(vkCode=0x14, flags=0))
        time.sleep(0.05)
        listener._win32_filter(0x101, SimpleNamespace(vkCode=0x14, flags=0))
        assert wait_until(lambda: x11_lock_state("caps_lock") != before, 1.0)
        assert not arm_done.is_set(), "the tap went out only after the microphone opened"
    finally:
        arm_done.wait(3)
        listener.stop()
        if x11_lock_state("caps_lock") != before:
            keyboard.Controller().tap(keyboard.Key.caps_lock)


@pytest.mark.parametrize(("key", "vk"), [("cmd", 0x5B), ("alt_l", 0xA4), ("menu", 0x5D)])
def test_releasing_win_or_alt_after_a_dictation_is_masked_but_a_plain_tap_is_not(key, vk):
    """A held Win would open Start on release, Alt the menu bar: an unassigned key tapped
    before the release stops that; a short tap keeps the key's own meaning."""
    from types import SimpleNamespace

    from capswriter.client.hotkey import MASK_VK, HotkeyListener, masks_release

    assert masks_release(key, "win32") and not masks_release(key, "linux")
    assert not masks_release("caps_lock", "win32")
    sent: list[int] = []
    listener = HotkeyListener(key, 0.3, on_action=lambda action: None)
    listener._controller = SimpleNamespace(press=lambda k: sent.append(k.vk),
                                           release=lambda k: None)
    machine = listener.machine
    machine.press(0.0)
    listener._win32_filter(0x101, SimpleNamespace(vkCode=vk, flags=0))  # a tap: no mask
    machine.release(0.1)
    assert sent == []
    machine.press(1.0)
    machine.poll(1.5)
    assert machine.phase is Phase.RECORDING
    assert listener._win32_filter(0x105, SimpleNamespace(vkCode=vk, flags=0)) is True
    assert sent == [MASK_VK]
