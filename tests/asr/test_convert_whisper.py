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


@pytest.mark.parametrize("precision", ["", ".int8"])
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
