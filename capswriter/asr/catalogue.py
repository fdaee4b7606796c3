"""The catalogue of known sherpa-onnx models (catalogue.toml): names, download addresses
through a configurable mirror, sizes, checksums where published, languages and licences.

`download.mirror` is either a base URL holding the release archives under their own names
(a copy of the release page), or a model hub that holds each release unpacked, one file per
URL: "huggingface", "hf-mirror", "modelscope", or a template with {repo} and {file} in it.
From a hub, only the files the model loads are fetched (`files` of each entry).
"""

from __future__ import annotations

import importlib.resources
import sys
from dataclasses import dataclass, field

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
    repo: str = ""  # the release unpacked on a model hub, e.g. csukuangfj/sherpa-onnx-…
    files: tuple[str, ...] = ()  # the files of the release the model loads
    file_sha256: dict[str, str] = field(default_factory=dict)  # per file, where published
    # file -> URL when the mirror is a model hub: the files are fetched one by one.
    file_urls: dict[str, str] = field(default_factory=dict)

    @property
    def release(self) -> str:
        """The release's folder name (the archive's name without .tar.bz2)."""
        return self.file.split(".tar")[0]


# Model hubs that hold sherpa-onnx's releases unpacked, one repository per release.
HUBS = {
    "huggingface": "https://huggingface.co/{repo}/resolve/main/{file}",
    "hf-mirror": "https://hf-mirror.com/{repo}/resolve/main/{file}",
    "modelscope": "https://modelscope.cn/models/{repo}/resolve/master/{file}",
}


def hub_template(mirror: str) -> str:
    """The per-file URL template of a hub mirror; "" for a base URL (or no mirror)."""
    template = HUBS.get(mirror.lower(), mirror)
    return template if "{file}" in template else ""


def _base(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def load_catalogue(mirror: str = "") -> dict[str, CatalogueEntry]:
    """Every catalogue entry by name; `mirror` replaces the origin's base URL."""
    text = (importlib.resources.files("capswriter.asr") / "catalogue.toml").read_text("utf-8")
    data = tomllib.loads(text)
    template = hub_template(mirror)
    if mirror and not (template or mirror).startswith(("http://", "https://")):
        raise ConfigError(
            f"download.mirror = {mirror!r} is not an http(s) address; set it to the base URL "
            f"that holds the catalogue's file names, or to one of {', '.join(HUBS)}"
        )
    base = _base(data["base_url"] if template or not mirror else mirror)
    entries = {}
    for name, entry in data["models"].items():
        repo = entry.get("repo", "")
        files = tuple(entry.get("files", ()))
        file_urls = (
            {f: template.format(repo=repo, file=f) for f in files} if template and repo else {}
        )
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
            repo=repo,
            files=files,
            file_sha256=dict(entry.get("file_sha256", {})),
            file_urls=file_urls,
        )
    return entries
