"""The converted graphs against the contract of sherpa-onnx's offline-whisper-model.cc."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import onnx
import pytest

from capswriter.asr.convert_whisper import (
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    REQUIRED_METADATA,
    _bytes_to_unicode,
    write_tokens,
)
from capswriter.config import cache_dir


@pytest.fixture(scope="module")
def whisper_dir(models_dir: Path) -> Path:
    return models_dir / "whisper-base"


@pytest.mark.parametrize("precision", ["", ".int8", ".int8-rows"])
def test_encoder_contract(whisper_dir: Path, precision: str) -> None:
    model = onnx.load(str(whisper_dir / f"encoder{precision}.onnx"))
    assert [i.name for i in model.graph.input] == ENCODER_INPUTS
    assert [o.name for o in model.graph.output] == ENCODER_OUTPUTS
    mel = model.graph.input[0].type.tensor_type.shape.dim
    assert mel[1].dim_value == 80
    assert mel[2].dim_param, "the frame axis must be dynamic: sherpa-onnx feeds fewer than 3000"
    meta = {p.key: p.value for p in model.metadata_props}
    assert set(REQUIRED_METADATA) <= set(meta)
    assert meta["n_text_layer"] == "6" and meta["n_vocab"] == "51865"
    assert meta["sot_sequence"] == "50258,50259,50359"
    codes = meta["all_language_codes"].split(",")
    tokens = meta["all_language_tokens"].split(",")
    assert len(codes) == len(tokens) == 99
    assert codes[:2] == ["en", "zh"] and tokens[1] == "50260"
    assert meta["no_timestamps"] == "50363" and meta["eot"] == "50257"


@pytest.mark.parametrize("precision", ["", ".int8"])
def test_decoder_contract(whisper_dir: Path, precision: str) -> None:
    model = onnx.load(str(whisper_dir / f"decoder{precision}.onnx"), load_external_data=False)
    assert [i.name for i in model.graph.input] == DECODER_INPUTS
    assert [o.name for o in model.graph.output] == DECODER_OUTPUTS
    cache = model.graph.input[1].type.tensor_type.shape.dim
    assert [d.dim_value for d in cache][0] == 6
    assert [d.dim_value for d in cache][2:] == [448, 512]


def test_int8_decoder_has_no_float_copy_of_the_vocabulary(whisper_dir: Path) -> None:
    # The tied 51865×512 projection left in float32 would weigh 106 MB on its own.
    assert (whisper_dir / "decoder.int8.onnx").stat().st_size < 90 * 2**20


def test_tokens_are_base64_bytes_with_ids(tmp_path: Path) -> None:
    work = cache_dir() / "whisper-base"
    specials = write_tokens(work / "tokenizer.json", tmp_path / "tokens.txt")
    lines = (tmp_path / "tokens.txt").read_text().splitlines()
    assert len(lines) == 50256
    table = {int(i): base64.b64decode(t) for t, i in (line.split() for line in lines)}
    vocab = json.loads((work / "tokenizer.json").read_text())["model"]["vocab"]
    assert table[vocab["Ġthe"]] == b" the"
    assert specials["<|startoftranscript|>"] == 50258
    # Every byte has a printable stand-in and they are all different.
    assert len(set(_bytes_to_unicode().values())) == 256


def test_step_decoder_gives_the_same_logits_as_the_sherpa_layout(whisper_dir: Path) -> None:
    # Our decoding loop runs the step decoder; it must be the same network as the decoder
    # sherpa-onnx runs, step after step, only laid out differently.
    import numpy as np
    import onnxruntime as ort

    from capswriter.asr.whisper_decoders import load_decoder
    from capswriter.asr.whisper_onnx import WhisperOnnx

    model = WhisperOnnx(
        whisper_dir / "encoder.int8.onnx", whisper_dir / "decoder.onnx", whisper_dir / "tokens.txt"
    )
    meta = model.encoder.get_modelmeta().custom_metadata_map
    session = ort.InferenceSession(str(whisper_dir / "step_decoder.onnx"))
    step = load_decoder(whisper_dir / "step_decoder.onnx", session, meta)
    cross = model.encode(np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32))
    fixed_state, step_state = model.decoder.start(*cross), step.start(*cross)
    a, fixed_state = model.decoder.run(np.array([[50258, 50259, 50359]]), fixed_state)
    b, step_state = step.run(np.array([[50258, 50259, 50359]]), step_state)
    np.testing.assert_allclose(a, b, atol=2e-3)
    # Then three candidate rows going different ways, as in a beam search: the step decoder
    # shares one copy of the window between rows, the sherpa layout has one per row.
    rows = np.zeros(3, dtype=int)
    fixed_state, step_state = model.decoder.select(fixed_state, rows), step.select(step_state, rows)
    for tokens in ([[440], [1029], [50364]], [[1029], [440], [13]]):
        a, fixed_state = model.decoder.run(np.array(tokens), fixed_state)
        b, step_state = step.run(np.array(tokens), step_state)
        np.testing.assert_allclose(a, b, atol=2e-3)
        assert not np.allclose(a[0], a[1])  # the rows really differ
    assert step_state.cache[0].shape == (3, 5, 512)  # five tokens so far, not 448
    assert step.session.get_inputs()[-1].shape[0] == 1  # one copy of the window for all rows
