"""The recording overlay: its states through a dictation, the live level meter on real
microphone frames, and that it never takes focus or clicks."""

from __future__ import annotations

import copy
import subprocess
import sys
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from capswriter.client.controller import TrayState
from capswriter.client.dictation import DictationOutcome, OutcomeKind, Shortfall
from capswriter.client.recorder import Level, Recorder
from capswriter.client.ui.overlay import (
    DONE_S,
    OverlayState,
    RecordingOverlay,
    meter_fraction,
)
from capswriter.config import PROJECT_ROOT

from .speech import clip_pcm


@pytest.fixture
def overlay(qtbot):
    widget = RecordingOverlay()
    qtbot.addWidget(widget)
    return widget


def test_a_dictation_shows_recording_then_transcribing_then_done_then_goes(qtbot, overlay):
    overlay.follow_state(TrayState.RECORDING)
    assert overlay.state is OverlayState.RECORDING and overlay.isVisible()
    assert overlay.text == "Listening…"
    overlay.follow_state(TrayState.TRANSCRIBING)
    assert overlay.state is OverlayState.TRANSCRIBING and overlay.text == "Transcribing…"
    overlay.show_outcome(DictationOutcome(1, "hello", True, 0.4))
    overlay.follow_state(TrayState.READY)  # the controller's state follows the outcome
    assert overlay.state is OverlayState.DONE and overlay.isVisible()
    qtbot.waitUntil(lambda: not overlay.isVisible(), timeout=int(DONE_S * 1000) + 2000)
    assert overlay.state is OverlayState.HIDDEN


@pytest.mark.parametrize(("outcome", "state", "words"), [
    (DictationOutcome(None, "", True, 0.3, OutcomeKind.NOTHING_HEARD),
     OverlayState.NOTHING_HEARD, "Nothing heard"),
    (DictationOutcome(4, "", False, 0.3, OutcomeKind.KEPT, Shortfall.SERVER_UNAVAILABLE),
     OverlayState.FAILED, "Server unavailable: kept in History"),
    (DictationOutcome(5, "", False, 0.3, OutcomeKind.FAILED, Shortfall.REFUSED),
     OverlayState.FAILED, "The server could not read this audio"),
    (DictationOutcome(6, "words", False, 0.3, OutcomeKind.TEXT, Shortfall.NOT_INSERTED),
     OverlayState.FAILED, "Not inserted: the text is on the clipboard"),
    (DictationOutcome(None, "", False, 0.0, OutcomeKind.FAILED, Shortfall.NO_MICROPHONE),
     OverlayState.FAILED, "No microphone"),
])
def test_a_dictation_without_text_says_why_and_the_reason_fits(overlay, outcome, state, words):
    overlay.follow_state(TrayState.TRANSCRIBING)
    overlay.show_outcome(outcome)
    assert overlay.state is state and overlay.text == words and overlay.isVisible()
    # The panel is wide enough for the whole reason.
    assert overlay.fontMetrics().horizontalAdvance(words) < overlay.width() - 44


def test_a_tap_leaves_nothing_on_screen_and_a_late_verdict_does_not_cover_a_recording(overlay):
    overlay.follow_state(TrayState.RECORDING)
    overlay.follow_state(TrayState.READY)  # released before it became a dictation
    assert overlay.state is OverlayState.HIDDEN and not overlay.isVisible()
    overlay.follow_state(TrayState.RECORDING)
    overlay.show_outcome(DictationOutcome(1, "the one before", True, 0.4))
    assert overlay.state is OverlayState.RECORDING


def test_turned_off_it_shows_nothing(overlay):
    overlay.set_enabled(False)
    overlay.follow_state(TrayState.RECORDING)
    overlay.show_outcome(DictationOutcome(None, "", True, 0.3, OutcomeKind.NOTHING_HEARD))
    assert not overlay.isVisible() and overlay.state is OverlayState.HIDDEN


def test_it_is_a_frameless_tool_window_above_the_rest_that_takes_no_focus_or_clicks(overlay):
    flags = overlay.windowFlags()
    for flag in (Qt.WindowType.Tool, Qt.WindowType.FramelessWindowHint,
                 Qt.WindowType.WindowStaysOnTopHint, Qt.WindowType.WindowDoesNotAcceptFocus,
                 Qt.WindowType.WindowTransparentForInput):
        assert flags & flag, flag
    assert overlay.testAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
    # (Qt's offscreen platform activates every window it shows; what a real window manager is
    # told is checked on X11 below.)
    overlay.follow_state(TrayState.RECORDING)
    # Near the bottom of the screen, centred.
    area = overlay.screen().availableGeometry()
    assert area.contains(overlay.geometry())
    assert overlay.geometry().bottom() > area.center().y()


def test_on_x11_the_window_manager_is_told_it_takes_no_input_and_stays_above(
    x_server, focus_target
):
    from Xlib import Xatom, display

    probe = subprocess.Popen(
        [sys.executable, "-m", "tests.client.overlay_probe"], cwd=PROJECT_ROOT,
        env={**__import__("os").environ, "DISPLAY": x_server.display, "QT_QPA_PLATFORM": "xcb"},
        stdout=subprocess.PIPE, text=True,
    )
    try:
        window_id = int(probe.stdout.readline())
        dpy = display.Display(x_server.display)
        try:
            window = dpy.create_resource_object("window", window_id)
            # WM_HINTS input = False: no window manager gives it the keyboard.
            assert window.get_wm_hints().input == 0
            states = window.get_full_property(dpy.intern_atom("_NET_WM_STATE"), Xatom.ATOM)
            assert dpy.intern_atom("_NET_WM_STATE_ABOVE") in states.value
            # Clicks go through it: its input shape is empty.
            from Xlib.ext import shape

            rects = window.shape_get_rectangles(shape.SK.Input).rectangles
            assert rects == []
        finally:
            dpy.close()
        # The field the user types into keeps the keyboard.
        focus_target.focus()
        x_server.xdotool("type", "--delay", "20", "still here")
        time.sleep(0.3)
        assert focus_target.text().lower() == "still here"  # (Caps Lock may be on)
    finally:
        probe.kill()
        probe.wait()


def test_meter_is_a_decibel_scale_from_silence_to_full():
    assert meter_fraction(Level(0.0, 0.0)) == 0.0
    assert meter_fraction(Level(1.0, 1.0)) == 1.0
    assert meter_fraction(Level(10 ** (-30 / 20), 0.1)) == pytest.approx(0.5)
    assert meter_fraction(Level(1e-5, 1e-5)) == 0.0  # below the floor


def meter_pixels(overlay: RecordingOverlay) -> int:
    """White pixels of the level bar as drawn."""
    image = overlay.grab().toImage()
    white = QColor("white").rgb()
    y = image.height() // 2
    left = image.width() - 16 - 80
    return sum(image.pixel(x, y) == white for x in range(left, image.width() - 16))


def test_the_level_meter_follows_real_speech_from_the_microphone(qtbot, overlay, pulse_source):
    recorder = Recorder(keep_open=True)
    overlay._level = lambda: recorder.level
    try:
        recorder.open()
        overlay.follow_state(TrayState.RECORDING)
        qtbot.wait(400)
        silent_meter, silent_pixels = overlay.meter, meter_pixels(overlay)
        pcm = clip_pcm()
        pulse_source.play(pcm)
        loudest: list[float] = []
        drawn: list[int] = []

        def heard() -> bool:
            loudest.append(overlay.meter)
            drawn.append(meter_pixels(overlay))
            return overlay.meter > 0.5

        qtbot.waitUntil(heard, timeout=5000)
        qtbot.wait(int(len(pcm) / 16) + 800)  # the clip ends, silence again
        after = overlay.meter
    finally:
        recorder.close()
    assert silent_meter < 0.2 and max(drawn) > silent_pixels + 20
    assert after < max(loudest)
    rms = float(np.sqrt(np.mean((pcm.astype(np.float32) / 32768) ** 2)))
    assert max(loudest) >= meter_fraction(Level(rms, rms)) - 0.1


def test_settings_saved_in_the_running_app_turn_the_panel_and_the_sounds_on_and_off(
    offline_app,
):
    app, settings, controller = offline_app, offline_app.settings, offline_app.controller
    assert app.overlay.enabled and not app.sounds.enabled  # the defaults
    controller.state_changed.emit(TrayState.RECORDING)
    assert app.overlay.isVisible()
    controller.state_changed.emit(TrayState.READY)
    chosen = copy.deepcopy(settings)
    chosen.client.recording_overlay = False
    app.apply_settings(chosen)
    assert not app.overlay.enabled
    controller.state_changed.emit(TrayState.RECORDING)
    assert not app.overlay.isVisible() and app.overlay.state is OverlayState.HIDDEN
    controller.state_changed.emit(TrayState.READY)
    chosen = copy.deepcopy(settings)
    chosen.client.recording_overlay, chosen.client.sound_cues = True, True
    app.apply_settings(chosen)
    assert app.overlay.enabled and app.sounds.enabled


def test_a_role_at_work_is_named_and_a_role_off_this_machine_says_so(overlay):
    from capswriter.client.role_dictation import RoleProgress

    overlay.follow_state(TrayState.TRANSCRIBING)
    overlay.show_role(RoleProgress("polish", off_machine=False))
    assert overlay.state is OverlayState.TRANSCRIBING and overlay.text == "polish: rewriting…"
    overlay.show_role(RoleProgress("deepseek", off_machine=True, text="Hel"))
    assert overlay.text == "deepseek: rewriting… · sent off this machine"
    overlay.show_outcome(DictationOutcome(1, "Hello", False, 0.4, OutcomeKind.TEXT,
                                          Shortfall.REWRITE_FAILED))
    assert overlay.state is OverlayState.FAILED
    assert overlay.text == "Rewrite failed: your words went out as said"


def test_a_role_whose_output_is_the_panel_shows_its_answer_there(overlay):
    from capswriter.client.role_dictation import RoleProgress

    overlay.follow_state(TrayState.TRANSCRIBING)
    overlay.show_role(RoleProgress("translate", False, "Good mor", show_text=True))
    assert overlay.text == "translate: Good mor"
    overlay.show_role(RoleProgress("translate", False, "Good morning", done=True,
                                   show_text=True))
    overlay.show_outcome(DictationOutcome(1, "Good morning", True, 0.4))
    assert overlay.state is OverlayState.DONE and overlay.text == "translate: Good morning"
