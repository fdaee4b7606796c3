"""`capswriter loadtest`: many concurrent clients against one server, for a while.

Each simulated client repeats one kind of attempt until the run's duration is over: in ``short``
mode a dictation over its WebSocket (16 kHz PCM streamed, then ``end``), in ``long`` mode a file
upload over its WebSocket, in ``http`` mode a POST of the clip to the OpenAI-compatible
``/v1/audio/transcriptions`` as an OpenAI client sends it (no max-wait header; a 503 is retried
after its Retry-After), in ``openai`` mode the same through the official ``openai`` Python SDK
(its own retries of 503s included; one attempt is one SDK call). Every attempt ends in exactly
one outcome:

- ``result``   the server sent the text;
- ``busy``     the server said it cannot take the work now (a ``busy`` message, or closing the
               connection with 1013 "try again later" when it holds too many connections);
- ``error``    the server sent an ``error`` (its code is kept);
- ``timeout``  the server said nothing at all for ``timeout`` seconds;
- ``dropped``  the connection closed (or could not open) without any answer;
- ``cut_off``  the run's hard deadline ended an attempt the server was still serving.

A client that hears ``busy`` waits ``retry_after`` seconds (with jitter, so hundreds of clients
do not come back in the same instant) before trying again; it never spins. The run is bounded
twice: no attempt starts after ``duration``, and everything stops at ``duration + drain``.
The target is that every attempt is answered: results plus busy replies, nothing else.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from capswriter.audio import to_pcm16
from capswriter.tools import speech
from capswriter.tools.monitor import ResourceMonitor
from capswriter.tools.runlog import ResultLog, ServerAddress, StatusLine, percentiles
from capswriter.wire import protocol
from capswriter.wire.health import HealthReport

MODES = ("short", "long", "http", "openai")
# The server answers "too many connections" by closing with this code (RFC 6455: try again
# later); it sends no retry_after then, so clients wait this long.
TRY_AGAIN_LATER = 1013
CONNECTION_BUSY_RETRY_S = 5.0
PCM_CHUNK_BYTES = 16000  # half a second of 16 kHz 16-bit audio per frame, like a live client
FILE_CHUNK_BYTES = 256 * 1024
OUTCOMES = ("result", "busy", "error", "timeout", "dropped", "cut_off")


@dataclass
class LoadtestConfig:
    clients: int = 500
    duration: float = 30.0
    mode: str = "short"
    audio: Path | None = None  # default: the bundled speech (short) or a recording built from it
    long_seconds: float = 60.0
    timeout: float = 30.0  # seconds of silence from the server that make an attempt a timeout
    drain: float = 60.0  # after `duration`, how long attempts in flight may still finish
    max_attempts: int = 10_000  # per client
    connect_timeout: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self.clients < 1 or self.duration <= 0:
            raise ValueError("clients and duration must be positive")


@dataclass
class Attempt:
    client: int
    attempt: int
    outcome: str
    started: float  # seconds since the run started
    latency_s: float | None = None  # from `end` (release / upload done) to the result
    total_s: float | None = None  # from `start` to the final message
    queue_status: int = 0
    retry_after: float | None = None
    code: str = ""
    detail: str = ""


@dataclass
class LoadtestSummary:
    mode: str
    clients: int
    duration: float
    audio_seconds: float
    wall_seconds: float = 0.0
    attempts: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    error_codes: dict[str, int] = field(default_factory=dict)
    answered_ratio: float = 0.0
    results_per_second: float = 0.0
    latency: dict[str, float | None] = field(default_factory=dict)
    total_latency: dict[str, float | None] = field(default_factory=dict)
    queue_status_seen: int = 0
    clients_with_result: int = 0
    peak_active_connections: int = 0
    server_peak_connections: int = 0
    worker_restarts: int = 0
    server_alive: bool = True
    resources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Everything answered (result or busy), at least one result, no restarts."""
        return (self.attempts > 0 and self.answered_ratio == 1.0
                and self.outcomes.get("result", 0) > 0 and self.worker_restarts == 0
                and self.server_alive)

    def table(self) -> str:
        o = self.outcomes
        lat = self.latency
        lines = [
            f"loadtest ({self.mode}): {self.clients} clients for {self.duration:.0f} s, "
            f"{self.audio_seconds:.1f} s audio per attempt, {self.wall_seconds:.1f} s wall",
            f"  attempts {self.attempts}: results {o.get('result', 0)}, busy {o.get('busy', 0)}, "
            f"errors {o.get('error', 0)}, timeouts {o.get('timeout', 0)}, "
            f"dropped {o.get('dropped', 0)}, cut off {o.get('cut_off', 0)}",
            f"  answered {self.answered_ratio:.1%} (result or busy); "
            f"{self.results_per_second:.2f} results/s",
            f"  latency after end p50 {_ms(lat.get('p50'))} p95 {_ms(lat.get('p95'))} "
            f"p99 {_ms(lat.get('p99'))}",
            f"  {self.clients_with_result} of {self.clients} clients got at least one result",
            f"  queue_status messages {self.queue_status_seen}; peak connections "
            f"{self.peak_active_connections} (client side), {self.server_peak_connections} "
            f"(server side); worker restarts {self.worker_restarts}",
        ]
        for r in self.resources:
            lines.append(f"  {r['role']:<10} CPU max {r['max_cpu_percent']:.0f}% mean "
                         f"{r['mean_cpu_percent']:.0f}%, RSS max {r['max_rss_mb']:.0f} MB")
        lines.append("  PASS: every attempt answered" if self.passed else
                     "  FAIL: some attempts were not answered (see outcomes)")
        return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


class _Closed(Exception):
    """The connection ended; ``busy`` when the server closed it with 1013."""

    def __init__(self, busy: bool, detail: str) -> None:
        super().__init__(detail)
        self.busy = busy


class LoadTest:
    def __init__(self, address: ServerAddress, config: LoadtestConfig, log: ResultLog,
                 status: StatusLine | None = None) -> None:
        self.address = address
        self.config = config
        self.log = log
        self.status = status
        self.rng = random.Random(config.seed)
        self.attempts: list[Attempt] = []
        self.counts: Counter[str] = Counter()
        self.active = 0
        self.peak_active = 0
        self.server_peak_connections = 0
        self.in_flight: dict[int, Attempt] = {}
        self.payload, self.audio_seconds = self._payload()
        self._tls = ssl.create_default_context()
        if config.mode == "openai":
            # Importing the SDK takes seconds; paid here, it does not eat into the run.
            import openai  # noqa: F401

    def _payload(self) -> tuple[bytes, float]:
        cfg = self.config
        clips = speech.load_speech([cfg.audio] if cfg.audio else None)
        if cfg.mode == "short":
            samples = clips[0]
            return to_pcm16(samples), speech.seconds_of(samples)
        if cfg.mode in ("http", "openai"):
            if cfg.audio is not None:
                return Path(cfg.audio).read_bytes(), speech.seconds_of(clips[0])
            return speech.wav_bytes(clips[0]), speech.seconds_of(clips[0])
        if cfg.audio is not None:
            return Path(cfg.audio).read_bytes(), speech.seconds_of(clips[0])
        samples = speech.recording(cfg.long_seconds, clips, seed=cfg.seed)
        return speech.wav_bytes(samples), speech.seconds_of(samples)

    # ---- running ---------------------------------------------------------------------

    def on_health(self, elapsed: float, health: HealthReport) -> None:
        """Called by the resource monitor each second: keep the server's view over time."""
        self.server_peak_connections = max(self.server_peak_connections,
                                           int(health.connections))
        self.log.write("health", elapsed=elapsed, queues=health.queues,
                       jobs=health.jobs, connections=health.connections,
                       open_tasks=health.open_tasks, active_clients=self.active,
                       results=self.counts["result"], busy=self.counts["busy"])

    async def run(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        self.start_deadline = loop.time() + cfg.duration
        hard_deadline = self.start_deadline + cfg.drain
        clients = [asyncio.create_task(self._client(i)) for i in range(cfg.clients)]
        reporter = asyncio.create_task(self._report_status())
        try:
            done, pending = await asyncio.wait(clients,
                                               timeout=max(0.0, hard_deadline - loop.time()))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            # A client that crashed is a finding of the run, not a silent gap in it.
            for index, task in enumerate(clients):
                if task in done and task.exception() is not None:
                    self.in_flight.pop(index, None)
                    self._record(Attempt(index, 0, "error", round(self.log.elapsed, 3),
                                         code="client_crashed", detail=repr(task.exception())))
        finally:
            reporter.cancel()
        # Whatever was still running when the deadline struck is counted, never lost.
        for attempt in list(self.in_flight.values()):
            attempt.outcome = "cut_off"
            attempt.detail = "still being served at the run's hard deadline"
            self._record(attempt)
        self.in_flight.clear()

    async def _report_status(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if self.status is not None:
                c = self.counts
                self.status.update(
                    f"[{self.log.elapsed:5.1f}s] active {self.active:>4}  results {c['result']:>6}"
                    f"  busy {c['busy']:>6}  errors {c['error']:>4}  timeouts {c['timeout']:>4}"
                    f"  dropped {c['dropped']:>4}")

    async def _client(self, index: int) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        # Spread the first connections over a second so the run measures serving, not the
        # kernel's accept backlog at one instant.
        await asyncio.sleep(self.rng.uniform(0.0, min(1.0, cfg.duration / 4)))
        if cfg.mode in ("http", "openai"):
            await self._http_client(index)
            return
        ws = None
        attempts = 0
        try:
            while loop.time() < self.start_deadline and attempts < cfg.max_attempts:
                attempts += 1
                attempt = Attempt(index, attempts, "dropped", round(self.log.elapsed, 3))
                self.in_flight[index] = attempt
                try:
                    if ws is None:
                        ws = await self._connect()
                    await self._attempt(ws, attempt)
                except _Closed as closed:
                    attempt.outcome = "busy" if closed.busy else "dropped"
                    if closed.busy:
                        attempt.retry_after = CONNECTION_BUSY_RETRY_S
                    attempt.detail = str(closed)
                except asyncio.TimeoutError:
                    attempt.outcome = "timeout"
                    attempt.detail = f"no message from the server for {cfg.timeout:.0f} s"
                self.in_flight.pop(index, None)
                self._record(attempt)
                # A connection that saw anything but a clean result may hold stale replies
                # (e.g. the error for an `end` after a mid-stream busy); start afresh.
                if attempt.outcome != "result" and ws is not None:
                    await self._close(ws)
                    ws = None
                if attempt.outcome == "busy":
                    wait = (attempt.retry_after or 1.0) * self.rng.uniform(1.0, 1.5)
                    if loop.time() + wait >= self.start_deadline:
                        break
                    await asyncio.sleep(wait)
                elif attempt.outcome in ("dropped", "timeout", "error"):
                    await asyncio.sleep(1.0)  # a failing server gets no flood either
        finally:
            if ws is not None:
                await self._close(ws)

    async def _http_client(self, index: int) -> None:
        """One OpenAI-style client: POST, and after a 503 wait its Retry-After and POST again."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        attempts = 0
        # One connection pool per client, as separate programs would have; one TLS context for
        # all of them, since building 500 (certificate store and all) would starve this
        # process's event loop and turn the first connects into client-side timeouts.
        async with httpx.AsyncClient(
            headers=self.address.headers(), timeout=httpx.Timeout(cfg.timeout, connect=10.0),
            limits=httpx.Limits(max_connections=1), verify=self._tls,
        ) as client:
            sdk = self._openai_client() if cfg.mode == "openai" else None
            try:
                while loop.time() < self.start_deadline and attempts < cfg.max_attempts:
                    attempts += 1
                    attempt = Attempt(index, attempts, "dropped", round(self.log.elapsed, 3))
                    self.in_flight[index] = attempt
                    if sdk is not None:
                        await self._openai_attempt(sdk, attempt)
                    else:
                        await self._http_attempt(client, attempt)
                    self.in_flight.pop(index, None)
                    self._record(attempt)
                    if attempt.outcome == "busy":
                        wait = (attempt.retry_after or 1.0) * self.rng.uniform(1.0, 1.2)
                        if loop.time() + wait >= self.start_deadline:
                            break
                        await asyncio.sleep(wait)
                    elif attempt.outcome != "result":
                        await asyncio.sleep(1.0)
            finally:
                if sdk is not None:
                    await sdk.close()

    async def _http_attempt(self, client: httpx.AsyncClient, attempt: Attempt) -> None:
        t_start = asyncio.get_running_loop().time()
        self.active += 1
        self.peak_active = max(self.peak_active, self.active)
        try:
            reply = await client.post(
                f"{self.address.http}/v1/audio/transcriptions",
                files={"file": (f"lt{attempt.client}-{attempt.attempt}.wav", self.payload,
                                "audio/wav")},
                data={"model": "whisper-1"},
            )
        except httpx.TimeoutException as exc:
            attempt.outcome = "timeout"
            # Which phase timed out (connect, write, read) tells a slow accept from a slow answer.
            attempt.detail = f"{type(exc).__name__}: no answer within {self.config.timeout:.0f} s"
            return
        except httpx.HTTPError as exc:
            attempt.outcome = "dropped"
            attempt.detail = f"{type(exc).__name__}: {exc}"
            return
        finally:
            self.active -= 1
        elapsed = round(asyncio.get_running_loop().time() - t_start, 4)
        attempt.total_s = elapsed
        if reply.status_code == 200:
            attempt.outcome = "result"
            attempt.latency_s = elapsed
            attempt.detail = reply.json().get("text", "")[:80]
            return
        try:
            error = reply.json().get("error", {})
        except ValueError:
            error = {}
        retry = reply.headers.get("retry-after")
        if reply.status_code == 503 and retry is not None:
            attempt.outcome = "busy"
            attempt.retry_after = float(retry)
        else:
            attempt.outcome = "error"
            attempt.code = str(error.get("code") or reply.status_code)
        attempt.detail = str(error.get("message", reply.text[:200]))

    def _openai_client(self) -> Any:
        """The SDK's client as an application builds it: its own connections, its default
        retries and backoff (with the run's one TLS context, as for the http clients)."""
        import openai

        return openai.AsyncOpenAI(
            base_url=f"{self.address.http}/v1", api_key=self.address.token or "capswriter",
            timeout=self.config.timeout,
            http_client=openai.DefaultAsyncHttpxClient(verify=self._tls),
        )

    async def _openai_attempt(self, sdk: Any, attempt: Attempt) -> None:
        import openai

        t_start = asyncio.get_running_loop().time()
        self.active += 1
        self.peak_active = max(self.peak_active, self.active)
        try:
            result = await sdk.audio.transcriptions.create(
                model="whisper-1",
                file=(f"lt{attempt.client}-{attempt.attempt}.wav", self.payload, "audio/wav"),
            )
        except openai.APITimeoutError as exc:
            attempt.outcome = "timeout"
            attempt.detail = f"{type(exc).__name__}: no answer within {self.config.timeout:.0f} s"
            return
        except openai.APIConnectionError as exc:
            attempt.outcome = "dropped"
            attempt.detail = f"{type(exc).__name__}: {exc}"
            return
        except openai.APIStatusError as exc:
            retry = exc.response.headers.get("retry-after")
            if exc.status_code == 503 and retry is not None:
                attempt.outcome, attempt.retry_after = "busy", float(retry)
            else:
                attempt.outcome, attempt.code = "error", str(exc.status_code)
            attempt.detail = str(exc.message)[:200]
            return
        finally:
            self.active -= 1
        elapsed = round(asyncio.get_running_loop().time() - t_start, 4)
        attempt.outcome, attempt.total_s, attempt.latency_s = "result", elapsed, elapsed
        attempt.detail = str(result.text)[:80]

    async def _connect(self) -> Any:
        try:
            ws = await websockets.connect(
                self.address.ws, additional_headers=self.address.headers() or None,
                open_timeout=self.config.connect_timeout, max_size=None,
            )
        except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake) as exc:
            raise _Closed(False, f"could not connect: {exc}") from None
        self.active += 1
        self.peak_active = max(self.peak_active, self.active)
        return ws

    async def _close(self, ws: Any) -> None:
        self.active -= 1
        try:
            await asyncio.wait_for(ws.close(), timeout=5)
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - it is going anyway
            pass

    async def _recv(self, ws: Any) -> protocol.Message:
        try:
            frame = await asyncio.wait_for(ws.recv(), timeout=self.config.timeout)
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            raise _Closed(code == TRY_AGAIN_LATER,
                          f"connection closed (code {code})") from None
        if isinstance(frame, bytes):
            return await self._recv(ws)
        return protocol.parse_server_message(frame)

    async def _send(self, ws: Any, data: str | bytes) -> None:
        try:
            await ws.send(data)
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            raise _Closed(code == TRY_AGAIN_LATER,
                          f"connection closed while sending (code {code})") from None

    async def _attempt(self, ws: Any, attempt: Attempt) -> None:
        loop = asyncio.get_running_loop()
        task_id = f"lt{attempt.client}-{attempt.attempt}"
        mode = self.config.mode
        t_start = loop.time()
        source = "mic" if mode == "short" else "file"
        options: dict[str, Any] = {"filename": f"{task_id}.wav"} if source == "file" else {}
        await self._send(ws, protocol.Start(task_id=task_id, source=source,
                                            options=options).to_json())
        first = await self._reply_to(ws, task_id, attempt)
        if not isinstance(first, protocol.Accepted):
            self._conclude(attempt, first, t_start, None)
            return
        chunk = PCM_CHUNK_BYTES if source == "mic" else FILE_CHUNK_BYTES
        for offset in range(0, len(self.payload), chunk):
            await self._send(ws, self.payload[offset : offset + chunk])
        await self._send(ws, protocol.End(task_id=task_id).to_json())
        t_end = loop.time()
        while True:
            message = await self._reply_to(ws, task_id, attempt)
            if isinstance(message, (protocol.Result, protocol.Error, protocol.Busy)):
                self._conclude(attempt, message, t_start, t_end)
                return

    async def _reply_to(self, ws: Any, task_id: str, attempt: Attempt) -> protocol.Message:
        """The next message for this task; a connection-wide busy counts too."""
        while True:
            message = await self._recv(ws)
            if isinstance(message, protocol.QueueStatus):
                attempt.queue_status += 1
                continue
            owner = getattr(message, "task_id", None)
            if owner in (task_id, None):
                return message

    def _conclude(self, attempt: Attempt, message: protocol.Message, t_start: float,
                  t_end: float | None) -> None:
        now = asyncio.get_running_loop().time()
        attempt.total_s = round(now - t_start, 4)
        if isinstance(message, protocol.Result):
            attempt.outcome = "result"
            attempt.latency_s = round(now - (t_end or t_start), 4)
            attempt.detail = message.text[:80]  # so a run can be checked for the right text
        elif isinstance(message, protocol.Busy):
            attempt.outcome = "busy"
            attempt.retry_after = message.retry_after
            attempt.detail = message.message
        elif isinstance(message, protocol.Error):
            attempt.outcome = "error"
            attempt.code = message.code
            attempt.detail = message.message
        else:
            attempt.outcome = "error"
            attempt.code = "unexpected"
            attempt.detail = f"unexpected {message.type!r} message"

    def _record(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)
        self.counts[attempt.outcome] += 1
        self.log.write("attempt", **asdict(attempt))

    # ---- summary ---------------------------------------------------------------------

    def summary(self, wall: float, restarts: int, alive: bool,
                resources: list[dict[str, Any]]) -> LoadtestSummary:
        counts = Counter(a.outcome for a in self.attempts)
        total = len(self.attempts)
        answered = counts["result"] + counts["busy"]
        ok = [a for a in self.attempts if a.outcome == "result"]
        return LoadtestSummary(
            mode=self.config.mode, clients=self.config.clients, duration=self.config.duration,
            audio_seconds=round(self.audio_seconds, 2), wall_seconds=round(wall, 2),
            attempts=total, outcomes={k: counts.get(k, 0) for k in OUTCOMES},
            error_codes=dict(Counter(a.code for a in self.attempts if a.outcome == "error")),
            answered_ratio=round(answered / total, 4) if total else 0.0,
            results_per_second=round(len(ok) / wall, 3) if wall else 0.0,
            latency=percentiles(a.latency_s for a in ok if a.latency_s is not None),
            total_latency=percentiles(a.total_s for a in ok if a.total_s is not None),
            queue_status_seen=sum(a.queue_status for a in self.attempts),
            clients_with_result=len({a.client for a in ok}),
            peak_active_connections=self.peak_active,
            server_peak_connections=self.server_peak_connections,
            worker_restarts=restarts, server_alive=alive, resources=resources,
        )


def _restarts(health: HealthReport | None) -> int:
    return 0 if health is None else health.restarts


def run_loadtest(
    address: ServerAddress,
    config: LoadtestConfig,
    output: Path,
    monitor_csv: Path | None = None,
    server_pid: int | None = None,
    status: StatusLine | None = None,
) -> LoadtestSummary:
    """Run one load test; records go to ``output`` (JSONL) as they happen."""
    import os

    before = address.require_health()
    with ResultLog(output, "loadtest") as log:
        test = LoadTest(address, config, log, status)
        log.write("run", config={**asdict(config), "audio": str(config.audio or "")},
                  url=address.http, audio_seconds=test.audio_seconds,
                  workers=len(before.workers), model=before.model)
        monitor = ResourceMonitor(address, monitor_csv or output.with_suffix(".csv"),
                                  server_pid=server_pid, extra={"client": os.getpid()},
                                  on_health=test.on_health)
        monitor.start()
        started = time.monotonic()
        try:
            asyncio.run(test.run())
        finally:
            wall = time.monotonic() - started
            monitor.stop()
        try:
            after: HealthReport | None = address.health()
        except Exception:  # noqa: BLE001 - a dead server is a finding, not a tool crash
            after = None
        summary = test.summary(wall, _restarts(after) - _restarts(before), after is not None,
                               monitor.summary())
        log.write("summary", passed=summary.passed, monitor_csv=str(monitor.csv_path),
                  **asdict(summary))
    if status is not None:
        status.done()
    return summary
