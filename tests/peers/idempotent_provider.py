"""A message provider that honours idempotency keys the way Stripe or Twilio do.

Clients POST a JSON message (``{"to": ..., "subject": ..., "text": ...}``) to ``/messages``
with an ``Idempotency-Key`` header. The first request with a key delivers the message to
the recipient's inbox and answers 200; a repeat gets the same 200 and delivers nothing. A
repeat addressed to someone else, or with another subject, is refused with 422, as Stripe
refuses a key reused for different parameters. The peer counts both sides: raw requests per
key (what clients re-sent) and messages per inbox (what a person sees).

A test can arm a fault for the next request, to stop a client at a chosen point:

- ``LOST_REQUEST``: hold the request before delivering it; once released, drop it
  undelivered and unanswered, as if the client had died mid-call.
- ``LOST_ANSWER``: deliver, then hold the answer; once released, answer (to nobody, if the
  client is gone), as if the client had died before the answer reached it.
- ``PAUSE_AFTER_ANSWER``: deliver and answer 200 with a ``Test-Pause`` header. A client that
  honours it POSTs ``/paused`` with the same key and then waits, doing nothing more.

``Fault.caught`` is set once a client is held at that point; ``Fault.worker`` names it (the
``X-Tocsin-Worker`` header) and ``Fault.key`` and ``Fault.to`` say what it was sending.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY_HEADER = "Idempotency-Key"
WORKER_HEADER = "X-Tocsin-Worker"
PAUSE_HEADER = "Test-Pause"

LOST_REQUEST = "lost-request"
LOST_ANSWER = "lost-answer"
PAUSE_AFTER_ANSWER = "pause-after-answer"
FAULTS = (LOST_REQUEST, LOST_ANSWER, PAUSE_AFTER_ANSWER)


@dataclass
class Fault:
    """A stop armed for the next request; filled in when a client reaches it."""

    kind: str
    key: str = ""
    to: str = ""
    worker: str = ""
    caught: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class IdempotentProvider(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.changed = threading.Condition()
        # Raw requests: key -> the worker of each request, in arrival order.
        self.requests: dict[str, list[str]] = defaultdict(list)
        # What was delivered: key -> how many times, address -> messages in that inbox.
        self.deliveries: Counter[str] = Counter()
        self.inbox: Counter[str] = Counter()
        # Repeats refused (422), and repeats whose text differed from the delivered one
        # (accepted: a real provider keeps the first).
        self.refused: list[str] = []
        self.rewritten: list[str] = []
        self._first: dict[str, dict[str, str]] = {}
        self._armed: Fault | None = None
        self._faults: list[Fault] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def request_count(self) -> int:
        with self.changed:
            return sum(len(workers) for workers in self.requests.values())

    def workers_seen(self) -> set[str]:
        with self.changed:
            return {w for workers in self.requests.values() for w in workers}

    def wait_for_requests(self, count: int, *, timeout: float) -> bool:
        """Return whether ``count`` requests have arrived, waiting up to ``timeout`` seconds."""
        with self.changed:
            return self.changed.wait_for(
                lambda: sum(len(w) for w in self.requests.values()) >= count, timeout
            )

    def arm(self, kind: str) -> Fault:
        """Return a fault that the next POST /messages will hit."""
        assert kind in FAULTS, kind
        fault = Fault(kind)
        with self.changed:
            assert self._armed is None, "one fault at a time"
            self._armed = fault
            self._faults.append(fault)
        return fault

    def release_all(self) -> None:
        with self.changed:
            self._armed = None
            for fault in self._faults:
                fault.release.set()

    def _receive(self, key: str, worker: str, message: dict[str, str]) -> Fault | None:
        with self.changed:
            self.requests[key].append(worker)
            fault, self._armed = self._armed, None
            if fault is not None:
                fault.key, fault.to, fault.worker = key, message["to"], worker
            self.changed.notify_all()
        return fault

    def _deliver(self, key: str, message: dict[str, str]) -> int:
        """Deliver ``message`` unless ``key`` was seen; return the HTTP status to answer."""
        with self.changed:
            first = self._first.get(key)
            if first is None:
                self._first[key] = message
                self.deliveries[key] += 1
                self.inbox[message["to"]] += 1
                return 200
            if (first["to"], first["subject"]) != (message["to"], message["subject"]):
                self.refused.append(key)
                return 422
            if first["text"] != message["text"]:
                self.rewritten.append(key)
            return 200

    def _paused(self, key: str, worker: str) -> None:
        with self.changed:
            for fault in self._faults:
                if fault.kind == PAUSE_AFTER_ANSWER and fault.key == key and fault.worker == worker:
                    fault.caught.set()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed mid-call is what this peer is for, not an error.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: IdempotentProvider

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        key = self.headers.get(KEY_HEADER, "")
        worker = self.headers.get(WORKER_HEADER, "")
        if self.path == "/paused":
            self.server._paused(key, worker)
            self._answer(200)
            return
        try:
            message = json.loads(body)
            message = {name: str(message[name]) for name in ("to", "subject", "text")}
        except (ValueError, KeyError, TypeError):
            self._answer(400)
            return
        if self.path != "/messages" or not key:
            self._answer(400)
            return
        fault = self.server._receive(key, worker, message)
        if fault is not None and fault.kind == LOST_REQUEST:
            fault.caught.set()
            fault.release.wait()
            self.close_connection = True
            return
        status = self.server._deliver(key, message)
        if fault is not None and fault.kind == LOST_ANSWER:
            fault.caught.set()
            fault.release.wait()
        pause = (
            {PAUSE_HEADER: "1"} if fault is not None and fault.kind == PAUSE_AFTER_ANSWER else {}
        )
        self._answer(status, pause)

    def _answer(self, status: int, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass
