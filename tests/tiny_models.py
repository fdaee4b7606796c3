"""Tiny random-weight models in the file layouts sherpa-onnx publishes, for running every model
kind through the real install, engine and server in seconds.

Each graph has the input and output names, types and ranks that sherpa-onnx's C++ reads for
its kind (sherpa-onnx/csrc/offline-*-model.cc) and the metadata keys it requires, with a few
random matrices in between; `tokens.txt` has as many entries as the model's vocabulary. What
such a model "hears" is noise: tests check the path, the manifest, languages and errors.
`pack_release` lays the files out as the publisher's `sherpa-onnx-<name>.tar.bz2` archive.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

VOCAB = 12
FEATURES = 80  # sherpa-onnx's default fbank size
LFR = 7  # SenseVoice / Paraformer stack 7 frames (every 6th), so their input is 7 × 80 wide
HIDDEN = 8
OPSET = 17

_rng = np.random.default_rng(26)


def _weight(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(_rng.standard_normal(shape).astype(np.float32), name)


def _int64(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def _save(
    path: Path, nodes: list, inputs: list, outputs: list, weights: list,
    metadata: dict[str, str] | None = None,
) -> None:  # fmt: skip
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # readable by every onnxruntime sherpa-onnx ships with
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def _tensor(name: str, dtype: int, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def write_tokens(path: Path, symbols: list[str]) -> None:
    path.write_text("".join(f"{s} {i}\n" for i, s in enumerate(symbols)), encoding="utf-8")


def _symbols(first: list[str], n: int = VOCAB) -> list[str]:
    letters = ["▁a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]
    return first + letters[: n - len(first)]


def _cmvn() -> dict[str, str]:
    width = FEATURES * LFR
    return {
        "neg_mean": ",".join(["0.0"] * width),
        "inv_stddev": ",".join(["1.0"] * width),
        "lfr_window_size": str(LFR),
        "lfr_window_shift": "6",
    }


def sense_voice(folder: Path, *, metadata: bool = True) -> None:
    """model.onnx: x (N, T, 560), x_length, language, text_norm -> logits (N, T + 4, vocab);
    the first four output frames are SenseVoice's language, emotion, event and ITN tags."""
    width = FEATURES * LFR
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["padded"]),
        helper.make_node("MatMul", ["padded", "w"], ["logits"]),
    ]
    meta = {
        "vocab_size": str(VOCAB), "normalize_samples": "0", "with_itn": "14",
        "without_itn": "15", "lang_auto": "0", "lang_zh": "3", "lang_en": "4", "lang_ja": "11",
        "lang_ko": "12", "lang_yue": "7", "model_type": "sense_voice_ctc", **_cmvn(),
    }  # fmt: skip
    _save(
        folder / "model.int8.onnx",
        nodes,
        [
            _tensor("x", TensorProto.FLOAT, ["N", "T", width]),
            _tensor("x_length", TensorProto.INT32, ["N"]),
            _tensor("language", TensorProto.INT32, ["N"]),
            _tensor("text_norm", TensorProto.INT32, ["N"]),
        ],  # fmt: skip
        [_tensor("logits", TensorProto.FLOAT, ["N", "T4", VOCAB])],
        [_int64("pads", [0, 4, 0, 0, 0, 0]), _weight("w", width, VOCAB)],
        meta if metadata else {"vocab_size": str(VOCAB)},
    )
    write_tokens(folder / "tokens.txt", _symbols(["<blk>", "<s>", "</s>", "<|zh|>", "<|en|>"]))


def paraformer(folder: Path) -> None:
    """model.int8.onnx: speech (N, T, 560), speech_lengths -> logits (N, T, vocab), token_num."""
    width = FEATURES * LFR
    nodes = [
        helper.make_node("MatMul", ["speech", "w"], ["scores"]),
        helper.make_node("LogSoftmax", ["scores"], ["logits"], axis=-1),
        helper.make_node("Cast", ["speech_lengths"], ["token_num"], to=TensorProto.INT64),
    ]
    _save(
        folder / "model.int8.onnx",
        nodes,
        [
            _tensor("speech", TensorProto.FLOAT, ["N", "T", width]),
            _tensor("speech_lengths", TensorProto.INT32, ["N"]),
        ],  # fmt: skip
        [
            _tensor("logits", TensorProto.FLOAT, ["N", "T", VOCAB]),
            _tensor("token_num", TensorProto.INT64, ["N"]),
        ],  # fmt: skip
        [_weight("w", width, VOCAB)],
        {"vocab_size": str(VOCAB), **_cmvn()},
    )
    write_tokens(folder / "tokens.txt", _symbols(["<blank>", "<s>", "</s>", "你", "好"]))


def nemo_ctc(folder: Path) -> None:
    """model.int8.onnx: audio_signal (N, 80, T), length -> logprobs (N, T, vocab)."""
    nodes = [
        helper.make_node("Transpose", ["audio_signal"], ["frames"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["frames", "w"], ["scores"]),
        helper.make_node("LogSoftmax", ["scores"], ["logprobs"], axis=-1),
    ]
    _save(
        folder / "model.int8.onnx",
        nodes,
        [
            _tensor("audio_signal", TensorProto.FLOAT, ["N", FEATURES, "T"]),
            _tensor("length", TensorProto.INT64, ["N"]),
        ],  # fmt: skip
        [_tensor("logprobs", TensorProto.FLOAT, ["N", "T", VOCAB])],
        [_weight("w", FEATURES, VOCAB)],
        {
            "vocab_size": str(VOCAB),
            "subsampling_factor": "1",
            "normalize_type": "per_feature",
            "model_type": "EncDecCTCModelBPE",
        },  # fmt: skip
    )
    # NeMo's tokens.txt ends with the CTC blank.
    write_tokens(folder / "tokens.txt", _symbols([], VOCAB - 1) + ["<blk>"])


def _encoder(folder: Path, suffix: str) -> None:
    _save(
        folder / f"encoder{suffix}.int8.onnx",
        [
            helper.make_node("MatMul", ["x", "w"], ["encoder_out"]),
            helper.make_node("Identity", ["x_lens"], ["encoder_out_lens"]),
        ],  # fmt: skip
        [
            _tensor("x", TensorProto.FLOAT, ["N", "T", FEATURES]),
            _tensor("x_lens", TensorProto.INT64, ["N"]),
        ],  # fmt: skip
        [
            _tensor("encoder_out", TensorProto.FLOAT, ["N", "T", HIDDEN]),
            _tensor("encoder_out_lens", TensorProto.INT64, ["N"]),
        ],  # fmt: skip
        [_weight("w", FEATURES, HIDDEN)],
        {"model_type": "zipformer2", "version": "1"},
    )


def transducer(folder: Path, suffix: str = "-epoch-99-avg-1", encoder: bool = True) -> None:
    """icefall's three files: encoder (x, x_lens), decoder (y: the last 2 tokens), joiner."""
    if encoder:
        _encoder(folder, suffix)
    _save(
        folder / f"decoder{suffix}.onnx",
        [
            helper.make_node("Gather", ["embedding", "y"], ["context"]),
            helper.make_node("ReduceMean", ["context"], ["decoder_out"], axes=[1], keepdims=0),
        ],
        [_tensor("y", TensorProto.INT64, ["N", 2])],
        [_tensor("decoder_out", TensorProto.FLOAT, ["N", HIDDEN])],
        [_weight("embedding", VOCAB, HIDDEN)],
        {"vocab_size": str(VOCAB), "context_size": "2"},
    )
    _save(
        folder / f"joiner{suffix}.int8.onnx",
        [
            helper.make_node("Add", ["encoder_out", "decoder_out"], ["sum"]),
            helper.make_node("Tanh", ["sum"], ["hidden"]),
            helper.make_node("MatMul", ["hidden", "w"], ["logit"]),
        ],  # fmt: skip
        [
            _tensor("encoder_out", TensorProto.FLOAT, ["N", HIDDEN]),
            _tensor("decoder_out", TensorProto.FLOAT, ["N", HIDDEN]),
        ],  # fmt: skip
        [_tensor("logit", TensorProto.FLOAT, ["N", VOCAB])],
        [_weight("w", HIDDEN, VOCAB)],
    )
    write_tokens(folder / "tokens.txt", _symbols(["<blk>", "<sos/eos>", "<unk>"]))


def moonshine(folder: Path) -> None:
    """Moonshine's four files: preprocess (audio -> features every 384 samples), encode,
    uncached_decode (token 1 -> logits + cache) and cached_decode (token, cache -> ...)."""
    window = 384
    _save(
        folder / "preprocess.onnx",
        [
            helper.make_node("Unsqueeze", ["args_0", "axis1"], ["channel"]),
            helper.make_node(
                "Conv", ["channel", "w"], ["conv"], kernel_shape=[window], strides=[window]
            ),
            helper.make_node("Transpose", ["conv"], ["features"], perm=[0, 2, 1]),
        ],  # fmt: skip
        [_tensor("args_0", TensorProto.FLOAT, [1, "S"])],
        [_tensor("features", TensorProto.FLOAT, [1, "T", HIDDEN])],
        [_int64("axis1", [1]), _weight("w", HIDDEN, 1, window)],
    )
    _save(
        folder / "encode.int8.onnx",
        [helper.make_node("Tanh", ["args_0"], ["encoder_out"])],
        [
            _tensor("args_0", TensorProto.FLOAT, [1, "T", HIDDEN]),
            _tensor("args_1", TensorProto.INT32, [1]),
        ],  # fmt: skip
        [_tensor("encoder_out", TensorProto.FLOAT, [1, "T", HIDDEN])],
        [],
    )

    def decoder(path: Path, cached: bool) -> None:
        nodes = [
            helper.make_node("Gather", ["embedding", "args_0"], ["token"]),
            helper.make_node("ReduceMean", ["args_1"], ["audio"], axes=[1], keepdims=1),
            helper.make_node("Add", ["token", "audio"], ["mixed"]),
        ]
        inputs = [_tensor("args_0", TensorProto.INT32, [1, 1]),
                  _tensor("args_1", TensorProto.FLOAT, [1, "T", HIDDEN]),
                  _tensor("args_2", TensorProto.INT32, [1])]  # fmt: skip
        if cached:
            inputs.append(_tensor("args_3", TensorProto.FLOAT, [1, 1, HIDDEN]))
            nodes.append(helper.make_node("Add", ["mixed", "args_3"], ["state"]))
        else:
            nodes.append(helper.make_node("Identity", ["mixed"], ["state"]))
        nodes.append(helper.make_node("MatMul", ["state", "w"], ["logits"]))
        nodes.append(helper.make_node("Identity", ["state"], ["cache"]))
        _save(path, nodes, inputs,
              [_tensor("logits", TensorProto.FLOAT, [1, 1, VOCAB]),
               _tensor("cache", TensorProto.FLOAT, [1, 1, HIDDEN])],
              [_weight("embedding", VOCAB, HIDDEN), _weight("w", HIDDEN, VOCAB)])  # fmt: skip

    decoder(folder / "uncached_decode.int8.onnx", cached=False)
    decoder(folder / "cached_decode.int8.onnx", cached=True)
    write_tokens(folder / "tokens.txt", _symbols(["<unk>", "<s>", "</s>"]))


def streaming_paraformer(folder: Path) -> None:
    """encoder: speech (1, T, 560), speech_lengths -> encoder_out, its length, CIF weights
    (alphas, where a token fires); decoder: encoder_out, its length, the fired embeddings,
    their count and one cache per block -> logits, sample ids, the caches back."""
    width = FEATURES * LFR
    kernel = 3
    _save(
        folder / "encoder.int8.onnx",
        [helper.make_node("MatMul", ["speech", "w"], ["encoder_out"]),
         helper.make_node("Identity", ["speech_lengths"], ["encoder_out_lens"]),
         helper.make_node("MatMul", ["speech", "w_alpha"], ["alpha_logits"]),
         helper.make_node("Sigmoid", ["alpha_logits"], ["alpha_column"]),
         helper.make_node("Squeeze", ["alpha_column", "last"], ["alphas"])],  # fmt: skip
        [_tensor("speech", TensorProto.FLOAT, [1, "T", width]),
         _tensor("speech_lengths", TensorProto.INT32, [1])],  # fmt: skip
        [_tensor("encoder_out", TensorProto.FLOAT, [1, "T", HIDDEN]),
         _tensor("encoder_out_lens", TensorProto.INT32, [1]),
         _tensor("alphas", TensorProto.FLOAT, [1, "T"])],  # fmt: skip
        [_weight("w", width, HIDDEN), _weight("w_alpha", width, 1), _int64("last", [2])],
        {"vocab_size": str(VOCAB), "encoder_output_size": str(HIDDEN),
         "decoder_num_blocks": "1", "decoder_kernel_size": str(kernel), **_cmvn()},  # fmt: skip
    )
    _save(
        folder / "decoder.int8.onnx",
        [helper.make_node("MatMul", ["acoustic_embeds", "w"], ["logits"]),
         helper.make_node("ArgMax", ["logits"], ["sample_ids"], axis=2, keepdims=0),
         helper.make_node("Identity", ["in_cache_0"], ["out_cache_0"])],  # fmt: skip
        [_tensor("enc", TensorProto.FLOAT, [1, "T", HIDDEN]),
         _tensor("enc_len", TensorProto.INT32, [1]),
         _tensor("acoustic_embeds", TensorProto.FLOAT, [1, "N", HIDDEN]),
         _tensor("acoustic_embeds_len", TensorProto.INT32, [1]),
         _tensor("in_cache_0", TensorProto.FLOAT, [1, HIDDEN, kernel - 1])],  # fmt: skip
        [_tensor("logits", TensorProto.FLOAT, [1, "N", VOCAB]),
         _tensor("sample_ids", TensorProto.INT64, [1, "N"]),
         _tensor("out_cache_0", TensorProto.FLOAT, [1, HIDDEN, kernel - 1])],  # fmt: skip
        [_weight("w", HIDDEN, VOCAB)],
    )
    write_tokens(folder / "tokens.txt", _symbols(["<blank>", "<s>", "</s>", "你", "好"]))


def streaming_transducer(folder: Path, suffix: str = "-epoch-99-avg-1") -> None:
    """icefall's streaming Zipformer: the encoder reads a chunk of T frames and its seven
    caches per encoder stack (lengths, averages, keys, values twice, two convolutions) and
    gives them back; decoder and joiner as offline."""
    chunk, left, kernel = 39, 4, 3  # T (32 frames + 7 of context), left context, conv kernel
    states = [
        ("cached_len", TensorProto.INT64, [1, "N"]),
        ("cached_avg", TensorProto.FLOAT, [1, "N", HIDDEN]),
        ("cached_key", TensorProto.FLOAT, [1, left, "N", HIDDEN]),
        ("cached_val", TensorProto.FLOAT, [1, left, "N", HIDDEN // 2]),
        ("cached_val2", TensorProto.FLOAT, [1, left, "N", HIDDEN // 2]),
        ("cached_conv1", TensorProto.FLOAT, [1, "N", HIDDEN, kernel - 1]),
        ("cached_conv2", TensorProto.FLOAT, [1, "N", HIDDEN, kernel - 1]),
    ]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["encoder_out"])]
    nodes += [helper.make_node("Identity", [f"{n}_0"], [f"new_{n}_0"]) for n, _, _ in states]
    _save(
        folder / f"encoder{suffix}.int8.onnx",
        nodes,
        [_tensor("x", TensorProto.FLOAT, ["N", chunk, FEATURES])]
        + [_tensor(f"{n}_0", t, shape) for n, t, shape in states],
        [_tensor("encoder_out", TensorProto.FLOAT, ["N", chunk, HIDDEN])]
        + [_tensor(f"new_{n}_0", t, shape) for n, t, shape in states],
        [_weight("w", FEATURES, HIDDEN)],
        {"model_type": "zipformer", "encoder_dims": str(HIDDEN), "attention_dims": str(HIDDEN),
         "num_encoder_layers": "1", "cnn_module_kernels": str(kernel),
         "left_context_len": str(left), "T": str(chunk), "decode_chunk_len": "32"},  # fmt: skip
    )
    transducer(folder, suffix, encoder=False)


# Release folder names as sherpa-onnx publishes them, and the generator of each kind.
RELEASES: dict[str, tuple[str, Callable[[Path], None]]] = {
    "sense_voice": ("sherpa-onnx-sense-voice-zh-en-ja-ko-yue-2024-07-17", sense_voice),
    "paraformer": ("sherpa-onnx-paraformer-zh-2024-03-09", paraformer),
    "transducer": ("sherpa-onnx-zipformer-en-2023-06-26", transducer),
    "moonshine": ("sherpa-onnx-moonshine-tiny-en-int8", moonshine),
    "nemo_ctc": ("sherpa-onnx-nemo-ctc-en-citrinet-512", nemo_ctc),
    "streaming_paraformer": ("sherpa-onnx-streaming-paraformer-bilingual-zh-en",
                             streaming_paraformer),
    "streaming_transducer": ("sherpa-onnx-streaming-zipformer-bilingual-zh-en-2023-02-20",
                             streaming_transducer),
}


def make_release(kind: str, parent: Path, build: Callable[[Path], None] | None = None) -> Path:
    """The release folder of a tiny model of `kind` under `parent`."""
    folder_name, default = RELEASES[kind]
    folder = parent / folder_name
    folder.mkdir(parents=True)
    (build or default)(folder)
    (folder / "README.md").write_text("tiny random-weight model for tests\n")
    return folder


def pack_release(folder: Path, out_dir: Path) -> Path:
    """`<folder>.tar.bz2` holding the folder, as sherpa-onnx's release archives do."""
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"{folder.name}.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tar:
        tar.add(folder, folder.name)
    return archive
