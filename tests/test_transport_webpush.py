"""WebPushTransport against a local push service that verifies VAPID and decrypts."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pywebpush import WebPushException, webpush

from tests.peers.push_service import PushService, b64url
from tocsin.transports import vapid
from tocsin.transports.base import Message, TransportError
from tocsin.transports.webpush import WebPushTransport

KEY = "a12-e34"


@pytest.fixture
def push() -> Iterator[PushService]:
    with PushService() as service:
        yield service


def message(
    text: str = "Confirmed workplace raid near 34.0339, -118.2107.", **extra: Any
) -> Message:
    return Message(
        subject="Confirmed: Workplace raid near 34.0339, -118.2107",
        text=text,
        url="http://testserver/a/token123/",
        html="<p>ignored by push</p>",
        extra={"tag": "incident-7", "urgency": "high", "ttl": 3600, **extra},
    )


def send(sub: dict[str, Any], msg: Message | None = None, key: str = KEY) -> None:
    payload = {"address": sub["endpoint"], "keys": sub["keys"]}
    WebPushTransport().send(payload, msg or message(), idempotency_key=key)


def failure(sub: dict[str, Any]) -> TransportError:
    with pytest.raises(TransportError) as info:
        send(sub)
    error = info.value
    # The operator-facing message never carries the address.
    assert sub["endpoint"] not in error.message
    assert PushService.id_of(sub) not in error.message
    return error


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_it_delivers_a_payload_the_browser_decrypts(push: PushService) -> None:
    sub = push.subscription()
    send(sub)
    assert push.rejections == []
    [data] = push.json_for(sub)
    assert data["title"] == "Confirmed: Workplace raid near 34.0339, -118.2107"
    assert data["body"] == "Confirmed workplace raid near 34.0339, -118.2107."
    assert data["url"] == "http://testserver/a/token123/"
    assert data["tag"] == "incident-7"


def test_it_keeps_non_ascii_text_intact(push: PushService) -> None:
    sub = push.subscription()
    send(sub, message("Redada confirmada cerca de la estación. ¡Observe, documente, apoye! 📹"))
    assert push.rejections == []
    [data] = push.json_for(sub)
    assert data["body"] == "Redada confirmada cerca de la estación. ¡Observe, documente, apoye! 📹"


def test_it_sends_urgency_topic_and_ttl(push: PushService) -> None:
    sub = push.subscription()
    send(sub, message(ttl=21600))
    assert push.rejections == []
    [received] = push.messages_for(sub)
    headers = received["headers"]
    assert headers["urgency"] == "high"
    assert headers["topic"] == "a12-e34"
    assert headers["ttl"] == "21600"
    assert headers["content-encoding"] == "aes128gcm"


def test_it_sends_normal_urgency_when_asked(push: PushService) -> None:
    sub = push.subscription()
    send(sub, message(urgency="normal"))
    assert push.rejections == []
    [received] = push.messages_for(sub)
    assert received["headers"]["urgency"] == "normal"


def test_it_gives_each_endpoint_its_own_valid_topic(push: PushService) -> None:
    sub = push.subscription()
    send(sub, key="a123456789-e987654321")
    send(sub, key="a123456789-e987654322")
    assert push.rejections == []
    topics = [m["headers"]["topic"] for m in push.messages_for(sub)]
    assert len(set(topics)) == 2


def test_it_signs_vapid_for_the_push_service_origin(push: PushService, settings: Any) -> None:
    sub = push.subscription(application_server_key=vapid.application_server_key())
    send(sub)
    assert push.rejections == []
    [received] = push.messages_for(sub)
    assert received["claims"]["aud"] == push.origin
    assert received["claims"]["sub"] == settings.VAPID_SUBJECT
    # A push service refuses a k that is not the applicationServerKey the browser
    # subscribed with, so it must be the key the pages hand out.
    k = received["headers"]["authorization"].split("k=", 1)[1].split(",")[0].strip()
    assert k == vapid.application_server_key()


@pytest.mark.parametrize(
    "text",
    [
        "a" * 20_000,
        "ñ" * 20_000,
        "📢" * 20_000,
        '"\\' * 10_000,
        "\x01" * 20_000,
    ],
    ids=["ascii", "two-byte", "four-byte", "escaped", "control"],
)
def test_it_keeps_a_long_text_under_the_4096_byte_limit(push: PushService, text: str) -> None:
    sub = push.subscription()
    send(sub, message(text))
    assert push.rejections == []
    [received] = push.messages_for(sub)
    assert received["body_size"] <= 4096
    data = json.loads(received["payload"])
    assert data["url"] == "http://testserver/a/token123/"
    assert text.startswith(data["body"]) and data["body"]


def test_it_treats_410_gone_as_permanent(push: PushService) -> None:
    sub = push.subscription()
    push.answer(sub, 410)
    error = failure(sub)
    assert error.permanent
    assert push.rejections == []
    assert [a["status"] for a in push.answered] == [410]


def test_it_treats_404_as_permanent(push: PushService) -> None:
    sub = push.subscription()
    push.answer(sub, 404)
    assert failure(sub).permanent
    assert push.rejections == []


def test_it_treats_an_unknown_subscription_as_permanent(push: PushService) -> None:
    sub = push.subscription()
    sub["endpoint"] = sub["endpoint"][:-4] + "0000"
    assert failure(sub).permanent


def test_it_retries_429_after_the_time_the_service_asks(push: PushService) -> None:
    sub = push.subscription()
    push.answer(sub, 429, {"Retry-After": "30"})
    error = failure(sub)
    assert not error.permanent
    assert error.retry_after == 30
    assert push.rejections == []


def test_it_reads_retry_after_as_an_http_date(push: PushService) -> None:
    # RFC 9110 section 10.2.3: Retry-After is delay-seconds or an HTTP-date.
    sub = push.subscription()
    push.answer(sub, 429, {"Retry-After": formatdate(time.time() + 60, usegmt=True)})
    error = failure(sub)
    assert not error.permanent
    assert error.retry_after is not None and 55 <= error.retry_after <= 61


def test_it_retries_a_server_error(push: PushService) -> None:
    sub = push.subscription()
    push.answer(sub, 500)
    error = failure(sub)
    assert not error.permanent
    assert error.retry_after is None
    assert push.rejections == []


def test_it_retries_when_the_push_service_is_unreachable(push: PushService) -> None:
    sub = push.subscription()
    sub["endpoint"] = sub["endpoint"].replace(f":{push.port}/", f":{closed_port()}/")
    error = failure(sub)
    assert not error.permanent
    assert push.received == [] and push.rejections == []


def test_the_peer_refuses_a_payload_encrypted_for_another_browser(push: PushService) -> None:
    # The peer itself must be able to fail: keys from one subscription, endpoint of another.
    mine, other = push.subscription(), push.subscription()
    wrong = {"endpoint": mine["endpoint"], "keys": other["keys"]}
    with pytest.raises(TransportError):
        send(wrong)
    assert push.received == []
    [rejection] = push.rejections
    assert rejection["status"] == 400 and "decrypt" in rejection["reason"]


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "http://push.elsewhere.example"}, "aud"),
        ({"exp": int(time.time()) + 48 * 3600}, "24 hours"),
    ],
    ids=["other-origin", "too-long-lived"],
)
def test_the_peer_refuses_a_bad_vapid_token(
    push: PushService, claims: dict[str, Any], reason: str
) -> None:
    sub = push.subscription()
    with pytest.raises(WebPushException):
        webpush(
            subscription_info=sub,
            data=b"{}",
            vapid_private_key=vapid.signer(),
            vapid_claims={"sub": "mailto:operator@localhost", **claims},
            content_encoding="aes128gcm",
            ttl=60,
        )
    assert push.received == []
    [rejection] = push.rejections
    assert rejection["status"] == 401 and reason in rejection["reason"]


def test_the_peer_refuses_a_key_other_than_the_one_subscribed_with(push: PushService) -> None:
    other = b64url(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    sub = push.subscription(application_server_key=other)
    with pytest.raises(TransportError) as info:
        send(sub)
    # The subscription is bound to another server key: retrying cannot help.
    assert info.value.permanent
    assert push.received == []
    assert [r["status"] for r in push.rejections] == [403]


@pytest.mark.parametrize(
    "tail",
    [
        "/push/a b",
        "/push/a\r\nX-Injected: 1",
        "/push/ñ",
        "/push/a\x7f",
    ],
)
def test_an_endpoint_that_would_break_the_request_line_is_refused(
    push: PushService, tail: str
) -> None:
    sub = push.subscription()
    origin = sub["endpoint"].split("/push/")[0]
    sub["endpoint"] = origin + tail
    error = failure(sub)
    assert error.permanent
    assert push.received == [] and push.rejections == []


def test_an_endpoint_with_credentials_is_refused(push: PushService) -> None:
    sub = push.subscription()
    sub["endpoint"] = sub["endpoint"].replace("http://", "http://user:pw@")
    assert failure(sub).permanent
    assert push.received == []


def test_a_line_break_in_a_header_value_never_splits_the_request(push: PushService) -> None:
    sub = push.subscription()
    msg = message()
    msg.extra["urgency"] = "high\r\nX-Injected: 1"
    with pytest.raises(TransportError):
        send(sub, msg)
    # One request reached the peer, with the value on one line (the peer refuses the
    # unknown urgency), and no header was added.
    assert push.received == []
    assert len(push.rejections) == 1
