"""A dictation that called a role: rewritten by the role's model and put out as it streams.

:class:`RoleDictation` is the step the dictation flow takes between "the text is known" and
"the text goes out" when the text starts with a role's trigger word. It keeps the words safe the
same way the plain flow does: the dictation is in History before anything is sent, and every way
a rewrite can fail ends with the text as spoken delivered and a notice naming the cause —

- nothing typed yet (no first word in time, key refused, nothing answering, server error): what
  was said is typed instead;
- part of the answer typed (it stalled or broke off): the typed part stays, and what was said is
  put on the clipboard;
- Esc while the answer streams: it stops there and what was typed stays; Esc before any of it,
  and what was said is put on the clipboard.

History keeps both texts and the role's name.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from capswriter.client.delivery import TextOutput
from capswriter.client.dictation import DictationOutcome, Notice, OutcomeKind, Shortfall
from capswriter.client.history import History
from capswriter.client.i18n import translate
from capswriter.client.output_rules import PostProcessor
from capswriter.client.rewrite import Rewrite, RewriteError, RewriteInput
from capswriter.client.roles import RoleBook
from capswriter.client.triggers import Trigger, find_trigger

log = logging.getLogger(__name__)

# Selected text longer than this is cut: a whole document selected by mistake should not go.
MAX_SELECTION_CHARS = 8000
# The topic of the notices about rewrites (a new one replaces the last).
ROLE_TOPIC = "role"


@dataclass(frozen=True)
class RoleProgress:
    """What the recording panel shows while a role works: its name, whether the text leaves the
    machine, what arrived so far, and whether it has ended."""

    role: str
    off_machine: bool
    text: str = ""
    done: bool = False
    show_text: bool = False  # the role's output is the panel: show the answer itself


def read_selection() -> str:
    """The text selected in the focused window, read without touching the clipboard.

    On X11 that is the primary selection (via xclip or xsel); elsewhere a selection can only be
    read by copying it, which would clobber the clipboard, so nothing is read.
    """
    if not sys.platform.startswith("linux"):
        return ""
    for tool, args in (("xclip", ["-o", "-selection", "primary"]), ("xsel", ["-o", "-p"])):
        path = shutil.which(tool)
        if path is None:
            continue
        try:
            done = subprocess.run([path, *args], capture_output=True, timeout=0.5)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return done.stdout.decode("utf-8", "replace")[:MAX_SELECTION_CHARS]
    return ""


class RoleDictation:
    """Finds the role a dictation calls and carries the rewrite out (on the caller's thread)."""

    def __init__(
        self,
        book: RoleBook,
        output: TextOutput,
        history: History,
        post: PostProcessor | None = None,
        on_notice: Callable[[Notice], None] = lambda notice: None,
        on_history: Callable[[], None] = lambda: None,
        on_progress: Callable[[RoleProgress], None] = lambda progress: None,
        selection: Callable[[], str] = read_selection,
    ) -> None:
        self.book = book
        self.output = output
        self.history = history
        self.post = post
        self.on_notice = on_notice
        self.on_history = on_history
        self.on_progress = on_progress
        self.selection = selection
        self._current: Rewrite | None = None

    def called(self, text: str, pieces: Sequence[str] = ()) -> Trigger | None:
        """The role ``text`` calls, if any (only enabled roles are called)."""
        try:
            return find_trigger(text, self.book.enabled(), pieces)
        except Exception:  # noqa: BLE001 - a broken roles file must not cost the dictation
            log.exception("role lookup failed; the dictation goes out as said")
            return None

    def cancel(self) -> None:
        """Stop the rewrite under way, if any (what was typed stays); Esc calls it."""
        current = self._current
        if current is not None:
            current.cancel()

    def deliver(
        self, trigger: Trigger, said: str, seconds: float, audio: np.ndarray | None,
        released: float,
    ) -> DictationOutcome:
        """Rewrite ``trigger.text`` with its role and put the answer out; see the module doc."""
        role = trigger.role
        entry_id = self.history.add("dictation", said, duration_s=seconds, audio=audio,
                                    raw_text=said, role=role.name)
        self.on_history()
        typed: list[str] = []  # the pieces that reached the window, should anything break
        try:
            return self._rewrite(trigger, said, entry_id, released, typed)
        except Exception as exc:  # noqa: BLE001 - whatever broke, the words still go out
            log.exception("role %s broke", role.name)
            return self._fall_back(entry_id, said, "".join(typed), role.name, exc,
                                   time.monotonic() - released)

    def _rewrite(
        self, trigger: Trigger, said: str, entry_id: int, released: float, typed: list[str],
    ) -> DictationOutcome:
        role = trigger.role
        progress = RoleProgress(role.name, role.off_machine, show_text=role.output == "panel")
        self.on_progress(progress)
        given = RewriteInput(trigger.text, self._selection(role.selection), self._hot_words())
        rewrite = self._current = Rewrite(role, given).start()
        first_sent, app, output_failure = 0.0, "", ""
        try:
            for piece in rewrite.pieces():
                self.on_progress(RoleProgress(role.name, role.off_machine, rewrite.text,
                                              show_text=progress.show_text))
                if role.output != "type" or output_failure:
                    continue
                result = self.output.deliver(piece, follow_on=not typed)
                if not result.delivered:
                    output_failure = result.reason  # the rest is collected, not typed
                    continue
                typed.append(piece)
                first_sent = first_sent or result.sent_at
                app = app or (result.app.process if result.app else "")
        finally:
            self._current = None
        answer = rewrite.text
        self.on_progress(RoleProgress(role.name, role.off_machine, answer, done=True,
                                      show_text=progress.show_text))
        latency = (first_sent or time.monotonic()) - released
        error = rewrite.error
        if error is None and not answer and not rewrite.cancelled:
            error = RewriteError(translate("Notices", "{role}: the model answered with no "
                                           "text").format(role=role.name))
        if error is not None:
            return self._fall_back(entry_id, said, "".join(typed), role.name, error, latency)
        if rewrite.cancelled and not answer:
            return self._keep_on_clipboard(entry_id, said, role.name, latency)
        self.history.update(entry_id, text=answer, latency_s=latency, source=app,
                            error=translate("Notices", "stopped with Esc")
                            if rewrite.cancelled else "")
        self.on_history()
        if role.output != "type" or output_failure:
            return self._answer_to_clipboard(entry_id, answer, role.name, role.output,
                                             output_failure, latency)
        return DictationOutcome(entry_id, answer, True, latency)

    # ---- the ways it ends short ------------------------------------------------------------

    def _fall_back(
        self, entry_id: int, said: str, typed: str, role: str, error: Exception, latency: float,
    ) -> DictationOutcome:
        """The rewrite failed: deliver the words as said, and say why."""
        log.warning("role %s failed: %s", role, error)
        if not typed:
            result = self.output.deliver(said)
            self.history.update(entry_id, text=said, latency_s=latency, error=str(error))
            self.on_history()
            where = (translate("Notices", "What you said was typed instead.")
                     if result.delivered else
                     translate("Notices", "What you said is on the clipboard ({reason}).")
                     .format(reason=result.reason))
            self._notice(translate("Notices", "Rewrite failed"), f"{error}. {where}")
            return DictationOutcome(entry_id, said, result.delivered, latency, OutcomeKind.TEXT,
                                    Shortfall.REWRITE_FAILED)
        # Typing the words as said after half an answer would garble the document.
        self.history.update(entry_id, text=typed, latency_s=latency, error=str(error))
        self.on_history()
        on_clipboard = self._to_clipboard(said)
        self._notice(translate("Notices", "Rewrite stopped"), translate(
            "Notices", "{reason}. What was typed stays; what you said is {where}.").format(
                reason=error, where=on_clipboard))
        return DictationOutcome(entry_id, typed, False, latency, OutcomeKind.TEXT,
                                Shortfall.REWRITE_FAILED)

    def _keep_on_clipboard(self, entry_id: int, said: str, role: str,
                           latency: float) -> DictationOutcome:
        """Esc before any of the answer: nothing is typed, the words wait on the clipboard."""
        self.history.update(entry_id, latency_s=latency,
                            error=translate("Notices", "stopped with Esc"))
        self.on_history()
        self._notice(translate("Notices", "Rewrite stopped"), translate(
            "Notices", "{role} was stopped before it answered; what you said is {where}.")
            .format(role=role, where=self._to_clipboard(said)))
        return DictationOutcome(entry_id, said, False, latency, OutcomeKind.TEXT,
                                Shortfall.NOT_INSERTED)

    def _answer_to_clipboard(self, entry_id: int, answer: str, role: str, output: str,
                             failure: str, latency: float) -> DictationOutcome:
        where = self._to_clipboard(answer)
        if failure:
            self._notice(translate("Notices", "Text not inserted"), translate(
                "Notices", "{reason}. The rewritten text is {where}.").format(
                    reason=failure, where=where))
            return DictationOutcome(entry_id, answer, False, latency, OutcomeKind.TEXT,
                                    Shortfall.NOT_INSERTED)
        if output == "clipboard":
            self._notice(role, translate("Notices", "The rewritten text is {where}.")
                         .format(where=where), "info")
        return DictationOutcome(entry_id, answer, True, latency)

    def _to_clipboard(self, text: str) -> str:
        """Put ``text`` on the clipboard; returns where it is now, in words."""
        try:
            self.output.clipboard.write(text)
            return translate("Notices", "on the clipboard and in History")
        except Exception as exc:  # noqa: BLE001 - History still has it
            log.warning("clipboard write failed: %s", exc)
            return translate("Notices", "in History")

    def _notice(self, title: str, message: str, level: str = "warning") -> None:
        self.on_notice(Notice(title, message, level, topic=ROLE_TOPIC))

    # ---- what goes along with the text -----------------------------------------------------

    def _selection(self, wanted: bool) -> str:
        if not wanted:
            return ""
        try:
            return self.selection()
        except Exception as exc:  # noqa: BLE001 - the rewrite goes on without it
            log.info("selection not read: %s", exc)
            return ""

    def _hot_words(self) -> tuple[str, ...]:
        if self.post is None:
            return ()
        matcher = self.post.hot_words.matcher()
        if matcher is None:
            return ()
        rules = matcher.rules
        written = [w.target for w in rules.words] + [lit.replacement for lit in rules.literals]
        return tuple(dict.fromkeys(written))
