"""The recording indicator: a small panel above the bottom edge of the screen the pointer is on.

It shows a dictation's life where the user looks — recording with a live level meter,
transcribing, then done, failed (with the reason) or nothing heard — and is never in the way:
a frameless tool window above the others that takes neither focus nor clicks. Each state has its
own glyph (dot, three dots, tick, cross, dash) besides its colour. It only shows what the
controller reports; :func:`follow` wires the two together.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QCursor,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QPainter,
    QPainterPath,
    QPen,
)
from PySide6.QtWidgets import QWidget

from capswriter.client.controller import ClientController, TrayState
from capswriter.client.dictation import DictationOutcome, OutcomeKind, Shortfall
from capswriter.client.i18n import translate
from capswriter.client.recorder import SILENT, Level
from capswriter.client.role_dictation import RoleProgress


class OverlayState(enum.Enum):
    HIDDEN = "hidden"
    RECORDING = "recording"
    TRANSCRIBING = "transcribing"
    DONE = "done"
    FAILED = "failed"
    NOTHING_HEARD = "nothing_heard"


# How long a verdict stays: a success only needs a glance, a problem needs reading.
DONE_S = 1.2
PROBLEM_S = 3.0
# A role's answer shown in the panel stays long enough to be read.
ANSWER_S = 8.0
# The meter reads the microphone this often while recording.
METER_INTERVAL_MS = 33
# Loudness shown on the meter: from this many dB below full scale (empty) up to 0 dB (full).
METER_FLOOR_DB = -60.0
# Space between the panel and the bottom of the screen's work area (above docks and panels).
MARGIN_PX = 56
HEIGHT, MIN_WIDTH, MAX_WIDTH, METER_WIDTH = 44, 200, 460, 80
TEXT_POINTS = 10.5

COLOURS = {
    OverlayState.RECORDING: QColor("#e0443a"),
    OverlayState.TRANSCRIBING: QColor("#4a90e2"),
    OverlayState.DONE: QColor("#3fb950"),
    OverlayState.FAILED: QColor("#f0a020"),
    OverlayState.NOTHING_HEARD: QColor("#b0b0b0"),
}


def meter_fraction(level: Level) -> float:
    """How full the meter is for ``level``: its RMS on a dB scale, 0 to 1."""
    if level.rms <= 0.0:
        return 0.0
    db = 20.0 * math.log10(level.rms)
    return min(1.0, max(0.0, (db - METER_FLOOR_DB) / -METER_FLOOR_DB))


def shortfall_text(shortfall: Shortfall | None) -> str:
    texts = {
        Shortfall.NO_MICROPHONE: translate("RecordingOverlay", "No microphone"),
        Shortfall.RECORDING_FAILED: translate("RecordingOverlay", "Recording failed"),
        Shortfall.REFUSED: translate("RecordingOverlay", "The server could not read this audio"),
        Shortfall.SERVER_UNAVAILABLE: translate("RecordingOverlay",
                                                "Server unavailable: kept in History"),
        Shortfall.NOT_INSERTED: translate("RecordingOverlay",
                                          "Not inserted: the text is on the clipboard"),
        Shortfall.REWRITE_FAILED: translate("RecordingOverlay",
                                            "Rewrite failed: your words went out as said"),
    }
    return texts.get(shortfall, translate("RecordingOverlay", "Failed"))


class RecordingOverlay(QWidget):
    """The panel; ``level`` is read for the meter while recording (any thread may update it)."""

    def __init__(self, level: Callable[[], Level] = lambda: SILENT) -> None:
        super().__init__(None, Qt.WindowType.Tool
                         | Qt.WindowType.FramelessWindowHint
                         | Qt.WindowType.WindowStaysOnTopHint
                         | Qt.WindowType.WindowDoesNotAcceptFocus
                         | Qt.WindowType.WindowTransparentForInput)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setWindowTitle("CapsWriter")
        self.setFixedSize(MIN_WIDTH, HEIGHT)
        self.enabled = True
        self.state = OverlayState.HIDDEN
        self.text = ""
        self.meter = 0.0  # what the level bar shows, 0 to 1
        self.role: RoleProgress | None = None  # the role rewriting the dictation shown
        self._elide = Qt.TextElideMode.ElideRight
        self._level = level
        self._meter_timer = QTimer(self)
        self._meter_timer.setInterval(METER_INTERVAL_MS)
        self._meter_timer.timeout.connect(self._read_level)
        self._hide_timer = QTimer(self)
        self._hide_timer.setSingleShot(True)
        self._hide_timer.timeout.connect(self.clear)

    # ---- what the application calls -------------------------------------------------------

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled
        if not enabled:
            self.clear()

    def show_recording(self) -> None:
        self.meter = 0.0
        self._meter_timer.start()
        self._show(OverlayState.RECORDING,
                   translate("RecordingOverlay", "Listening…"))

    def show_transcribing(self) -> None:
        self._show(OverlayState.TRANSCRIBING,
                   translate("RecordingOverlay", "Transcribing…"))

    def show_role(self, progress: RoleProgress) -> None:
        """A role at work on the dictation; a role that sends the words off this machine says
        so for as long as it runs."""
        if self.state is OverlayState.RECORDING or progress.done:
            return  # the outcome follows the end
        self.role = progress
        if progress.show_text and progress.text:
            label = f"{progress.role}: {progress.text}"
        else:
            label = translate("RecordingOverlay", "{role}: rewriting…").format(role=progress.role)
        if progress.off_machine:
            label += " · " + translate("RecordingOverlay", "sent off this machine")
        self._show(OverlayState.TRANSCRIBING, label)
        self._elide = Qt.TextElideMode.ElideLeft  # the newest words are the ones to see

    def show_outcome(self, outcome: DictationOutcome) -> None:
        if self.state is OverlayState.RECORDING:
            return  # an earlier dictation finished while the next is being spoken
        role, self.role = self.role, None
        if (role is not None and role.show_text and outcome.kind is OutcomeKind.TEXT
                and outcome.shortfall is None):
            self._show(OverlayState.DONE, f"{role.role}: {outcome.text}", ANSWER_S)
            return
        if outcome.kind is OutcomeKind.NOTHING_HEARD:
            self._show(OverlayState.NOTHING_HEARD,
                       translate("RecordingOverlay", "Nothing heard"), PROBLEM_S)
        elif outcome.kind is OutcomeKind.TEXT and outcome.shortfall is None:
            self._show(OverlayState.DONE, translate("RecordingOverlay", "Done"),
                       DONE_S)
        else:
            self._show(OverlayState.FAILED, shortfall_text(outcome.shortfall), PROBLEM_S)

    def follow_state(self, state: TrayState) -> None:
        """The controller's state: recording and transcribing show; a dictation that ended
        without a verdict (a tap, a bounce) takes the panel away."""
        if state is TrayState.RECORDING:
            self.show_recording()
        elif state is TrayState.TRANSCRIBING:
            self.show_transcribing()
        elif self.state in (OverlayState.RECORDING, OverlayState.TRANSCRIBING):
            self.clear()

    def clear(self) -> None:
        self._meter_timer.stop()
        self._hide_timer.stop()
        self.state, self.text, self.meter = OverlayState.HIDDEN, "", 0.0
        self.hide()

    # ---- inside -----------------------------------------------------------------------------

    def _show(self, state: OverlayState, text: str, hide_after_s: float | None = None) -> None:
        if not self.enabled:
            return
        if state is not OverlayState.RECORDING:
            self._meter_timer.stop()
        self._hide_timer.stop()
        if hide_after_s is not None:
            self._hide_timer.start(int(hide_after_s * 1000))
        self.state, self.text = state, text
        self._elide = Qt.TextElideMode.ElideRight
        self._fit()
        if not self.isVisible():
            self._place()
            self.show()
        self.update()

    def _fit(self) -> None:
        """As wide as the text needs (a reason must be read whole), within bounds."""
        font = QFont(self.font())
        font.setPointSizeF(TEXT_POINTS)
        width = 44 + QFontMetrics(font).horizontalAdvance(self.text) + 18
        if self.state is OverlayState.RECORDING:
            width += METER_WIDTH + 8
        width = max(MIN_WIDTH, min(MAX_WIDTH, width))
        if width != self.width():
            centre = self.geometry().center().x()
            self.setFixedSize(width, HEIGHT)
            if self.isVisible():
                self.move(centre - width // 2, self.y())

    def _place(self) -> None:
        screen = QGuiApplication.screenAt(QCursor.pos()) or QGuiApplication.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        self.move(area.center().x() - self.width() // 2,
                  area.bottom() - self.height() - MARGIN_PX)

    def _read_level(self) -> None:
        target = meter_fraction(self._level())
        # Up at once, down gently: speech reads as a steady bar, not a flicker.
        self.meter = target if target > self.meter else max(target, self.meter - 0.08)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.state is OverlayState.HIDDEN:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        panel = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(28, 28, 30, 230))
        p.drawRoundedRect(panel, panel.height() / 2, panel.height() / 2)
        colour = COLOURS[self.state]
        self._draw_glyph(p, QRectF(12, 10, 24, 24), colour)
        text_right = panel.right() - 14
        if self.state is OverlayState.RECORDING:
            meter = QRectF(panel.right() - 16 - METER_WIDTH, 17, METER_WIDTH, 10)
            self._draw_meter(p, meter, colour)
            text_right = meter.left() - 8
        p.setPen(QColor("white"))
        font = QFont(self.font())
        font.setPointSizeF(TEXT_POINTS)
        p.setFont(font)
        text_box = QRectF(44, 0, text_right - 44, self.height())
        elided = p.fontMetrics().elidedText(self.text, self._elide,
                                            int(text_box.width()))
        p.drawText(text_box, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, elided)
        p.end()

    def _draw_meter(self, p: QPainter, box: QRectF, colour: QColor) -> None:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(255, 255, 255, 40))
        p.drawRoundedRect(box, 3, 3)
        if self.meter > 0:
            filled = QRectF(box.left(), box.top(), box.width() * self.meter, box.height())
            p.setBrush(QColor("white"))
            p.drawRoundedRect(filled, 3, 3)

    def _draw_glyph(self, p: QPainter, box: QRectF, colour: QColor) -> None:
        c = box.center()
        pen = QPen(colour, 3.0)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        if self.state is OverlayState.RECORDING:  # a filled dot, as on any recorder
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(colour)
            p.drawEllipse(c, 8, 8)
        elif self.state is OverlayState.TRANSCRIBING:  # three dots: working on it
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(colour)
            for dx in (-8, 0, 8):
                p.drawEllipse(QPointF(c.x() + dx, c.y()), 3, 3)
        elif self.state is OverlayState.DONE:  # a tick
            path = QPainterPath(QPointF(c.x() - 8, c.y()))
            path.lineTo(c.x() - 2, c.y() + 6)
            path.lineTo(c.x() + 9, c.y() - 7)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
        elif self.state is OverlayState.FAILED:  # a cross
            p.setPen(pen)
            p.drawLine(QPointF(c.x() - 7, c.y() - 7), QPointF(c.x() + 7, c.y() + 7))
            p.drawLine(QPointF(c.x() - 7, c.y() + 7), QPointF(c.x() + 7, c.y() - 7))
        else:  # nothing heard: a level line that stayed flat
            p.setPen(pen)
            p.drawLine(QPointF(c.x() - 9, c.y()), QPointF(c.x() + 9, c.y()))


def follow(overlay: RecordingOverlay, controller: ClientController) -> None:
    """Show the controller's dictations on ``overlay``."""
    controller.state_changed.connect(overlay.follow_state)
    controller.dictation_done.connect(overlay.show_outcome)
    controller.role_progress.connect(overlay.show_role)
