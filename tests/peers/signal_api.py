"""A local signal-cli REST API (bbernhard/signal-cli-rest-api, normal mode).

``POST /v2/send`` takes ``{"message", "number", "recipients"}`` and answers 201 with a
timestamp when ``number`` is the account this server has registered and the message
has text and recipients; 400 with ``{"error": ...}`` otherwise. ``GET
/v1/receive/<number>`` returns the envelopes queued for the account, once each, as the
real server does (they are gone from signal-cli once received).

A test can make sends to one recipient fail the ways signal-cli fails:
``UNREGISTERED`` (400 "Unregistered user", quoting the number as the real one does),
``RATE_LIMITED`` (429, with Retry-After), ``SERVER_ERROR`` (500) or ``HANG``; and make
the whole server ``down`` (503 on every request).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

NUMBER = "+13105550199"

UNREGISTERED = "unregistered"
RATE_LIMITED = "rate-limited"
SERVER_ERROR = "server-error"
HANG = "hang"


@dataclass
class Sent:
    recipient: str
    text: str


class SignalAPI:
    """The signal-cli REST API on 127.0.0.1 and a random port, in a background thread."""

    def __init__(self, number: str = NUMBER, *, retry_after: int = 9) -> None:
        self.number = number
        self.retry_after = retry_after
        self.messages: list[Sent] = []
        self.refused: list[dict[str, Any]] = []
        self.down = False
        self.receives = 0
        self._queue: list[Any] = []
        self._bodies: list[bytes] = []
        self._failures: dict[str, str] = {}
        self._clock = int(time.time() * 1000)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> SignalAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # What a test programs and reads.

    def fail(self, recipient: str, failure: str) -> None:
        with self._lock:
            self._failures[recipient] = failure

    def to(self, recipient: str) -> list[str]:
        with self._lock:
            return [m.text for m in self.messages if m.recipient == recipient]

    def incoming(self, source: str, text: str, *, timestamp: int | None = None) -> int:
        """Queue a message from ``source`` as signal-cli reports it; return its timestamp."""
        with self._lock:
            if timestamp is None:
                self._clock += 1
                timestamp = self._clock
            self._queue.append(
                {
                    "envelope": {
                        "source": source,
                        "sourceNumber": source,
                        "sourceUuid": "7f9c3f5e-2f3a-4c1b-9d59-0c0c7b1d2a11",
                        "sourceName": "",
                        "sourceDevice": 1,
                        "timestamp": timestamp,
                        "dataMessage": {
                            "timestamp": timestamp,
                            "message": text,
                            "expiresInSeconds": 0,
                            "viewOnce": False,
                        },
                    },
                    "account": self.number,
                }
            )
        return timestamp

    def queue_raw(self, *items: Any) -> None:
        """Queue anything at all as received envelopes."""
        with self._lock:
            self._queue.extend(items)

    def queue_body(self, body: bytes) -> None:
        """Answer the next receive with ``body`` as it is, whatever it holds."""
        with self._lock:
            self._bodies.append(body)

    # The protocol.

    def _send(self, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            return 400, {"error": "Couldn't process request - invalid request"}
        recipients, text = body.get("recipients"), body.get("message")
        if body.get("number") != self.number:
            return 400, {"error": "User is not registered"}
        if not isinstance(recipients, list) or not recipients or not isinstance(text, str):
            return 400, {"error": "Couldn't process request - invalid request"}
        with self._lock:
            failures = [self._failures.get(r) for r in recipients]
        failure = next((f for f in failures if f), None)
        if failure == HANG:
            self._stopping.wait(30)
            return 500, {"error": "hung"}
        if failure == UNREGISTERED:
            return 400, {"error": f'Failed to send message: Unregistered user "{recipients[0]}"'}
        if failure == RATE_LIMITED:
            return 429, {"error": "Failed to send message due to rate limiting"}
        if failure == SERVER_ERROR:
            return 500, {"error": "signal-cli crashed"}
        with self._lock:
            self.messages.extend(Sent(str(r), text) for r in recipients)
            self._clock += 1
            return 201, {"timestamp": str(self._clock)}

    def _receive(self, number: str) -> tuple[int, Any]:
        if number != self.number:
            return 400, {"error": "User is not registered"}
        with self._lock:
            self.receives += 1
            items, self._queue = self._queue, []
        return 200, items

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if peer.down:
                    self._reply(503, {"error": "down"})
                elif path.startswith("/v1/receive/"):
                    with peer._lock:
                        raw = peer._bodies.pop(0) if peer._bodies else None
                    if raw is not None:
                        self._reply(200, None, raw=raw)
                    else:
                        self._reply(*peer._receive(unquote(path[len("/v1/receive/") :])))
                else:
                    self._reply(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if peer.down:
                    self._reply(503, {"error": "down"})
                    return
                if urlsplit(self.path).path != "/v2/send":
                    self._reply(404, {"error": "not found"})
                    return
                try:
                    data = json.loads(body)
                except ValueError:
                    data = None
                status, answer = peer._send(data)
                if status != 201:
                    peer.refused.append({"status": status})
                headers = {"Retry-After": str(peer.retry_after)} if status == 429 else {}
                self._reply(status, answer, headers)

            def _reply(
                self,
                status: int,
                answer: Any,
                headers: dict[str, str] | None = None,
                *,
                raw: bytes | None = None,
            ) -> None:
                data = json.dumps(answer).encode() if raw is None else raw
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
