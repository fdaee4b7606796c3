"""Convert a CTranslate2 Whisper model (faster-whisper layout) into sherpa-onnx's Whisper layout.

Output files: `encoder.onnx`, `decoder.onnx` (float32), `encoder.int8.onnx`, `decoder.int8.onnx`
(dynamic int8), `encoder.int8-rows.onnx` (int8 with a scale per audio frame, see quantize_rows),
our step decoders, and `tokens.txt`. The encoder carries the metadata sherpa-onnx reads in
`offline-whisper-model.cc` (dimensions, special tokens, language tokens and codes).
Requires the `convert` extra (torch, onnx, onnxruntime).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import asdict
from pathlib import Path

from capswriter.asr.ct2 import read_ct2
from capswriter.asr.quantize_rows import quantize_rows

log = logging.getLogger(__name__)

OPSET = 17
STEP_DECODER = "step_decoder.onnx"
STEP_DECODER_INT8 = "step_decoder.int8.onnx"
ENCODER_ROWS = "encoder.int8-rows.onnx"

ENCODER_INPUTS = ["mel"]
ENCODER_OUTPUTS = ["n_layer_cross_k", "n_layer_cross_v"]
DECODER_INPUTS = [
    "tokens",
    "in_n_layer_self_k_cache",
    "in_n_layer_self_v_cache",
    "n_layer_cross_k",
    "n_layer_cross_v",
    "offset",
]
DECODER_OUTPUTS = ["logits", "out_n_layer_self_k_cache", "out_n_layer_self_v_cache"]

# Metadata keys sherpa-onnx reads from the encoder (plus descriptive ones it prints).
REQUIRED_METADATA = [
    "n_mels", "n_text_layer", "n_text_ctx", "n_text_state", "n_vocab", "sot", "eot", "blank_id",
    "translate", "transcribe", "is_multilingual", "no_timestamps", "no_speech", "sot_sequence",
    "all_language_tokens", "all_language_codes",
]  # fmt: skip


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte ↔ printable-character table used by byte-level BPE vocabularies."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=False))


def write_tokens(tokenizer_json: Path, out: Path) -> dict[str, int]:
    """Write `tokens.txt` (base64 of each token's bytes, then its id); return special-token ids."""
    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    decode_char = {c: b for b, c in _bytes_to_unicode().items()}
    specials = {t["content"]: int(t["id"]) for t in data.get("added_tokens", [])}
    lines = []
    for token, token_id in sorted(data["model"]["vocab"].items(), key=lambda kv: kv[1]):
        if token in specials:
            continue
        raw = bytes(decode_char[c] for c in token)
        if not raw:
            continue  # an empty line would break sherpa-onnx's "symbol id" parsing
        lines.append(f"{base64.b64encode(raw).decode('ascii')} {token_id}")
    tmp = out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(out)
    return specials


def encoder_metadata(dims, specials: dict[str, int], config: dict) -> dict[str, str]:
    def sid(*names: str) -> int:
        for name in names:
            if name in specials:
                return specials[name]
        raise KeyError(f"special token {names[0]} missing from tokenizer.json")

    lang_ids = [int(i) for i in config.get("lang_ids", [])]
    by_id = {v: k for k, v in specials.items()}
    codes = [by_id[i].strip("<|>") for i in lang_ids]
    multilingual = bool(lang_ids)
    sot = sid("<|startoftranscript|>")
    transcribe = sid("<|transcribe|>")
    sot_sequence = [sot, lang_ids[0], transcribe] if multilingual else [sot]
    non_speech = [int(i) for i in config.get("suppress_ids", []) if int(i) >= 0]
    meta = {
        **{k: v for k, v in asdict(dims).items()},
        "model_type": "whisper",
        "version": "1",
        "maintainer": "capswriter",
        "sot_sequence": ",".join(map(str, sot_sequence)),
        "all_language_tokens": ",".join(map(str, lang_ids)),
        "all_language_codes": ",".join(codes),
        "sot": sot,
        "sot_index": 0,
        "eot": sid("<|endoftext|>"),
        # Token of a single space: sherpa-onnx suppresses it as the first output token.
        "blank_id": 220,
        "is_multilingual": int(multilingual),
        "no_speech": sid("<|nospeech|>", "<|nocaptions|>"),
        "non_speech_tokens": ",".join(map(str, non_speech)),
        "transcribe": transcribe,
        "translate": sid("<|translate|>"),
        "sot_prev": sid("<|startofprev|>"),
        "sot_lm": sid("<|startoflm|>"),
        "no_timestamps": sid("<|notimestamps|>"),
    }
    return {k: str(v) for k, v in meta.items()}


def _add_metadata(path: Path, meta: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def export_onnx(model_bin: Path, out_dir: Path) -> tuple[Path, Path]:
    """Export float32 encoder and decoder graphs from a CTranslate2 model.bin."""
    import torch

    from capswriter.asr.whisper_torch import build_from_ct2

    ct2 = read_ct2(model_bin)
    if ct2.spec_name != "WhisperSpec":
        raise ValueError(f"{model_bin} holds a {ct2.spec_name}, not a Whisper model")
    dims, encoder, decoder = build_from_ct2(ct2)
    del ct2
    encoder_path, decoder_path = out_dir / "encoder.onnx", out_dir / "decoder.onnx"
    with torch.no_grad():
        mel = torch.randn(1, dims.n_mels, 3000)
        torch.onnx.export(
            encoder, (mel,), str(encoder_path), opset_version=OPSET, dynamo=False,
            input_names=ENCODER_INPUTS, output_names=ENCODER_OUTPUTS,
            dynamic_axes={"mel": {0: "n_audio", 2: "n_frames"},
                          "n_layer_cross_k": {1: "n_audio", 2: "n_audio_ctx"},
                          "n_layer_cross_v": {1: "n_audio", 2: "n_audio_ctx"}},
        )  # fmt: skip
        cross_k, cross_v = encoder(mel)
        cache = torch.zeros(dims.n_text_layer, 1, dims.n_text_ctx, dims.n_text_state)
        tokens = torch.tensor([[50258, 50259, 50359]], dtype=torch.int64)
        offset = torch.zeros(1, dtype=torch.int64)
        torch.onnx.export(
            decoder, (tokens, cache, cache.clone(), cross_k, cross_v, offset), str(decoder_path),
            opset_version=OPSET, dynamo=False,
            input_names=DECODER_INPUTS, output_names=DECODER_OUTPUTS,
            dynamic_axes={"tokens": {0: "n_audio", 1: "n_tokens"},
                          "in_n_layer_self_k_cache": {1: "n_audio"},
                          "in_n_layer_self_v_cache": {1: "n_audio"},
                          "n_layer_cross_k": {1: "n_audio", 2: "n_audio_ctx"},
                          "n_layer_cross_v": {1: "n_audio", 2: "n_audio_ctx"},
                          "logits": {0: "n_audio", 1: "n_tokens"},
                          "out_n_layer_self_k_cache": {1: "n_audio"},
                          "out_n_layer_self_v_cache": {1: "n_audio"}},
        )  # fmt: skip
        export_step_decoder(decoder, dims, cross_k, cross_v, out_dir / STEP_DECODER)
    return encoder_path, decoder_path, dims  # type: ignore[return-value]


def step_decoder_names(n_layer: int) -> tuple[list[str], list[str]]:
    """Input and output names of the step decoder (see whisper_torch.WhisperStepDecoder)."""
    layers = range(n_layer)
    inputs = ["tokens"] + [f"self_{kv}_{i}" for kv in "kv" for i in layers]
    inputs += [f"cross_{kv}_{i}" for kv in "kv" for i in layers]
    outputs = ["logits"] + [f"new_self_{kv}_{i}" for kv in "kv" for i in layers]
    return inputs, outputs


def export_step_decoder(decoder, dims, cross_k, cross_v, path: Path) -> Path:
    """Export the per-layer, growing-cache decoder our own decoding loop runs."""
    import torch

    from capswriter.asr.whisper_torch import WhisperStepDecoder

    step = WhisperStepDecoder(decoder).eval()
    n_layer, heads = dims.n_text_layer, dims.n_text_head
    d_head = dims.n_text_state // heads
    frames = cross_k.shape[2]
    past = [torch.zeros(1, 2, dims.n_text_state) for _ in range(2 * n_layer)]
    keys = [cross_k[i].view(1, frames, heads, d_head).permute(0, 2, 1, 3) for i in range(n_layer)]
    values = [cross_v[i].view(1, frames, heads, d_head).permute(0, 2, 3, 1) for i in range(n_layer)]
    tokens = torch.tensor([[50258, 50259, 50359]], dtype=torch.int64)
    inputs, outputs = step_decoder_names(n_layer)
    axes: dict[str, dict[int, str]] = {
        "tokens": {0: "n", 1: "n_tokens"}, "logits": {0: "n", 1: "n_tokens"},
    }  # fmt: skip
    for name in inputs[1 : 1 + 2 * n_layer]:
        axes[name] = {0: "n", 1: "past"}
    # One window's keys and values serve every row: their first axis is always 1.
    for name in inputs[1 + 2 * n_layer :]:
        axes[name] = {2 if name.startswith("cross_k") else 3: "frames"}
    for name in outputs[1:]:
        axes[name] = {0: "n", 1: "past_and_new"}
    with torch.no_grad():
        torch.onnx.export(
            step, (tokens, *past, *keys, *values), str(path), opset_version=OPSET,
            dynamo=False, input_names=inputs, output_names=outputs, dynamic_axes=axes,
        )  # fmt: skip
    return path


def quantize_int8(src: Path, dst: Path, per_channel: bool = True) -> Path:
    """Dynamic int8 weights for MatMul and Gather; per-channel scales keep Chinese accuracy."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer logs a line per tensor on the root logger; keep the user's console readable.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)
    try:
        quantize_dynamic(
            model_input=str(src),
            model_output=str(dst),
            op_types_to_quantize=["MatMul", "Gather"],
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
        )
    finally:
        root.setLevel(level)
    return dst


def convert(model_bin: Path, tokenizer_json: Path, config_json: Path, out_dir: Path) -> list[Path]:
    """Full conversion into `out_dir`; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    specials = write_tokens(tokenizer_json, out_dir / "tokens.txt")
    encoder_path, decoder_path, dims = export_onnx(model_bin, out_dir)  # type: ignore[misc]
    config = json.loads(config_json.read_text(encoding="utf-8"))
    meta = encoder_metadata(dims, specials, config)
    _add_metadata(encoder_path, meta)
    log.info("quantizing encoder and decoder to int8")
    encoder_int8 = quantize_int8(encoder_path, out_dir / "encoder.int8.onnx")
    decoder_int8 = quantize_int8(decoder_path, out_dir / "decoder.int8.onnx")
    step_int8 = quantize_int8(out_dir / STEP_DECODER, out_dir / STEP_DECODER_INT8)
    # quantize_dynamic keeps metadata_props, but set it again so the contract does not rest on that.
    _add_metadata(encoder_int8, meta)
    log.info("quantizing the encoder with per-frame scales")
    encoder_rows = quantize_rows(encoder_path, out_dir / ENCODER_ROWS)
    _add_metadata(encoder_rows, meta)
    return [
        out_dir / "tokens.txt", encoder_path, decoder_path, encoder_int8, decoder_int8,
        out_dir / STEP_DECODER, step_int8, encoder_rows,
    ]  # fmt: skip
