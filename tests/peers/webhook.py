"""A local peer for Apprise's generic JSON webhook (``json://``) and for ntfy (``ntfy://``).

JSON webhook: ``POST /hooks/<token>`` with ``Content-Type: application/json`` and the
body Apprise's json:// sends (``{"version": "1.0", "title", "message", "attachments",
"type"}``), checked field by field; an unknown token is a 404. A repeated
``Idempotency-Key`` is answered like the first and delivers nothing.

ntfy: ``POST /`` with ``Content-Type: application/json`` and ``{"topic", "title",
"message"}`` (ntfy's "publish as JSON", which Apprise's ntfy:// uses), the topic checked
as ntfy checks it and, when the peer has a token, ``Authorization: Bearer <token>``;
answered 200 with the message ntfy stores. ntfy has no idempotency key: a repeat is a
second message.

A test can make the next request(s) fail (``fail_next(500)``), or hold the next request
after delivering it (``hold_next()``: ``held`` is set once it arrived, and the answer waits
until ``release`` is set), to kill a worker at the moment the post was delivered but
before the worker heard so.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOOK = re.compile(r"^/hooks/(?P<token>[A-Za-z0-9_-]+)$")
# ntfy's topic rule (server/server.go: topicRegex).
TOPIC = re.compile(r"^[-_A-Za-z0-9]{1,64}$")
JSON_TYPES = {"info", "success", "warning", "failure"}


@dataclass(frozen=True)
class Post:
    """One message the peer accepted and would show in the room or topic."""

    service: str  # "json" or "ntfy"
    target: str  # the webhook's token or the ntfy topic
    title: str
    message: str
    key: str = ""


@dataclass(frozen=True)
class Request:
    """Every request as it came, accepted or not."""

    path: str
    headers: dict[str, str]
    body: bytes


class WebhookPeer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *, tokens: set[str] | None = None, ntfy_token: str = "") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tokens = tokens if tokens is not None else {"hook-" + secrets.token_hex(8)}
        self.ntfy_token = ntfy_token
        self.lock = threading.Lock()
        self.posts: list[Post] = []
        self.requests: list[Request] = []
        self.rejections: list[str] = []
        self.faults: list[int] = []
        self.seen: dict[str, tuple[int, bytes]] = {}
        self.hold = 0
        self.held = threading.Event()
        self.release = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def json_url(self, token: str | None = None, *, host: str = "localhost") -> str:
        """Return the Apprise URL of the webhook for ``token`` (the peer's only one)."""
        token = token or next(iter(self.tokens))
        return f"json://{host}:{self.port}/hooks/{token}"

    def ntfy_url(self, topic: str, *, host: str = "localhost") -> str:
        auth = f"{self.ntfy_token}@" if self.ntfy_token else ""
        return f"ntfy://{auth}{host}:{self.port}/{topic}"

    def fail_next(self, status: int, *, times: int = 1) -> None:
        with self.lock:
            self.faults += [status] * times

    def hold_next(self) -> None:
        """Deliver the next request, then hold its answer until ``release`` is set."""
        with self.lock:
            self.hold += 1

    def to(self, target: str) -> list[Post]:
        with self.lock:
            return [p for p in self.posts if p.target == target]

    def wait_for_posts(self, n: int) -> list[Post]:
        """Wait until ``n`` posts arrived (no deadline: the test's own run decides)."""
        while True:
            with self.lock:
                if len(self.posts) >= n:
                    return list(self.posts)
            time.sleep(0.01)

    # --- what arrives ---

    def _reject(self, status: int, reason: str) -> tuple[int, bytes]:
        with self.lock:
            self.rejections.append(reason)
        return status, json.dumps({"code": status, "error": reason}).encode()

    def webhook(self, token: str, headers: Any, raw: bytes) -> tuple[int, bytes]:
        if token not in self.tokens:
            return self._reject(404, "no such webhook")
        if headers.get("Content-Type", "") != "application/json":
            return self._reject(415, "application/json expected")
        try:
            data = json.loads(raw)
        except ValueError:
            return self._reject(400, "body is not JSON")
        if not isinstance(data, dict) or data.get("version") != "1.0":
            return self._reject(400, "version 1.0 expected")
        title, message = data.get("title"), data.get("message")
        if not isinstance(title, str) or not isinstance(message, str) or not message:
            return self._reject(400, "title and message expected")
        if data.get("type") not in JSON_TYPES or data.get("attachments") != []:
            return self._reject(400, "type and an empty attachments list expected")
        key = headers.get("Idempotency-Key", "")
        with self.lock:
            if key and key in self.seen:
                return self.seen[key]
            self.posts.append(Post("json", token, title, message, key))
            answer = (200, b'{"ok": true}')
            if key:
                self.seen[key] = answer
        return answer

    def ntfy(self, headers: Any, raw: bytes) -> tuple[int, bytes]:
        if self.ntfy_token and headers.get("Authorization") != f"Bearer {self.ntfy_token}":
            return self._reject(401, "unauthorized")
        if headers.get("Content-Type", "") != "application/json":
            return self._reject(400, "publish as JSON expected")
        try:
            data = json.loads(raw)
        except ValueError:
            return self._reject(400, "body is not JSON")
        topic = data.get("topic") if isinstance(data, dict) else None
        if not isinstance(topic, str) or not TOPIC.match(topic):
            return self._reject(400, "invalid topic")
        title, message = data.get("title", ""), data.get("message", "")
        if not isinstance(title, str) or not isinstance(message, str) or not message:
            return self._reject(400, "message expected")
        with self.lock:
            self.posts.append(Post("ntfy", topic, title, message))
        stored = {
            "id": secrets.token_hex(6),
            "time": int(time.time()),
            "expires": int(time.time()) + 43200,
            "event": "message",
            "topic": topic,
            "title": title,
            "message": message,
        }
        return 200, json.dumps(stored).encode()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a held answer and closed is what hold_next is for.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: WebhookPeer

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        peer = self.server
        with peer.lock:
            peer.requests.append(Request(self.path, dict(self.headers), raw))
            fault = peer.faults.pop(0) if peer.faults else None
            hold = peer.hold > 0
            peer.hold -= hold
        if fault is not None:
            self._answer(fault, json.dumps({"code": fault, "error": "armed"}).encode())
            return
        match = HOOK.match(self.path)
        if match is not None:
            status, body = peer.webhook(match["token"], self.headers, raw)
        elif self.path == "/":
            status, body = peer.ntfy(self.headers, raw)
        else:
            status, body = peer._reject(404, "not found")
        if hold:
            peer.held.set()
            peer.release.wait()
            self.close_connection = True
            return
        self._answer(status, body)

    def _answer(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def running(**options: Any) -> Iterator[WebhookPeer]:
    peer = WebhookPeer(**options)
    thread = threading.Thread(target=peer.serve_forever, args=(0.05,), name="webhook", daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        peer.release.set()
        peer.shutdown()
        peer.server_close()
