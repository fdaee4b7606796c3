"""Checks that a model folder's files are what sherpa-onnx expects of its kind, before loading.

sherpa-onnx ends the whole process (`_Exit`, no exception) when a metadata key it reads is
missing or unreadable, or when tokens.txt lacks a symbol it looks up. Loaded by a worker, such a
model would kill the worker at every restart; loaded by an install, the install itself. So the
metadata keys and input counts sherpa-onnx's C++ reads for each kind
(sherpa-onnx/csrc/offline-<kind>-model.cc) are checked here first, with onnxruntime, which
raises ordinary exceptions, and a mismatch becomes one ModelBroken line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from capswriter.asr.manifest import ModelManifest
from capswriter.errors import ModelBroken


@dataclass(frozen=True)
class FileSpec:
    """What sherpa-onnx reads from one ONNX file of a kind."""

    inputs: int  # how many inputs it feeds, in order (names are not looked at)
    int_keys: tuple[str, ...] = ()  # metadata read as integers
    float_lists: tuple[str, ...] = ()  # metadata read as comma-separated floats
    # metadata key -> accepted values (sherpa-onnx picks its code path by it)
    one_of: dict[str, tuple[str, ...]] = field(default_factory=dict)
    min_inputs: bool = False  # `inputs` is a minimum (decoders that take their caches back)
    # model_type -> more metadata it needs (lists of whole numbers or whole numbers)
    keys_by_type: dict[str, tuple[str, ...]] = field(default_factory=dict)


_LFR = ("lfr_window_size", "lfr_window_shift")
_CMVN = ("neg_mean", "inv_stddev")
_LANGS = ("lang_auto", "lang_zh", "lang_en", "lang_ja", "lang_ko", "lang_yue")

SPECS: dict[str, dict[str, FileSpec]] = {
    "sense_voice": {
        "model": FileSpec(
            4, ("vocab_size", *_LFR, "normalize_samples", "with_itn", "without_itn", *_LANGS), _CMVN
        ),  # fmt: skip
    },
    "paraformer": {"paraformer": FileSpec(2, ("vocab_size", *_LFR), _CMVN)},
    "transducer": {
        "encoder": FileSpec(2),
        "decoder": FileSpec(1, ("vocab_size", "context_size")),
        "joiner": FileSpec(2),
    },
    "nemo_ctc": {
        "model": FileSpec(
            2,
            ("vocab_size", "subsampling_factor"),
            one_of={
                "model_type": ("EncDecCTCModelBPE", "EncDecCTCModel", "EncDecHybridRNNTCTCBPEModel")
            },
        ),  # fmt: skip
    },
    "streaming_paraformer": {
        "encoder": FileSpec(
            2,
            ("vocab_size", *_LFR, "encoder_output_size", "decoder_num_blocks",
             "decoder_kernel_size"),
            _CMVN,
        ),  # fmt: skip
        "decoder": FileSpec(5, min_inputs=True),
    },
    "streaming_transducer": {
        "encoder": FileSpec(
            2, min_inputs=True,
            one_of={"model_type": ("zipformer", "zipformer2", "conformer", "lstm",
                                   "ebranchformer")},
            keys_by_type={
                "zipformer": ("encoder_dims", "attention_dims", "num_encoder_layers",
                              "cnn_module_kernels", "left_context_len", "T",
                              "decode_chunk_len"),
                "zipformer2": ("encoder_dims", "query_head_dims", "value_head_dims",
                               "num_heads", "num_encoder_layers", "cnn_module_kernels",
                               "left_context_len", "T", "decode_chunk_len"),
            },
        ),  # fmt: skip
        "decoder": FileSpec(1, ("vocab_size", "context_size")),
        "joiner": FileSpec(2),
    },
    "moonshine": {
        "preprocessor": FileSpec(1),
        "encoder": FileSpec(2),
        "uncached_decoder": FileSpec(3),
        "cached_decoder": FileSpec(4, min_inputs=True),
    },
}

# Symbols sherpa-onnx looks up in tokens.txt by name, per kind (any one of them will do).
TOKENS: dict[str, tuple[str, ...]] = {
    "paraformer": ("</s>",),
    "nemo_ctc": ("<blk>", "<eps>", "<blank>"),
}


def _read_onnx(path: Path) -> tuple[dict[str, str], int]:
    """(custom metadata, number of inputs) of an ONNX file."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/InvalidProtobuf
        raise ModelBroken(f"{path.name} is not a readable ONNX model ({exc})".strip()) from exc
    return dict(session.get_modelmeta().custom_metadata_map), len(session.get_inputs())


def _read_tokens(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelBroken(f"{path.name} is not a readable UTF-8 tokens file ({exc})") from exc
    return [line.rsplit(maxsplit=1)[0] if " " in line.strip() else line.strip()
            for line in lines if line.strip()]  # fmt: skip


def _problems(spec: FileSpec, metadata: dict[str, str], inputs: int) -> list[str]:
    found = []
    if inputs < spec.inputs or (inputs != spec.inputs and not spec.min_inputs):
        found.append(f"{inputs} inputs where {'at least ' if spec.min_inputs else ''}"
                     f"{spec.inputs} are fed")  # fmt: skip
    missing = [k for k in (*spec.int_keys, *spec.float_lists, *spec.one_of) if k not in metadata]
    if missing:
        found.append(f"no {', '.join(missing)} in its metadata")
    for key in spec.int_keys:
        if key in metadata and not metadata[key].strip().lstrip("-").isdigit():
            found.append(f"metadata {key}={metadata[key][:20]!r} is not a whole number")
    for key in spec.float_lists:
        try:
            [float(v) for v in metadata.get(key, "0").split(",")]
        except ValueError:
            found.append(f"metadata {key} is not a list of numbers")
    wanted = spec.keys_by_type.get(metadata.get("model_type", ""), ())
    if [k for k in wanted if k not in metadata]:
        found.append(f"no {', '.join(k for k in wanted if k not in metadata)} in its metadata")
    for key in wanted:
        if key in metadata and not all(v.strip().isdigit() for v in metadata[key].split(",")):
            found.append(f"metadata {key}={metadata[key][:20]!r} is not whole numbers")
    for key, accepted in spec.one_of.items():
        if key in metadata and metadata[key] not in accepted:
            found.append(f"metadata {key}={metadata[key]!r}, not one of {', '.join(accepted)}")
    return found


def check_model_files(manifest: ModelManifest, model_dir: Path, variant: str | None = None) -> None:
    """Raise ModelBroken, naming the file and what it lacks, when a file of the folder is not
    what sherpa-onnx reads for the manifest's kind. Kinds without a spec here pass."""
    specs = SPECS.get(manifest.kind)
    if specs is None:
        return
    files = manifest.files_for(variant)
    vocab_sizes: list[tuple[str, int]] = []
    for arg, spec in specs.items():
        path = model_dir / files[arg]
        if not path.is_file():
            raise ModelBroken(f"{path} is missing; a {manifest.kind} model needs its {arg} file")
        metadata, inputs = _read_onnx(path)
        problems = _problems(spec, metadata, inputs)
        if problems:
            raise ModelBroken(
                f"{path.name} is not a sherpa-onnx {manifest.kind} {arg} file: "
                f"{'; '.join(problems)}. Is the model's kind right (manifest.toml)?"
            )
        if "vocab_size" in spec.int_keys:
            vocab_sizes.append((path.name, int(metadata["vocab_size"])))
    tokens_path = model_dir / files["tokens"]
    if not tokens_path.is_file():
        raise ModelBroken(f"{tokens_path} is missing")
    tokens = _read_tokens(tokens_path)
    for name, size in vocab_sizes:
        if len(tokens) < size:
            raise ModelBroken(
                f"{tokens_path.name} lists {len(tokens)} tokens, but {name} has a vocabulary "
                f"of {size}; the tokens file belongs to another model"
            )
    wanted = TOKENS.get(manifest.kind)
    if wanted and not set(wanted) & set(tokens):
        raise ModelBroken(
            f"{tokens_path.name} has no {' or '.join(wanted)}, which sherpa-onnx needs for a "
            f"{manifest.kind} model; the tokens file belongs to another model"
        )
