"""Installing is idempotent, resumable from the cache, and verified by a real transcription."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from capswriter.asr.install import CONVERTER_VERSION, convert_cached, install_model, list_models
from capswriter.cli import main


def test_second_install_only_verifies(models_dir: Path) -> None:
    report = install_model("whisper-base", models_dir)
    assert report.already_installed
    assert "country" in report.sample_text.lower()


def test_damaged_install_is_repaired_from_the_cache(models_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "models"
    shutil.copytree(models_dir / "silero-vad", target / "silero-vad")
    shutil.copytree(models_dir / "whisper-base", target / "whisper-base")
    (target / "whisper-base" / "decoder.int8.onnx").unlink()
    started = time.perf_counter()
    report = install_model("whisper-base", target)
    assert not report.already_installed
    assert (target / "whisper-base" / "decoder.int8.onnx").is_file()
    assert "country" in report.sample_text.lower()
    # No reconversion: the cached ONNX files are copied.
    assert time.perf_counter() - started < 60


def test_list_shows_kind_and_size(models_dir: Path, capsys) -> None:
    models = {m.name: m for m in list_models(models_dir)}
    assert models["whisper-base"].kind == "whisper"
    assert models["whisper-base"].size_bytes > 100 * 2**20
    assert models["silero-vad"].kind == "vad"
    assert main(["--models-dir", str(models_dir), "models", "list"]) == 0
    assert "whisper-base" in capsys.readouterr().out


def test_conversions_by_older_converters_are_removed_from_the_cache(tmp_path: Path) -> None:
    current = tmp_path / "whisper-base" / f"onnx-v{CONVERTER_VERSION}"
    current.mkdir(parents=True)
    (current / ".complete").write_text("ok\n")
    old = tmp_path / "whisper-base" / "onnx-v0"
    old.mkdir()
    (old / "encoder.onnx").write_bytes(b"\0" * 1024)
    model_bin = tmp_path / "whisper-base" / "model.bin"
    assert convert_cached(tmp_path, model_bin, lambda message: None) == current
    assert current.is_dir() and not old.exists()
