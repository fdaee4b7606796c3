"""The catalogue: each entry's file list is what its layout loads, and a model hub mirror
(Hugging Face, hf-mirror, ModelScope, or a template) fetches those files with the same checks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from file_server import serve_folder
from tiny_models import paraformer

from capswriter.asr.catalogue import HUBS, load_catalogue
from capswriter.asr.install import install_model
from capswriter.asr.layouts import manifest_for_layout
from capswriter.asr.manifest import load_manifest
from capswriter.config import PROJECT_ROOT
from capswriter.errors import ConfigError, DownloadError

NAME = "paraformer-zh-2024-03-09"


@pytest.mark.parametrize("name", sorted(n for n, e in load_catalogue().items() if e.kind != "vad"))
def test_each_entry_lists_the_files_its_layout_loads(tmp_path: Path, name: str) -> None:
    entry = load_catalogue()[name]
    assert entry.repo.endswith("/" + entry.release) and entry.files
    folder = tmp_path / entry.release
    folder.mkdir()
    for file in entry.files:
        (folder / file).write_bytes(b"x")
    manifest = manifest_for_layout(folder, name)
    assert manifest is not None and manifest.kind == entry.kind
    assert set(manifest.files.values()) <= set(entry.files)


@pytest.mark.parametrize("hub", sorted(HUBS))
def test_a_hub_mirror_names_every_file_on_the_hub(hub: str) -> None:
    entry = load_catalogue(hub)[NAME]
    assert entry.file_urls == {
        f: HUBS[hub].format(repo=entry.repo, file=f) for f in ("model.int8.onnx", "tokens.txt")
    }
    assert load_catalogue("https://example.org/models/")[NAME].url == (
        "https://example.org/models/sherpa-onnx-paraformer-zh-2024-03-09.tar.bz2"
    )


def test_a_mirror_that_is_no_address_or_hub_is_refused() -> None:
    with pytest.raises(ConfigError, match="hf-mirror"):
        load_catalogue("ftp://example.org/")


@pytest.fixture
def hub(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """(a hub's root holding the tiny Paraformer as csukuangfj's repository, a models folder)."""
    monkeypatch.setenv("CAPSWRITER_CACHE_DIR", str(tmp_path / "cache"))
    repo = tmp_path / "hub" / "csukuangfj" / f"sherpa-onnx-{NAME}" / "resolve" / "main"
    repo.mkdir(parents=True)
    paraformer(repo)
    models = tmp_path / "models"
    models.mkdir()
    (models / "silero-vad").symlink_to(PROJECT_ROOT / "models" / "silero-vad")
    return tmp_path / "hub", models


def test_a_model_installs_file_by_file_from_a_hub(hub) -> None:
    root, models = hub
    with serve_folder(root) as (base, log):
        report = install_model(NAME, models, mirror=base + "{repo}/resolve/main/{file}",
                               check_words=False)  # fmt: skip
    assert report.name == NAME
    manifest = load_manifest(models / NAME)
    assert manifest.kind == "paraformer" and manifest.files["paraformer"] == "model.int8.onnx"
    assert len(log.ranges) == 2  # the two files the model loads, nothing else


def test_a_hub_file_with_a_wrong_sha256_is_refused_and_removed(hub, tmp_path: Path) -> None:
    root, models = hub
    with serve_folder(root) as (base, _log):
        catalogue = load_catalogue(base + "{repo}/resolve/main/{file}")
        catalogue[NAME] = dataclasses.replace(
            catalogue[NAME], file_sha256={"model.int8.onnx": "0" * 64}
        )
        with pytest.raises(DownloadError, match="sha256"):
            install_model(NAME, models, catalogue=catalogue, check_words=False)
    folder = tmp_path / "cache" / "downloads" / f"sherpa-onnx-{NAME}"
    assert not (folder / "model.int8.onnx").exists()
    assert not (folder / "model.int8.onnx.part").exists()
    assert not (models / NAME).exists()
