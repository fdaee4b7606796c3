"""The dictation flow: hotkey actions → recorder → server → post-processing → history → output.

No Qt here: the flow reports its phase and notices through callbacks, which the controller turns
into signals. Words are never lost: the text goes into history before output is tried, and when
the server cannot transcribe, the audio goes into history as ``pending`` and is sent again by
:meth:`DictationFlow.retry_pending` once the server is back.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from capswriter.audio import SAMPLE_RATE
from capswriter.client.delivery import TextOutput
from capswriter.client.history import History
from capswriter.client.hotkey import Action
from capswriter.client.i18n import translate
from capswriter.client.link import DictationStream, ServerLink
from capswriter.client.output_rules import PostProcessor
from capswriter.client.recorder import Recorder, RecorderError
from capswriter.client.recovery import RecordingSpool, SpooledRecording
from capswriter.config import Settings
from capswriter.errors import ServerUnavailable
from capswriter.wire.errors import ERRORS, TaskFailed, TaskTimedOut

if TYPE_CHECKING:
    from capswriter.client.role_dictation import RoleDictation

log = logging.getLogger(__name__)

T = TypeVar("T")

# Shorter captures are key bounces, not speech; sending them only wastes a worker.
MIN_DICTATION_S = 0.15
# Server answers after which sending the same audio again cannot help (the poison and hang
# verdicts would even take recognizer processes down with it once more).
FINAL_ERRORS = frozenset(code for code, kind in ERRORS.items() if kind.final)


def is_final(exc: Exception) -> bool:
    """True when the server has said this audio will never be transcribed."""
    return isinstance(exc, TaskFailed) and not isinstance(exc, TaskTimedOut) \
        and exc.code in FINAL_ERRORS


class DictationPhase(enum.Enum):
    IDLE = "idle"
    RECORDING = "recording"
    TRANSCRIBING = "transcribing"


@dataclass(frozen=True)
class Notice:
    """Something the user should read: the tray shows it as a notification."""

    title: str
    message: str
    level: str = "info"  # info | warning | error
    folder: str = ""  # offered as "open folder" when set
    # Notices on one topic supersede each other: "server stopped" is replaced by "server back",
    # not shown after it.
    topic: str = ""


class OutcomeKind(enum.Enum):
    TEXT = "text"  # words came back (inserted, or left on the clipboard when that failed)
    NOTHING_HEARD = "nothing_heard"  # the recording held no speech
    KEPT = "kept"  # the server could not transcribe it now; the audio waits in History
    FAILED = "failed"  # it will not be transcribed: no microphone, or refused by the server


class Shortfall(enum.Enum):
    """Why a dictation did not end with its text inserted; the windows word it for the user."""

    NO_MICROPHONE = "no_microphone"
    RECORDING_FAILED = "recording_failed"
    REFUSED = "refused"  # the server will never transcribe this audio
    SERVER_UNAVAILABLE = "server_unavailable"  # kept in History, sent again later
    NOT_INSERTED = "not_inserted"  # the text is on the clipboard
    REWRITE_FAILED = "rewrite_failed"  # a role's model failed: the words went out as said


@dataclass
class DictationOutcome:
    entry_id: int | None
    text: str
    delivered: bool
    release_to_text_s: float
    kind: OutcomeKind = OutcomeKind.TEXT
    shortfall: Shortfall | None = None


class DictationFlow:
    """Carries out hotkey actions; every method is safe to call from the hotkey thread."""

    def __init__(
        self,
        settings: Settings,
        recorder: Recorder,
        link: ServerLink,
        post: PostProcessor,
        output: TextOutput,
        history: History,
        on_phase: Callable[[DictationPhase], None] = lambda phase: None,
        on_notice: Callable[[Notice], None] = lambda notice: None,
        on_history: Callable[[], None] = lambda: None,
        on_outcome: Callable[[DictationOutcome], None] = lambda outcome: None,
        spool: RecordingSpool | None = None,
        roles: RoleDictation | None = None,
    ) -> None:
        self.settings = settings
        # A copy of each recording on disk until its dictation is safe: a crash of the app
        # then costs nothing (see recovery.py).
        self.spool = spool
        self._spooled: SpooledRecording | None = None
        self.recorder = recorder
        self.link = link
        self.post = post
        self.output = output
        self.history = history
        self.on_phase = on_phase
        self.on_notice = on_notice
        self.on_history = on_history
        self.on_outcome = on_outcome
        self.roles = roles  # a dictation that starts with a role's name goes to its model
        self._armed = False
        self._arm_failure = ""  # why the microphone did not open at the last press
        self._recording = False
        self._transcribing = 0
        self._closing = threading.Event()
        self._closed = False
        self._waiting: DictationStream | None = None  # the stream whose text is awaited
        self._stream: DictationStream | None = None
        self._lock = threading.Lock()
        # One finisher keeps outputs in order and frees the hotkey thread for the next press.
        self._finisher = ThreadPoolExecutor(1, thread_name_prefix="dictation")

    @property
    def phase(self) -> DictationPhase:
        if self._recording:
            return DictationPhase.RECORDING
        if self._transcribing:
            return DictationPhase.TRANSCRIBING
        return DictationPhase.IDLE

    def handle(self, action: Action) -> None:
        if action is Action.ARM:
            self._arm()
        elif action is Action.START:
            self._start()
        elif action is Action.DISARM:
            self._disarm()
        elif action is Action.STOP:
            self._stop()

    def close(self, grace_s: float = 60.0) -> None:
        """End the flow: a recording under way ends as if the key went up, and a text not back
        within ``grace_s`` is given up on, its audio kept in History for the next start."""
        if self._closed:
            return
        self._closed = True
        if self._recording:
            self._stop()
        elif self._armed:
            self._disarm()
        queued = self._finisher.submit(lambda: None)  # done once everything before it is
        try:
            queued.result(timeout=grace_s)
        except TimeoutError:
            self._closing.set()
            waiting = self._waiting
            if waiting is not None:
                waiting.abort()
        self._finisher.shutdown(wait=True)

    def _arm(self) -> None:
        try:
            self.recorder.arm()
            self._armed, self._arm_failure = True, ""
        except RecorderError as exc:
            self._armed, self._arm_failure = False, str(exc)
            self.on_notice(Notice(translate("Notices", "Microphone unavailable"), str(exc),
                                  "error"))

    def _start(self) -> None:
        if not self._armed:
            if self._arm_failure:  # held on: a dictation was meant, say why there is none
                self.on_outcome(DictationOutcome(None, "", False, 0.0, OutcomeKind.FAILED,
                                                 Shortfall.NO_MICROPHONE))
            return
        self._stream = self.link.open_dictation(self.settings.asr.language)
        stream = self._stream
        spooled = self._spooled = self.spool.begin() if self.spool is not None else None

        def sink(chunk: np.ndarray) -> None:
            if spooled is not None:
                spooled.append(chunk)
            _send_quietly(stream, chunk)

        self.recorder.start(sink)
        self._set(recording=True)

    def _disarm(self) -> None:
        if self._armed:
            self.recorder.cancel()
        self._armed = False
        spooled, self._spooled = self._spooled, None
        if spooled is not None:
            spooled.discard()

    def _stop(self) -> None:
        if not self._armed:
            return
        released = time.monotonic()
        self._armed = False
        failure: Shortfall | None = None
        try:
            audio = self.recorder.stop()
        except RecorderError as exc:
            audio, failure = np.zeros(0, np.float32), Shortfall.RECORDING_FAILED
            self.on_notice(Notice(translate("Notices", "Recording failed"), str(exc), "error"))
        stream, self._stream = self._stream, None
        spooled, self._spooled = self._spooled, None
        if spooled is not None:
            spooled.close()
        with self._lock:
            self._transcribing += 1
        self._set(recording=False)
        self._finisher.submit(self._finish, stream, audio, released, failure, spooled)

    def _finish(
        self, stream: DictationStream | None, audio: np.ndarray, released: float,
        failure: Shortfall | None, spooled: SpooledRecording | None = None,
    ) -> None:
        try:
            if failure is not None:
                if stream is not None:
                    stream.abort()
                outcome = DictationOutcome(None, "", False, time.monotonic() - released,
                                           OutcomeKind.FAILED, failure)
            else:
                outcome = self._transcribe_and_deliver(stream, audio, released)
            if outcome is not None:
                self.on_outcome(outcome)
        except Exception:  # the finisher must survive anything a dictation throws
            log.exception("dictation failed")
        finally:
            if spooled is not None:
                spooled.discard()
            with self._lock:
                self._transcribing -= 1
            self._set()

    def recover_unfinished(self) -> int:
        """Keep in History the recordings of dictations a previous run never finished (it
        crashed or was killed); they are transcribed with the other kept dictations."""
        if self.spool is None:
            return 0
        kept = 0
        for path in self.spool.leftovers():
            try:
                audio = self.spool.read(path)
            except OSError as exc:
                log.warning("cannot read the unfinished recording %s: %s", path, exc)
                continue
            seconds = self.spool.seconds(audio)
            if seconds >= MIN_DICTATION_S:
                self.history.add("dictation", status="pending", duration_s=seconds,
                                 error="CapsWriter ended before this dictation was transcribed",
                                 audio=audio)
                kept += 1
            path.unlink(missing_ok=True)
        if kept:
            log.info("kept %d unfinished dictation(s) from the last run", kept)
            self.on_history()
            self.on_notice(Notice(
                translate("Notices", "Unfinished dictation kept"),
                translate("Notices", "CapsWriter ended while you were dictating. What was "
                          "recorded is in History and will be transcribed as soon as the "
                          "server is ready."),
                "warning",
            ))
        return kept

    def _transcribe_and_deliver(
        self, stream: DictationStream | None, audio: np.ndarray, released: float
    ) -> DictationOutcome | None:
        seconds = len(audio) / SAMPLE_RATE
        if stream is None:
            return None
        if seconds < MIN_DICTATION_S:
            stream.abort()
            return DictationOutcome(None, "", True, time.monotonic() - released,
                                    OutcomeKind.NOTHING_HEARD)
        self._waiting = stream
        if self._closing.is_set():
            stream.abort()
        try:
            result = stream.finish(timeout=max(30.0, 3 * seconds))
        except Exception as exc:
            problem: Exception = exc
            if self._closing.is_set():
                problem = ServerUnavailable(translate(
                    "Notices", "CapsWriter was closed before the text came back"))
            if is_final(problem):
                entry_id = self.history.add("dictation", status="failed", duration_s=seconds,
                                            error=str(problem), audio=audio)
                self.on_history()
                self.on_notice(Notice(
                    translate("Notices", "Dictation could not be transcribed"),
                    translate("Notices", "The server refused this audio ({reason}). "
                              "It is kept in History.").format(reason=problem),
                    "error",
                ))
                return DictationOutcome(entry_id, "", False, time.monotonic() - released,
                                        OutcomeKind.FAILED, Shortfall.REFUSED)
            entry_id = self.history.add(
                "dictation", status="pending", duration_s=seconds, error=str(problem), audio=audio
            )
            self.on_history()
            self.on_notice(Notice(
                translate("Notices", "Dictation kept for later"),
                translate("Notices", "The server could not transcribe it ({reason}). The "
                          "{seconds:.1f} s of audio are in History and will be transcribed "
                          "when the server is back.").format(reason=problem, seconds=seconds),
                "warning",
            ))
            return DictationOutcome(entry_id, "", False, time.monotonic() - released,
                                    OutcomeKind.KEPT, Shortfall.SERVER_UNAVAILABLE)
        finally:
            self._waiting = None
        text, raw = self._post_process(result.text)
        if not text:
            # The server's speech gate found no speech (or Whisper wrote nothing).
            return DictationOutcome(None, "", True, time.monotonic() - released,
                                    OutcomeKind.NOTHING_HEARD)
        keep_audio = audio if self.settings.client.save_audio else None
        if self.roles is not None:
            trigger = self.roles.called(text, [str(s.get("text", "")) for s in result.segments])
            if trigger is not None:
                return self.roles.deliver(trigger, text, seconds, keep_audio, released)
        entry_id = self.history.add("dictation", text, duration_s=seconds, audio=keep_audio,
                                    raw_text=raw)
        delivered = self.output.deliver(text)
        latency = (delivered.sent_at or time.monotonic()) - released
        self.history.update(
            entry_id, latency_s=latency, source=delivered.app.process if delivered.app else ""
        )
        self.on_history()
        if not delivered.delivered:
            self.on_notice(Notice(
                translate("Notices", "Text not inserted"),
                translate("Notices", "{reason}. The text is on the clipboard and in History: "
                          "{text}").format(reason=delivered.reason, text=text[:80]),
                "warning",
            ))
            return DictationOutcome(entry_id, text, False, latency, OutcomeKind.TEXT,
                                    Shortfall.NOT_INSERTED)
        return DictationOutcome(entry_id, text, True, latency)

    def retry_pending(self) -> int:
        """Transcribe dictations kept while the server was away; returns how many succeeded."""
        done = 0
        for entry in self.history.pending():
            audio = self.history.audio(entry.id)
            if audio is None:
                self.history.update(entry.id, status="failed", error="no audio was kept")
                continue
            try:
                result = self.link.transcribe_samples(audio)
            except Exception as exc:
                if is_final(exc):
                    self.history.update(entry.id, status="failed", error=str(exc))
                    continue  # the audio stays in history; the next entry may still work
                log.info("pending dictation %d still waits: %s", entry.id, exc)
                break
            text, raw = self._post_process(result.text)
            self.history.update(entry.id, text=text, status="done", error="",
                                raw_text=raw if raw != text else "")
            if not self.settings.client.save_audio:
                self.history.drop_audio(entry.id)
            done += 1
            self.on_notice(Notice(translate("Notices", "Kept dictation transcribed"),
                                  text or translate("Notices", "(no speech)"), "info"))
        if done:
            self.on_history()
        return done

    def after_output(self, work: Callable[[], T]) -> Future[T]:
        """Run ``work`` on the thread that delivers dictations, after any being delivered.

        Pasting holds the clipboard for a moment; two pastes at once would restore each
        other's text, and typing a long text must not freeze the caller (the GUI).
        """
        return self._finisher.submit(work)

    def _post_process(self, text: str) -> tuple[str, str]:
        """The user's rules applied, and the text as recognised; if they fail, that twice."""
        try:
            done = self.post.rewrite(text)
            return done.text, done.raw
        except Exception:  # noqa: BLE001 - a broken rule must never cost the dictation
            log.exception("post-processing failed; using the text unchanged")
            return text.strip(), text.strip()

    def _set(self, recording: bool | None = None) -> None:
        if recording is not None:
            self._recording = recording
        self.on_phase(self.phase)


def _send_quietly(stream: DictationStream, chunk: np.ndarray) -> None:
    # A dead connection shows up at finish(); the full audio is kept by the recorder anyway.
    if not stream.failed:
        stream.send(chunk)
