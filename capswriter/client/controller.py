"""The client's state in one place, and the services behind it; no widget is known here.

:class:`ClientController` owns the server link, the dictation flow, file jobs and history, and
publishes what the user should see as Qt signals (emitted from any thread, delivered on the GUI
thread). Widgets connect to the signals and call the controller's methods; nothing else.
"""

from __future__ import annotations

import enum
import logging
import subprocess
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QObject, Signal

from capswriter.client.delivery import TextOutput
from capswriter.client.dictation import DictationFlow, DictationOutcome, DictationPhase, Notice
from capswriter.client.file_jobs import FileJob, FileJobs
from capswriter.client.history import History
from capswriter.client.i18n import translate
from capswriter.client.link import Health, ServerLink, launch_server
from capswriter.client.output_rules import PostProcessor
from capswriter.client.recorder import Recorder
from capswriter.client.recovery import RecordingSpool
from capswriter.client.role_dictation import RoleDictation
from capswriter.client.roles import RoleBook
from capswriter.config import Settings, data_dir, is_loopback, log_dir
from capswriter.keys import key_label
from capswriter.wire.launch import server_log_path, server_output_path

log = logging.getLogger(__name__)


class TrayState(enum.Enum):
    STARTING = "starting"
    LOADING = "loading"
    READY = "ready"
    RECORDING = "recording"
    TRANSCRIBING = "transcribing"
    BUSY = "busy"
    ERROR = "error"


class Connection(enum.Enum):
    STARTING = "starting"  # not asked yet, or a server we launched has not answered yet
    LOADING = "loading"  # the server answers but no worker has its model loaded
    READY = "ready"
    DOWN = "down"  # nothing answers and we are not starting one


def tray_state(connection: Connection, phase: DictationPhase, files_active: bool) -> TrayState:
    """What the icon shows. A live microphone always wins: the user must know it is on."""
    if phase is DictationPhase.RECORDING:
        return TrayState.RECORDING
    if phase is DictationPhase.TRANSCRIBING:
        return TrayState.TRANSCRIBING
    if connection is Connection.DOWN:
        return TrayState.ERROR
    if connection is Connection.STARTING:
        return TrayState.STARTING
    if connection is Connection.LOADING:
        return TrayState.LOADING
    return TrayState.BUSY if files_active else TrayState.READY


# While the server is up, dictations kept after a failure are tried again this often.
PENDING_RETRY_S = 30.0
# A server that refused to start (settings, model, port) is started again after this long,
# doubling up to REFUSED_MAX_BACKOFF_S: the cause may have been fixed meanwhile. "Retry now"
# in the menu does not wait.
REFUSED_BACKOFF_S = 30.0
# The topic of the notices about the server's availability (one supersedes the other).
SERVER_TOPIC = "server"
REFUSED_MAX_BACKOFF_S = 300.0
# On Quit a dictation still being transcribed has this long for its text; then its audio is
# kept in History and transcribed at the next start. Quitting must not hang on the server.
CLOSE_GRACE_S = 1.0

STATE_TEXT = {
    TrayState.STARTING: QT_TRANSLATE_NOOP("Status", "Starting the recognition server…"),
    TrayState.LOADING: QT_TRANSLATE_NOOP("Status", "Loading the speech model…"),
    TrayState.READY: QT_TRANSLATE_NOOP("Status", "Ready: hold {key} to dictate"),
    TrayState.RECORDING: QT_TRANSLATE_NOOP("Status", "Listening…"),
    TrayState.TRANSCRIBING: QT_TRANSLATE_NOOP("Status", "Transcribing…"),
    TrayState.BUSY: QT_TRANSLATE_NOOP("Status", "Transcribing files…"),
    TrayState.ERROR: QT_TRANSLATE_NOOP("Status", "No recognition server: {detail}"),
}


@dataclass
class RelaunchPlan:
    """When to start our server again: at once the first time, then with back-off; one that
    refused to start (exit 2: settings, model, port) waits longer, as its cause must be fixed
    first."""

    first: bool = True  # the first look starts a server if none answers
    at: float | None = None  # when a relaunch is planned
    backoff: float = 2.0
    refused_backoff: float = REFUSED_BACKOFF_S

    def after_exit(self, returncode: int | None, now: float) -> None:
        if returncode != 2:
            self.at, self.backoff = now + self.backoff, min(self.backoff * 2, 60.0)
        else:
            self.at = now + self.refused_backoff
            self.refused_backoff = min(self.refused_backoff * 2, REFUSED_MAX_BACKOFF_S)

    def due(self, now: float) -> bool:
        """True once, when the planned relaunch's time has come."""
        if self.at is None or now < self.at:
            return False
        self.at = None
        return True


class ClientController(QObject):
    state_changed = Signal(object)  # TrayState
    notice = Signal(object)  # Notice
    history_changed = Signal()
    file_job_changed = Signal(object)  # FileJob
    dictation_done = Signal(object)  # DictationOutcome
    role_progress = Signal(object)  # RoleProgress: a role rewriting a dictation

    def __init__(
        self,
        settings: Settings,
        history: History | None = None,
        link: ServerLink | None = None,
        recorder: Recorder | None = None,
        start_server: bool = True,
        health_interval_s: float = 1.0,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.history = history or History()
        self.link = link or ServerLink.from_settings(settings)
        self.recorder = recorder or Recorder(
            device=settings.client.input_device or None,
            keep_open=settings.client.keep_stream_open,
            idle_minutes=settings.client.stream_idle_minutes,
            on_error=lambda message: self._notice(Notice(
                translate("Notices", "Microphone lost"), message, "error")),
        )
        self.post = PostProcessor(settings)
        self.output = TextOutput(settings)
        self.roles = RoleDictation(
            RoleBook(), self.output, self.history, self.post,
            on_notice=self._notice, on_history=self.history_changed.emit,
            on_progress=self.role_progress.emit,
        )
        self.flow = DictationFlow(
            settings, self.recorder, self.link, self.post, self.output, self.history,
            on_phase=lambda phase: self._update(),
            on_notice=self._notice,
            on_history=self.history_changed.emit,
            on_outcome=self.dictation_done.emit,
            spool=RecordingSpool(data_dir() / "recording"),
            roles=self.roles,
        )
        self.files = FileJobs(
            self.link, self.history, list(settings.files.formats),
            on_update=self._file_update,
            on_notice=self._notice,
            on_history=self.history_changed.emit,
            language=settings.asr.language,
        )
        self.start_server = start_server
        self.health_interval_s = health_interval_s
        self.connection = Connection.STARTING
        self.health = Health("starting")
        self.server_process = None
        self.state = TrayState.STARTING
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._retrying = threading.Lock()  # one pass over kept dictations at a time
        self._last_retry = 0.0
        self._relaunch_now = threading.Event()
        self._launching = threading.Lock()  # a launch and the shutdown's stop never cross
        self._server_trouble = False  # a "server stopped" notice is out and not yet resolved

    # ---- lifecycle -------------------------------------------------------------------------

    def startup(self) -> None:
        """Begin watching the server (launching one if none answers) and open the microphone."""
        self.prune_history()
        self.flow.recover_unfinished()
        self._monitor = threading.Thread(target=self._watch_server, name="health", daemon=True)
        self._monitor.start()
        if self.settings.client.keep_stream_open:
            threading.Thread(target=self._open_microphone, name="mic-open", daemon=True).start()

    def shutdown(self) -> bool:
        """Stop everything, quickly (Quit, SIGTERM, logout); the server we started stops too.

        Returns whether the microphone was let go of in time: the caller must not leave it to
        the interpreter's exit (see :meth:`Recorder.close`).
        """
        self._stop.set()
        self.roles.cancel()  # a model still answering must not hold the exit up
        try:
            # A dictation under way ends as if the key went up; its text has a moment to come.
            self.flow.close(grace_s=CLOSE_GRACE_S)
        finally:
            self._stop_server()
        released = self.recorder.close()
        self.output.close()
        self.link.close()
        if self._monitor is not None:
            self._monitor.join(timeout=1.5)
        self.history.close()
        return released

    def _stop_server(self) -> None:
        with self._launching:  # taken: no launch can start after this
            process = self.server_process
        if process is not None and process.poll() is None:
            # It shuts its workers down itself; waiting for that would only delay our exit.
            log.info("stopping the server we started (pid %d)", process.pid)
            process.terminate()

    # ---- what widgets call -----------------------------------------------------------------

    def restart_server(self) -> bool:
        """Stop the server we started and start it again with the saved settings (a new model,
        without restarting the app); False when the server is not ours to restart."""
        with self._launching:
            process = self.server_process
        if process is None or process.poll() is not None:
            return False
        self._notice(Notice(translate("Notices", "Switching the speech model"),
                            translate("Notices", "The recognition server is loading {model}.")
                            .format(model=self.settings.asr.model)))  # fmt: skip
        threading.Thread(target=self._replace_server, args=(process,), name="server-restart",
                         daemon=True).start()  # fmt: skip
        return True

    def _replace_server(self, process) -> None:
        # Held while the old server lets go of its port, so the watcher launches no new one
        # that would find the port taken; it launches as soon as this is done.
        with self._launching:
            if self.server_process is process:
                self.server_process = None
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._relaunch_now.set()

    def retry_server(self) -> None:
        """Start the server again now (if ours is down) instead of waiting for the next try."""
        self._relaunch_now.set()

    def transcribe_files(self, paths: list[Path]) -> list[FileJob]:
        jobs = self.files.submit([Path(p) for p in paths])
        self._update()
        return jobs

    def repaste(self, entry_id: int) -> Future[bool] | None:
        """Insert a history entry's text again, off the GUI thread and after any dictation."""
        entry = self.history.get(entry_id)
        if entry is None or not entry.text:
            return None
        return self.flow.after_output(lambda: self._deliver_again(entry.text))

    def _deliver_again(self, text: str) -> bool:
        result = self.output.deliver(text)
        if not result.delivered:
            self._notice(Notice(
                translate("Notices", "Text not inserted"),
                translate("Notices", "{reason}. It is on the clipboard.").format(
                    reason=result.reason),
            ))
        return result.delivered

    def status_text(self) -> str:
        return translate("Status", STATE_TEXT[self.state]).format(
            key=translate("Keys", key_label(self.settings.client.hotkey)),
            detail=self.health.detail or translate("Status", "nothing answers"),
        )

    def log_path(self) -> Path:
        return log_dir()

    # ---- inputs from the services ------------------------------------------------------------

    def set_health(self, health: Health) -> None:
        """The latest /health answer; ``down`` counts as starting while our server boots."""
        self.health = health
        if health.ready:
            connection = Connection.READY
        elif health.status in ("starting", "draining"):
            connection = Connection.LOADING
        elif self.server_process is not None and self.server_process.poll() is None:
            connection = Connection.STARTING
        else:
            connection = Connection.DOWN
        became_ready = connection is Connection.READY and self.connection is not Connection.READY
        self.connection = connection
        if became_ready and self._server_trouble:
            self._server_trouble = False
            self._notice(Notice(translate("Notices", "The recognition server is back"),
                                translate("Notices", "Dictation works again."),
                                topic=SERVER_TOPIC))
        self._update()
        # Kept dictations go again when the server is back, and now and then while it is up:
        # one refused as busy by a server that never went away would wait forever otherwise.
        due = became_ready or time.monotonic() - self._last_retry >= PENDING_RETRY_S
        if connection is Connection.READY and due and self.history.pending():
            self._last_retry = time.monotonic()
            threading.Thread(target=self._retry_pending, name="retry", daemon=True).start()

    def _retry_pending(self) -> None:
        if not self._retrying.acquire(blocking=False):
            return
        try:
            self.flow.retry_pending()
        finally:
            self._retrying.release()

    def _watch_server(self) -> None:
        relaunch = RelaunchPlan()
        while not self._stop.is_set():
            try:
                if self._relaunch_now.is_set():
                    self._relaunch_now.clear()
                    relaunch = RelaunchPlan(at=time.monotonic())
                self._watch_once(relaunch)
            except Exception:  # noqa: BLE001 - the tray must keep watching whatever happens
                log.exception("server watch failed; trying again")
                self._stop.wait(self.health_interval_s)

    def _watch_once(self, relaunch: RelaunchPlan) -> None:
        """One look at the server: relaunch it if ours died, then wait for the next look."""
        health = self.link.health()
        process = self.server_process
        if process is not None and process.poll() is not None:
            # The server we started is gone: say why and start it again with back-off.
            self.server_process = None
            self._notice(Notice(translate("Notices", "The recognition server stopped"),
                                self._why_server_stopped(process.returncode), "error",
                                topic=SERVER_TOPIC))
            self._server_trouble = True
            relaunch.after_exit(process.returncode, time.monotonic())
        first, relaunch.first = relaunch.first, False
        if not health.ready and health.status == "down" and self.server_process is None:
            if first or relaunch.due(time.monotonic()):
                self._maybe_launch_server()
        self.set_health(health)
        interval = self.health_interval_s * (3 if health.ready else 1)
        self._stop.wait(interval)

    def _why_server_stopped(self, returncode: int | None) -> str:
        """The reason a server we started stopped, from its exit and its own last words."""
        log_file = server_log_path()
        lines: list[str] = []
        # The log, then what the server printed outside it (a refusal to start, a crash).
        for path in (log_file, server_output_path(log_file)):
            try:
                lines += path.read_text(errors="replace").splitlines()[-30:]
            except OSError:
                pass
        # The CLI ends a refused start with one "error: ..." sentence; a crash leaves an ERROR
        # or CRITICAL line. Ordinary INFO lines are not reasons.
        reasons = [line for line in lines
                   if line.startswith(("error:", "capswriter server:"))
                   or " ERROR " in line or " CRITICAL " in line]
        if returncode is not None and returncode < 0:
            return translate("Notices", "It was stopped by signal {signal}; it is being "
                             "started again.").format(signal=-returncode)
        if reasons:
            return reasons[-1][-300:]
        if returncode == 2:
            return translate("Notices", "It refused to start; see the server log (Open logs).")
        return translate("Notices", "It exited with code {code}; it is being started "
                         "again.").format(code=returncode)

    def _maybe_launch_server(self) -> None:
        # Only a server on this machine is ours to start.
        if not self.start_server or not is_loopback(self.link.host):
            return
        logs = self.log_path()
        logs.mkdir(parents=True, exist_ok=True)
        with self._launching:
            if self._stop.is_set():
                return
            try:
                self.server_process = launch_server(self.settings, server_log_path())
            except OSError as exc:
                self._notice(Notice(translate("Notices", "Could not start the server"),
                                    str(exc), "error"))

    def apply_settings(self, new: Settings) -> None:
        """Take saved settings: the services that read them see the new value from the next
        dictation on, and the microphone and file jobs get their new values now. A server we
        started is started again when the model settings changed, so it loads the new model."""
        old = self.settings
        self.settings = self.flow.settings = self.post.settings = self.output.settings = new
        if (new.asr, new.models_dir) != (old.asr, old.models_dir):
            self.restart_server()
        client = new.client
        self.prune_history()
        self.files.formats = list(self.settings.files.formats)
        self.files.language = self.settings.asr.language
        if self.flow.phase is not DictationPhase.IDLE:
            # Never pull the microphone away mid-dictation; the next save or launch applies it.
            self._notice(Notice(translate("Notices", "Settings saved"),
                                translate("Notices", "Microphone changes apply after the "
                                          "current dictation.")))
            return
        changed = self.recorder.reconfigure(
            client.input_device or None, client.keep_stream_open, client.stream_idle_minutes
        )
        if changed and client.keep_stream_open:
            self._open_microphone()

    def prune_history(self) -> None:
        """Delete history past the retention the settings ask for."""
        client = self.settings.client
        if self.history.prune(client.history_keep_days, client.history_keep_entries):
            self.history_changed.emit()

    def _open_microphone(self) -> None:
        try:
            self.recorder.open()
        except Exception as exc:
            self._notice(Notice(translate("Notices", "Microphone unavailable"), str(exc),
                                "error"))

    def _file_update(self, job: FileJob) -> None:
        self.file_job_changed.emit(job)
        self._update()

    def _notice(self, notice: Notice) -> None:
        log.info("%s: %s", notice.title, notice.message)
        self.notice.emit(notice)

    def _update(self) -> None:
        state = tray_state(self.connection, self.flow.phase, self.files.active)
        if state is not self.state:
            log.info("state: %s", state.value)
            self.state = state
            self.state_changed.emit(state)


__all__ = ["ClientController", "Connection", "DictationOutcome", "TrayState", "tray_state"]
