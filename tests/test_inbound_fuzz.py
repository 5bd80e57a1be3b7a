"""Every inbound parser, fuzzed: Twilio's webhooks (signed, so the fuzz reaches the parser),
the SMS gateway hook, Telegram updates, what signal-cli answers, the keyword router, the
report form (with its proof of work) and the hotline form.

For every input: no exception escapes, nothing answers 500, every answer is a 2xx, a
redirect or a 4xx whose body says why, a refused request leaves every table and the photo
folder as they were, and what is stored holds together (tests/fuzz_support.py).
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import signing
from django.http import QueryDict
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from PIL import Image
from twilio.request_validator import RequestValidator

from tests import pow_support
from tests.factories import EAST, World, world
from tests.fuzz_support import (
    HOSTILE_JSON,
    JSON,
    JSON_STYLE,
    MESSAGE,
    NASTY,
    NUMBER,
    TEXT,
    assert_clear,
    assert_whole,
    field,
    form_bytes,
    json_bytes,
    mutated,
    snapshot,
)
from tests.peers import signal_api
from tests.peers.signal_api import SignalAPI
from tests.peers.sms_provider import AUTH_TOKEN, GATEWAY_TOKEN
from tests.test_outbox import confirmed_incident
from tests.test_verify import FAR, verifier
from tests.test_verify import incident_at as verify_incident_at
from tocsin.alerts import outbox
from tocsin.hooks import inbound
from tocsin.hooks import signal as signal_hooks
from tocsin.hooks.inbound import Inbound
from tocsin.incidents import verify
from tocsin.intake.models import ReportKind
from tocsin.members.models import ContactEndpoint
from tocsin.transports import registry as transports_base
from tocsin.transports import sms
from tocsin.transports.base import Message, Transport

MATEO = "+13105550100"
STRANGER = "+13105550177"
MATEO_CHAT = 1001
TELEGRAM_SECRET = "webhook-secret-for-fuzzing"
INBOUND = "/hooks/sms/inbound/"
GATEWAY = "/hooks/sms/gateway/inbound/"
TELEGRAM = "/hooks/telegram/update/"

FUZZ = hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def w(db: None, settings: Any) -> World:
    """The personas; Mateo (English, with an area) reachable on SMS, Signal and Telegram,
    and every inbound channel configured."""
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM = "+13105550199"
    settings.SMS_GATEWAY_TOKEN = GATEWAY_TOKEN
    settings.TELEGRAM_BOT_TOKEN = "123:fuzz"
    settings.TELEGRAM_WEBHOOK_SECRET = TELEGRAM_SECRET
    settings.REPORT_RATE_PER_10MIN = 1_000_000
    settings.POW_MIN = settings.POW_MAX = 1000  # each example solves one challenge
    w = world()
    for kind, address in (("sms", MATEO), ("signal", MATEO), ("telegram", str(MATEO_CHAT))):
        ContactEndpoint.create(w.member, kind, address, verified=True)
    return w


def check(response: Any, before: dict[str, Any]) -> None:
    event(f"HTTP {response.status_code}")  # --hypothesis-show-statistics
    assert_clear(response)
    if response.status_code >= 400:
        assert snapshot() == before
    assert_whole()


# --- Twilio: form-encoded, signed ---


def signed_post(path: str, body: bytes) -> Any:
    """POST ``body`` with Twilio's valid signature for the parameters Django will read."""
    params = QueryDict(body)
    signature = RequestValidator(AUTH_TOKEN).compute_signature("http://testserver" + path, params)
    return Client().post(
        path,
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


FORM_VALUE = st.one_of(MESSAGE, TEXT, NUMBER.map(str), JSON.map(json.dumps))
TWILIO_PARAMS = mutated(
    {
        "From": st.sampled_from([MATEO, STRANGER, "3105550100", "(310) 555-0100"]),
        "Body": MESSAGE,
        "MessageSid": st.uuids().map(lambda u: f"SM{u.hex}"),
        "To": st.just("+13105550199"),
        "NumMedia": st.just("0"),
    },
    {
        "From": FORM_VALUE,
        "Body": FORM_VALUE,
        "MessageSid": FORM_VALUE,
        "To": FORM_VALUE,
        "NumMedia": FORM_VALUE,
    },
)
EXTRA_PARAMS = st.dictionaries(TEXT, FORM_VALUE, max_size=3)


@pytest.mark.django_db
@FUZZ
@given(params=TWILIO_PARAMS, extra=EXTRA_PARAMS, tail=st.sampled_from([b"", b"&%ff=%fe", b"\xff"]))
def test_fuzzed_twilio_messages(
    w: World, params: dict[str, Any], extra: dict[str, Any], tail: bytes
) -> None:
    before = snapshot()
    response = signed_post(INBOUND, form_bytes({**extra, **params}) + tail)
    check(response, before)
    if response.status_code == 200:
        assert response["Content-Type"].startswith("text/xml")


@pytest.mark.django_db
@FUZZ
@given(
    params=st.fixed_dictionaries(
        {},
        optional={
            "MessageStatus": st.sampled_from(["delivered", "failed", "undelivered", "read"])
            | FORM_VALUE,
            "ErrorCode": st.sampled_from(["30003", "21610"]) | FORM_VALUE,
            "MessageSid": FORM_VALUE,
        },
    ),
    delivery=st.sampled_from([10**6, 0, -1]) | NUMBER.map(str) | TEXT,
)
def test_fuzzed_twilio_status_callbacks(w: World, params: dict[str, Any], delivery: Any) -> None:
    token = signing.dumps(delivery, salt=sms.STATUS_SALT)
    before = snapshot()
    check(signed_post(f"/hooks/sms/status/{token}/", form_bytes(params)), before)


# --- the SMS gateway: JSON, shared token ---

GATEWAY_DOCS = mutated(
    {
        "from": st.sampled_from([MATEO, STRANGER, "310 555 0100"]),
        "text": MESSAGE,
        "id": st.uuids().map(str) | st.integers(min_value=0, max_value=2**63),
    },
    {"from": field(TEXT), "text": field(TEXT), "id": JSON},
)
BODIES_OF = lambda docs: st.one_of(  # noqa: E731
    st.builds(json_bytes, docs, JSON_STYLE),
    st.builds(json_bytes, docs, JSON_STYLE),
    st.builds(json_bytes, JSON, JSON_STYLE),
    HOSTILE_JSON,
    st.binary(max_size=300),
)


@pytest.mark.django_db
@FUZZ
@given(body=BODIES_OF(GATEWAY_DOCS))
def test_fuzzed_gateway_messages(w: World, body: bytes) -> None:
    before = snapshot()
    response = Client().post(
        GATEWAY, body, content_type="application/json", HTTP_X_TOCSIN_GATEWAY_TOKEN=GATEWAY_TOKEN
    )
    check(response, before)
    if response.status_code == 200:
        reply = response.json()["reply"]
        assert reply is None or "Tocsin" in reply


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({"from": MATEO, "text": "REPORT \ud800 vans", "id": "a"}).encode(),
        json.dumps({"from": MATEO, "text": "STOP", "id": "\ud800"}).encode(),
    ],
    ids=["deep", "surrogate-in-text", "surrogate-in-id"],
)
def test_the_gateway_answers_what_the_tester_sent_without_a_500(w: World, body: bytes) -> None:
    response = Client().post(
        GATEWAY, body, content_type="application/json", HTTP_X_TOCSIN_GATEWAY_TOKEN=GATEWAY_TOKEN
    )
    assert response.status_code in (200, 400)
    assert response.content


# --- Telegram: JSON, secret header ---

TELEGRAM_DOCS = st.fixed_dictionaries(
    {"update_id": field(st.integers(min_value=0, max_value=2**40))},
    optional={
        "message": field(
            st.fixed_dictionaries(
                {
                    "chat": field(
                        st.fixed_dictionaries(
                            {
                                "id": field(st.sampled_from([MATEO_CHAT, 4242])),
                                "type": field(st.just("private")),
                            }
                        )
                    ),
                    "text": field(MESSAGE),
                },
                optional={"from": field(st.fixed_dictionaries({"language_code": field(TEXT)}))},
            )
        )
    },
)


@pytest.mark.django_db
@FUZZ
@given(body=BODIES_OF(TELEGRAM_DOCS))
def test_fuzzed_telegram_updates(w: World, body: bytes) -> None:
    before = snapshot()
    response = Client().post(
        TELEGRAM,
        body,
        content_type="application/json",
        headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
    )
    check(response, before)
    if response.status_code == 200 and response.content:
        assert response.json()["method"] == "sendMessage"


# --- Signal: what signal-cli's REST API answers to /v1/receive ---


@pytest.fixture
def signal_peer(w: World, settings: Any) -> Iterator[SignalAPI]:
    with SignalAPI() as peer:
        settings.SIGNAL_API_URL = peer.url
        settings.SIGNAL_NUMBER = signal_api.NUMBER
        yield peer


ENVELOPES = st.lists(
    field(
        st.fixed_dictionaries(
            {
                "envelope": field(
                    st.fixed_dictionaries(
                        {
                            "source": field(st.sampled_from([MATEO, STRANGER])),
                            "timestamp": field(st.integers(min_value=0)),
                            "dataMessage": field(
                                st.fixed_dictionaries(
                                    {"message": field(MESSAGE)},
                                    optional={"groupInfo": JSON},
                                )
                            ),
                        },
                        optional={"sourceNumber": field(st.sampled_from([MATEO]) | TEXT)},
                    )
                )
            }
        )
    ),
    max_size=4,
)


@pytest.mark.django_db
@FUZZ
@given(body=BODIES_OF(ENVELOPES))
def test_fuzzed_signal_answers(
    signal_peer: SignalAPI, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    caplog.clear()
    signal_peer.queue_body(body)
    handled = signal_hooks.poll_once()
    assert handled >= 0
    # A message the handler could not take is logged and skipped: that is a crash too.
    assert "not handled" not in caplog.text
    assert_whole()


# --- the keyword router, whatever channel the text came from ---


@pytest.mark.django_db
@FUZZ
@given(
    kind=st.sampled_from(["sms", "signal", "telegram"]),
    address=st.sampled_from([MATEO, STRANGER, str(MATEO_CHAT), "3105550100"]) | TEXT,
    text=MESSAGE,
    message_id=TEXT,
)
def test_fuzzed_messages_to_the_keyword_router(
    w: World, caplog: pytest.LogCaptureFixture, kind: str, address: str, text: str, message_id: str
) -> None:
    caplog.set_level(logging.INFO)
    reply = inbound.handle(Inbound(kind, address, text, message_id))
    assert reply is None or "Tocsin" in reply
    assert_whole()


class Recording(Transport):
    """Accepts every message (the router's actions queue alerts; nothing is sent)."""

    kind = "sms"

    def send(self, payload: dict, message: Message, *, idempotency_key: str) -> None:
        pass


VERA = "+13105550166"


@pytest.fixture
def busy(w: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """Mateo got a confirmed alert (so "1" and "2" answer it), and Vera, a Spanish-speaking
    verifier on SMS, has a request to answer (so CONFIRM, POLICIA, NADA record one)."""
    kinds = ("email", "webpush", "sms", "signal", "telegram")
    monkeypatch.setattr(transports_base, "registry", lambda: dict.fromkeys(kinds, Recording))
    confirmed_incident(w)
    outbox.drain()
    vera = verifier(w, "Vera", language="es")
    ContactEndpoint.create(vera, "sms", VERA, verified=True)
    verify.request(verify_incident_at(w, FAR), vera, actor=w.dispatcher)
    return w


@pytest.mark.django_db
@FUZZ
@given(
    address=st.sampled_from([MATEO, VERA, "(310) 555-0166", STRANGER]),
    text=st.sampled_from(["1", "2", "Sí", "CONFIRM 2 vans", "nada", "POLICIA"]) | MESSAGE,
    message_id=TEXT,
)
def test_fuzzed_answers_to_alerts_and_verification_requests(
    busy: World, address: str, text: str, message_id: str
) -> None:
    reply = inbound.handle(Inbound("sms", address, text, message_id))
    event((reply or "")[:28])  # --hypothesis-show-statistics
    assert reply is None or "Tocsin" in reply
    assert_whole()


# --- the report form (anyone) and the hotline form (a dispatcher) ---


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


# Proof-of-work payloads (base64 JSON) a forger might send instead of a solution.
ALTCHA_DOC = st.fixed_dictionaries(
    {
        "algorithm": st.just("SHA-256"),
        "challenge": st.sampled_from(NASTY) | TEXT,
        "number": st.integers(),
        "salt": TEXT.map(lambda t: f"{t}?expires=99999999999"),
        "signature": st.sampled_from(NASTY) | TEXT,
    }
)
ALTCHA = st.one_of(
    st.builds(
        lambda doc, style: base64.b64encode(json_bytes(doc, style)).decode(),
        ALTCHA_DOC | JSON,
        JSON_STYLE,
    ),
    TEXT,
    st.sampled_from([b"[" * 1400, b"[" * 1000 + b"]" * 1000]).map(
        lambda raw: base64.b64encode(raw).decode()
    ),
)
# Stands for a solution of a challenge fetched by the test's client.
SOLVED = object()


def multipart(fields: dict[str, Any], photos: list[bytes]) -> tuple[bytes, str]:
    """Return a multipart body (lone surrogates as invalid UTF-8) and its content type."""
    boundary = "fuzz-boundary-7f3a"
    parts = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(head.encode() + str(value).encode("utf-8", "surrogatepass") + b"\r\n")
    for data in photos:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; '
            f'filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


REPORT_FIELDS = mutated(
    {
        "kind": st.sampled_from(ReportKind.values),
        "lat": st.just(EAST[0]),
        "lng": st.just(EAST[1]),
        "text": MESSAGE,
        "nonce": st.uuids().map(str),
        "altcha": st.just(SOLVED),
    },
    {
        "kind": field(TEXT),
        "lat": st.floats(allow_nan=True, allow_infinity=True) | TEXT,
        "lng": st.floats(allow_nan=True, allow_infinity=True) | TEXT,
        "text": TEXT,
        "nonce": TEXT,
        "altcha": ALTCHA,
    },
)


@pytest.mark.django_db
@hsettings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=REPORT_FIELDS,
    photos=st.lists(st.sampled_from([jpeg(), b"", b"\xff\xd8\xff", b"GIF89a"]), max_size=4),
    as_form=st.booleans(),
)
def test_fuzzed_web_reports(
    w: World, fields: dict[str, Any], photos: list[bytes], as_form: bool
) -> None:
    client = Client()
    if fields.get("altcha") is SOLVED:
        fields["altcha"] = pow_support.solution(client)
    if as_form:
        body, content_type = form_bytes(fields), "application/x-www-form-urlencoded"
    else:
        body, content_type = multipart(fields, photos)
    before = snapshot()
    response = client.post(reverse("report"), body, content_type=content_type)
    check(response, before)


CALLBACKS = st.sampled_from(
    [
        ("", ""),
        ("sms", "+1 (213) 555-0142"),
        ("sms", "213 555 0142"),
        ("signal", "+52 55 1234 5678"),
    ]
)
HOTLINE_FIELDS = mutated(
    {
        "kind": st.sampled_from(ReportKind.values),
        "lat": st.just(EAST[0]),
        "lng": st.just(EAST[1]),
        "text": MESSAGE,
        "callback_kind": st.just("sms"),
        "callback": st.just("+1 (213) 555-0142"),
        "language": st.sampled_from(["en", "es"]),
        "nonce": st.uuids().map(str),
    },
    {
        "kind": field(TEXT),
        "lat": st.floats(allow_nan=True, allow_infinity=True) | TEXT,
        "lng": st.floats(allow_nan=True, allow_infinity=True) | TEXT,
        "text": TEXT,
        "callback_kind": field(st.sampled_from(["", "sms", "signal", "telegram"])),
        "callback": st.sampled_from(["12", "+1 123 555 0142", "2135550142", "-100123"]) | TEXT,
        "language": field(TEXT),
        "nonce": TEXT,
    },
)


@pytest.mark.django_db
@FUZZ
@given(fields=HOTLINE_FIELDS, callback=CALLBACKS)
def test_fuzzed_hotline_calls(
    w: World, settings: Any, fields: dict[str, Any], callback: tuple[str, str]
) -> None:
    settings.SIGNAL_API_URL = "http://127.0.0.1:9"
    settings.SIGNAL_NUMBER = signal_api.NUMBER
    if fields.get("callback_kind") == "sms" and fields.get("callback") == "+1 (213) 555-0142":
        fields["callback_kind"], fields["callback"] = callback
    client = Client()
    client.force_login(w.dispatcher.user)
    before = snapshot()
    response = client.post(
        reverse("hotline"), form_bytes(fields), content_type="application/x-www-form-urlencoded"
    )
    check(response, before)
