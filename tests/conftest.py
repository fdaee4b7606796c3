"""Shared fixtures: the real recordings in tests/data, synthesized speech, a long joined file,
and the installed models.

Nothing here reads outside the repository: the real clips are checked in (see
tests/data/real/LICENSES.md), synthesized speech is made by espeak-ng and cached in pytest's
cache directory, and models come from the repository's models/ folder.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from capswriter.config import PROJECT_ROOT

SAMPLE_RATE = 16000
DATA_DIR = Path(__file__).parent / "data"
REAL_DIR = DATA_DIR / "real"
INSTALL_HINT = "run `capswriter models install whisper-base`"


@dataclass(frozen=True)
class RealClip:
    """One checked-in recording and what its source project asserts it says."""

    path: Path
    language: str
    duration_s: float
    sample_rate: int
    text: str
    source_repo: str
    license_note: str

    @property
    def name(self) -> str:
        return self.path.name

    def samples(self) -> np.ndarray:
        data, rate = sf.read(self.path, dtype="float32")
        assert rate == SAMPLE_RATE, f"{self.path} is {rate} Hz, expected 16 kHz"
        return data


@dataclass(frozen=True)
class PlacedClip:
    """Where a real clip was put inside the long recording (seconds)."""

    name: str
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class LongRecording:
    """Real clips joined with silences of known length, as samples and as a WAV file."""

    path: Path
    samples: np.ndarray
    clips: list[PlacedClip]
    # The inserted silences between clips, (start, end) in seconds.
    silences: list[tuple[float, float]]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def text(self) -> str:
        return " ".join(clip.text for clip in self.clips)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(scope="session")
def real_clips() -> dict[str, RealClip]:
    """The clips listed in tests/data/real/manifest.tsv, keyed by file name."""
    with open(REAL_DIR / "manifest.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    clips = {
        row["file"]: RealClip(
            path=REAL_DIR / row["file"],
            language=row["language"],
            duration_s=float(row["duration_s"]),
            sample_rate=int(row["sample_rate"]),
            text=row["reference_text"],
            source_repo=row["source_repo"],
            license_note=row["license_note"],
        )
        for row in rows
    }
    missing = [clip.path for clip in clips.values() if not clip.path.is_file()]
    assert not missing, f"manifest lists clips that are not checked in: {missing}"
    return clips


@pytest.fixture(scope="session")
def original_flac_48k() -> Path:
    """zh_sr_chinese.wav in its original form: 48 kHz FLAC, as published by its source."""
    return REAL_DIR / "zh_sr_chinese_48k.flac"


@pytest.fixture(scope="session")
def tts(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Path]:
    """``tts(text, voice="en", words_per_minute=175)`` -> WAV path of espeak-ng speech.

    Each distinct request is synthesized once and kept in pytest's cache directory (or, when
    the cache is switched off with ``-p no:cacheprovider``, for this run only).
    """
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.fail("espeak-ng is not installed; install it with `apt-get install espeak-ng`")
    store = getattr(pytestconfig, "cache", None)
    cache = Path(store.mkdir("capswriter-tts")) if store else tmp_path_factory.mktemp("tts")
    version = subprocess.run(
        [espeak, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()

    def speak(text: str, voice: str = "en", words_per_minute: int = 175) -> Path:
        key = hashlib.sha256(f"{version}|{voice}|{words_per_minute}|{text}".encode()).hexdigest()
        path = cache / f"{key[:24]}.wav"
        if not path.is_file():
            # Another test run may synthesize the same text at the same moment; writing to a
            # private name and renaming keeps the cached file whole for both.
            partial = path.with_suffix(f".{os.getpid()}.tmp.wav")
            subprocess.run(
                [espeak, "-v", voice, "-s", str(words_per_minute), "-w", str(partial), text],
                check=True,
                capture_output=True,
            )
            os.replace(partial, path)
        return path

    return speak


def build_long_recording(
    clips: list[RealClip], path: Path, *, min_seconds: float, seed: int
) -> LongRecording:
    """Cycle through ``clips`` with seeded silences of 0.8-3.5 s until ``min_seconds`` is reached.

    A faint noise floor covers the whole file, because real recordings never contain digital
    silence and the detector should not be tested on an easier signal than users have.
    """
    rng = np.random.default_rng(seed)
    audio = [clip.samples() for clip in clips]
    parts: list[np.ndarray] = []
    placed: list[PlacedClip] = []
    silences: list[tuple[float, float]] = []
    position = 0
    lead = int(1.0 * SAMPLE_RATE)
    parts.append(np.zeros(lead, np.float32))
    position += lead
    index = 0
    while position < min_seconds * SAMPLE_RATE:
        clip, samples = clips[index % len(clips)], audio[index % len(clips)]
        start, end = position / SAMPLE_RATE, (position + len(samples)) / SAMPLE_RATE
        placed.append(PlacedClip(clip.name, start, end, clip.text))
        parts.append(samples)
        position += len(samples)
        gap = int(rng.uniform(0.8, 3.5) * SAMPLE_RATE)
        silences.append((position / SAMPLE_RATE, (position + gap) / SAMPLE_RATE))
        parts.append(np.zeros(gap, np.float32))
        position += gap
        index += 1
    joined = np.concatenate(parts)
    joined += rng.normal(0.0, 0.001, len(joined)).astype(np.float32)
    sf.write(path, joined, SAMPLE_RATE, subtype="PCM_16")
    # The written file is what a user would hand in; keep the samples identical to it.
    samples, _ = sf.read(path, dtype="float32")
    return LongRecording(path=path, samples=samples, clips=placed, silences=silences)


@pytest.fixture(scope="session")
def long_recording(
    real_clips: dict[str, RealClip], tmp_path_factory: pytest.TempPathFactory
) -> LongRecording:
    """About three minutes of the English clips, repeated, with known silences between them."""
    english = [clip for clip in real_clips.values() if clip.language == "en"]
    path = tmp_path_factory.mktemp("long") / "long_recording.wav"
    return build_long_recording(english, path, min_seconds=180.0, seed=1961)


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The repository's models/ folder, where `capswriter models install` puts models."""
    path = Path(os.environ.get("CAPSWRITER_MODELS_DIR") or PROJECT_ROOT / "models")
    if not path.is_dir():
        pytest.fail(f"No models folder at {path}; {INSTALL_HINT}.")
    return path


@pytest.fixture(scope="session")
def vad_model_path(models_dir: Path) -> Path:
    path = models_dir / "silero-vad" / "silero_vad.onnx"
    if not path.is_file():
        pytest.fail(f"The voice activity model {path} is missing; {INSTALL_HINT}.")
    return path
