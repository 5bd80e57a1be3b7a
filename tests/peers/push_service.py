"""A local Web Push service that checks what it receives like a real one would.

It speaks RFC 8030 (push message delivery), RFC 8292 (VAPID) and RFC 8291 (message
encryption): each POST to a subscription's endpoint must carry a valid VAPID token for
this origin and an aes128gcm body that decrypts with the subscription's keys, which only
the "browser" side (this peer) holds. Anything else is refused and the reason recorded,
so a test can assert both what arrived and that nothing was refused.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

# RFC 8030 section 7.2: a push service must accept at least 4096 bytes of payload.
MAX_BODY = 4096
# RFC 8292 section 2: "exp" must be no more than 24 hours from the time of the request.
MAX_TOKEN_LIFETIME = 24 * 3600
URGENCIES = {"very-low", "low", "normal", "high"}
# RFC 8030 section 5.4: a topic is at most 32 characters of the base64url alphabet.
TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscription:
    """The browser's half of a push subscription: the keys that decrypt its messages."""

    id: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    # The applicationServerKey the page subscribed with, when it gave one (base64url).
    application_server_key: str | None = None

    @property
    def p256dh(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class PushService:
    """A push service on 127.0.0.1 and a random port, run in a background thread.

    Use as a context manager. ``received`` holds accepted messages as dicts with
    ``id`` (the subscription id), ``payload`` (decrypted bytes), ``headers`` and
    ``body_size``; ``rejections`` holds refused requests with ``id``, ``status`` and
    ``reason``; ``answered`` holds valid requests that got a programmed status.
    """

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.rejections: list[dict[str, Any]] = []
        self.answered: list[dict[str, Any]] = []
        self._subscriptions: dict[str, Subscription] = {}
        self._answers: dict[str, Answer] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    # Lifecycle.

    def start(self) -> PushService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> PushService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # What a test programs and reads.

    def subscription(self, application_server_key: str | None = None) -> dict[str, Any]:
        """Return a new subscription as PushSubscription.toJSON() gives it to a page.

        With ``application_server_key`` (what the page passed to pushManager.subscribe()),
        pushes signed with any other VAPID key are refused, as RFC 8292 section 4.3 says.
        """
        sub = Subscription(
            id=uuid.uuid4().hex,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth=secrets.token_bytes(16),
            application_server_key=application_server_key,
        )
        with self._lock:
            self._subscriptions[sub.id] = sub
        return {
            "endpoint": f"{self.origin}/push/{sub.id}",
            "keys": {"p256dh": b64url(sub.p256dh), "auth": b64url(sub.auth)},
        }

    @staticmethod
    def id_of(subscription_or_endpoint: dict[str, Any] | str) -> str:
        endpoint = (
            subscription_or_endpoint["endpoint"]
            if isinstance(subscription_or_endpoint, dict)
            else subscription_or_endpoint
        )
        return endpoint.rstrip("/").rsplit("/", 1)[-1]

    def answer(
        self, subscription: dict[str, Any] | str, status: int, headers: dict[str, str] | None = None
    ) -> None:
        """Answer every valid push to ``subscription`` with ``status`` (and ``headers``)."""
        with self._lock:
            self._answers[self.id_of(subscription)] = Answer(status, dict(headers or {}))

    def messages_for(self, subscription: dict[str, Any] | str) -> list[dict[str, Any]]:
        sub_id = self.id_of(subscription)
        with self._lock:
            return [m for m in self.received if m["id"] == sub_id]

    def json_for(self, subscription: dict[str, Any] | str) -> list[dict[str, Any]]:
        return [json.loads(m["payload"]) for m in self.messages_for(subscription)]

    # The protocol.

    def _verify_vapid(self, authorization: str | None, sub: Subscription) -> dict[str, Any]:
        """Return the VAPID claims of a valid ``Authorization`` header, else raise Refused."""
        if not authorization:
            raise Refused(401, "no Authorization header")
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise Refused(401, f"authorization scheme {scheme!r} is not vapid")
        parts: dict[str, str] = {}
        for item in params.split(","):
            key, sep, value = item.strip().partition("=")
            if sep:
                parts[key.strip()] = value.strip()
        if "t" not in parts or "k" not in parts:
            raise Refused(401, "vapid needs t= and k=")
        if sub.application_server_key and parts["k"].rstrip("=") != sub.application_server_key:
            raise Refused(403, "k is not the key this subscription was made with")
        try:
            raw_key = unb64url(parts["k"])
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw_key)
        except ValueError as e:
            raise Refused(401, f"k is not a P-256 point: {e}") from None
        pieces = parts["t"].split(".")
        if len(pieces) != 3:
            raise Refused(401, "t is not a JWS compact token")
        try:
            header = json.loads(unb64url(pieces[0]))
            claims = json.loads(unb64url(pieces[1]))
            signature = unb64url(pieces[2])
        except ValueError as e:
            raise Refused(401, f"t does not decode: {e}") from None
        if header.get("alg") != "ES256":
            raise Refused(401, f"JWT alg {header.get('alg')!r} is not ES256")
        if len(signature) != 64:
            raise Refused(401, "ES256 signature must be 64 bytes (r || s)")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            public_key.verify(der, f"{pieces[0]}.{pieces[1]}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise Refused(401, "JWT signature does not verify with k") from None
        if claims.get("aud") != self.origin:
            raise Refused(401, f"aud {claims.get('aud')!r} is not {self.origin}")
        now = time.time()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= now:
            raise Refused(401, f"exp {exp!r} is not in the future")
        if exp > now + MAX_TOKEN_LIFETIME:
            raise Refused(401, "exp is more than 24 hours away")
        sub = claims.get("sub")
        if not sub or not str(sub).startswith(("mailto:", "https:")):
            raise Refused(401, f"sub {sub!r} is not a mailto: or https: URI")
        return claims

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[Answer, bytes]:
        match = re.fullmatch(r"/push/([0-9a-f]+)", path)
        with self._lock:
            sub = self._subscriptions.get(match.group(1)) if match else None
        if sub is None:
            raise Refused(404, "no such subscription")
        claims = self._verify_vapid(headers.get("authorization"), sub)
        if "ttl" not in headers:
            raise Refused(400, "no TTL header")
        if not headers["ttl"].isdigit():
            raise Refused(400, f"TTL {headers['ttl']!r} is not a number of seconds")
        urgency = headers.get("urgency")
        if urgency is not None and urgency not in URGENCIES:
            raise Refused(400, f"Urgency {urgency!r} is not one of {sorted(URGENCIES)}")
        topic = headers.get("topic")
        if topic is not None and not TOPIC.match(topic):
            raise Refused(400, f"Topic {topic!r} is not 1-32 base64url characters")
        if headers.get("content-encoding") != "aes128gcm":
            raise Refused(
                400, f"Content-Encoding {headers.get('content-encoding')!r} is not aes128gcm"
            )
        if len(body) > MAX_BODY:
            raise Refused(413, f"body of {len(body)} bytes is over {MAX_BODY}")
        try:
            payload = http_ece.decrypt(
                body, private_key=sub.private_key, auth_secret=sub.auth, version="aes128gcm"
            )
        except Exception as e:  # http_ece raises several types for a bad body
            raise Refused(400, f"payload does not decrypt: {type(e).__name__}: {e}") from None
        with self._lock:
            answer = self._answers.get(sub.id)
            record = {"id": sub.id, "headers": headers, "claims": claims, "body_size": len(body)}
            if answer is not None:
                self.answered.append({**record, "status": answer.status, "payload": payload})
                return answer, b""
            self.received.append({**record, "payload": payload})
        location = f"{self.origin}/message/{uuid.uuid4().hex}"
        return Answer(201, {"Location": location}), b""

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    answer, content = service._handle(self.path, headers, body)
                except Refused as e:
                    with service._lock:
                        service.rejections.append(
                            {
                                "id": PushService.id_of(self.path),
                                "status": e.status,
                                "reason": e.reason,
                            }
                        )
                    answer, content = Answer(e.status), e.reason.encode()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler
