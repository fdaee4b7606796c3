"""The catalogue of known sherpa-onnx models (catalogue.toml): names, download addresses
through a configurable mirror, sizes, checksums where published, languages and licences."""

from __future__ import annotations

import importlib.resources
import sys
from dataclasses import dataclass

from capswriter.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    file: str  # the published file name, the same on the origin and on every mirror
    url: str
    kind: str
    languages: str
    license: str
    size_mb: float  # approximate, for display
    description: str = ""
    size: int | None = None  # exact bytes, checked where given
    sha256: str = ""  # checked where the publisher gives one


def _base(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def load_catalogue(mirror: str = "") -> dict[str, CatalogueEntry]:
    """Every catalogue entry by name; `mirror` replaces the origin's base URL."""
    text = (importlib.resources.files("capswriter.asr") / "catalogue.toml").read_text("utf-8")
    data = tomllib.loads(text)
    if mirror and not mirror.startswith(("http://", "https://")):
        raise ConfigError(
            f"download.mirror = {mirror!r} is not an http(s) address; set it to the base URL "
            "that holds the catalogue's file names"
        )
    base = _base(mirror or data["base_url"])
    entries = {}
    for name, entry in data["models"].items():
        entries[name] = CatalogueEntry(
            name=name,
            file=entry["file"],
            url=base + entry["file"],
            kind=entry["kind"],
            languages=entry["languages"],
            license=entry["license"],
            size_mb=float(entry["size_mb"]),
            description=entry.get("description", ""),
            size=entry.get("size"),
            sha256=entry.get("sha256", ""),
        )
    return entries
