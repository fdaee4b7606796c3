"""Downloads resume with Range requests and are checked against size and sha256."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from file_server import ServerLog, serve_folder

from capswriter.asr.download import download, url_file_name
from capswriter.errors import DownloadError

SIZE = 3 * 2**20 + 123


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ServerLog, bytes]]:
    folder = tmp_path_factory.mktemp("served")
    payload = os.urandom(SIZE)
    (folder / "model.tar.gz").write_bytes(payload)
    with serve_folder(folder) as (base, log):
        yield base, log, payload


def test_a_download_cut_short_resumes_where_it_stopped(served, tmp_path: Path) -> None:
    base, log, payload = served
    dest = tmp_path / "model.tar.gz"
    log.cut_after = 1_000_000
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        download(base + "model.tar.gz", dest, show_progress=False)
    part = dest.with_name("model.tar.gz.part")
    assert part.stat().st_size == 1_000_000 and not dest.exists()
    log.ranges.clear()
    result = download(base + "model.tar.gz", dest, size=SIZE,
                      sha256=hashlib.sha256(payload).hexdigest(), show_progress=False)
    assert log.ranges == ["bytes=1000000-"]
    assert result.resumed_from == 1_000_000
    assert dest.read_bytes() == payload and not part.exists()


def test_a_server_that_ignores_range_gets_the_whole_file_again(served, tmp_path: Path) -> None:
    base, log, payload = served
    dest = tmp_path / "model.tar.gz"
    dest.with_name("model.tar.gz.part").write_bytes(payload[:5000])
    log.ignore_range = True
    try:
        result = download(base + "model.tar.gz", dest, show_progress=False)
    finally:
        log.ignore_range = False
    assert result.resumed_from == 0
    assert dest.read_bytes() == payload


def test_a_complete_part_is_finished_without_reading_it_again(served, tmp_path: Path) -> None:
    base, log, payload = served
    dest = tmp_path / "model.tar.gz"
    dest.with_name("model.tar.gz.part").write_bytes(payload)
    log.ranges.clear()
    download(base + "model.tar.gz", dest, size=SIZE, show_progress=False)
    assert log.ranges == [f"bytes={SIZE}-"]  # answered 416: nothing more to send
    assert dest.read_bytes() == payload
    log.ranges.clear()
    download(base + "model.tar.gz", dest, size=SIZE, show_progress=False)
    assert log.ranges == []  # already there and the right size: no request at all


def test_a_wrong_checksum_removes_the_download(served, tmp_path: Path) -> None:
    base, _, _ = served
    dest = tmp_path / "model.tar.gz"
    with pytest.raises(DownloadError, match=r"has sha256 .* but 000000000000… was published"):
        download(base + "model.tar.gz", dest, sha256="0" * 64, show_progress=False)
    assert not dest.exists() and not dest.with_name("model.tar.gz.part").exists()


def test_a_size_other_than_the_published_one_is_refused_before_downloading(
    served, tmp_path: Path
) -> None:
    base, _, _ = served
    dest = tmp_path / "model.tar.gz"
    with pytest.raises(DownloadError, match=f"is {SIZE} bytes, but 42 were published"):
        download(base + "model.tar.gz", dest, size=42, show_progress=False)
    assert not dest.with_name("model.tar.gz.part").exists()


def test_missing_files_and_unreachable_servers_are_one_clear_error(served, tmp_path) -> None:
    base, _, _ = served
    with pytest.raises(DownloadError, match="answered HTTP 404; check the address"):
        download(base + "nothing.tar.bz2", tmp_path / "nothing.tar.bz2", show_progress=False)
    with pytest.raises(DownloadError, match="ConnectError"):
        download("http://127.0.0.1:9/x.tar.gz", tmp_path / "x.tar.gz", show_progress=False)
    assert url_file_name("https://host/a/b/sherpa%20x.tar.bz2?dl=1") == "sherpa x.tar.bz2"
