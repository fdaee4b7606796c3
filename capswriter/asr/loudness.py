"""Which parts of a recording are as loud as its speech: the check next to the VAD.

Silero misses some speech (a shout, a laugh, singing), so "the VAD heard nothing here" alone
does not mean silence. Audio that is also far quieter than the speech the VAD did hear is.
"""

from __future__ import annotations

import numpy as np

from capswriter.audio import SAMPLE_RATE

FRAME = SAMPLE_RATE // 10  # 100 ms
# Quieter than this fraction of the speech's median level counts as quiet.
QUIET_FRACTION = 0.1


def loud_frames(samples: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """Per 100 ms frame: inside the VAD's speech `spans`, or at least a tenth as loud as the
    median frame of that speech. Without speech spans every frame counts as loud."""
    n = len(samples) // FRAME
    if n == 0 or not spans:
        return np.ones(n, dtype=bool)
    rms = np.sqrt(np.mean(samples[: n * FRAME].reshape(n, FRAME) ** 2, axis=1))
    in_speech = np.zeros(n, dtype=bool)
    for a, b in spans:
        in_speech[a // FRAME : b // FRAME + 1] = True
    if not in_speech.any():
        return np.ones(n, dtype=bool)
    return in_speech | (rms >= QUIET_FRACTION * float(np.median(rms[in_speech])))


# When the VAD hears no speech at all, audio still counts as sound to read where it is this
# loud (-40 dBFS, well above any room or microphone noise) and this far above the recording's
# own floor (its quietest tenth): a whispered or synthetic voice Silero does not recognise is
# read, while silence and steady noise (a fan, hiss) are not.
LOUD_DBFS = -45.0
ABOVE_FLOOR_DB = 10.0
# Loud frames closer than this are one stretch; stretches shorter than the minimum are clicks.
BRIDGE_S = 0.4
MIN_SOUND_S = 0.3
# Less sound than this in all is the end of a word cut off at a piece's edge, not speech the
# VAD missed: read alone, Whisper turns it into "yeah" or "you".
MIN_TOTAL_S = 1.0


def loud_spans(samples: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) sample ranges clearly louder than the recording's floor; [] for silence,
    steady noise or audio too short to judge."""
    n = len(samples) // FRAME
    if n < 2:
        return []
    rms = np.sqrt(np.mean(samples[: n * FRAME].reshape(n, FRAME).astype(np.float64) ** 2,
                          axis=1))
    floor = float(np.percentile(rms, 10))
    limit = max(10 ** (LOUD_DBFS / 20), floor * 10 ** (ABOVE_FLOOR_DB / 20))
    loud = np.flatnonzero(rms >= limit)
    spans: list[tuple[int, int]] = []
    bridge = int(BRIDGE_S * SAMPLE_RATE) // FRAME
    for i in loud:
        if spans and i - spans[-1][1] <= bridge:
            spans[-1] = (spans[-1][0], int(i) + 1)
        else:
            spans.append((int(i), int(i) + 1))
    minimum = MIN_SOUND_S * SAMPLE_RATE / FRAME
    spans = [(a, b) for a, b in spans if b - a >= minimum]
    if sum(b - a for a, b in spans) * FRAME < MIN_TOTAL_S * SAMPLE_RATE:
        return []
    return [(a * FRAME, min(len(samples), b * FRAME)) for a, b in spans]
