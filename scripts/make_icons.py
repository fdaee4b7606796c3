"""Draws the tray icons, one PNG per client state, and the program icon; run again after
changing a colour.

    python scripts/make_icons.py

A microphone glyph on a round badge whose colour tells the state at a glance even at 16 px. The
program icon (capswriter.png for Linux desktops, capswriter.ico with several sizes for the
Windows executable) is the "ready" badge.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPen

ASSETS = Path(__file__).resolve().parent.parent / "capswriter" / "assets"
SIZE = 64
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)

STATES = {
    "starting": "#9e9e9e",  # grey: nothing to use yet
    "loading": "#f0a020",  # amber: the server is loading the model
    "ready": "#2e9d4f",  # green: hold the key to dictate
    "recording": "#d93025",  # red: the microphone is live
    "transcribing": "#1a73e8",  # blue: waiting for text
    "busy": "#7b4fd6",  # purple: file jobs are running
    "error": "#5f0000",  # dark red with a cross: needs attention
}


def draw(color: str, cross: bool, size: int = SIZE) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.scale(size / SIZE, size / SIZE)  # drawn on a 64-unit grid at any size
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(color))
    p.drawEllipse(QRectF(2, 2, SIZE - 4, SIZE - 4))
    white = QColor("white")
    p.setBrush(white)
    p.drawRoundedRect(QRectF(24, 12, 16, 26), 8, 8)  # capsule
    pen = QPen(white, 4)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawArc(QRectF(17, 18, 30, 28), 200 * 16, 140 * 16)  # cradle
    p.drawLine(32, 46, 32, 52)
    p.drawLine(24, 52, 40, 52)
    if cross:
        cross_pen = QPen(QColor("#ffcc00"), 6)
        cross_pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        p.setPen(cross_pen)
        p.drawLine(14, 14, 50, 50)
    p.end()
    return image


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv)  # noqa: F841 - QPainter needs it
    for state, color in STATES.items():
        path = ASSETS / f"tray-{state}.png"
        if not draw(color, cross=state == "error").save(str(path)):
            print(f"could not write {path}", file=sys.stderr)
            return 1
    if not draw(STATES["ready"], cross=False, size=256).save(str(ASSETS / "capswriter.png")):
        print(f"could not write {ASSETS / 'capswriter.png'}", file=sys.stderr)
        return 1
    write_ico([draw(STATES["ready"], cross=False, size=n) for n in ICO_SIZES],
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
