"""sherpa-onnx release folders get a manifest from their file names, which the engine loads."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import sherpa_onnx

from capswriter.asr.layouts import manifest_for_layout
from capswriter.asr.manifest import recognizer_arguments

# Release folders as sherpa-onnx publishes them (file names from its model pages).
RELEASES = {
    "sherpa-onnx-whisper-tiny.en": (
        ["tiny.en-encoder.onnx", "tiny.en-encoder.int8.onnx", "tiny.en-decoder.onnx",
         "tiny.en-decoder.int8.onnx", "tiny.en-tokens.txt"], "whisper"),
    "sherpa-onnx-sense-voice-zh-en-ja-ko-yue-2024-07-17": (
        ["model.onnx", "model.int8.onnx", "tokens.txt"], "sense_voice"),
    "sherpa-onnx-paraformer-zh-2024-03-09": (["model.int8.onnx", "tokens.txt"], "paraformer"),
    "sherpa-onnx-moonshine-tiny-en-int8": (
        ["preprocess.onnx", "encode.int8.onnx", "uncached_decode.int8.onnx",
         "cached_decode.int8.onnx", "tokens.txt"], "moonshine"),
    "sherpa-onnx-zipformer-en-2023-06-26": (
        ["encoder-epoch-99-avg-1.onnx", "encoder-epoch-99-avg-1.int8.onnx",
         "decoder-epoch-99-avg-1.onnx", "decoder-epoch-99-avg-1.int8.onnx",
         "joiner-epoch-99-avg-1.onnx", "joiner-epoch-99-avg-1.int8.onnx", "tokens.txt"],
        "transducer"),
    "sherpa-onnx-nemo-ctc-en-citrinet-512": (["model.int8.onnx", "tokens.txt"], "nemo_ctc"),
    "sherpa-onnx-fire-red-asr-large-zh_en-2025-02-16": (
        ["encoder.int8.onnx", "decoder.int8.onnx", "tokens.txt"], "fire_red_asr"),
    "sherpa-onnx-streaming-paraformer-bilingual-zh-en": (
        ["encoder.onnx", "encoder.int8.onnx", "decoder.onnx", "decoder.int8.onnx", "tokens.txt"],
        "streaming_paraformer"),
    "sherpa-onnx-dolphin-base-ctc-multi-lang-int8-2025-04-02": (
        ["model.int8.onnx", "tokens.txt"], "dolphin_ctc"),
}  # fmt: skip


def _release(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for file in RELEASES[name][0]:
        (folder / file).write_bytes(b"x")
    (folder / "README.md").write_text("readme")
    return folder


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_each_known_layout_gets_a_manifest_sherpa_onnx_accepts(tmp_path: Path, release) -> None:
    folder = _release(tmp_path, release)
    manifest = manifest_for_layout(folder, "model")
    assert manifest is not None and manifest.kind == RELEASES[release][1]
    factory, kwargs = recognizer_arguments(manifest, folder, num_threads=1)
    recognizers = sherpa_onnx.OnlineRecognizer if manifest.spec.online else (
        sherpa_onnx.OfflineRecognizer
    )
    params = inspect.signature(getattr(recognizers, factory)).parameters
    assert set(kwargs) <= set(params)


def test_int8_files_are_the_default_and_float32_the_fp32_variant(tmp_path: Path) -> None:
    manifest = manifest_for_layout(_release(tmp_path, "sherpa-onnx-whisper-tiny.en"), "tiny")
    assert manifest is not None
    assert manifest.files == {"encoder": "tiny.en-encoder.int8.onnx",
                              "decoder": "tiny.en-decoder.int8.onnx",
                              "tokens": "tiny.en-tokens.txt"}  # fmt: skip
    assert manifest.variants == {"fp32": {"encoder": "tiny.en-encoder.onnx",
                                          "decoder": "tiny.en-decoder.onnx"}}  # fmt: skip
    assert manifest.language == "en"  # an .en model: English only


def test_transducers_keep_the_float32_decoder(tmp_path: Path) -> None:
    folder = _release(tmp_path, "sherpa-onnx-zipformer-en-2023-06-26")
    manifest = manifest_for_layout(folder, "zipformer")
    assert manifest is not None
    assert manifest.files["encoder"] == "encoder-epoch-99-avg-1.int8.onnx"
    assert manifest.files["decoder"] == "decoder-epoch-99-avg-1.onnx"
    assert manifest.files["joiner"] == "joiner-epoch-99-avg-1.int8.onnx"


def test_an_unknown_layout_gets_no_manifest(tmp_path: Path) -> None:
    folder = tmp_path / "sherpa-onnx-something-new"
    folder.mkdir()
    (folder / "model.int8.onnx").write_bytes(b"x")
    (folder / "tokens.txt").write_text("a 0\n")
    assert manifest_for_layout(folder, "new") is None


def test_a_streaming_transducer_is_told_from_an_offline_one(tmp_path: Path) -> None:
    folder = tmp_path / "sherpa-onnx-streaming-zipformer-bilingual-zh-en-2023-02-20"
    folder.mkdir()
    for file in ("encoder-epoch-99-avg-1.int8.onnx", "decoder-epoch-99-avg-1.onnx",
                 "joiner-epoch-99-avg-1.int8.onnx", "tokens.txt"):  # fmt: skip
        (folder / file).write_bytes(b"x")
    manifest = manifest_for_layout(folder, "zipformer")
    assert manifest is not None and manifest.kind == "streaming_transducer"
    assert manifest.language == "zh,en" and manifest.spec.online
