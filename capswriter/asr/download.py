"""Resumable downloads over HTTP(S), checked against a published size and sha256.

Bytes go to `<file>.part` beside the destination; a second call after an interruption asks
the server for the rest with a Range request (and starts over if the server ignores it). The
file gets its final name only when it is complete and its checksum (if known) matches.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from capswriter.errors import DownloadError, DownloadPaused

log = logging.getLogger(__name__)

CHUNK = 1 << 20
# Connecting may be slow through a proxy or mirror; a stall of a minute mid-file is a failure
# (the part is kept, so running the command again resumes).
TIMEOUT = httpx.Timeout(30.0, read=60.0)

# Told (bytes on disk, expected total or None) as bytes arrive.
OnBytes = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str
    resumed_from: int  # bytes already there from an earlier attempt (0: a fresh download)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def url_file_name(url: str) -> str:
    """The last path segment of a URL, decoded: the name the download is stored under."""
    name = unquote(urlparse(url).path.rsplit("/", 1)[-1])
    if not name:
        raise DownloadError(f"{url} names no file; give the address of the archive itself")
    return name


def _progress_bar(name: str, total: int | None, initial: int, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=name[:30], unit="B", unit_scale=True,
                unit_divisor=1024, dynamic_ncols=True, disable=not show)  # fmt: skip


def _expected_total(response: httpx.Response, offset: int) -> int | None:
    if response.status_code == 206:
        content_range = response.headers.get("content-range", "")  # bytes 100-199/200
        total = content_range.rsplit("/", 1)[-1]
        return int(total) if total.isdigit() else None
    length = response.headers.get("content-length")
    return int(length) if length and length.isdigit() else None


def download(
    url: str,
    dest: Path,
    *,
    size: int | None = None,
    sha256: str = "",
    show_progress: bool = True,
    on_bytes: OnBytes | None = None,
    pause: threading.Event | None = None,
) -> DownloadResult:
    """Fetch `url` into `dest`, resuming `dest.part`; check `size` and `sha256` when given.

    An already complete `dest` that matches is returned without a request. `on_bytes` hears
    the progress; setting `pause` stops the transfer at the next block with DownloadPaused,
    keeping the part for the next call to resume.
    """
    sha256 = sha256.lower()
    if dest.is_file() and (size is None or dest.stat().st_size == size):
        if not sha256 or file_sha256(dest) == sha256:
            return DownloadResult(dest, dest.stat().st_size, sha256 or file_sha256(dest), 0)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    if size is not None and offset > size:
        part.unlink()  # longer than the published file: not a part of it
        offset = 0
    resumed_from = offset
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with httpx.stream("GET", url, headers=headers, follow_redirects=True,
                          timeout=TIMEOUT) as response:  # fmt: skip
            if response.status_code == 416 and offset:
                # Nothing past what we have: the part may already be the whole file.
                total = offset
            else:
                if response.status_code not in (200, 206):
                    raise DownloadError(
                        f"{url} answered HTTP {response.status_code}; check the address "
                        "(or the download.mirror setting)"
                    )
                if response.status_code == 200 and offset:
                    log.info("%s ignores Range requests; downloading from the start", url)
                    offset = resumed_from = 0
                total = _expected_total(response, offset)
                if size is not None and total is not None and total != size:
                    raise DownloadError(
                        f"{url} is {total} bytes, but {size} were published for it; the "
                        "server has a different file (check the address or mirror)"
                    )
                total = total if total is not None else size
                bar = _progress_bar(dest.name, total, offset, show_progress)
                with open(part, "ab" if offset else "wb") as out, bar:
                    # Unbuffered, so every byte received is on disk when a connection breaks.
                    got = offset
                    if on_bytes is not None:
                        on_bytes(got, total)
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                        bar.update(len(chunk))
                        got += len(chunk)
                        if on_bytes is not None:
                            on_bytes(got, total)
                        if pause is not None and pause.is_set():
                            raise DownloadPaused(
                                f"the download of {dest.name} was paused at {got} bytes; "
                                "resume it to fetch the rest"
                            )
    except httpx.HTTPError as exc:
        got = part.stat().st_size if part.is_file() else 0
        raise DownloadError(
            f"downloading {url} failed after {got} bytes ({type(exc).__name__}: {exc}); "
            "run the same command again to resume"
        ) from exc
    got = part.stat().st_size
    if total is not None and got != total:
        raise DownloadError(
            f"the download of {url} stopped at {got} of {total} bytes; run the same command "
            "again to resume"
        )
    digest = file_sha256(part)
    if sha256 and digest != sha256:
        part.unlink()
        if on_bytes is not None:
            on_bytes(0, total)
        raise DownloadError(
            f"{dest.name} has sha256 {digest[:12]}…, but {sha256[:12]}… was published for it; "
            "the partial file was removed, run the command again to download it afresh"
        )
    part.replace(dest)
    return DownloadResult(dest, got, digest, resumed_from)
