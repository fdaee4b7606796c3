"""Shows the recording overlay on the X display and prints its X window id; runs until killed.

Started by test_overlay: ``python -m tests.client.overlay_probe``.
"""

import sys

from PySide6.QtWidgets import QApplication

from capswriter.client.ui.overlay import RecordingOverlay


def main() -> int:
    app = QApplication(sys.argv[:1])
    overlay = RecordingOverlay()
    overlay.show_recording()
    app.processEvents()
    print(int(overlay.winId()), flush=True)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
