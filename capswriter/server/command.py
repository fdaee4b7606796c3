"""The flags of ``capswriter server`` and what they change, shared by the CLI and
``python -m capswriter.server``."""

from __future__ import annotations

import argparse
from pathlib import Path

from capswriter.config import Settings


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 6016)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: cores)")
    parser.add_argument("--threads", type=int, default=None,
                        help="recognizer threads per worker")
    parser.add_argument("--no-dictation-worker", action="store_true",
                        help="no extra worker kept for dictations (default: one, see docs)")
    parser.add_argument("--token", default=None, help="required when binding beyond loopback")
    parser.add_argument("--log-file", default=None,
                        help="write the log to this file, rotated (default: standard error)")
    parser.add_argument("--owner-pid", type=int, default=None, metavar="PID",
                        help="stop when this process ends (the tray app that started us), "
                             "however it ends")
    parser.add_argument("--broker", default=None, metavar="URL",
                        help="also feed remote workers through this Redis "
                             "(redis://[:PASSWORD@]HOST:PORT/DB; with --workers 0, only them)")


def serve(settings: Settings, args: argparse.Namespace) -> int:
    """Run the server with the flags applied over ``settings``, until SIGINT/SIGTERM."""
    from capswriter.server.startup import run_server

    settings.override("server", host=args.host, port=args.port, workers=args.workers,
                      token=args.token, broker=args.broker,
                      dictation_worker=False if args.no_dictation_worker else None)  # fmt: skip
    settings.override("asr", num_threads=args.threads)
    run_server(settings, log_file=Path(args.log_file) if args.log_file else None,
               owner_pid=args.owner_pid)
    return 0
