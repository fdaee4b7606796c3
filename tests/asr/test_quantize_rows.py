"""The encoder scaled per audio frame against float32 and onnxruntime's per-tensor int8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from capswriter.asr.engine import whisper_files
from capswriter.asr.manifest import load_manifest
from capswriter.asr.whisper_features import N_FRAMES, log_mel
from capswriter.audio import SAMPLE_RATE
from capswriter.files.decode import load_audio


@pytest.fixture(scope="module")
def whisper_dir(models_dir: Path) -> Path:
    return models_dir / "whisper-base"


def _encode(path: Path, mel: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    cross_k, cross_v = session.run(None, {"mel": mel})
    return np.concatenate([cross_k.ravel(), cross_v.ravel()])


def _relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_per_frame_scales_keep_the_encoder_near_float32_on_real_speech(whisper_dir, real_clips):
    clip = next(c for c in real_clips.values() if c.language == "en" and c.duration_s >= 8)
    samples = load_audio(clip.path)[: 28 * SAMPLE_RATE]
    mel = log_mel(samples, N_FRAMES, 80)[None]
    reference = _encode(whisper_dir / "encoder.onnx", mel)
    rows = _relative_error(_encode(whisper_dir / "encoder.int8-rows.onnx", mel), reference)
    tensor = _relative_error(_encode(whisper_dir / "encoder.int8.onnx", mel), reference)
    # One scale per tensor leaves ordinary channels a few levels beside Whisper's outliers.
    assert rows < 0.1
    assert rows < 0.75 * tensor


def test_only_the_weight_products_are_integer(whisper_dir):
    graph = onnx.load(str(whisper_dir / "encoder.int8-rows.onnx")).graph
    ops = [node.op_type for node in graph.node]
    # Per block: q/k/v, attention output and two feed-forward products; then the cross keys
    # and values of the 6 decoder layers. Attention itself stays float32.
    assert ops.count("MatMulIntegerToFloat") == 6 * 4 + 6
    assert "MatMul" in ops
    # No float32 weight matrix is left (inputs of 512 or 2048 features).
    assert not [i.name for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT
                and len(i.dims) == 2 and i.dims[0] in (512, 2048)]  # fmt: skip


def test_auto_takes_the_encoder_scaled_per_frame(whisper_dir):
    files = whisper_files(load_manifest(whisper_dir), whisper_dir, "auto")
    assert files["encoder"].name == "encoder.int8-rows.onnx"
    assert files["decoder"].name == "step_decoder.int8.onnx"
    assert whisper_files(load_manifest(whisper_dir), whisper_dir, "fp32")["encoder"].name == (
        "encoder.onnx"
    )
