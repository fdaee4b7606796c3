"""Writes the start and stop cues (short, soft two-note chimes) into capswriter/assets; run again
after changing a note.

    python scripts/make_sounds.py

Start rises (E5 → A5), stop falls (A5 → E5): the direction tells them apart without looking.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

ASSETS = Path(__file__).resolve().parent.parent / "capswriter" / "assets"
RATE = 44100
NOTE_S = 0.07
VOLUME = 0.25  # a cue, not an alarm
NOTES = {"start": (659.25, 880.0), "stop": (880.0, 659.25)}


def note(freq: float) -> np.ndarray:
    t = np.arange(int(RATE * NOTE_S)) / RATE
    # A quick attack and an exponential decay: a soft chime without clicks.
    envelope = np.minimum(1.0, t / 0.004) * np.exp(-t / (NOTE_S / 3))
    return (VOLUME * envelope * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def main() -> int:
    for name, freqs in NOTES.items():
        audio = np.concatenate([note(f) for f in freqs] + [np.zeros(RATE // 100, np.float32)])
        sf.write(ASSETS / f"sound-{name}.wav", audio, RATE, subtype="PCM_16")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
