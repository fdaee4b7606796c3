"""Plays both cues and reports what happened as JSON; with ``--listen`` it also records the
output's monitor source while they play. Run by test_sounds in a process of its own, so
PortAudio sees only the devices of the environment it is given."""

import json
import sys
import time

import numpy as np

from capswriter.client.sounds import SoundCues


def main() -> int:
    import sounddevice as sd

    outputs = sum(d["max_output_channels"] > 0 for d in sd.query_devices())
    listen = "--listen" in sys.argv
    heard: list[np.ndarray] = []
    stream = None
    if listen:
        stream = sd.InputStream(samplerate=44100, channels=1, dtype="float32",
                                callback=lambda data, *_: heard.append(data[:, 0].copy()))
        stream.start()
        time.sleep(0.3)
    cues = SoundCues(enabled=True)
    cues.play("start")
    cues.play("stop")
    cues.play("start")
    deadline = time.monotonic() + 5
    while cues.played < 3 and cues.available and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    closed = cues.close()
    result = {"outputs": outputs, "played": cues.played, "available": cues.available,
              "closed": closed}
    if stream is not None:
        stream.stop()
        stream.close()
        audio = np.concatenate(heard) if heard else np.zeros(1, np.float32)
        spectrum = np.abs(np.fft.rfft(audio))
        freqs = np.fft.rfftfreq(len(audio), 1 / 44100)
        band = lambda f: float(spectrum[(freqs > f - 15) & (freqs < f + 15)].max())  # noqa: E731
        result["peak"] = float(np.max(np.abs(audio)))
        result["tone_to_noise"] = min(band(659.25), band(880.0)) / (band(1500.0) + 1e-9)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
