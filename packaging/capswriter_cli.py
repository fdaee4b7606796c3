"""Entry of the console program of the desktop build (`capswriter`, `capswriter-cli.exe` on
Windows): the CLI, the server and its worker processes."""

import multiprocessing

from capswriter.cli import main

if __name__ == "__main__":
    # Worker processes of a frozen build re-enter here; let multiprocessing take them over.
    multiprocessing.freeze_support()
    raise SystemExit(main())
