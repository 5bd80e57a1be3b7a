"""A local Telegram Bot API that checks what it receives like the real one would.

It answers ``POST /bot<token>/sendMessage``, ``/setWebhook`` and ``/deleteWebhook`` with
the Bot API's envelope (``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code":
..., "description": ...}``). A wrong token gets 401, a request without a chat or a text
(or a text over 4096 UTF-16 units) 400, as the real API does. Accepted messages are kept
in ``messages``; refused requests in ``refused``.

A test can make every message to one chat fail the way Telegram fails:
``CHAT_NOT_FOUND`` (400), ``BLOCKED`` (403), ``RATE_LIMITED`` (429 with
``parameters.retry_after``), ``SERVER_ERROR`` (500) or ``HANG`` (no answer until the
peer stops).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "123456:TEST-bot-token_for-Tocsin"

CHAT_NOT_FOUND = "chat-not-found"
BLOCKED = "blocked"
RATE_LIMITED = "rate-limited"
SERVER_ERROR = "server-error"
HANG = "hang"

_ANSWERS: dict[str, tuple[int, dict[str, Any]]] = {
    CHAT_NOT_FOUND: (400, {"error_code": 400, "description": "Bad Request: chat not found"}),
    BLOCKED: (403, {"error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
    SERVER_ERROR: (500, {"error_code": 500, "description": "Internal Server Error"}),
}


@dataclass
class Sent:
    chat_id: str
    text: str
    params: dict[str, Any] = field(default_factory=dict)


class TelegramAPI:
    """The Bot API on 127.0.0.1 and a random port, run in a background thread."""

    def __init__(self, token: str = TOKEN, *, retry_after: int = 7) -> None:
        self.token = token
        self.retry_after = retry_after
        self.messages: list[Sent] = []
        self.refused: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self.calls: list[str] = []
        self._failures: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> TelegramAPI:
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

    def fail(self, chat_id: int | str, failure: str) -> None:
        """Answer every sendMessage to ``chat_id`` with ``failure``."""
        with self._lock:
            self._failures[str(chat_id)] = failure

    def recover(self, chat_id: int | str) -> None:
        """Answer ``chat_id`` normally again after ``fail``."""
        with self._lock:
            self._failures.pop(str(chat_id), None)

    def to(self, chat_id: int | str) -> list[str]:
        """Return the texts sent to one chat."""
        with self._lock:
            return [m.text for m in self.messages if m.chat_id == str(chat_id)]

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(method)
        if method == "sendMessage":
            return self._send_message(params)
        if method == "setWebhook":
            url = params.get("url")
            if not isinstance(url, str) or not url:
                return 400, {"error_code": 400, "description": "Bad Request: bad webhook"}
            with self._lock:
                self.webhook = dict(params)
            return 200, {"result": True, "description": "Webhook was set"}
        if method == "deleteWebhook":
            with self._lock:
                self.webhook = None
            return 200, {"result": True, "description": "Webhook was deleted"}
        return 404, {"error_code": 404, "description": "Not Found: method not found"}

    def _send_message(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        chat_id, text = params.get("chat_id"), params.get("text")
        if not isinstance(chat_id, int | str) or isinstance(chat_id, bool) or chat_id == "":
            return 400, {"error_code": 400, "description": "Bad Request: chat_id is empty"}
        if not isinstance(text, str) or not text.strip():
            return 400, {"error_code": 400, "description": "Bad Request: message text is empty"}
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return 400, {"error_code": 400, "description": "Bad Request: message is too long"}
        with self._lock:
            failure = self._failures.get(str(chat_id))
        if failure == HANG:
            self._stopping.wait(30)
            return 500, {"error_code": 500, "description": "hung"}
        if failure == RATE_LIMITED:
            return 429, {
                "error_code": 429,
                "description": f"Too Many Requests: retry after {self.retry_after}",
                "parameters": {"retry_after": self.retry_after},
            }
        if failure is not None:
            return _ANSWERS[failure]
        with self._lock:
            self.messages.append(Sent(str(chat_id), text, dict(params)))
            message_id = len(self.messages)
        return 200, {"result": {"message_id": message_id, "chat": {"id": chat_id}, "text": text}}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                prefix, _slash, method = self.path.partition("?")[0].lstrip("/").partition("/")
                if prefix != f"bot{peer.token}":
                    peer.refused.append({"reason": "wrong token"})
                    self._reply(401, {"error_code": 401, "description": "Unauthorized"})
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    params = json.loads(body) if body else {}
                    assert isinstance(params, dict)
                except (ValueError, AssertionError):
                    peer.refused.append({"reason": "not a JSON object"})
                    self._reply(400, {"error_code": 400, "description": "Bad Request"})
                    return
                status, answer = peer._answer(method, params)
                if status != 200:
                    peer.refused.append({"method": method, "status": status})
                self._reply(status, answer)

            def _reply(self, status: int, answer: dict[str, Any]) -> None:
                data = json.dumps({"ok": status == 200, **answer}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
