"""``python -m capswriter.server``: run the server without the full CLI (tests, services)."""

from __future__ import annotations

import argparse
import sys

from capswriter.config import load_settings
from capswriter.errors import CapsWriterError
from capswriter.server.app import run_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m capswriter.server")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--token")
    parser.add_argument("--threads", type=int, help="recognizer threads per worker")
    parser.add_argument("--no-dictation-worker", action="store_true",
                        help="no extra worker kept for dictations")
    parser.add_argument("--broker", help="Redis URL remote workers take jobs from")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        settings.override("server", host=args.host, port=args.port, workers=args.workers,
                          token=args.token, broker=args.broker,
                          dictation_worker=False if args.no_dictation_worker else None)
        settings.override("asr", num_threads=args.threads)
        run_server(settings)
    except CapsWriterError as exc:
        print(f"capswriter server: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
