"""A small client for the WebSocket protocol, shared by the CLI, the desktop client and tools.

One ``RecognitionClient`` holds one connection; several tasks may run on it at once (a reader
routes replies to their task by ``task_id``). It imports nothing of the server.

    async with RecognitionClient("ws://127.0.0.1:6016/ws") as client:
        result = await client.transcribe_file(Path("talk.mp3").read_bytes(), filename="talk.mp3")
        print(result.text)
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterable, Callable, Iterable
from typing import Any

import websockets

from capswriter.config import url_host
from capswriter.errors import CapsWriterError, QueueFull, ServerUnavailable
from capswriter.wire import protocol
from capswriter.wire.direct import websocket_options
from capswriter.wire.errors import TaskFailed, TaskTimedOut

MessageHandler = Callable[[protocol.Message], Any]
# Audio frames are sent in pieces of this size; well under the server's frame limit.
FILE_CHUNK_BYTES = 256 * 1024


def server_url(host: str = "127.0.0.1", port: int = 6016) -> str:
    return f"ws://{url_host(host)}:{port}/ws"


class RecognitionClient:
    def __init__(self, url: str = server_url(), token: str = "", open_timeout: float = 10.0):
        self.url = url
        self.token = token
        self.open_timeout = open_timeout
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._inboxes: dict[str, asyncio.Queue[protocol.Message | None]] = {}
        self._send_lock = asyncio.Lock()
        # Audio frames carry no task id, so one connection streams one task at a time;
        # tasks started together upload in turn and then wait for their results together.
        self._upload_lock = asyncio.Lock()
        self.unrouted: list[protocol.Message] = []  # errors not tied to a task
        # A busy reply for the whole connection (too many connections), sent before closing.
        self._connection_busy: protocol.Busy | None = None

    async def __aenter__(self) -> RecognitionClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        try:
            self._ws = await websockets.connect(
                self.url, additional_headers=headers, open_timeout=self.open_timeout,
                max_size=None, **websocket_options(self.url),
            )
        except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake) as exc:
            raise ServerUnavailable(
                f"no CapsWriter server answers at {self.url} ({exc}); start one with "
                "`capswriter server`"
            ) from None
        self._reader = asyncio.create_task(self._read_loop())

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await self._reader

    async def _read_loop(self) -> None:
        try:
            async for frame in self._ws:
                if isinstance(frame, bytes):
                    continue
                try:
                    message = protocol.parse_server_message(frame)
                except protocol.ProtocolError:
                    continue
                task_id = getattr(message, "task_id", None)
                inbox = self._inboxes.get(task_id) if task_id else None
                if inbox is not None:
                    inbox.put_nowait(message)
                else:
                    if isinstance(message, protocol.Busy):
                        self._connection_busy = message
                    self.unrouted.append(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            for inbox in self._inboxes.values():
                inbox.put_nowait(None)

    async def send_json(self, message: protocol.Message) -> None:
        await self._send(message.to_json())

    async def send_audio(self, data: bytes) -> None:
        await self._send(data)

    async def _send(self, frame: str | bytes) -> None:
        async with self._send_lock:
            try:
                await self._ws.send(frame)
            except websockets.ConnectionClosed:
                if self._reader is not None:  # collect a busy reply sent before the close
                    with contextlib.suppress(BaseException):
                        await asyncio.wait_for(asyncio.shield(self._reader), 1.0)
                raise self._as_error(None) from None

    def _as_error(self, message: protocol.Message | None) -> CapsWriterError:
        if message is None and self._connection_busy is not None:
            message = self._connection_busy
        return _as_error(message)

    # ---- tasks -----------------------------------------------------------------------

    async def transcribe_file(
        self,
        data: bytes,
        *,
        filename: str | None = None,
        language: str = "",
        on_message: MessageHandler | None = None,
        task_id: str | None = None,
        timeout: float | None = None,
    ) -> protocol.Result:
        """Send a file's bytes; return the final result (progress goes to ``on_message``).

        ``timeout`` counts from the end of the upload; past it the task is cancelled on the
        server and TaskTimedOut is raised.
        """
        task_id = task_id or uuid.uuid4().hex[:12]
        options = {"filename": filename} if filename else {}
        async with self._upload_lock:
            inbox = await self._start(task_id, "file", language, options)
            for offset in range(0, len(data), FILE_CHUNK_BYTES):
                await self.send_audio(data[offset : offset + FILE_CHUNK_BYTES])
            await self.send_json(protocol.End(task_id=task_id))
        return await self._result(task_id, inbox, on_message, timeout)

    async def dictate(
        self,
        pcm16_chunks: AsyncIterable[bytes] | Iterable[bytes],
        *,
        language: str = "",
        early_decoding: bool = True,
        on_message: MessageHandler | None = None,
        task_id: str | None = None,
        timeout: float | None = None,
    ) -> protocol.Result:
        """Stream 16 kHz 16-bit mono PCM as it is recorded; return the text after the last chunk.

        ``timeout`` counts from the last chunk (key release), as for ``transcribe_file``.
        """
        task_id = task_id or uuid.uuid4().hex[:12]
        async with self._upload_lock:
            inbox = await self._start(
                task_id, "mic", language, {"early_decoding": early_decoding}
            )
            if isinstance(pcm16_chunks, AsyncIterable):
                async for chunk in pcm16_chunks:
                    await self.send_audio(chunk)
            else:
                for chunk in pcm16_chunks:
                    await self.send_audio(chunk)
            await self.send_json(protocol.End(task_id=task_id))
        return await self._result(task_id, inbox, on_message, timeout)

    async def cancel(self, task_id: str) -> None:
        await self.send_json(protocol.Cancel(task_id=task_id))

    async def _start(
        self, task_id: str, source: str, language: str, options: dict[str, Any]
    ) -> asyncio.Queue[protocol.Message | None]:
        inbox: asyncio.Queue[protocol.Message | None] = asyncio.Queue()
        self._inboxes[task_id] = inbox
        await self.send_json(protocol.Start(task_id=task_id, source=source, language=language,
                                            options=options))
        message = await inbox.get()
        if isinstance(message, protocol.Accepted):
            return inbox
        self._inboxes.pop(task_id, None)
        raise self._as_error(message)

    async def _result(
        self, task_id: str, inbox: asyncio.Queue[protocol.Message | None],
        on_message: MessageHandler | None, timeout: float | None = None,
    ) -> protocol.Result:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            while True:
                try:
                    message = await asyncio.wait_for(
                        inbox.get(), None if deadline is None else max(0.0, deadline - loop.time())
                    )
                except asyncio.TimeoutError:
                    with contextlib.suppress(Exception):
                        await self.cancel(task_id)
                    raise TaskTimedOut(timeout or 0.0) from None
                if message is None or isinstance(message, (protocol.Error, protocol.Busy)):
                    raise self._as_error(message)
                if on_message is not None:
                    on_message(message)
                if isinstance(message, protocol.Result):
                    return message
        finally:
            self._inboxes.pop(task_id, None)


def _as_error(message: protocol.Message | None) -> CapsWriterError:
    if message is None:
        return ServerUnavailable("the server closed the connection before the task finished")
    if isinstance(message, protocol.Busy):
        return QueueFull(message.message or "the server is busy", message.retry_after)
    if isinstance(message, protocol.Error):
        return TaskFailed(message.code, message.message)
    return TaskFailed(protocol.BAD_MESSAGE, f"unexpected {message.type!r} message")


def transcribe_bytes(url: str, data: bytes, *, token: str = "", **kwargs: Any) -> protocol.Result:
    """Blocking helper: one file's bytes through a running server."""

    async def run() -> protocol.Result:
        async with RecognitionClient(url, token) as client:
            return await client.transcribe_file(data, **kwargs)

    return asyncio.run(run())
