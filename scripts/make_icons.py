"""Draws the tray icons, one PNG per client state, and the program icon; run again after
changing a colour or a shape.

    python scripts/make_icons.py

Each state has its own shape, so it reads without telling colours apart (and in a monochrome
panel): ready is a round badge with a microphone; recording the same microphone in a ring, as
"on air"; transcribing a speech bubble with three dots; files a page with lines; starting an
empty ring; loading an hourglass; an error a warning triangle. The program icon (capswriter.png
for Linux desktops, capswriter.ico with several sizes for the Windows executable) is the
"ready" badge.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPainterPath, QPen, QPolygonF

ASSETS = Path(__file__).resolve().parent.parent / "capswriter" / "assets"
SIZE = 64
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)

STATES = {
    "starting": "#9e9e9e",  # grey ring: nothing to use yet
    "loading": "#f0a020",  # amber hourglass: the server is loading the model
    "ready": "#2e9d4f",  # green badge: hold the key to dictate
    "recording": "#d93025",  # red, ringed: the microphone is live
    "transcribing": "#1a73e8",  # blue bubble: waiting for text
    "busy": "#7b4fd6",  # purple page: file jobs are running
    "error": "#c62828",  # red triangle with "!": needs attention
}
WHITE = QColor("white")


def white_pen(width: float) -> QPen:
    pen = QPen(WHITE, width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    return pen


def microphone(p: QPainter, scale: float = 1.0) -> None:
    """The white microphone glyph, centred on the 64-unit grid."""
    p.save()
    p.translate(32, 32)
    p.scale(scale, scale)
    p.translate(-32, -32)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(WHITE)
    p.drawRoundedRect(QRectF(24, 12, 16, 26), 8, 8)  # capsule
    p.setPen(white_pen(4))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawArc(QRectF(17, 18, 30, 28), 200 * 16, 140 * 16)  # cradle
    p.drawLine(32, 46, 32, 52)
    p.drawLine(24, 52, 40, 52)
    p.restore()


def draw_shape(p: QPainter, state: str, colour: QColor) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    if state == "ready":
        p.drawEllipse(QRectF(2, 2, 60, 60))
        microphone(p)
    elif state == "recording":
        p.drawEllipse(QRectF(11, 11, 42, 42))
        ring = QPen(colour, 5)
        p.setPen(ring)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(QRectF(3.5, 3.5, 57, 57))
        microphone(p, 0.66)
    elif state == "starting":
        ring = QPen(colour, 9)
        p.setPen(ring)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(QRectF(8, 8, 48, 48))
    elif state == "loading":
        glass = QPolygonF([QPointF(10, 4), QPointF(54, 4), QPointF(36, 32), QPointF(54, 60),
                           QPointF(10, 60), QPointF(28, 32)])
        p.drawPolygon(glass)
        p.setBrush(WHITE)
        p.drawPolygon(QPolygonF([QPointF(22, 52), QPointF(42, 52), QPointF(32, 40)]))  # sand
    elif state == "transcribing":
        bubble = QPainterPath()
        bubble.addRoundedRect(QRectF(2, 6, 60, 42), 14, 14)
        bubble.addPolygon(QPolygonF([QPointF(14, 44), QPointF(30, 44), QPointF(12, 60)]))
        p.drawPath(bubble.simplified())
        p.setBrush(WHITE)
        for x in (17, 32, 47):
            p.drawEllipse(QPointF(x, 27), 5, 5)
    elif state == "busy":
        page = QPolygonF([QPointF(13, 2), QPointF(39, 2), QPointF(51, 14), QPointF(51, 62),
                          QPointF(13, 62)])
        p.drawPolygon(page)
        p.setPen(white_pen(4))
        for y in (26, 36, 46):
            p.drawLine(20, y, 44, y)
    elif state == "error":
        triangle = QPainterPath()
        triangle.addPolygon(QPolygonF([QPointF(32, 3), QPointF(62, 59), QPointF(2, 59)]))
        triangle.closeSubpath()
        p.setPen(QPen(colour, 4, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                      Qt.PenJoinStyle.RoundJoin))
        p.drawPath(triangle)
        p.setPen(white_pen(7))
        p.drawLine(32, 22, 32, 39)
        p.drawPoint(32, 50)
    else:
        raise ValueError(f"no shape for {state}")


def draw(state: str, size: int = SIZE) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.scale(size / SIZE, size / SIZE)  # drawn on a 64-unit grid at any size
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    draw_shape(p, state, QColor(STATES[state]))
    p.end()
    return image


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv)  # noqa: F841 - QPainter needs it
    for state in STATES:
        path = ASSETS / f"tray-{state}.png"
        if not draw(state).save(str(path)):
            print(f"could not write {path}", file=sys.stderr)
            return 1
    if not draw("ready", size=256).save(str(ASSETS / "capswriter.png")):
        print(f"could not write {ASSETS / 'capswriter.png'}", file=sys.stderr)
        return 1
    write_ico([draw("ready", size=n) for n in ICO_SIZES],
              ASSETS / "capswriter.ico")
    return 0


def write_ico(images: list[QImage], path: Path) -> None:
    """One .ico holding every size, each as an embedded PNG (read by Windows Vista and later)."""
    import struct

    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    blobs = []
    for image in images:
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        blobs.append(bytes(data.data()))
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries = b""
    for image, blob in zip(images, blobs, strict=True):
        side = image.width() % 256  # 0 means 256 in the directory entry
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(blob), offset)
        offset += len(blob)
    path.write_bytes(header + entries + b"".join(blobs))


if __name__ == "__main__":
    raise SystemExit(main())
