"""Manifest → sherpa-onnx factory arguments, checked against the installed sherpa-onnx itself."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import sherpa_onnx

from capswriter.asr.manifest import (
    KINDS,
    MANIFEST_NAME,
    load_manifest,
    parse_manifest,
    recognizer_arguments,
)
from capswriter.errors import ModelBroken, ModelNotInstalled


def _model_folder(tmp_path: Path, kind: str, options: str = "") -> Path:
    folder = tmp_path / kind
    folder.mkdir()
    lines = [f'name = "{kind}-test"', f'kind = "{kind}"', 'language = "zh"', "[files]"]
    for arg in KINDS[kind].files:
        filename = f"{arg}.onnx" if arg != "tokens" else "tokens.txt"
        (folder / filename).write_bytes(b"x")
        lines.append(f'{arg} = "{filename}"')
    (folder / MANIFEST_NAME).write_text("\n".join(lines) + "\n" + options)
    return folder


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_maps_onto_a_real_sherpa_onnx_factory(tmp_path: Path, kind: str) -> None:
    folder = _model_folder(tmp_path, kind)
    manifest = load_manifest(folder)
    factory, kwargs = recognizer_arguments(manifest, folder, num_threads=2, language="zh")
    recognizers = sherpa_onnx.OnlineRecognizer if KINDS[kind].online else (
        sherpa_onnx.OfflineRecognizer
    )
    method = getattr(recognizers, factory)
    params = inspect.signature(method).parameters
    unknown = set(kwargs) - set(params)
    assert not unknown, f"{factory} takes no {unknown}"
    required = {n for n, p in params.items() if p.default is inspect.Parameter.empty}
    assert required <= set(kwargs), f"{factory} also needs {required - set(kwargs)}"
    for arg in KINDS[kind].files:
        assert Path(kwargs[arg]).parent == folder
    assert kwargs["num_threads"] == 2


def test_whisper_always_gets_explicit_language_and_task(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path, "whisper")
    _, kwargs = recognizer_arguments(load_manifest(folder), folder, num_threads=1, language="")
    # An omitted language makes sherpa-onnx decode Chinese as English.
    assert kwargs["language"] == "" and kwargs["task"] == "transcribe"


def test_variant_and_options_override(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path, "sense_voice", "[options]\nuse_itn = false\n")
    (folder / "model.fp32.onnx").write_bytes(b"x")
    text = (folder / MANIFEST_NAME).read_text() + '[variants.fp32]\nmodel = "model.fp32.onnx"\n'
    (folder / MANIFEST_NAME).write_text(text)
    _, kwargs = recognizer_arguments(load_manifest(folder), folder, num_threads=1, variant="fp32")
    assert kwargs["model"].endswith("model.fp32.onnx")
    assert kwargs["use_itn"] is False


def test_missing_model_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalled, match="capswriter models install whisper-base"):
        load_manifest(tmp_path / "whisper-base")
    (tmp_path / "whisper-base").mkdir()
    with pytest.raises(ModelNotInstalled, match="manifest.toml"):
        load_manifest(tmp_path / "whisper-base")


def test_broken_manifests_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ModelBroken, match="kind 'lstm' is not one of"):
        parse_manifest('kind = "lstm"\n[files]\n')
    with pytest.raises(ModelBroken, match="lacks joiner"):
        parse_manifest('kind = "transducer"\n[files]\nencoder="e"\ndecoder="d"\ntokens="t"\n')
    with pytest.raises(ModelBroken, match="not valid TOML"):
        parse_manifest("kind = ")
    folder = _model_folder(tmp_path, "paraformer")
    (folder / "paraformer.onnx").unlink()
    with pytest.raises(ModelBroken, match="paraformer.onnx is missing"):
        recognizer_arguments(load_manifest(folder), folder, num_threads=1)


def test_a_precision_the_model_has_no_files_for_is_refused_with_the_choices(
    tmp_path: Path,
) -> None:
    from capswriter.errors import ConfigError

    folder = _model_folder(tmp_path, "paraformer", '[variants.fp32]\nmodel = "model.onnx"\n')
    manifest = load_manifest(folder)
    for known in ("auto", "int8", "fp32", ""):
        manifest.check_precision(known)
    with pytest.raises(ConfigError, match=r"'fp16' is not one of auto, fp32, int8"):
        manifest.check_precision("fp16")
