"""Real speech clips for dictation tests, and a loose check of what came back."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import soundfile as sf

from capswriter.config import PROJECT_ROOT

AUDIO = PROJECT_ROOT / "tests" / "data" / "real"
CLIP = AUDIO / "en_goforward.wav"
EXPECTED_WORDS = ("go", "forward", "meters")


def clip_pcm(path: Path = CLIP) -> np.ndarray:
    pcm, rate = sf.read(path, dtype="int16")
    assert rate == 16000
    return pcm


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def heard_clip(text: str) -> bool:
    found = words(text)
    return all(word in found for word in EXPECTED_WORDS)
