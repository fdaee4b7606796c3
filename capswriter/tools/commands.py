"""Command-line wiring of the measurement tools: `bench pool`, `bench` (all), `stress`,
`loadtest`, `monitor` and `report`. cli.py registers these next to its own commands.

Each command turns its flags into the tool's config object, runs the tool, prints its table
and says where the files are; the measuring is in the tool modules.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from capswriter.config import Settings
from capswriter.extras import require_extra
from capswriter.tools.runlog import RESULTS_DIR, StatusLine, default_path


def _output(args: argparse.Namespace, tool: str) -> Path:
    return Path(args.output) if args.output else default_path(tool)


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=None,
                   help="server to measure, e.g. http://127.0.0.1:6016 (default from settings)")
    p.add_argument("--token", default=None, help="server token (default from settings)")
    p.add_argument("--start-server", type=int, default=None, metavar="WORKERS",
                   help="start a server with this many workers for the run instead")
    p.add_argument("--threads", type=int, default=1,
                   help="recognizer threads per worker of a started server")
    p.add_argument("--broker", action="store_true",
                   help="with --start-server: the workers are remote workers behind a local "
                        "redis-server (broker mode)")
    p.add_argument("--output", default=None, help=f"JSONL result file (default in {RESULTS_DIR}/)")


def _check_report_extra(args: argparse.Namespace) -> None:
    # Checked before the run, so a long measurement does not end in a missing matplotlib.
    if getattr(args, "report", False):
        require_extra("tools", "--report")


def _finish(paths: list[Path], report: bool) -> None:
    for path in paths:
        print(f"written: {path}")
    if report:
        from capswriter.tools.report import build_report

        written = build_report(paths)
        print(f"report:  {written.output} ({len(written.images)} images)")


# ---- commands --------------------------------------------------------------------------


def cmd_monitor(settings: Settings, args: argparse.Namespace) -> int:
    from capswriter.tools.local_server import target_server
    from capswriter.tools.monitor import run_monitor

    output = Path(args.output) if args.output else default_path("monitor", ".csv")
    with target_server(settings, args.url, args.token) as (address, _):
        monitor = run_monitor(address, output, args.duration, server_pid=args.pid)
    for peak in monitor.summary():
        print(f"{peak['role']:<10} CPU max {peak['max_cpu_percent']:.0f}% "
              f"RSS max {peak['max_rss_mb']:.0f} MB")
    print(f"written: {output}")
    return 0


def cmd_loadtest(settings: Settings, args: argparse.Namespace) -> int:
    _check_report_extra(args)
    from capswriter.tools.loadtest import LoadtestConfig, run_loadtest
    from capswriter.tools.local_server import target_server

    config = LoadtestConfig(
        clients=args.clients, duration=args.duration, mode=args.mode,
        audio=Path(args.audio) if args.audio else None, long_seconds=args.long_seconds,
        timeout=args.timeout, drain=args.drain, max_attempts=args.max_attempts,
    )
    output = _output(args, f"loadtest_{args.mode}")
    with target_server(settings, args.url, args.token, args.start_server, args.threads,
                       output.with_suffix(".server.log"), args.broker) as (address, pid):
        summary = run_loadtest(address, config, output, server_pid=pid, status=StatusLine())
    print(summary.table())
    _finish([output], args.report)
    return 0 if summary.passed else 1


def cmd_stress(settings: Settings, args: argparse.Namespace) -> int:
    _check_report_extra(args)
    from capswriter.tools.local_server import target_server
    from capswriter.tools.stress import StressConfig, run_stress

    config = StressConfig(
        rounds=args.rounds, max_warmup_rounds=args.max_warmup_rounds, settle_mb=args.settle_mb,
        short_seconds=args.short_seconds,
        long_minutes=args.long_minutes, speech=[Path(p) for p in args.speech],
        max_long_delta_mb=args.max_long_delta_mb,
        max_slope_mb_per_task=args.max_slope_mb_per_task, ramp=not args.no_ramp,
        leak=not args.no_leak, ramp_seconds=args.ramp_seconds, ramp_ceiling=args.ramp_ceiling,
        max_rtf=args.max_rtf, task_timeout=args.task_timeout,
    )
    output = _output(args, "stress")
    with target_server(settings, args.url, args.token, args.start_server, args.threads,
                       output.with_suffix(".server.log"), args.broker) as (address, pid):
        summary = run_stress(address, config, output, server_pid=pid)
    print(summary.table())
    _finish([output], args.report)
    return 0 if summary.passed else 1


def _pool_config(args: argparse.Namespace) -> Any:
    from capswriter.tools.bench_pool import BenchPoolConfig

    return BenchPoolConfig(
        workers=_ints(args.workers), threads=args.threads, files=args.files,
        file_seconds=args.file_seconds, runs=args.runs, utterances=_floats(args.utterances),
        speed=args.speed, long_seconds=args.long_seconds, latency=not args.no_latency,
        speech=[Path(p) for p in args.speech], broker=args.broker,
    )


def cmd_bench_pool(settings: Settings, args: argparse.Namespace) -> int:
    _check_report_extra(args)
    from capswriter.tools.bench_pool import run_bench_pool

    output = _output(args, "bench_pool")
    result = run_bench_pool(settings, _pool_config(args), output)
    print(result.table())
    _finish([output], args.report)
    print(f"summary: {output.with_suffix('.json')}")
    return 0


def cmd_bench_all(settings: Settings, args: argparse.Namespace) -> int:
    _check_report_extra(args)
    from capswriter.tools.bench import run_bench

    output = _output(args, "bench")
    result = run_bench(settings, _pool_config(args), output, asr_runs=args.asr_runs,
                       file_seconds=args.asr_file_seconds)
    print(result.table())
    _finish([output], args.report)
    print(f"summary: {output.with_suffix('.json')}")
    return 0


def cmd_bench_broker(settings: Settings, args: argparse.Namespace) -> int:
    from capswriter.tools.bench_broker import BenchBrokerConfig, run_bench_broker

    config = BenchBrokerConfig(
        workers=_ints(args.workers), threads=args.threads, files=args.files,
        file_seconds=args.file_seconds, dictations=args.dictations,
        utterance_s=args.utterance_seconds, reclaim_idle_s=args.reclaim_idle,
        reclaim_runs=args.reclaim_runs,
    )
    output = _output(args, "bench_broker")
    result = run_bench_broker(settings, config, output)
    print(result.table())
    print(f"written: {output}\nsummary: {output.with_suffix('.json')}")
    return 0


def cmd_bench_kill_workers(settings: Settings, args: argparse.Namespace) -> int:
    from capswriter.config import PROJECT_ROOT
    from capswriter.tools.local_server import target_server
    from capswriter.tools.worker_kills import run_kill_trials

    audio = Path(args.audio) if args.audio else \
        PROJECT_ROOT / "capswriter" / "assets" / "samples" / "en_jfk.wav"
    output = _output(args, "kill-workers")
    with target_server(settings, args.url, args.token, args.start_server, args.threads,
                       output.with_suffix(".server.log"), args.broker) as (address, _):
        summary = run_kill_trials(address, audio, args.tries, on_trial=lambda t: print(
            f"  {t.status} {t.code or t.text[:60]!r} ({t.killed} killed, {t.seconds:.1f} s)"))
    print(summary.table())
    return 0 if summary.passed else 1


def cmd_bench_soak(settings: Settings, args: argparse.Namespace) -> int:
    from capswriter.tools.soak import Soak, SoakConfig, write_jsonl

    config = SoakConfig(dictations=args.dictations, workers=args.workers,
                        pause_share=args.pause_share, files=args.files,
                        restart_server=not args.no_restart, seed=args.seed,
                        workdir=Path(args.workdir) if args.workdir else None)
    if args.clips:
        config.clips = Path(args.clips)

    def progress(record: Any) -> None:
        verdict = "LOST" if record.lost else "GARBLED" if record.garbled else "ok"
        latency = record.release_to_text_s
        print(f"  #{record.index:<4} {verdict:<7} {record.seconds:5.1f} s "
              f"{'-' if latency is None else f'{latency * 1000:.0f} ms':>8}  {record.text[:60]}",
              flush=True)

    summary = Soak(config, on_dictation=progress).run()
    print(summary.table())
    print(f"written: {write_jsonl(summary, _output(args, 'soak'))}")
    return 0 if summary.passed else 1


def cmd_bench_slowloris(settings: Settings, args: argparse.Namespace) -> int:
    from capswriter.tools.slowloris import SlowlorisConfig, run_slowloris, table

    config = SlowlorisConfig(sockets=args.sockets, rate=args.rate, trickles=args.trickles,
                             seconds=args.seconds)
    output = _output(args, "bench_slowloris").with_suffix(".json")
    print(table(run_slowloris(settings, config, output)))
    print(f"written: {output}")
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    require_extra("tools", "report")
    from capswriter.tools.report import build_report

    report = build_report([Path(p) for p in args.inputs],
                          Path(args.output) if args.output else None)
    print(f"report: {report.output} ({len(report.images)} images in {report.image_dir})")
    return 0


# ---- parsers ---------------------------------------------------------------------------


def _pool_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    p.add_argument("--threads", type=int, default=1, help="recognizer threads per worker")
    p.add_argument("--files", type=int, default=4, help="files in the batch")
    p.add_argument("--file-seconds", type=float, default=60.0, help="length of each file")
    p.add_argument("--runs", type=int, default=20, help="dictations per length and condition")
    p.add_argument("--utterances", default="3,30", help="dictation lengths in seconds")
    p.add_argument("--speed", type=float, default=1.0,
                   help="stream dictation this many times faster than speaking pace")
    p.add_argument("--long-seconds", type=float, default=300.0,
                   help="length of the file transcribed in the background while 'loaded'")
    p.add_argument("--no-latency", action="store_true", help="only measure the speed-up")
    p.add_argument("--speech", nargs="*", default=[], help="speech recordings to build audio "
                   "from (default: the bundled sample)")
    p.add_argument("--output", default=None, help=f"JSONL result file (default in {RESULTS_DIR}/)")
    p.add_argument("--report", action="store_true", help="also write the Markdown report")
    p.add_argument("--broker", action="store_true",
                   help="remote workers behind a local redis-server instead of the local pool")


def add_tool_commands(sub: Any, bench: argparse.ArgumentParser, bench_sub: Any) -> None:
    """Register the tools' subcommands; plain `capswriter bench` runs `bench all`."""
    p = bench_sub.add_parser("pool", help="speed-up of N workers and dictation latency")
    _pool_options(p)
    p.set_defaults(func=cmd_bench_pool)

    p = bench_sub.add_parser("all", help="engine and pool benchmarks with one final table")
    _pool_options(p)
    p.add_argument("--asr-runs", type=int, default=5, help="engine decodes per clip length")
    p.add_argument("--asr-file-seconds", type=float, default=300.0,
                   help="recording timed through a server next to faster-whisper (0 skips)")
    p.set_defaults(func=cmd_bench_all)
    bench_sub.required = False
    bench.set_defaults(**vars(p.parse_args([])))

    p = bench_sub.add_parser("broker", help="broker mode: throughput with 1..N remote workers, "
                             "dispatch overhead vs the local pool, reclaim after kill -9")
    p.add_argument("--workers", default="1,2,3", help="remote worker counts (default 1,2,3)")
    p.add_argument("--threads", type=int, default=1, help="recognizer threads per worker")
    p.add_argument("--files", type=int, default=3, help="files in the batch")
    p.add_argument("--file-seconds", type=float, default=60.0, help="length of each file")
    p.add_argument("--dictations", type=int, default=30, help="dictations per mode (0 skips)")
    p.add_argument("--utterance-seconds", type=float, default=3.0, help="dictation length")
    p.add_argument("--reclaim-idle", type=float, default=10.0,
                   help="server.broker_reclaim_idle_s for the kill -9 runs")
    p.add_argument("--reclaim-runs", type=int, default=2, help="kill -9 runs")
    p.add_argument("--output", default=None, help=f"JSONL result file (default in {RESULTS_DIR}/)")
    p.set_defaults(func=cmd_bench_broker)

    p = bench_sub.add_parser("kill-workers", help="kill every worker at once while uploads "
                             "decode; each must end in text or a typed error")
    _server_options(p)
    p.add_argument("--tries", type=int, default=20, help="uploads, each with its kill")
    p.add_argument("--audio", default=None, help="recording to upload (default: bundled "
                   "speech sample)")
    p.set_defaults(func=cmd_bench_kill_workers)

    p = bench_sub.add_parser("soak", help="the real tray app on a private desktop: many "
                             "dictations, files dropped, a server crash; what was lost")
    p.add_argument("--dictations", type=int, default=20)
    p.add_argument("--clips", default=None, help="folder with manifest.tsv (file, language, "
                   "reference_text); default: the test recordings")
    p.add_argument("--workers", type=int, default=1, help="the app's server's general workers")
    p.add_argument("--pause-share", type=float, default=0.3,
                   help="share of dictations made of 2-3 recordings with pauses")
    p.add_argument("--files", type=int, default=2, help="files dropped on the app mid-way")
    p.add_argument("--no-restart", action="store_true", help="do not kill the server mid-way")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", default=None, help="keep the app's logs and history here")
    p.add_argument("--output", default=None, help=f"JSONL result file (default in {RESULTS_DIR}/)")
    p.set_defaults(func=cmd_bench_soak)
    p = bench_sub.add_parser("slowloris", help="slow clients (waiting sockets, trickled "
                             "uploads) against a local server; latency of /health and token "
                             "requests meanwhile")
    p.add_argument("--sockets", type=int, default=1100, help="waiting sockets held at once")
    p.add_argument("--rate", type=float, default=110.0, help="new waiting sockets per second")
    p.add_argument("--trickles", type=int, default=32, help="trickled uploads held at once")
    p.add_argument("--seconds", type=float, default=30.0, help="how long the flood runs")
    p.add_argument("--output", default=None, help=f"JSON result file (default in {RESULTS_DIR}/)")
    p.set_defaults(func=cmd_bench_slowloris)

    p = sub.add_parser("loadtest", help="many concurrent clients (WebSocket or HTTP)")
    _server_options(p)
    p.add_argument("--clients", type=int, default=500, help="concurrent clients (default 500)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds to start attempts")
    p.add_argument("--mode", choices=("short", "long", "http", "openai"), default="short",
                   help="short: dictations; long: file uploads; http: OpenAI-style POSTs; "
                        "openai: the same through the openai SDK")
    p.add_argument("--audio", default=None, help="audio to send (default: bundled speech)")
    p.add_argument("--long-seconds", type=float, default=60.0,
                   help="length of the built file in long mode")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds of server silence that make an attempt a timeout "
                        "(http: the whole request)")
    p.add_argument("--drain", type=float, default=60.0,
                   help="seconds attempts in flight may still finish after --duration")
    p.add_argument("--max-attempts", type=int, default=10_000, help="per client")
    p.add_argument("--report", action="store_true", help="also write the Markdown report")
    p.set_defaults(func=cmd_loadtest)

    p = sub.add_parser("stress", help="memory-leak check and concurrency ramp")
    _server_options(p)
    p.add_argument("--rounds", type=int, default=3, help="judged short+long rounds")
    p.add_argument("--max-warmup-rounds", type=int, default=3,
                   help="rounds allowed for memory to settle before judging starts")
    p.add_argument("--settle-mb", type=float, default=10.0,
                   help="a round growing no worker's RSS more than this ends the warm-up")
    p.add_argument("--short-seconds", type=float, default=30.0,
                   help="short file: at least this long (whole clips with pauses)")
    p.add_argument("--long-minutes", type=float, default=12.0,
                   help="long file: at least this long")
    p.add_argument("--speech", nargs="*", default=[], help="speech recordings to build from")
    p.add_argument("--max-long-delta-mb", type=float, default=200.0)
    p.add_argument("--max-slope-mb-per-task", type=float, default=5.0)
    p.add_argument("--ramp-seconds", type=float, default=30.0,
                   help="audio per ramp file (at least)")
    p.add_argument("--ramp-ceiling", type=int, default=16, help="highest concurrency tried")
    p.add_argument("--max-rtf", type=float, default=1.0, help="RTF under load that ends the ramp")
    p.add_argument("--task-timeout", type=float, default=1800.0)
    p.add_argument("--no-ramp", action="store_true", help="memory phase only")
    p.add_argument("--no-leak", action="store_true", help="concurrency ramp only")
    p.add_argument("--report", action="store_true", help="also write the Markdown report")
    p.set_defaults(func=cmd_stress)

    p = sub.add_parser("monitor", help="CPU and RSS of the server and workers into CSV")
    p.add_argument("--url", default=None, help="server (default from settings)")
    p.add_argument("--token", default=None, help="server token (default from settings)")
    p.add_argument("--pid", type=int, default=None, help="server pid (default: the workers' "
                   "parent)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds to sample")
    p.add_argument("--output", default=None, help=f"CSV file (default in {RESULTS_DIR}/)")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("report", help="Markdown report with plots from result files")
    p.add_argument("inputs", nargs="+", help="JSONL results and/or monitor CSV files")
    p.add_argument("--output", default=None, help="Markdown file (default: beside the first)")
    p.set_defaults(func=cmd_report)
