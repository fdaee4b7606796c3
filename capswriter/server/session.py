"""One WebSocket connection: read control messages and audio, write replies in order.

A connection has at most one open audio stream (between ``start`` and ``end``) but any number
of tasks still being decoded. Replies go through one outbox drained by one sender, so messages
produced on the pool's thread, the ticker and the reader never interleave mid-frame. Nothing a
client sends can end the session except closing it: every bad frame becomes an ``error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from starlette.websockets import WebSocket, WebSocketDisconnect

from capswriter.audio import from_pcm16
from capswriter.errors import CapsWriterError, QueueFull, ShuttingDown, UnsupportedLanguage
from capswriter.server.dictation import PauseCutter, Piece
from capswriter.server.service import RecognitionService
from capswriter.server.tasks import Task
from capswriter.wire import protocol
from capswriter.wire.errors import error_code
from capswriter.wire.jobs import JobKind

log = logging.getLogger("capswriter.server")

QUEUE_STATUS_INTERVAL_S = 1.0


class _Stream:
    """The audio stream currently open on a connection."""

    def __init__(self, task: Task, source: str, early: bool, name: str | None) -> None:
        self.task = task
        self.source = source
        self.early = early
        self.name = name
        self.bytes = 0
        self.upload_bytes = 0  # file bytes counted against the server's upload budget
        self.last_frame = time.monotonic()
        self.last_speech = self.last_frame  # when a mic stream last carried speech
        self.speech_frames = 0
        self.holds_reservation = source == "mic"
        # Without early decoding the stream is decoded whole after `end`, cut only where it
        # is too long for one Whisper window.
        self.cutter = (PauseCutter() if early else PauseCutter(min_piece_s=24.0)) \
            if source == "mic" else None
        self.data = bytearray()
        self.carry = b""  # an odd trailing byte of a PCM frame
        self.held: list[Piece] = []  # pieces kept for `end` when early decoding is off


class Session:
    def __init__(self, ws: WebSocket, service: RecognitionService) -> None:
        self.ws = ws
        self.service = service
        self.limits = service.settings.server
        self.outbox: asyncio.Queue[protocol.Message | None] = asyncio.Queue()
        self.stream: _Stream | None = None
        self.tasks: dict[str, Task] = {}  # client task id → task, while unfinished
        self._background: set[asyncio.Task[None]] = set()
        self.last_active = time.monotonic()
        self.overflowed = False

    def send(self, message: protocol.Message) -> None:
        if self.overflowed:
            return
        if self.outbox.qsize() >= self.limits.max_pending_replies:
            # The client does not read what it is sent; holding more for it would grow without
            # bound. Its connection is closed instead.
            self.overflowed = True
            log.warning("closing a connection that left %d replies unread",
                        self.outbox.qsize())
            asyncio.get_running_loop().create_task(
                self.close_idle("too many unread replies; read the server's messages"))
            return
        self.outbox.put_nowait(message)

    def idle_seconds(self) -> float | None:
        if self.stream is not None or self.tasks:
            self.last_active = time.monotonic()
            return None
        return time.monotonic() - self.last_active

    async def close_idle(self, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=1001, reason=reason[:120])

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        ticker = asyncio.create_task(self._tick_loop())
        try:
            await self._receive_loop()
        finally:
            self._close_stream()
            for task in list(self.tasks.values()):
                if not task.closed:
                    dropped = self.service.cancel(task, "the client disconnected")
                    log.info("client gone: task %s cancelled, %d queued jobs dropped",
                             task.id, dropped)
            ticker.cancel()
            self.outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sender, timeout=1.0)
            sender.cancel()

    async def _receive_loop(self) -> None:
        while True:
            try:
                frame = await self.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if frame["type"] == "websocket.disconnect" or self.overflowed:
                return
            self.last_active = time.monotonic()
            try:
                if frame.get("bytes") is not None:
                    self._on_audio(frame["bytes"])
                elif frame.get("text") is not None:
                    self._on_text(frame["text"])
            except protocol.ProtocolError as exc:
                self.send(exc.reply())
            except Exception as exc:  # noqa: BLE001 - one bad frame must not end the session
                # One line, not a traceback per frame: a client repeating the frame must not
                # flood the log (repeats are rate-limited by the log set-up).
                log.error("unexpected error handling a client frame: %s: %s",
                          type(exc).__name__, exc)
                self.send(protocol.Error(code=protocol.INTERNAL, message=str(exc)))

    # ---- control messages ------------------------------------------------------------

    def _on_text(self, text: str) -> None:
        if len(text.encode("utf-8", "surrogatepass")) > self.limits.max_message_bytes:
            raise protocol.ProtocolError(protocol.FRAME_TOO_LARGE, "control message too large")
        message = protocol.parse_client_message(text)
        if isinstance(message, protocol.Start):
            self._on_start(message)
        elif isinstance(message, protocol.End):
            self._on_end(message)
        elif isinstance(message, protocol.Cancel):
            self._on_cancel(message)

    def _on_start(self, msg: protocol.Start) -> None:
        if self.stream is not None:
            raise protocol.ProtocolError(
                protocol.STREAM_OPEN,
                f"task {self.stream.task.id!r} is still streaming; send end first", msg.task_id,
            )
        if msg.task_id in self.tasks:
            raise protocol.ProtocolError(
                protocol.BAD_MESSAGE, "task_id already in use on this connection", msg.task_id
            )
        early = msg.options.get("early_decoding", True)
        if not isinstance(early, bool):
            raise protocol.ProtocolError(
                protocol.BAD_MESSAGE, "start.options.early_decoding must be true or false",
                msg.task_id,
            )
        max_wait = msg.options.get("max_wait_s", self.limits.max_wait_s)
        if isinstance(max_wait, bool) or not isinstance(max_wait, (int, float)) \
                or not 0 < max_wait < float("inf"):
            raise protocol.ProtocolError(
                protocol.BAD_MESSAGE, "start.options.max_wait_s must be a positive number",
                msg.task_id,
            )
        max_wait = min(float(max_wait), self.limits.max_wait_limit_s)
        kind = JobKind.DICTATION if msg.source == "mic" else JobKind.FILE
        try:
            self.service.check_room(kind, max_wait)
            task = self.service.open_task(msg.task_id, kind, msg.language, self.send, max_wait)
        except QueueFull as exc:
            self.service.metrics.rejected.labels(kind).inc()
            self.send(protocol.Busy(retry_after=exc.retry_after, message=str(exc),
                                    task_id=msg.task_id, eta_seconds=exc.eta))
            return
        except ShuttingDown as exc:
            raise protocol.ProtocolError(protocol.SHUTTING_DOWN, str(exc), msg.task_id) from None
        except UnsupportedLanguage as exc:
            raise protocol.ProtocolError(protocol.BAD_MESSAGE, str(exc), msg.task_id) from None
        self.tasks[msg.task_id] = task
        name = msg.options.get("filename")
        self.stream = _Stream(task, msg.source, early, name if isinstance(name, str) else None)
        asyncio.get_running_loop().create_task(self._forget_when_done(task))
        self.send(protocol.Accepted(task_id=msg.task_id, model=self.service.pool.model))

    async def _forget_when_done(self, task: Task) -> None:
        await task.done.wait()
        if self.tasks.get(task.id) is task:
            del self.tasks[task.id]
        # A task can end while its audio still streams (a piece failed, the server drains):
        # the connection must be free for a new `start` at once.
        if self.stream is not None and self.stream.task is task:
            self._close_stream()

    def _on_end(self, msg: protocol.End) -> None:
        stream = self._stream_for(msg.task_id)
        self.stream = None  # its upload bytes stay counted until the file is decoded
        task = stream.task
        if stream.source == "mic":
            # The held pieces become jobs, which the queues' audio budget counts from here.
            self.service.release_upload(stream.upload_bytes)
            pieces = stream.held
            assert stream.cutter is not None  # every mic stream has one
            last = stream.cutter.finish()
            if last is not None:
                pieces.append(last)
            if pieces and not self._submit_pieces(task, pieces):
                return
            task.end_input()
            return
        task.start_waiting()
        data, stream.data = bytes(stream.data), bytearray()
        # Decoding and cutting a long file takes a while; the connection keeps reading meanwhile.
        background = asyncio.create_task(
            self._submit_file(task, data, stream.name, stream.upload_bytes)
        )
        self._background.add(background)
        background.add_done_callback(self._background.discard)

    async def _submit_file(self, task: Task, data: bytes, name: str | None,
                           held_bytes: int) -> None:
        try:
            await self.service.submit_file(task, data, name)
        except QueueFull as exc:
            self._refuse(task, exc, "queue full")
        except CapsWriterError as exc:
            task.fail(error_code(exc), str(exc))
        except Exception as exc:  # noqa: BLE001 - the task fails, the connection lives on
            log.exception("could not queue file task %s", task.id)
            task.fail(protocol.INTERNAL, f"{type(exc).__name__}: {exc}")
        finally:
            self.service.release_upload(held_bytes)

    def _on_cancel(self, msg: protocol.Cancel) -> None:
        task = self.tasks.get(msg.task_id)
        if task is None:
            raise protocol.ProtocolError(protocol.UNKNOWN_TASK, "no such task", msg.task_id)
        if self.stream is not None and self.stream.task is task:
            self._close_stream()
        self.service.cancel(task, "cancelled by the client")
        self.send(protocol.Error(code=protocol.CANCELLED, message="task cancelled",
                                 task_id=msg.task_id))

    def _stream_for(self, task_id: str) -> _Stream:
        if self.stream is None or self.stream.task.id != task_id:
            raise protocol.ProtocolError(
                protocol.NO_STREAM, f"no open stream for task {task_id!r}", task_id
            )
        return self.stream

    # ---- audio ---------------------------------------------------------------------------

    def _on_audio(self, data: bytes) -> None:
        stream = self.stream
        if stream is None:
            raise protocol.ProtocolError(
                protocol.NO_STREAM, "audio frame received before start; send start first"
            )
        stream.last_frame = time.monotonic()
        if len(data) > self.limits.max_message_bytes:
            self._abort_stream(protocol.FRAME_TOO_LARGE,
                               f"audio frame of {len(data)} bytes is over the "
                               f"{self.limits.max_message_bytes} byte limit")
            return
        stream.bytes += len(data)
        if stream.bytes > self.limits.max_upload_bytes:
            self._abort_stream(protocol.TOO_LARGE,
                               f"more than {self.limits.max_upload_bytes} bytes of audio")
            return
        if stream.source == "file":
            try:
                self.service.hold_upload(len(data))
            except QueueFull as exc:
                self._refuse(stream.task, exc, "upload budget full")
                return
            stream.upload_bytes += len(data)
            stream.data.extend(data)
            return
        data, stream.carry = stream.carry + data, b""
        if len(data) % 2:
            data, stream.carry = data[:-1], data[-1:]
        samples = from_pcm16(data)
        stream.task.source_seconds += len(samples) / protocol.SAMPLE_RATE
        assert stream.cutter is not None
        pieces = stream.cutter.feed(samples)
        self._track_speech(stream)
        if pieces and stream.early:
            self._submit_pieces(stream.task, pieces)
        elif pieces:
            self._hold_pieces(stream, pieces)

    def _track_speech(self, stream: _Stream) -> None:
        """Note when a mic stream carries speech; give back the reservation while it does not.

        Frames alone prove nothing: a client sending a sample now and then would hold a worker
        back for dictation forever. Speech heard again takes the reservation back.
        """
        assert stream.cutter is not None
        heard = stream.cutter.speech_frames
        if heard != stream.speech_frames:
            stream.speech_frames = heard
            stream.last_speech = time.monotonic()
            if not stream.holds_reservation:
                stream.holds_reservation = True
                self.service.pool.recording_started(stream.task.key)

    def _hold_pieces(self, stream: _Stream, pieces: list[Piece]) -> None:
        """Keep pieces of a dictation decoded only at `end`, within what `end` can queue."""
        limit = self.limits.max_dictation_queue
        if len(stream.held) + len(pieces) > limit:
            # All held pieces are queued at once at `end`; more than the queue holds would be
            # refused then, after the user spoke for minutes. Say so now instead.
            self._abort_stream(
                protocol.TOO_LARGE,
                f"a dictation without early decoding may hold {limit} pieces "
                f"(about {limit * 24 // 60} minutes); use early decoding or send it as a file",
            )
            return
        nbytes = sum(p.samples.nbytes for p in pieces)
        try:
            self.service.hold_upload(nbytes)
        except QueueFull as exc:
            self._refuse(stream.task, exc, "upload budget full")
            return
        stream.upload_bytes += nbytes
        stream.held.extend(pieces)

    def _submit_pieces(self, task: Task, pieces: list[Piece]) -> bool:
        if task.closed:
            return False
        jobs = [task.new_job(p.index, p.offset, p.samples) for p in pieces]
        try:
            self.service.submit(task, jobs)
        except QueueFull as exc:
            self._refuse(task, exc, "queue full")
            return False
        return True

    def _refuse(self, task: Task, exc: QueueFull, reason: str) -> None:
        """The server cannot hold this task's work now: drop it, tell the client when to retry."""
        if self.stream is not None and self.stream.task is task:
            self._close_stream()
        self.service.cancel(task, reason)
        self.send(protocol.Busy(retry_after=exc.retry_after, message=str(exc), task_id=task.id,
                                eta_seconds=exc.eta))

    def _abort_stream(self, code: str, message: str) -> None:
        stream = self._close_stream()
        assert stream is not None
        self.service.cancel(stream.task, message)
        self.send(protocol.Error(code=code, message=message, task_id=stream.task.id))

    def _close_stream(self) -> _Stream | None:
        """Forget the open stream (if any) and give its buffered bytes back."""
        stream, self.stream = self.stream, None
        if stream is not None:
            self.service.release_upload(stream.upload_bytes)
            stream.upload_bytes = 0
            stream.data = bytearray()
        return stream

    # ---- output ----------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while True:
            message = await self.outbox.get()
            if message is None:
                return
            try:
                text = message.to_json()
            except (TypeError, ValueError):  # one unsendable message must not mute the rest
                log.exception("could not encode a %s reply", message.type)
                continue
            try:
                await self.ws.send_text(text)
            except Exception:  # noqa: BLE001 - the client is gone; the reader will notice
                return

    async def _tick_loop(self) -> None:
        """Once a second: close an idle stream or connection, tell waiting tasks where they
        stand."""
        idle_limit = self.limits.stream_idle_timeout_s
        while True:
            await asyncio.sleep(QUEUE_STATUS_INTERVAL_S)
            now = time.monotonic()
            stream = self.stream
            if stream is not None and now - stream.last_frame > idle_limit:
                self._abort_stream(protocol.STREAM_TIMEOUT,
                                   f"no audio and no end for {idle_limit:g} s; stream closed")
            elif stream is not None and stream.source == "mic":
                silent = now - stream.last_speech
                if silent > idle_limit:
                    self._abort_stream(protocol.STREAM_TIMEOUT,
                                       f"no speech for {idle_limit:g} s; stream closed")
                elif silent > self.limits.mic_silence_release_s and stream.holds_reservation:
                    stream.holds_reservation = False
                    self.service.pool.recording_stopped(stream.task.key)
            idle = self.idle_seconds()
            if idle is not None and idle > self.service.connections.idle_timeout_s:
                await self.close_idle(f"no request for {idle:.0f} s; connection closed")
                return
            for task in list(self.tasks.values()):
                if task.waiting():
                    status = self.service.queue_status(task)
                    if status is not None:
                        self.send(status)
