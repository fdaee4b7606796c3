"""Records from a private PulseAudio, kills it mid-capture, prints what the recorder did as JSON.

Run by test_recorder in a process of its own: ``python -m tests.client.device_loss_probe DIR``.
"""

import json
import os
import sys
import time
from pathlib import Path

from capswriter.client.recorder import Recorder, RecorderError

from .pulse import PulseServer, use_pulse_in_this_process
from .xsession import wait_until


def main(workdir: Path) -> int:
    server = PulseServer(workdir)
    server.start()
    os.environ.update(server.env)
    use_pulse_in_this_process(server)
    errors: list[str] = []
    recorder = Recorder(keep_open=True, on_error=errors.append)
    result: dict = {}
    try:
        recorder.open()
        recorder.arm()
        time.sleep(0.5)
        server.proc.kill()
        wait_until(lambda: bool(errors), 3)
        result["error"] = errors[0] if errors else ""
        started = time.monotonic()
        result["samples"] = len(recorder.stop())
        result["stop_seconds"] = time.monotonic() - started
        try:
            recorder.arm()
            result["next_press"] = "opened"
        except RecorderError as exc:
            result["next_press"] = str(exc)
    finally:
        recorder.close()
        server.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
