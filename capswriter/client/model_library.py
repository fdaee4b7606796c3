"""The desktop's model library: the catalogue, what is installed, downloads that pause and
resume, installs from a file, and deletion. Work runs on threads; the state of each model is
a `ModelRow` the settings page reads, and `changed` says when one moved.
"""

from __future__ import annotations

import enum
import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from capswriter.asr.archive import VAD_FOLDER, release_model_name
from capswriter.asr.catalogue import CatalogueEntry, load_catalogue
from capswriter.asr.install import install_model, list_models
from capswriter.errors import CapsWriterError, DownloadPaused

log = logging.getLogger(__name__)


class RowState(enum.Enum):
    AVAILABLE = "available"  # in the catalogue, not installed
    DOWNLOADING = "downloading"
    PAUSED = "paused"
    INSTALLING = "installing"  # unpacking and verifying
    INSTALLED = "installed"
    FAILED = "failed"


@dataclass
class ModelRow:
    """One model as the library shows it."""

    name: str
    kind: str = ""
    languages: str = ""
    license: str = ""
    size_mb: float = 0.0
    description: str = ""
    state: RowState = RowState.AVAILABLE
    done: int = 0  # bytes downloaded
    total: int | None = None
    message: str = ""  # the last error or the sample transcription
    in_catalogue: bool = False

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


class ModelLibrary(QObject):
    """Downloads, installs and deletes models in `models_dir`; one job per model at a time."""

    changed = Signal(str)  # the name of the row that changed

    def __init__(
        self,
        models_dir: Path,
        mirror: str = "",
        catalogue: dict[str, CatalogueEntry] | None = None,
    ) -> None:
        super().__init__()
        self.models_dir = models_dir
        self.mirror = mirror
        self.catalogue = catalogue if catalogue is not None else load_catalogue(mirror)
        self._lock = threading.Lock()
        self._rows: dict[str, ModelRow] = {}
        self._pauses: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}
        for entry in self.catalogue.values():
            if entry.kind == "vad":
                continue  # installed with every model, not chosen
            self._rows[entry.name] = ModelRow(
                entry.name, entry.kind, entry.languages, entry.license, entry.size_mb,
                entry.description, in_catalogue=True,
            )  # fmt: skip
        self.refresh()

    # ---- what the page reads -----------------------------------------------------------------

    def rows(self) -> list[ModelRow]:
        with self._lock:
            return [ModelRow(**vars(row)) for row in self._rows.values()]

    def row(self, name: str) -> ModelRow:
        with self._lock:
            return ModelRow(**vars(self._rows[name]))

    def busy(self) -> bool:
        """Whether a download or install is running."""
        with self._lock:
            return any(thread.is_alive() for thread in self._threads.values())

    def installed(self) -> list[str]:
        return [r.name for r in self.rows() if r.state is RowState.INSTALLED]

    def refresh(self) -> None:
        """Read the models folder again (rows of running jobs keep their state)."""
        found = {m.name: m for m in list_models(self.models_dir)
                 if m.kind != "vad" and m.name != VAD_FOLDER and m.status == "ok"}  # fmt: skip
        with self._lock:
            for name, model in found.items():
                row = self._rows.setdefault(name, ModelRow(name, model.kind, model.language))
                if row.state not in (RowState.DOWNLOADING, RowState.INSTALLING):
                    row.state = RowState.INSTALLED
                    row.kind = row.kind or model.kind
            for name, row in list(self._rows.items()):
                if name in found or row.state is not RowState.INSTALLED:
                    continue
                if row.in_catalogue:
                    row.state = RowState.AVAILABLE
                else:
                    del self._rows[name]

    # ---- actions ---------------------------------------------------------------------------

    def download(self, name: str) -> threading.Thread:
        """Download (or resume) and install a catalogue model in the background."""
        if name not in self.catalogue:
            raise CapsWriterError(f"'{name}' is not in the catalogue")
        return self._start(name, name)

    def pause(self, name: str) -> None:
        """Stop a download at its next block; `download` again resumes where it stopped."""
        with self._lock:
            pause = self._pauses.get(name)
        if pause is not None:
            pause.set()

    def install_file(self, path: Path) -> threading.Thread:
        """Install a model archive from a file in the background."""
        name = release_model_name(path.name.split(".tar")[0])
        return self._start(name, str(path))

    def delete(self, name: str, in_use: str = "") -> None:
        """Remove an installed model's folder; the model the server uses is refused."""
        if name == in_use:
            raise CapsWriterError(
                f"{name} is the model in use; choose another model and save first"
            )
        folder = self.models_dir / name
        if name in ("", VAD_FOLDER) or folder.parent != self.models_dir or not folder.is_dir():
            raise CapsWriterError(f"{name} is not an installed model")
        with self._lock:
            if name in self._threads and self._threads[name].is_alive():
                raise CapsWriterError(f"{name} is being installed; wait for it or pause it")
        shutil.rmtree(folder)
        self.refresh()
        self.changed.emit(name)

    # ---- the work --------------------------------------------------------------------------

    def _start(self, name: str, source: str) -> threading.Thread:
        with self._lock:
            running = self._threads.get(name)
            if running is not None and running.is_alive():
                return running
            pause = self._pauses[name] = threading.Event()
            row = self._rows.setdefault(name, ModelRow(name))
            row.state = RowState.DOWNLOADING if source == name else RowState.INSTALLING
            row.message = ""
            thread = threading.Thread(target=self._run, args=(name, source, pause),
                                      name=f"model-{name}", daemon=True)  # fmt: skip
            self._threads[name] = thread
        self.changed.emit(name)
        thread.start()
        return thread

    def _set(self, name: str, **values) -> None:
        with self._lock:
            row = self._rows[name]
            for key, value in values.items():
                setattr(row, key, value)
        self.changed.emit(name)

    def _run(self, name: str, source: str, pause: threading.Event) -> None:
        def on_bytes(done: int, total: int | None) -> None:
            self._set(name, done=done, total=total)

        def progress(message: str) -> None:
            log.info("%s: %s", name, message)
            if message.startswith(("unpacking", "verifying")):
                self._set(name, state=RowState.INSTALLING)

        try:
            report = install_model(
                source, self.models_dir, name=name, mirror=self.mirror, progress=progress,
                show_download_progress=False, on_bytes=on_bytes, pause=pause,
                catalogue=self.catalogue,
            )  # fmt: skip
        except DownloadPaused as exc:
            self._set(name, state=RowState.PAUSED, message=str(exc))
        except CapsWriterError as exc:
            self._set(name, state=RowState.FAILED, message=str(exc))
        except Exception as exc:  # noqa: BLE001 - a failed install must not end the app
            log.exception("installing %s failed", name)
            self._set(name, state=RowState.FAILED, message=f"{type(exc).__name__}: {exc}")
        else:
            with self._lock:
                if report.name != name:  # a file's name need not be the model's
                    del self._rows[name]
            self.refresh()
            self._set(report.name, state=RowState.INSTALLED, message=report.sample_text)
            if report.name != name:
                self.changed.emit(name)
