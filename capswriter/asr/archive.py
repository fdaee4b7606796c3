"""Model archives: one file that carries an installed model to another machine.

`pack_model` writes `capswriter-model-<name>-<version>.tar.gz` holding only the files the
chosen precision loads, the voice activity model every engine needs, and
`capswriter-archive.toml`, which lists each file with its size and sha256.
`install_archive` unpacks either such an archive (every file checked against that list) or a
standard sherpa-onnx release archive (`sherpa-onnx-<name>.tar.bz2`, whose manifest is written
from its file names, see layouts.py) into the models folder.
"""

from __future__ import annotations

import shutil
import sys
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capswriter import __version__
from capswriter.asr.download import file_sha256
from capswriter.asr.layouts import manifest_for_layout
from capswriter.asr.manifest import MANIFEST_NAME, ModelManifest, load_manifest
from capswriter.asr.model_check import check_model_files
from capswriter.errors import ModelBroken, ModelInstallError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ARCHIVE_MANIFEST = "capswriter-archive.toml"
ARCHIVE_FORMAT = 1
ARCHIVE_PREFIX = "capswriter-model-"
VAD_FOLDER = "silero-vad"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")


@dataclass(frozen=True)
class ArchiveFile:
    path: str  # inside the archive, e.g. whisper-base/encoder.onnx
    size: int
    sha256: str


@dataclass
class ArchiveManifest:
    """What a model archive holds; written first into the archive, checked on install."""

    name: str
    version: str
    precision: str
    folders: list[str]
    files: list[ArchiveFile] = field(default_factory=list)
    format: int = ARCHIVE_FORMAT
    capswriter_version: str = __version__

    def to_toml(self) -> str:
        import tomli_w

        data: dict[str, Any] = {
            "format": self.format,
            "name": self.name,
            "version": self.version,
            "precision": self.precision,
            "capswriter_version": self.capswriter_version,
            "folders": self.folders,
            "files": [vars(f) for f in self.files],
        }
        return tomli_w.dumps(data)

    @classmethod
    def from_toml(cls, text: str) -> ArchiveManifest:
        try:
            data = tomllib.loads(text)
            manifest = cls(
                name=str(data["name"]),
                version=str(data["version"]),
                precision=str(data.get("precision", "auto")),
                folders=[str(f) for f in data["folders"]],
                files=[ArchiveFile(str(f["path"]), int(f["size"]), str(f["sha256"]))
                       for f in data["files"]],  # fmt: skip
                format=int(data["format"]),
                capswriter_version=str(data.get("capswriter_version", "")),
            )
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ModelInstallError(
                f"{ARCHIVE_MANIFEST} in the archive is unreadable ({exc}); download it again"
            ) from exc
        if manifest.format > ARCHIVE_FORMAT:
            raise ModelInstallError(
                f"the archive is format {manifest.format}, newer than this CapsWriter reads "
                f"({ARCHIVE_FORMAT}); update CapsWriter"
            )
        return manifest


def archive_file_name(name: str, version: str, precision: str = "auto") -> str:
    tail = "" if precision == "auto" else f"-{precision}"
    return f"{ARCHIVE_PREFIX}{name}-{version}{tail}.tar.gz"


def is_archive(path: Path | str) -> bool:
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def _packed_manifest(manifest: ModelManifest, model_dir: Path, precision: str) -> ModelManifest:
    """The manifest as it reads in the archive: the files of one precision, no variants."""
    if manifest.kind == "whisper":
        from capswriter.asr.engine import whisper_files

        paths = whisper_files(manifest, model_dir, precision)
        files = {arg: path.name for arg, path in paths.items()}
        step = manifest.files_for(None if precision == "auto" else precision).get("step_decoder")
        if step and files["decoder"] == step:
            # The engine reads the step decoder; its sherpa-onnx twin is not needed.
            files["step_decoder"] = step
    else:
        variant = None if precision in ("auto", "int8") else precision
        files = {arg: name for arg, name in manifest.files_for(variant).items()
                 if (model_dir / name).is_file()}  # fmt: skip
    for name in files.values():
        if not (model_dir / name).is_file():
            raise ModelInstallError(
                f"{model_dir / name} is missing; reinstall {manifest.name} before packing it"
            )
    description = manifest.description
    if precision != "auto":
        description = f"{description} ({precision} files only)".strip()
    return ModelManifest(
        name=manifest.name, kind=manifest.kind, files=files, language=manifest.language,
        sample_rate=manifest.sample_rate, options=dict(manifest.options),
        description=description, version=manifest.version,
    )  # fmt: skip


def _model_version(manifest: ModelManifest, model_dir: Path) -> str:
    if manifest.version:
        return manifest.version
    newest = max(p.stat().st_mtime for p in model_dir.iterdir() if p.is_file())
    return time.strftime("%Y.%m.%d", time.gmtime(newest))


def _reproducible(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def pack_model(
    models_dir: Path,
    name: str,
    out_dir: Path,
    *,
    precision: str = "auto",
    version: str = "",
) -> Path:
    """Write the archive of the installed model `name` into `out_dir`; return its path."""
    model_dir = models_dir / name
    manifest = load_manifest(model_dir)
    manifest.check_precision(precision)
    packed = _packed_manifest(manifest, model_dir, precision)
    version = version or _model_version(manifest, model_dir)
    members: list[tuple[Path, str]] = [
        (model_dir / file, f"{name}/{file}") for file in sorted(set(packed.files.values()))
    ]
    vad = models_dir / VAD_FOLDER / "silero_vad.onnx"
    if not vad.is_file():
        raise ModelInstallError(
            f"the voice activity model {vad} is missing; run: capswriter models install "
            "silero-vad"
        )
    members.append((vad, f"{VAD_FOLDER}/silero_vad.onnx"))
    manifest_text = packed.to_toml().encode("utf-8")
    listing = ArchiveManifest(
        name=name, version=version, precision=precision, folders=[name, VAD_FOLDER],
        files=[ArchiveFile(arcname, src.stat().st_size, file_sha256(src))
               for src, arcname in members],  # fmt: skip
    )
    import hashlib

    listing.files.append(ArchiveFile(f"{name}/{MANIFEST_NAME}", len(manifest_text),
                                     hashlib.sha256(manifest_text).hexdigest()))  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / archive_file_name(name, version, precision)
    partial = target.with_name(target.name + ".partial")
    # ONNX weights barely compress; a low level keeps packing fast for nearly the same size.
    with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
        _add_bytes(tar, ARCHIVE_MANIFEST, listing.to_toml().encode("utf-8"))
        _add_bytes(tar, f"{name}/{MANIFEST_NAME}", manifest_text)
        for src, arcname in members:
            tar.add(src, arcname, filter=_reproducible)
    partial.replace(target)
    return target


def _add_bytes(tar: tarfile.TarFile, arcname: str, data: bytes) -> None:
    import io

    info = _reproducible(tarfile.TarInfo(arcname))
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


@dataclass
class InstalledFolder:
    name: str
    path: Path
    manifest_written: bool = False  # written from a sherpa-onnx layout by us


@dataclass
class ArchiveInstall:
    archive: Path
    folders: list[InstalledFolder]
    version: str = ""

    @property
    def model_names(self) -> list[str]:
        return [f.name for f in self.folders if f.name != VAD_FOLDER]


def _extract(tar: tarfile.TarFile, dest: Path) -> None:
    # The "data" filter refuses absolute paths, links out of the folder and device files.
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    root = dest.resolve()  # pragma: no cover - Python without tarfile filters
    for member in tar.getmembers():
        target = (dest / member.name).resolve()
        if root not in target.parents and target != root or member.issym() or member.islnk():
            raise ModelInstallError(f"the archive member {member.name!r} points outside it")
    tar.extractall(dest)


def _replace_folder(staged: Path, dest: Path) -> None:
    old = dest.with_name(f"{dest.name}.old-{uuid.uuid4().hex[:8]}")
    if dest.exists():
        dest.rename(old)
    staged.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


def _check_files(staging: Path, listing: ArchiveManifest) -> None:
    for entry in listing.files:
        path = staging / entry.path
        if not path.is_file():
            raise ModelInstallError(f"the archive lacks {entry.path}; download it again")
        if path.stat().st_size != entry.size or file_sha256(path) != entry.sha256:
            raise ModelInstallError(
                f"{entry.path} in the archive does not match its recorded size or sha256; "
                "the archive is damaged, download it again"
            )


def install_archive(archive: Path, models_dir: Path, name: str = "") -> ArchiveInstall:
    """Unpack a model archive into `models_dir`; `name` renames a sherpa-onnx model's folder.

    Everything is unpacked and checked in a staging folder inside `models_dir` first, so a
    failure leaves the installed models as they were.
    """
    if not archive.is_file():
        raise ModelInstallError(f"{archive} does not exist")
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = models_dir / f".install-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                _extract(tar, staging)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ModelInstallError(
                f"{archive.name} is not a readable model archive ({exc}); download it again"
            ) from exc
        listing_path = staging / ARCHIVE_MANIFEST
        if listing_path.is_file():
            return _install_packed(archive, staging, models_dir, listing_path)
        return _install_release(archive, staging, models_dir, name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install_folder(folder: Path, models_dir: Path, name: str = "") -> ArchiveInstall:
    """Install a release's files fetched one by one (from a model hub) as its archive would be:
    the folder is named like the release, and is left as it was."""
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = models_dir / f".install-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        shutil.copytree(folder, staging / folder.name)
        return _install_release(folder, staging, models_dir, name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _install_packed(
    archive: Path, staging: Path, models_dir: Path, listing_path: Path
) -> ArchiveInstall:
    listing = ArchiveManifest.from_toml(listing_path.read_text(encoding="utf-8"))
    _check_files(staging, listing)
    installed = []
    for folder in listing.folders:
        if folder != VAD_FOLDER:
            _check_staged(archive, staging / folder)
    for folder in listing.folders:
        dest = models_dir / folder
        if folder == VAD_FOLDER and _same_files(staging / folder, dest):
            installed.append(InstalledFolder(folder, dest))
            continue
        _replace_folder(staging / folder, dest)
        installed.append(InstalledFolder(folder, dest))
    return ArchiveInstall(archive, installed, listing.version)


def _check_staged(archive: Path, folder: Path) -> None:
    """Refuse a model whose files are not what its kind needs, before it replaces anything."""
    try:
        check_model_files(load_manifest(folder), folder)
    except ModelBroken as exc:
        raise ModelInstallError(f"{archive.name} was not installed: {exc}") from exc


def _same_files(a: Path, b: Path) -> bool:
    if not b.is_dir():
        return False
    for path in a.iterdir():
        other = b / path.name
        if not other.is_file() or other.stat().st_size != path.stat().st_size:
            return False
        if file_sha256(other) != file_sha256(path):
            return False
    return True


def release_model_name(folder_name: str) -> str:
    """The folder name a sherpa-onnx release installs under: its name without the prefix."""
    return folder_name.removeprefix("sherpa-onnx-") or folder_name


def _install_release(archive: Path, staging: Path, models_dir: Path, name: str) -> ArchiveInstall:
    folders = [p for p in staging.iterdir() if p.is_dir()]
    loose = [p for p in staging.iterdir() if p.is_file()]
    if len(folders) == 1 and not loose:
        source = folders[0]
    elif loose:
        source = staging  # an archive of the files themselves, without a folder
    else:
        raise ModelInstallError(
            f"{archive.name} holds {len(folders)} folders; a model archive holds one"
        )
    source_name = source.name if source != staging else archive.name.split(".tar")[0]
    name = name or release_model_name(source_name)
    written = False
    if not (source / MANIFEST_NAME).is_file():
        manifest = manifest_for_layout(source, name, source_name)
        if manifest is None:
            raise ModelInstallError(
                f"{archive.name} is not a layout CapsWriter knows; unpack it into "
                f"{models_dir / name} and write a manifest.toml for it (see models/README.md)"
            )
        (source / MANIFEST_NAME).write_text(manifest.to_toml(), encoding="utf-8")
        written = True
    _check_staged(archive, source)
    if source == staging:
        moved = staging.with_name(staging.name + "-model")
        staging.rename(moved)
        staging.mkdir()
        source = moved
    _replace_folder(source, models_dir / name)
    return ArchiveInstall(archive, [InstalledFolder(name, models_dir / name, written)])
