"""How long the desktop client takes to exit on SIGTERM (what a logout sends) and on Quit.

Each run starts the real client on a private Xvfb, recording from a private PulseAudio through
PortAudio, against a real recognition server; it dictates one clip with the real hotkey (or, with
``--idle``, leaves the microphone unused) and then asks the client to leave.

    python scripts/bench_exit.py --runs 5

Needs Xvfb, xdotool, pulseaudio and the whisper-base model (as the client tests do).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from capswriter.config import Settings  # noqa: E402
from tests.client.client_process import ClientProcess  # noqa: E402
from tests.client.pulse import PulseServer  # noqa: E402
from tests.client.servers import ServerProcess  # noqa: E402
from tests.client.speech import clip_pcm  # noqa: E402
from tests.client.xsession import XServer  # noqa: E402


def one_exit(workdir: Path, x: XServer, pulse: PulseServer, port: int, how: str,
             dictate: bool) -> float | None:
    settings = Settings()
    settings.server.port = port
    settings.client.keep_stream_open = dictate
    client = ClientProcess(workdir, x, pulse, settings)
    client.start()
    caps_before = x.caps_lock_on()
    try:
        client.wait_for_log("state: ready", "push-to-talk ready",
                            *(["microphone open"] if dictate else []))
        if dictate:
            client.hold_hotkey()
            client.wait_for_log("state: recording")
            time.sleep(pulse.play(clip_pcm()))
            client.release_hotkey()
            client.wait_for_log("state: transcribing")
            client.wait_for_log("state: ready")
        seconds = client.end(how)
        return seconds if client.proc.returncode is not None else None
    finally:
        client.kill()
        if x.caps_lock_on() != caps_before:
            x.xdotool("key", "Caps_Lock")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", action="store_true", help="never open the microphone")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="capswriter-exit-"))
    x = XServer()
    x.start()
    pulse = PulseServer(root)
    pulse.start()
    server = ServerProcess(root)
    try:
        import os

        os.environ.update(pulse.env)
        server.start()
        for how in ("sigterm", "quit"):
            times: list[float] = []
            hung = 0
            for run in range(args.runs):
                workdir = root / f"{how}-{run}"
                workdir.mkdir()
                seconds = one_exit(workdir, x, pulse, server.port, how, not args.idle)
                if seconds is None:
                    hung += 1
                    print(f"{how} run {run}: did not exit within 60 s", flush=True)
                else:
                    times.append(seconds)
                    print(f"{how} run {run}: exited in {seconds:.2f} s", flush=True)
            if times:
                print(f"{how}: median {statistics.median(times):.2f} s, max {max(times):.2f} s, "
                      f"hung {hung} of {args.runs}"
                      f" ({'microphone unused' if args.idle else 'after a dictation'})")
    finally:
        server.stop()
        pulse.stop()
        x.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
