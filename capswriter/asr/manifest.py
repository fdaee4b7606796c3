"""Model manifests: a small `manifest.toml` in each model folder says what the folder holds.

Any sherpa-onnx offline model plugs in by writing one, e.g. for a downloaded SenseVoice model::

    name = "sense-voice-zh-en"
    kind = "sense_voice"
    language = "zh,en,ja,ko,yue"
    sample_rate = 16000
    [files]
    model = "model.int8.onnx"
    tokens = "tokens.txt"

`files` keys are the file arguments of the matching `sherpa_onnx.OfflineRecognizer.from_*`
factory (see `KINDS`); `[variants.NAME]` tables override some of them (e.g. `fp32`), and
`[options]` passes extra keyword arguments through unchanged.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capswriter.asr.native_path import native_path
from capswriter.errors import ConfigError, ModelBroken, ModelNotInstalled

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MANIFEST_NAME = "manifest.toml"


@dataclass(frozen=True)
class Kind:
    """How a model kind maps onto sherpa-onnx: the factory and its file arguments."""

    factory: str
    files: tuple[str, ...]
    language_arg: str | None = None
    supports_timestamps: bool = False
    # A streaming model, loaded by sherpa_onnx.OnlineRecognizer instead of OfflineRecognizer.
    online: bool = False


KINDS: dict[str, Kind] = {
    "whisper": Kind("from_whisper", ("encoder", "decoder", "tokens"), "language"),
    "paraformer": Kind("from_paraformer", ("paraformer", "tokens")),
    "sense_voice": Kind("from_sense_voice", ("model", "tokens"), "language"),
    "transducer": Kind("from_transducer", ("encoder", "decoder", "joiner", "tokens")),
    "moonshine": Kind(
        "from_moonshine",
        ("preprocessor", "encoder", "uncached_decoder", "cached_decoder", "tokens"),
    ),
    "nemo_ctc": Kind("from_nemo_ctc", ("model", "tokens")),
    "fire_red_asr": Kind("from_fire_red_asr", ("encoder", "decoder", "tokens")),
    "dolphin_ctc": Kind("from_dolphin_ctc", ("model", "tokens")),
    "zipformer_ctc": Kind("from_zipformer_ctc", ("model", "tokens")),
    "wenet_ctc": Kind("from_wenet_ctc", ("model", "tokens")),
    "streaming_paraformer": Kind("from_paraformer", ("encoder", "decoder", "tokens"), online=True),
    "streaming_transducer": Kind(
        "from_transducer", ("encoder", "decoder", "joiner", "tokens"), online=True
    ),
}


@dataclass
class ModelManifest:
    name: str
    kind: str
    files: dict[str, str]
    language: str = ""
    sample_rate: int = 16000
    variants: dict[str, dict[str, str]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    # Which build of the model this is; model archives carry it in their file name.
    version: str = ""

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    def check_precision(self, precision: str) -> None:
        """Refuse a precision this model has no files for, naming the ones it has."""
        known = {"auto", "int8", *self.variants}
        if precision and precision not in known:
            raise ConfigError(
                f"asr.precision = {precision!r} is not one of {', '.join(sorted(known))} "
                f"for {self.name}"
            )

    def files_for(self, variant: str | None) -> dict[str, str]:
        """File arguments for a precision variant; unknown or absent variants use the defaults."""
        files = dict(self.files)
        if variant and variant in self.variants:
            files.update(self.variants[variant])
        return files

    def to_toml(self) -> str:
        import tomli_w

        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "language": self.language,
            "sample_rate": self.sample_rate,
            "description": self.description,
        }
        if self.version:
            data["version"] = self.version
        data["files"] = self.files
        if self.variants:
            data["variants"] = self.variants
        if self.options:
            data["options"] = self.options
        return tomli_w.dumps(data)


def parse_manifest(text: str, where: str = "manifest") -> ModelManifest:
    """Parse and validate manifest text; errors name the fix."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelBroken(f"{where} is not valid TOML ({exc}); fix or rewrite it") from exc
    kind = str(data.get("kind", ""))
    if kind not in KINDS:
        raise ModelBroken(
            f"{where}: kind '{kind}' is not one of {', '.join(sorted(KINDS))}; set 'kind' to the "
            "sherpa-onnx model type of this folder"
        )
    files = {str(k): str(v) for k, v in dict(data.get("files", {})).items()}
    missing = [arg for arg in KINDS[kind].files if arg not in files]
    if missing:
        raise ModelBroken(f"{where}: [files] lacks {', '.join(missing)} for a {kind} model")
    return ModelManifest(
        name=str(data.get("name") or Path(where).parent.name),
        kind=kind,
        files=files,
        language=str(data.get("language", "")),
        sample_rate=int(data.get("sample_rate", 16000)),
        variants={
            str(k): {str(a): str(b) for a, b in v.items()}
            for k, v in data.get("variants", {}).items()
        },
        options=dict(data.get("options", {})),
        description=str(data.get("description", "")),
        version=str(data.get("version", "")),
    )


def load_manifest(model_dir: Path) -> ModelManifest:
    path = model_dir / MANIFEST_NAME
    if not model_dir.is_dir():
        raise ModelNotInstalled(
            f"model '{model_dir.name}' is not installed in {model_dir.parent}; "
            f"run: capswriter models install {model_dir.name}"
        )
    if not path.is_file():
        raise ModelNotInstalled(
            f"{model_dir} has no {MANIFEST_NAME}; reinstall with 'capswriter models install "
            f"{model_dir.name}' or write a manifest for it (see models/README.md)"
        )
    return parse_manifest(path.read_text(encoding="utf-8"), str(path))


def recognizer_arguments(
    manifest: ModelManifest,
    model_dir: Path,
    *,
    num_threads: int,
    language: str = "",
    variant: str | None = None,
    tail_paddings: int = -1,
) -> tuple[str, dict[str, Any]]:
    """The sherpa-onnx factory name and keyword arguments that load this model.

    Raises ModelBroken when a file the manifest names is missing.
    """
    spec = manifest.spec
    kwargs: dict[str, Any] = {}
    files = manifest.files_for(variant)
    for arg in spec.files:
        path = model_dir / files[arg]
        if not path.is_file():
            raise ModelBroken(
                f"{path} is missing; reinstall with 'capswriter models install {manifest.name}'"
            )
        kwargs[arg] = native_path(path)
    kwargs["num_threads"] = max(1, num_threads)
    if manifest.kind == "whisper":
        # Without an explicit "" sherpa-onnx assumes English and translates other speech.
        kwargs["language"] = language
        kwargs["task"] = "transcribe"
        kwargs["tail_paddings"] = tail_paddings
    elif spec.language_arg and language:
        kwargs[spec.language_arg] = language
    if manifest.kind == "sense_voice":
        kwargs.setdefault("use_itn", True)
    kwargs.update(manifest.options)
    return spec.factory, kwargs
