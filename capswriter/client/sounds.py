"""Start and stop cues: short tones played on a thread of their own, never on the hotkey's path.

Qt's own sound player (QtMultimedia) is not part of the PySide6 wheels we ship, so the cues go
through sounddevice, which the microphone already uses. A machine without a sound output (a
server, a VM, a desktop with no card) plays nothing: the first failure is logged once and the
cues stay quiet until they are turned on again.
"""

from __future__ import annotations

import logging
import queue
import threading

import numpy as np

from capswriter.config import ASSETS_DIR

log = logging.getLogger(__name__)

CUES = ("start", "stop")


def cue_path(cue: str):
    return ASSETS_DIR / f"sound-{cue}.wav"


class SoundCues:
    def __init__(self, enabled: bool = False) -> None:
        self.enabled = enabled
        self.available = True  # False after a failure to play: no output device
        self.played = 0  # cues played to the end, for the log and the tests
        self._sounds: dict[str, tuple[np.ndarray, int]] = {}
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def set_enabled(self, enabled: bool) -> None:
        if enabled and not self.enabled:
            self.available = True  # a device may have been plugged in since
        self.enabled = enabled

    def play(self, cue: str) -> None:
        """Queue ``cue`` ("start" or "stop") and return at once."""
        if not (self.enabled and self.available):
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sound-cues", daemon=True)
            self._thread.start()
        self._queue.put(cue)

    def close(self, timeout: float = 1.0) -> bool:
        """Stop playing and let go of the output; returns whether that happened in time."""
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        self._queue.put(None)
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self) -> None:
        while (cue := self._queue.get()) is not None:
            if not self.available:
                continue
            try:
                self._play_now(cue)
                self.played += 1
            except Exception as exc:  # noqa: BLE001 - no device, a busy device, a broken file
                self.available = False
                log.warning("sound cues are off: no sound output could play them (%s)", exc)

    def _play_now(self, cue: str) -> None:
        import sounddevice as sd

        audio, rate = self._sound(cue)
        sd.query_devices(kind="output")  # raises when there is no output device
        # The stream is opened and closed on this thread, so the exit never finds one open.
        with sd.OutputStream(samplerate=rate, channels=1, dtype="float32") as out:
            out.write(audio.reshape(-1, 1))

    def _sound(self, cue: str) -> tuple[np.ndarray, int]:
        if cue not in self._sounds:
            import soundfile as sf

            audio, rate = sf.read(cue_path(cue), dtype="float32")
            self._sounds[cue] = (audio, int(rate))
        return self._sounds[cue]
