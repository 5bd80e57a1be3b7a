"""A local SMS provider: Twilio's Messages API and a generic HTTP SMS gateway.

Tocsin side: ``POST /2010-04-01/Accounts/<sid>/Messages.json`` is checked the way Twilio
checks it (basic auth with the account SID and auth token, a form body with an E.164
``To``, a ``Body`` of at most 1600 characters, exactly one of ``From`` and
``MessagingServiceSid``, an http(s) ``StatusCallback``) and answered 201 with a message
resource, or 400/401 with a Twilio error code. ``POST /gateway`` takes the JSON an Android
SMS gateway app takes (``{"to": ..., "message": ...}``) with a bearer token. Both honour an
``Idempotency-Key``: a repeat is answered like the first and delivers nothing.

A test can make the next request(s) fail: ``fail_next(400, code=21211)``,
``fail_next(429, retry_after="30")``, ``fail_next(500)``, or ``hang_next(seconds)``.

Phone side: ``send_status`` posts a status callback to the ``StatusCallback`` a message
carried, and ``send_inbound`` posts an incoming SMS to Tocsin, both signed with
``X-Twilio-Signature`` as Twilio signs them (twilio's ``RequestValidator``).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import requests
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "peer-auth-token-" + "0" * 16
FROM = "+13105559999"
GATEWAY_TOKEN = "gateway-bearer-token"

MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_BODY = 1600


@dataclass
class Sent:
    """One message the provider accepted (and would hand to the phone network)."""

    sid: str
    to: str
    body: str
    key: str
    sender: str = ""
    messaging_service: str = ""
    status_callback: str = ""


@dataclass
class Fault:
    status: int = 0
    code: int | None = None
    retry_after: str | None = None
    hang: float = 0.0


class SmsProvider(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.sid, self.token, self.gateway_token = ACCOUNT_SID, AUTH_TOKEN, GATEWAY_TOKEN
        self.lock = threading.Lock()
        self.messages: list[Sent] = []
        # What was refused because the request was wrong (not faults a test armed).
        self.rejections: list[dict[str, Any]] = []
        # Every status answered, in order, and how many requests came.
        self.answered: list[int] = []
        self.requests = 0
        self.faults: list[Fault] = []
        self.seen: dict[str, tuple[int, bytes]] = {}
        self.release = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def gateway_url(self) -> str:
        return f"{self.url}/gateway"

    def fail_next(
        self,
        status: int,
        *,
        code: int | None = None,
        retry_after: str | None = None,
        times: int = 1,
    ) -> None:
        with self.lock:
            self.faults += [Fault(status, code, retry_after) for _ in range(times)]

    def hang_next(self, seconds: float) -> None:
        """Hold the next request ``seconds``, then drop it undelivered and unanswered."""
        with self.lock:
            self.faults.append(Fault(hang=seconds))

    def to(self, number: str) -> list[Sent]:
        return [m for m in self.messages if m.to == number]

    # --- the phone network's side: calling Tocsin ---

    def signature(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.token).compute_signature(url, params))

    def post_signed(self, url: str, params: dict[str, str]) -> requests.Response:
        headers = {"X-Twilio-Signature": self.signature(url, params)}
        return requests.post(url, data=params, headers=headers, timeout=10)

    def status_params(self, sent: Sent, status: str, error_code: str = "") -> dict[str, str]:
        params = {
            "AccountSid": self.sid,
            "ApiVersion": "2010-04-01",
            "From": sent.sender or FROM,
            "MessageSid": sent.sid,
            "MessageStatus": status,
            "SmsSid": sent.sid,
            "SmsStatus": status,
            "To": sent.to,
        }
        if error_code:
            params["ErrorCode"] = error_code
        return params

    def send_status(self, sent: Sent, status: str, error_code: str = "") -> requests.Response:
        """Post a status callback for ``sent`` to the URL it asked for."""
        assert sent.status_callback, "the message asked for no status callback"
        return self.post_signed(sent.status_callback, self.status_params(sent, status, error_code))

    def inbound_params(self, sender: str, body: str, message_sid: str = "") -> dict[str, str]:
        sid = message_sid or "SM" + secrets.token_hex(16)
        return {
            "AccountSid": self.sid,
            "ApiVersion": "2010-04-01",
            "Body": body,
            "From": sender,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "To": FROM,
        }

    def send_inbound(
        self, url: str, sender: str, body: str, message_sid: str = ""
    ) -> requests.Response:
        """Post an SMS from ``sender`` to Tocsin's inbound webhook at ``url``."""
        return self.post_signed(url, self.inbound_params(sender, body, message_sid))

    # --- Tocsin's side: the API ---

    def _take_fault(self) -> Fault | None:
        with self.lock:
            self.requests += 1
            return self.faults.pop(0) if self.faults else None

    def _reject(self, status: int, code: int | None, reason: str) -> tuple[int, bytes]:
        with self.lock:
            self.rejections.append({"status": status, "code": code, "reason": reason})
        return status, json.dumps({"code": code, "message": reason, "status": status}).encode()

    def _once(self, key: str, deliver: Any) -> tuple[int, bytes]:
        """Deliver unless ``key`` was seen; a repeat gets the first answer again."""
        with self.lock:
            if key and key in self.seen:
                return self.seen[key]
        answer: tuple[int, bytes] = deliver()
        with self.lock:
            if key and 200 <= answer[0] < 300:
                self.seen[key] = answer
        return answer

    def twilio(self, sid: str, headers: Any, raw: bytes) -> tuple[int, bytes]:
        expected = "Basic " + base64.b64encode(f"{self.sid}:{self.token}".encode()).decode()
        if sid != self.sid or headers.get("Authorization") != expected:
            return self._reject(401, 20003, "Authenticate")
        if not headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return self._reject(400, None, "form body expected")
        try:
            form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        except UnicodeDecodeError:
            return self._reject(400, None, "body is not UTF-8")
        to, body = form.get("To", ""), form.get("Body", "")
        if not E164.match(to):
            return self._reject(400, 21211, "The 'To' number is not a valid phone number.")
        if not body:
            return self._reject(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            return self._reject(400, 21617, "The concatenated message body exceeds 1600.")
        sender, service = form.get("From", ""), form.get("MessagingServiceSid", "")
        if bool(sender) == bool(service):
            return self._reject(400, 21603, "Exactly one of From and MessagingServiceSid.")
        callback = form.get("StatusCallback", "")
        if callback and not callback.startswith(("http://", "https://")):
            return self._reject(400, 21609, "Invalid StatusCallback URL.")
        message_sid = "SM" + secrets.token_hex(16)

        def deliver() -> tuple[int, bytes]:
            with self.lock:
                self.messages.append(
                    Sent(
                        sid=message_sid,
                        to=to,
                        body=body,
                        key=headers.get("Idempotency-Key", ""),
                        sender=sender,
                        messaging_service=service,
                        status_callback=callback,
                    )
                )
            resource = {"sid": message_sid, "status": "queued", "to": to, "body": body}
            return 201, json.dumps(resource).encode()

        return self._once(headers.get("Idempotency-Key", ""), deliver)

    def gateway(self, headers: Any, raw: bytes) -> tuple[int, bytes]:
        if headers.get("Authorization") != f"Bearer {self.gateway_token}":
            return self._reject(401, None, "bearer token expected")
        try:
            data = json.loads(raw)
            to, text = data["to"], data["message"]
        except (ValueError, KeyError, TypeError):
            return self._reject(400, None, "JSON with to and message expected")
        if not isinstance(to, str) or not E164.match(to) or not isinstance(text, str) or not text:
            return self._reject(400, None, "bad number or empty message")

        def deliver() -> tuple[int, bytes]:
            with self.lock:
                self.messages.append(
                    Sent(sid="", to=to, body=text, key=headers.get("Idempotency-Key", ""))
                )
            return 200, b'{"state": "Pending"}'

        return self._once(headers.get("Idempotency-Key", ""), deliver)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and closed is what hang_next is for.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: SmsProvider

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        fault = self.server._take_fault()
        if fault is not None and fault.hang:
            self.server.release.wait(fault.hang)
            self.close_connection = True
            return
        if fault is not None:
            body = json.dumps({"code": fault.code, "message": "armed", "status": fault.status})
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._answer(fault.status, body.encode(), headers)
            return
        match = MESSAGES.match(self.path)
        if match is not None:
            status, body_bytes = self.server.twilio(match["sid"], self.headers, raw)
        elif self.path == "/gateway":
            status, body_bytes = self.server.gateway(self.headers, raw)
        else:
            status, body_bytes = self.server._reject(404, 20404, "not found")
        self._answer(status, body_bytes)

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        with self.server.lock:
            self.server.answered.append(status)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def running() -> Iterator[SmsProvider]:
    peer = SmsProvider()
    thread = threading.Thread(
        target=peer.serve_forever, args=(0.05,), name="sms-provider", daemon=True
    )
    thread.start()
    try:
        yield peer
    finally:
        peer.release.set()
        peer.shutdown()
        peer.server_close()


def use_twilio(settings: Any, peer: SmsProvider) -> SmsProvider:
    """Point Tocsin's Twilio settings at ``peer``, with no sending pace (pytest-django's
    ``settings``)."""
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM = FROM
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_API_URL = peer.url
    settings.SMS_GATEWAY_URL = ""
    settings.DELIVERY_RATE = {**settings.DELIVERY_RATE, "sms": 0}
    return peer
