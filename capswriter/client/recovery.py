"""What a crash of the tray app must not cost: the dictation being recorded and the lock key.

Both are written down while they are at stake and crossed out when they are safe, so the next
start finds only what an unclean end left behind:

* :class:`RecordingSpool`: the audio of each dictation, appended to a file of its own while the
  key is held (raw 16-bit PCM, so a file cut off mid-write is still readable) and removed once
  the dictation has its text or its entry in History. Left-over files are recordings whose
  dictation never finished; the next start keeps them in History, where they are transcribed
  like any dictation kept while the server was away.
* :class:`LockDebt`: on X11 the hold itself toggles CapsLock and a synthetic tap puts it back
  after the dictation. The state to put back is written when the hold begins and crossed out
  when the tap is sent; the next start sends the tap if the key is still wrong.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import numpy as np

from capswriter.audio import SAMPLE_RATE, to_pcm16

log = logging.getLogger(__name__)

SPOOL_SUFFIX = ".pcm"


class SpooledRecording:
    """One dictation's audio on disk, appended chunk by chunk from the recorder's thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("ab", buffering=0)
        except OSError as exc:  # a full or read-only disk must not stop the dictation
            log.warning("cannot keep a copy of the recording in %s: %s", path, exc)

    def append(self, samples: np.ndarray) -> None:
        with self._lock:
            if self._file is None:
                return
            try:
                self._file.write(to_pcm16(samples))
            except OSError as exc:
                log.warning("stopped keeping a copy of the recording: %s", exc)
                self._close_locked()

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def discard(self) -> None:
        """The dictation is safe elsewhere (its text or History): the copy goes."""
        self.close()
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove the copy of a recording %s: %s", self.path, exc)

    def _close_locked(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class RecordingSpool:
    """The folder of recordings in progress."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def begin(self) -> SpooledRecording:
        name = f"dictation-{time.time_ns()}{SPOOL_SUFFIX}"
        return SpooledRecording(self.folder / name)

    def leftovers(self) -> list[Path]:
        """Recordings whose dictation never finished, oldest first."""
        try:
            return sorted(self.folder.glob(f"dictation-*{SPOOL_SUFFIX}"))
        except OSError:
            return []

    @staticmethod
    def read(path: Path) -> np.ndarray:
        data = path.read_bytes()
        pcm = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")
        return pcm.astype(np.float32) / 32768.0

    @staticmethod
    def seconds(samples: np.ndarray) -> float:
        return len(samples) / SAMPLE_RATE


class LockDebt:
    """The lock state a hold owes the user, in a small file beside the history."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def owe(self, key: str, restore_to: bool) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"key": key, "restore_to": restore_to}),
                                 encoding="utf-8")
        except OSError as exc:
            log.warning("cannot note the lock state to restore: %s", exc)

    def paid(self) -> None:
        self.path.unlink(missing_ok=True)

    def outstanding(self, key: str) -> bool | None:
        """The state ``key`` should be put back to after an unclean end, or None."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != key \
                or not isinstance(data.get("restore_to"), bool):
            return None
        return data["restore_to"]
