"""``python -m capswriter.server``: run the server without the full CLI (tests, services); the
flags are those of ``capswriter server``."""

from __future__ import annotations

import argparse
import sys

from capswriter.config import load_settings
from capswriter.errors import CapsWriterError
from capswriter.server.command import add_server_arguments, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m capswriter.server")
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return serve(load_settings(), args)
    except CapsWriterError as exc:
        print(f"capswriter server: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
