"""Entry of the windowed program of the desktop build (`CapsWriter`): the tray app when started
without a command or with files dropped on it, the CLI otherwise."""

import multiprocessing

from capswriter.cli import desktop_main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    raise SystemExit(desktop_main())
