"""A real OpenAI-compatible chat-completions server on 127.0.0.1 for the role tests.

It streams server-sent events like Ollama, LM Studio or OpenAI do. The model name picks the
behaviour, so one server serves every case:

- ``upper``: the dictation in capitals, a few characters per event;
- ``upper-slow``: the same, one event every ``SLOW_PIECE_S`` (streaming is visible);
- ``think``: a ``<think>`` block split across events, then the capitals;
- ``slow-first``: the capitals after ``SLOW_FIRST_S`` of silence;
- ``endless``: one word, then keep-alive comments for ever (a reply that never ends);
- ``silent``: headers, then nothing at all;
- ``fail-500``: HTTP 500 with an OpenAI-style error body;
- ``reply:<text>``: streams ``<text>``.

A request whose bearer key is not ``KEY`` (when one is sent) gets HTTP 401.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = "sk-local-test"
SLOW_FIRST_S = 1.5
PIECE_DELAY_S = 0.02
SLOW_PIECE_S = 0.25


class ChatHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ChatServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"body": body, "auth": self.headers.get("Authorization")})
        auth = self.headers.get("Authorization")
        if auth is not None and auth != f"Bearer {KEY}":
            self._json(401, {"error": {"message": "Incorrect API key provided",
                                       "type": "invalid_request_error"}})
            return
        model = body["model"]
        text = body["messages"][-1]["content"].upper()
        if model == "fail-500":
            self._json(500, {"error": {"message": "model crashed while loading"}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            if model == "silent":
                self._hold()
            elif model == "endless":
                self._event("WORKING")
                self._hold(keep_alive=True)
            else:
                if model == "slow-first":
                    time.sleep(SLOW_FIRST_S)
                if model == "think":
                    for piece in ("<thi", "nk>hmm, the user wants ", "capitals</th", "ink>\n\n"):
                        self._event(piece)
                if model.startswith("reply:"):
                    text = model[len("reply:"):]
                delay = SLOW_PIECE_S if model == "upper-slow" else PIECE_DELAY_S
                for i in range(0, len(text), 3):
                    self._event(text[i:i + 3])
                    time.sleep(delay)
                self._send(b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n')
                self._send(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped listening: that is what a cancel or timeout does

    def _hold(self, keep_alive: bool = False) -> None:
        while not self.server.closing.is_set():
            if keep_alive:
                self._send(b": keep-alive\n\n")
            self.server.closing.wait(0.2)

    def _event(self, content: str) -> None:
        event = {"choices": [{"index": 0, "delta": {"content": content}}]}
        self._send(f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode())

    def _send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.requests: list[dict] = []
        self.closing = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> ChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.closing.set()
        self.shutdown()
        self.server_close()
