"""The settings' model library against a local HTTP server: progress, pause and resume, a cut
connection resumed, a wrong sha256 refused, install from a file, delete."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from file_server import serve_folder
from PySide6.QtCore import QCoreApplication, QEvent
from shiboken6 import isValid
from tiny_models import make_release, pack_release

from capswriter.asr.catalogue import CatalogueEntry
from capswriter.client.model_library import ModelLibrary, RowState
from capswriter.client.ui.settings_dialog import SettingsDialog
from capswriter.config import PROJECT_ROOT, Settings

NAME = "paraformer-zh-2024-03-09"
PADDING = 3 * 1024 * 1024  # enough bytes for several progress reports and a cut in the middle


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder as the publisher's release page holds it: the tiny Paraformer archive (padded
    with a recording-sized test file, as real releases carry test_wavs/) and a copy."""
    root = tmp_path_factory.mktemp("published")
    folder = make_release("paraformer", root / "build")
    (folder / "test_wavs").mkdir()
    (folder / "test_wavs" / "noise.bin").write_bytes(
        hashlib.shake_256(b"capswriter").digest(PADDING)
    )
    archive = pack_release(folder, root / "site")
    shutil.copy(archive, root / "site" / "copy-with-a-wrong-sum.tar.bz2")
    return root / "site"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _catalogue(base: str, site: Path) -> dict[str, CatalogueEntry]:
    archive = f"sherpa-onnx-{NAME}.tar.bz2"
    entry = dict(kind="paraformer", languages="zh,en", license="test", size_mb=3,
                 description="Paraformer large: Mandarin")  # fmt: skip
    return {
        NAME: CatalogueEntry(
            NAME, archive, base + archive, sha256=_sha256(site / archive), **entry
        ),  # fmt: skip
        "wrong-sum": CatalogueEntry(
            "wrong-sum",
            "copy-with-a-wrong-sum.tar.bz2",
            base + "copy-with-a-wrong-sum.tar.bz2",
            sha256="0" * 64,
            **entry,
        ),  # fmt: skip
    }


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    models.mkdir()
    (models / "silero-vad").symlink_to(PROJECT_ROOT / "models" / "silero-vad")
    return models


@pytest.fixture
def page(qtbot, tmp_path, models_dir, published, monkeypatch):
    """(settings dialog, its library, the server's request log)."""
    monkeypatch.setenv("CAPSWRITER_CACHE_DIR", str(tmp_path / "cache"))
    with serve_folder(published) as (base, log):
        settings = Settings()
        settings.models_dir = str(models_dir)
        library = ModelLibrary(models_dir, catalogue=_catalogue(base, published))
        dialog = SettingsDialog(settings, tmp_path / "config.toml", rules_dir=tmp_path,
                                library=library)  # fmt: skip
        qtbot.addWidget(dialog)
        yield dialog, library, log


def _state(library: ModelLibrary, name: str = NAME) -> RowState:
    return library.row(name).state


def test_the_page_shows_the_catalogue_with_size_languages_and_licence(page) -> None:
    dialog, _library, _log = page
    table = dialog.models_page.table
    rows = {table.item(i, 0).text(): [table.item(i, c).text() for c in range(5)]
            for i in range(table.rowCount())}  # fmt: skip
    assert rows[NAME] == [NAME, "zh,en", "3 MB", "test", "Not installed"]
    dialog.models_page.select(NAME)
    assert "Mandarin" in dialog.models_page.details.text()
    assert dialog.models_page.download_button.isEnabled()
    assert not dialog.models_page.use_button.isEnabled()


def test_a_cut_download_resumes_where_it_stopped_and_installs(qtbot, page, models_dir) -> None:
    dialog, library, log = page
    fractions: list[float] = []
    library.changed.connect(lambda name: fractions.append(library.row(name).fraction))
    log.cut_after = 1_000_000
    dialog.models_page.select(NAME)
    dialog.models_page.download_button.click()
    qtbot.waitUntil(lambda: _state(library) is RowState.FAILED, timeout=30_000)
    row = library.row(NAME)
    assert "1000000" in row.message and row.done == 1_000_000
    assert 0 < dialog.models_page.progress.value() < 1000  # shown where it stopped
    assert dialog.models_page.download_button.text() == "Resume"
    dialog.models_page.download_button.click()
    qtbot.waitUntil(lambda: _state(library) is RowState.INSTALLED, timeout=60_000)
    assert log.ranges == [None, "bytes=1000000-"]
    assert any(0 < f < 1 for f in fractions) and max(fractions) == 1.0
    assert (models_dir / NAME / "manifest.toml").is_file()
    # The new model is offered to the server at once, and "Use" picks it.
    dialog.models_page.select(NAME)
    qtbot.waitUntil(dialog.models_page.use_button.isEnabled, timeout=5_000)
    dialog.models_page.use_button.click()
    assert dialog.model.currentData() == NAME
    assert dialog.edited().asr.model == NAME


def test_pause_keeps_what_arrived_and_resume_fetches_the_rest(qtbot, page, tmp_path) -> None:
    dialog, library, log = page
    log.hold_after = 600_000
    dialog.models_page.select(NAME)
    dialog.models_page.download_button.click()
    qtbot.waitUntil(lambda: library.row(NAME).done >= 600_000, timeout=30_000)
    assert dialog.models_page.pause_button.isEnabled()
    dialog.models_page.pause_button.click()
    log.release.set()  # the server sends the rest; the download stops at the next block
    qtbot.waitUntil(lambda: _state(library) is RowState.PAUSED, timeout=30_000)
    part = tmp_path / "cache" / "downloads" / f"sherpa-onnx-{NAME}.tar.bz2.part"
    kept = part.stat().st_size
    assert kept >= 600_000
    assert dialog.models_page.download_button.text() == "Resume"
    dialog.models_page.download_button.click()
    qtbot.waitUntil(lambda: _state(library) is RowState.INSTALLED, timeout=60_000)
    assert log.ranges == [None, f"bytes={kept}-"]
    assert not part.exists()


def test_a_wrong_sha256_is_refused_and_the_partial_file_removed(
    qtbot, page, tmp_path, models_dir
) -> None:
    dialog, library, _log = page
    dialog.models_page.select("wrong-sum")
    dialog.models_page.download_button.click()
    qtbot.waitUntil(lambda: _state(library, "wrong-sum") is RowState.FAILED, timeout=30_000)
    assert "sha256" in library.row("wrong-sum").message
    downloads = tmp_path / "cache" / "downloads"
    assert not any(downloads.iterdir())  # neither the part nor a finished file is kept
    assert not (models_dir / "wrong-sum").exists()
    assert dialog.models_page.progress.value() == 0
    assert "sha256" in dialog.models_page.details.text()


def test_install_from_a_file_then_delete(qtbot, page, published, models_dir) -> None:
    dialog, library, _log = page
    dialog.models_page.install_file(published / f"sherpa-onnx-{NAME}.tar.bz2")
    qtbot.waitUntil(lambda: _state(library) is RowState.INSTALLED, timeout=60_000)
    assert NAME in [dialog.model.itemData(i) for i in range(dialog.model.count())]
    # The model the server uses is not deleted from under it.
    dialog.settings.asr.model = NAME
    dialog.models_page.select(NAME)
    assert not dialog.models_page.use_button.isEnabled()
    dialog.models_page.delete_button.click()
    assert "in use" in dialog.models_page.details.text()
    assert (models_dir / NAME).is_dir()
    dialog.settings.asr.model = "whisper-base"
    dialog.models_page.select(NAME)
    dialog.models_page.delete_button.click()
    assert not (models_dir / NAME).exists()
    assert _state(library) is RowState.AVAILABLE


def test_the_app_keeps_one_library_so_a_download_outlives_the_settings_window(
    qtbot, offline_app
) -> None:
    offline_app.show_settings()
    first = offline_app.settings_dialog
    library = first.library
    assert library is offline_app.model_library
    first.close()
    first.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not isValid(first)
    library.changed.emit(NAME)  # a download's report reaches no deleted window
    offline_app.show_settings()
    assert offline_app.settings_dialog.library is library
    offline_app.settings_dialog.close()
