"""Model archives: `pack` writes only what the default precision loads with checksums, and
`install` takes such an archive or a sherpa-onnx release from a file or a URL (a local HTTP
server here), checks it, writes the manifest of a known layout and verifies the model."""

from __future__ import annotations

import hashlib
import io
import shutil
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from file_server import ServerLog, serve_folder
from tiny_models import paraformer

from capswriter.asr.archive import (
    ARCHIVE_MANIFEST,
    ArchiveManifest,
    install_archive,
    pack_model,
)
from capswriter.asr.install import install_model
from capswriter.asr.manifest import load_manifest
from capswriter.cli import main
from capswriter.errors import ModelInstallError

RELEASE = "sherpa-onnx-whisper-base"


@pytest.fixture(scope="module")
def archive(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """whisper-base as `capswriter models pack` writes it."""
    return pack_model(models_dir, "whisper-base", tmp_path_factory.mktemp("packed"))


@pytest.fixture(scope="module")
def release_archive(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installed int8 files under sherpa-onnx's release names, as its .tar.bz2 holds them."""
    source = models_dir / "whisper-base"
    folder = tmp_path_factory.mktemp("release")
    path = folder / f"{RELEASE}.tar.bz2"
    with tarfile.open(path, "w:bz2", compresslevel=1) as tar:
        for ours, theirs in (("encoder.int8.onnx", "base-encoder.int8.onnx"),
                             ("decoder.int8.onnx", "base-decoder.int8.onnx"),
                             ("tokens.txt", "base-tokens.txt")):  # fmt: skip
            tar.add(source / ours, f"{RELEASE}/{theirs}")
    return path


@pytest.fixture(scope="module")
def server(
    archive: Path, release_archive: Path, models_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, ServerLog]]:
    """A mirror: both archives and the VAD model under the names the catalogue uses."""
    folder = tmp_path_factory.mktemp("mirror")
    for path in (archive, release_archive, models_dir / "silero-vad" / "silero_vad.onnx"):
        (folder / path.name).symlink_to(path)
    with serve_folder(folder) as served:
        yield served


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAPSWRITER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_the_archive_holds_the_default_precision_files_with_their_checksums(
    archive: Path,
) -> None:
    assert archive.name == "capswriter-model-whisper-base-v7.tar.gz"
    members = _members(archive)
    # auto: the encoder scaled per frame and the int8 step decoder; no other precision's files.
    assert sorted(members) == [
        ARCHIVE_MANIFEST, "silero-vad/silero_vad.onnx", "whisper-base/encoder.int8-rows.onnx",
        "whisper-base/manifest.toml", "whisper-base/step_decoder.int8.onnx",
        "whisper-base/tokens.txt",
    ]  # fmt: skip
    listing = ArchiveManifest.from_toml(members[ARCHIVE_MANIFEST].decode())
    assert listing.version == "v7" and listing.precision == "auto"
    assert {f.path for f in listing.files} == set(members) - {ARCHIVE_MANIFEST}
    for entry in listing.files:
        assert hashlib.sha256(members[entry.path]).hexdigest() == entry.sha256
        assert len(members[entry.path]) == entry.size


def test_an_archive_from_a_url_installs_and_transcribes(
    server, archive: Path, tmp_path: Path, cache: Path, real_clips, capsys
) -> None:
    base, log = server
    models = tmp_path / "models"
    log.ranges.clear()
    report = install_model(base + archive.name, models, show_download_progress=False)
    assert "country" in report.sample_text.lower()
    assert (cache / "downloads" / archive.name).is_file()
    assert sorted(p.name for p in models.iterdir()) == ["silero-vad", "whisper-base"]
    # Installed from an archive, whisper-base counts as installed: no rebuild from PyPI.
    assert install_model("whisper-base", models).already_installed
    clip = tmp_path / "clip.wav"
    shutil.copy(real_clips["en_goforward.wav"].path, clip)
    code = main(["--models-dir", str(models), "transcribe", str(clip), "--in-process",
                 "--print-text", "--formats", "txt"])  # fmt: skip
    assert code == 0
    assert "go forward" in capsys.readouterr().out.lower()


def test_a_sherpa_onnx_release_from_the_mirror_gets_its_manifest_written(
    server, tmp_path: Path, cache: Path, models_dir: Path
) -> None:
    base, _ = server
    models = tmp_path / "models"
    shutil.copytree(models_dir / "silero-vad", models / "silero-vad")
    report = install_model("whisper-base-int8", models, mirror=base,
                           show_download_progress=False)  # fmt: skip
    assert "country" in report.sample_text.lower()
    manifest = load_manifest(models / "whisper-base-int8")
    assert manifest.kind == "whisper"
    assert manifest.files == {"encoder": "base-encoder.int8.onnx",
                              "decoder": "base-decoder.int8.onnx",
                              "tokens": "base-tokens.txt"}  # fmt: skip


def test_a_release_file_installs_under_its_own_name_or_the_one_given(
    release_archive: Path, tmp_path: Path
) -> None:
    installed = install_archive(release_archive, tmp_path / "models")
    assert installed.model_names == ["whisper-base"]  # "sherpa-onnx-" dropped
    assert installed.folders[0].manifest_written
    renamed = install_archive(release_archive, tmp_path / "models", name="base-sherpa")
    assert renamed.model_names == ["base-sherpa"]
    assert load_manifest(tmp_path / "models" / "base-sherpa").name == "base-sherpa"


@pytest.fixture(scope="module")
def small_archive(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight paraformer packed like any model."""
    models = tmp_path_factory.mktemp("small-models")
    folder = models / "tiny"
    folder.mkdir()
    paraformer(folder)
    (folder / "manifest.toml").write_text(
        'name = "tiny"\nkind = "paraformer"\nversion = "1"\n'
        '[files]\nparaformer = "model.int8.onnx"\ntokens = "tokens.txt"\n'
    )
    shutil.copytree(models_dir / "silero-vad", models / "silero-vad")
    return pack_model(models, "tiny", tmp_path_factory.mktemp("small"))


def test_a_tampered_archive_is_refused_and_the_installed_models_stay(
    small_archive: Path, tmp_path: Path
) -> None:
    tampered = tmp_path / small_archive.name
    with tarfile.open(small_archive) as src, tarfile.open(tampered, "w:gz") as out:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == "tiny/tokens.txt":
                data = data.replace(b"b 6", b"c 6")
            out.addfile(member, io.BytesIO(data))
    models = tmp_path / "models"
    (models / "tiny").mkdir(parents=True)
    (models / "tiny" / "keep.txt").write_text("installed before")
    with pytest.raises(ModelInstallError, match="tiny/tokens.txt in the archive does not match"):
        install_archive(tampered, models)
    assert sorted(p.name for p in models.iterdir()) == ["tiny"]  # no staging left behind
    assert (models / "tiny" / "keep.txt").read_text() == "installed before"


def test_a_truncated_archive_is_one_clear_error(small_archive: Path, tmp_path: Path) -> None:
    cut = tmp_path / small_archive.name
    cut.write_bytes(small_archive.read_bytes()[:2000])
    with pytest.raises(ModelInstallError, match="is not a readable model archive"):
        install_archive(cut, tmp_path / "models")


def test_pack_then_install_from_the_command_line(
    small_archive: Path, tmp_path: Path, capsys
) -> None:
    models = tmp_path / "models"
    installed = install_archive(small_archive, models)
    assert installed.version == "1" and installed.model_names == ["tiny"]
    assert main(["--models-dir", str(models), "models", "pack", "tiny",
                 "--output", str(tmp_path / "again")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "capswriter-model-tiny-1.tar.gz" in out
    # The same files, listing and manifest: an installed archive packs back into itself.
    assert _members(tmp_path / "again" / "capswriter-model-tiny-1.tar.gz") == _members(
        small_archive
    )


def test_unknown_sources_and_catalogue_listing(tmp_path: Path, capsys) -> None:
    assert main(["--models-dir", str(tmp_path), "models", "install", "whisper-huge"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 'whisper-huge' is not a model archive, a URL or a catalogue")
    assert main(["models", "catalogue"]) == 0
    out = capsys.readouterr().out
    assert "sense-voice-zh-en-ja-ko-yue-2024-07-17" in out and "moonshine" in out


def test_converting_without_torch_names_the_extra_before_downloading(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what an environment without it finds
    code = main(["--models-dir", str(tmp_path / "models"), "models", "install", "whisper-base"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "pip install 'capswriter[convert]' torch==2.13.0" in err
    assert not (cache / "downloads").exists()


def test_the_desktop_app_gets_the_voice_activity_model_from_the_catalogue(
    server, tmp_path: Path, cache: Path, models_dir: Path
) -> None:
    # The frozen app has no pip; it downloads the catalogue's silero_vad.onnx (here: the mirror).
    from capswriter.asr.catalogue import load_catalogue
    from capswriter.asr.install import _Fetch, _install_vad_file

    base, _ = server
    entry = load_catalogue(base)["silero-vad"]
    report = _install_vad_file(entry, tmp_path / "models", _Fetch(lambda m: None, False), 0.0)
    installed = tmp_path / "models" / "silero-vad" / "silero_vad.onnx"
    assert report.path == installed
    assert installed.read_bytes() == (models_dir / "silero-vad" / "silero_vad.onnx").read_bytes()
