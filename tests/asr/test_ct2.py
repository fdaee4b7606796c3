from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from capswriter.asr.ct2 import read_ct2
from capswriter.asr.install import WHISPER_BASE_SIZE
from capswriter.config import cache_dir
from capswriter.errors import ModelInstallError


@pytest.fixture(scope="module")
def model_bin() -> Path:
    path = cache_dir() / "whisper-base" / "model.bin"
    if not path.is_file():
        pytest.fail(f"{path} is missing; run `capswriter models install whisper-base`")
    return path


def test_reads_the_real_whisper_base_file(model_bin: Path) -> None:
    assert model_bin.stat().st_size == WHISPER_BASE_SIZE
    model = read_ct2(model_bin)
    assert model.spec_name == "WhisperSpec"
    assert len(model.variables) == 212
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert model.get("decoder/embeddings/weight").shape == (51865, 512)
    assert model.get("decoder/projection/weight") is model.get("decoder/embeddings/weight")
    assert model.get("encoder/conv1/weight").shape == (512, 80, 3)
    assert model.get("encoder/layer_5/self_attention/linear_0/weight").shape == (1536, 512)
    assert model.get("decoder/layer_0/attention/linear_1/weight").shape == (1024, 512)
    assert model.get("decoder/position_encodings/encodings").shape == (448, 512)
    assert model.get("decoder/embeddings/weight").dtype == np.float16
    assert int(model.get("encoder/num_heads")) == 8


def _ct2_bytes(name: str, array: np.ndarray, dtype_id: int) -> bytes:
    def s(text: str) -> bytes:
        raw = text.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    body = struct.pack("<I", 6) + s("TestSpec") + struct.pack("<II", 1, 1)
    body += (
        s(name)
        + struct.pack("<B", array.ndim)
        + b"".join(struct.pack("<I", d) for d in array.shape)
    )
    body += struct.pack("<BI", dtype_id, array.nbytes) + array.tobytes()
    return body + struct.pack("<I", 1) + s("alias") + s(name)


def test_small_file_round_trip_and_truncation(tmp_path: Path) -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    data = _ct2_bytes("w", array, 0)
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    model = read_ct2(path)
    np.testing.assert_array_equal(model.get("alias"), array)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelInstallError, match="truncated"):
        read_ct2(path)
