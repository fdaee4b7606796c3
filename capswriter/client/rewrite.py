"""A dictation rewritten by a role's language model, streamed as it arrives.

:class:`Rewrite` posts one chat completion (``stream: true``) to the role's OpenAI-compatible
endpoint on a thread of its own and hands the answer out in pieces (:meth:`Rewrite.pieces`), the
model's ``<think>…</think>`` left out. It ends in one of three ways: the answer is complete, the
user cancelled it (what arrived stays), or it failed — no first word within the role's
first-token timeout, the whole answer not in within its total timeout, the key refused, nothing
answering, a server error — and then :attr:`Rewrite.error` is a :class:`RewriteError` whose
message names the cause, so the caller can deliver the dictation as spoken and say why.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import httpx

from capswriter.client.roles import Role, RoleError
from capswriter.errors import CapsWriterError

log = logging.getLogger(__name__)

# A connection that is not up within this long will not be (the first-token timeout is
# usually shorter anyway).
CONNECT_TIMEOUT_S = 5.0
# How often the watcher looks at the deadlines and the cancel flag.
WATCH_INTERVAL_S = 0.05
# The longest piece of an error body quoted in a notice.
ERROR_QUOTE = 200


class RewriteError(CapsWriterError):
    """The rewrite did not complete; the message says why in words a user can act on."""


class EndpointUnreachable(RewriteError):
    """Nothing answers at the role's endpoint (refused, unknown host, no route)."""


class KeyRefused(RewriteError):
    """The endpoint refused the key (HTTP 401 or 403)."""


class EndpointFailed(RewriteError):
    """The endpoint answered with an error (HTTP status or an error in the stream)."""


class NoFirstToken(RewriteError):
    """No word of the answer arrived within the first-token timeout."""


class AnswerTooSlow(RewriteError):
    """The answer did not end within the total timeout."""


@dataclass(frozen=True)
class RewriteInput:
    """What goes to the model besides the role's prompt."""

    text: str
    selection: str = ""
    hot_words: Sequence[str] = ()


def chat_messages(role: Role, given: RewriteInput) -> list[dict[str, str]]:
    """The messages of the request: the role's prompt, then the dictation (and selection)."""
    system = role.prompt
    if role.hot_words and given.hot_words:
        system += ("\n\nThese names and terms are spelled exactly like this: "
                   + ", ".join(given.hot_words))
    user = given.text
    if role.selection and given.selection:
        user = f"Selected text:\n{given.selection}\n\nDictated text:\n{given.text}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


class ThinkFilter:
    """Leaves out ``<think>…</think>`` from a stream of pieces, tags split across pieces too."""

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self._held = ""  # text that may be the start of a tag
        self._thinking = False
        self._started = False  # visible text has begun (leading blank lines are dropped)

    def feed(self, piece: str) -> str:
        text, out = self._held + piece, []
        self._held = ""
        while text:
            tag = self.CLOSE if self._thinking else self.OPEN
            at = text.find(tag)
            if at >= 0:
                if not self._thinking:
                    out.append(text[:at])
                text, self._thinking = text[at + len(tag):], not self._thinking
                continue
            keep = _partial_tag_length(text, tag)
            if not self._thinking:
                out.append(text[: len(text) - keep])
            self._held = text[len(text) - keep:]
            break
        return self._visible("".join(out))

    def flush(self) -> str:
        held, self._held = self._held, ""
        return "" if self._thinking else self._visible(held)

    def _visible(self, text: str) -> str:
        if not self._started:
            text = text.lstrip()
            self._started = bool(text)
        return text


def _partial_tag_length(text: str, tag: str) -> int:
    """How many characters at the end of ``text`` could be the start of ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


class Rewrite:
    """One chat completion for one dictation, streamed on its own thread.

    Start it, read :meth:`pieces` until they end, then look at :attr:`error` and
    :attr:`cancelled`; :attr:`text` is everything that arrived.
    """

    def __init__(self, role: Role, given: RewriteInput) -> None:
        self.role = role
        self.given = given
        self.text = ""
        self.error: RewriteError | None = None
        self.cancelled = False
        self.first_piece_s: float | None = None  # from start to the first visible text
        self._pieces: queue.Queue[str | None] = queue.Queue()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rewrite-{role.name}",
                                        daemon=True)

    def start(self) -> Rewrite:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """True until the answer has ended (complete, cancelled or failed)."""
        return self._thread.is_alive()

    def cancel(self) -> None:
        """Stop the answer here (Esc); what arrived so far stays."""
        self._cancel.set()

    def pieces(self) -> Iterator[str]:
        """The answer as it arrives; pieces that came while the caller was busy come as one."""
        while True:
            piece = self._pieces.get()
            parts = [piece]
            while piece is not None:
                try:
                    piece = self._pieces.get_nowait()
                except queue.Empty:
                    break
                parts.append(piece)
            text = "".join(p for p in parts if p)
            if text:
                yield text
            if parts[-1] is None:
                return

    def wait(self) -> str:
        """Block until the answer has ended; returns all of it (raises nothing)."""
        for _ in self.pieces():
            pass
        return self.text

    # ---- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._watch())
        except RewriteError as exc:
            self.error = exc
        except Exception as exc:  # noqa: BLE001 - any failure must still end the pieces
            log.exception("rewrite failed")
            self.error = EndpointFailed(f"the answer could not be read: {exc}")
        finally:
            self._pieces.put(None)

    async def _watch(self) -> None:
        """Run the request and end it at a deadline or on cancel."""
        started = time.monotonic()
        task = asyncio.create_task(self._receive(started))
        role = self.role
        while not task.done():
            await asyncio.wait({task}, timeout=WATCH_INTERVAL_S)
            if task.done():
                break
            elapsed = time.monotonic() - started
            problem: RewriteError | None = None
            if self._cancel.is_set():
                self.cancelled = True
            elif self.first_piece_s is None and elapsed > role.first_token_timeout_s:
                problem = NoFirstToken(
                    f"{role.name}: no answer from {role.base_url} within "
                    f"{role.first_token_timeout_s:g} s")
            elif elapsed > role.total_timeout_s:
                problem = AnswerTooSlow(
                    f"{role.name}: the answer did not end within {role.total_timeout_s:g} s")
            else:
                continue
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - ended on purpose
                pass
            if problem is not None:
                raise problem
            return
        task.result()

    async def _receive(self, started: float) -> None:
        role = self.role
        try:
            key = role.api_key()
        except RoleError as exc:
            raise KeyRefused(str(exc)) from exc
        headers = {"Accept": "text/event-stream"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        body = {
            "model": role.model,
            "messages": chat_messages(role, self.given),
            "temperature": role.temperature,
            "max_tokens": role.max_tokens,
            "stream": True,
        }
        url = f"{role.base_url}/chat/completions"
        timeout = httpx.Timeout(connect=CONNECT_TIMEOUT_S, read=None, write=10.0, pool=5.0)
        think = ThinkFilter()
        try:
            async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client, \
                    client.stream("POST", url, json=body, headers=headers) as response:
                if response.status_code >= 400:
                    raise _http_error(role, response.status_code,
                                      (await response.aread()).decode("utf-8", "replace"))
                async for line in response.aiter_lines():
                    piece = _sse_content(line)
                    if piece is None:
                        break
                    self._emit(think.feed(piece), started)
                self._emit(think.flush(), started)
        except httpx.TransportError as exc:
            if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
                raise EndpointUnreachable(
                    f"{role.name}: nothing answers at {role.base_url} ({exc or 'refused'})"
                ) from exc
            raise EndpointFailed(f"{role.name}: the connection to {role.base_url} broke "
                                 f"({exc or type(exc).__name__})") from exc

    def _emit(self, text: str, started: float) -> None:
        if not text:
            return
        if self.first_piece_s is None:
            self.first_piece_s = time.monotonic() - started
        self.text += text
        self._pieces.put(text)


def _sse_content(line: str) -> str | None:
    """The text a server-sent-events line adds; None at the end of the answer."""
    if not line.startswith("data:"):
        return ""  # comments (keep-alives), event names, blank separators
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        event = json.loads(data)
    except json.JSONDecodeError as exc:
        raise EndpointFailed(f"the endpoint sent something that is not JSON: {data[:80]!r}") \
            from exc
    if not isinstance(event, dict):
        return ""
    if "error" in event:
        error = event["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise EndpointFailed(f"the endpoint reported an error: {str(message)[:ERROR_QUOTE]}")
    choices = event.get("choices") or [{}]
    delta = choices[0].get("delta") or {}
    return delta.get("content") or ""


def _http_error(role: Role, status: int, body: str) -> RewriteError:
    try:
        detail = json.loads(body)["error"]
        detail = detail.get("message", detail) if isinstance(detail, dict) else detail
    except (ValueError, KeyError, TypeError):
        detail = body
    detail = " ".join(str(detail).split())[:ERROR_QUOTE]
    if status in (401, 403):
        where = role.api_key_env or role.api_key_keyring
        hint = f"; check the key in {where}" if where else "; the role names no key"
        return KeyRefused(f"{role.name}: {role.base_url} refused the key (HTTP {status}"
                          f"{': ' + detail if detail else ''}){hint}")
    return EndpointFailed(f"{role.name}: {role.base_url} answered HTTP {status}"
                          f"{': ' + detail if detail else ''}")
