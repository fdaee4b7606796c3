"""What a recognizer decodes with, as a remote worker announces it and a server checks it.

A worker with another model, another build of it, another precision or another language would
serve silently, its text labelled with the server's model; the server compares the worker's
announcement with its own and refuses a worker that differs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from capswriter.asr.manifest import MANIFEST_NAME, load_manifest
from capswriter.config import Settings

# Bytes read from each end of a model file for its fingerprint: hashing whole files (hundreds of
# megabytes) would add seconds to every start, and different builds differ in both ends.
FINGERPRINT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ModelIdentity:
    model: str
    version: str
    digest: str  # fingerprint of the manifest and every model file it names
    precision: str
    language: str

    def differences(self, other: ModelIdentity) -> list[str]:
        """What differs from ``other`` ("model whisper-small, here whisper-base"), if anything."""
        return [
            f"{name} {getattr(other, name) or '(none)'}, here {getattr(self, name) or '(none)'}"
            for name in ("model", "version", "digest", "precision", "language")
            if getattr(self, name) != getattr(other, name)
        ]


def model_identity(settings: Settings) -> ModelIdentity:
    """The identity of the configured model as installed under ``settings.models_path``."""
    folder = settings.models_path / settings.asr.model
    manifest = load_manifest(folder)
    digest = hashlib.sha256((folder / MANIFEST_NAME).read_bytes())
    names = set(manifest.files.values())
    for variant in manifest.variants.values():
        names.update(variant.values())
    for name in sorted(names):
        digest.update(name.encode() + b"\0")
        _fingerprint(folder / name, digest)
    return ModelIdentity(manifest.name, manifest.version, digest.hexdigest()[:32],
                         settings.asr.precision, settings.asr.language)


def _fingerprint(path: Path, digest: hashlib._Hash) -> None:
    if not path.is_file():
        digest.update(b"missing\0")
        return
    size = path.stat().st_size
    digest.update(f"{size}\0".encode())
    with path.open("rb") as f:
        digest.update(f.read(FINGERPRINT_BYTES))
        if size > 2 * FINGERPRINT_BYTES:
            f.seek(size - FINGERPRINT_BYTES)
            digest.update(f.read(FINGERPRINT_BYTES))
