"""Qt widgets are tested without a display; the end-to-end test starts its own Xvfb."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
