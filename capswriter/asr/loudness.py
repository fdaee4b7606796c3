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
