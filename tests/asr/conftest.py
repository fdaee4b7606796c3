from __future__ import annotations

from pathlib import Path

import pytest

from capswriter.asr.engine import Engine
from capswriter.config import AsrSettings


@pytest.fixture(scope="package")
def engine(models_dir: Path) -> Engine:
    """The installed whisper-base (int8), loaded once for the asr tests."""
    return Engine.load(AsrSettings(), models_dir, num_threads=2)
