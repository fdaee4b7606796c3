"""A window with one focused text field; mirrors its text into a file for the test to read.

Run as a separate process under Xvfb so keystrokes and the clipboard cross a real X server.
"""

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication, QLineEdit

mirror = Path(sys.argv[1])
app = QApplication(sys.argv[:1])
field = QLineEdit()
field.setWindowTitle("capswriter focus target")
field.resize(600, 40)
field.textChanged.connect(lambda text: mirror.write_text(text, encoding="utf-8"))
field.show()
print(int(field.winId()), flush=True)
app.exec()
