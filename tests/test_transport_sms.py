"""SMS: the text (segments, GSM-7, short links), SmsTransport against a local provider that
speaks Twilio's Messages API and a gateway's JSON, status callbacks, and inbound messages
with their signatures (tests/peers/sms_provider.py)."""

from __future__ import annotations

import logging
import math
import re
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from tests.browser_support import LiveServer
from tests.factories import EAST, World, member, soto_4th, world
from tests.peers.sms_provider import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM,
    GATEWAY_TOKEN,
    SmsProvider,
    running,
    use_twilio,
)
from tests.test_outbox import confirmed_incident
from tocsin.alerts import messages, outbox
from tocsin.alerts.models import Alert, Delivery, DeliveryStatus, Purpose
from tocsin.incidents.models import Incident
from tocsin.intake.models import Report
from tocsin.lib import gsm7
from tocsin.lib.gsm7 import GSM7, UCS2, segments, to_gsm
from tocsin.lib.links import alert_link_token
from tocsin.members.models import ContactEndpoint, Member
from tocsin.mobilize.models import Response, ResponseState
from tocsin.transports import registry as transports_base
from tocsin.transports import sms
from tocsin.transports.base import Message, TransportError
from tocsin.transports.sms import SmsTransport, sms_text

PHONE = "+13105550100"
KEY = "a12-e34"
GSM_BASIC = "".join(sorted(gsm7.GSM7_BASIC))
GSM_EXT = "".join(sorted(gsm7.GSM7_EXTENSION))
SPANISH = "abcdefghijklmnopqrstuvwxyzáéíóúüñÁÉÍÓÚÜÑ¡¿ .,:;“”'’-–—…0123456789"


@pytest.fixture
def peer() -> Iterator[SmsProvider]:
    with running() as provider:
        yield provider


@pytest.fixture
def twilio(peer: SmsProvider, settings: Settings) -> SmsProvider:
    return use_twilio(settings, peer)


@pytest.fixture
def gateway(peer: SmsProvider, settings: Settings) -> SmsProvider:
    for name in ("ACCOUNT_SID", "AUTH_TOKEN", "FROM", "MESSAGING_SERVICE_SID"):
        setattr(settings, f"TWILIO_{name}", "")
    settings.SMS_GATEWAY_URL = peer.gateway_url
    settings.SMS_GATEWAY_TOKEN = GATEWAY_TOKEN
    settings.SMS_GATEWAY_BODY = '{"to": {to}, "message": {text}}'
    return peer


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sms, "TIMEOUT", (0.5, 0.5))


def message(
    text: str = "Tocsin alert. Confirmed raid. http://testserver/a/tok/", **extra: Any
) -> Message:
    return Message(
        subject="Confirmed: Workplace raid",
        text=text,
        url="http://testserver/a/tok/",
        extra={"urgency": "high", **extra},
    )


def send(msg: Message | None = None, to: str = PHONE, key: str = KEY) -> None:
    SmsTransport().send(
        {"address": to, "member_id": 1, "channel": "sms"}, msg or message(), idempotency_key=key
    )


def failure(msg: Message | None = None) -> TransportError:
    with pytest.raises(TransportError) as info:
        send(msg)
    # The operator-facing message never carries the number.
    assert PHONE not in info.value.message and PHONE[2:] not in info.value.message
    return info.value


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- segments: a pure function ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (GSM7, 1)),
        ("a" * 160, (GSM7, 1)),
        ("a" * 161, (GSM7, 2)),
        ("a" * 306, (GSM7, 2)),
        ("a" * 307, (GSM7, 3)),
        ("é ñ ü ¡¿ à", (GSM7, 1)),
        ("€" * 80, (GSM7, 1)),  # extension characters take two septets
        ("€" * 81, (GSM7, 2)),
        ("a" * 152 + "€" + "a" * 151, (GSM7, 2)),
        # 306 septets, but the escape pair cannot straddle the first part's end.
        ("a" * 152 + "€" + "a" * 152, (GSM7, 3)),
        ("á", (UCS2, 1)),
        ("á" * 70, (UCS2, 1)),
        ("á" * 71, (UCS2, 2)),
        ("á" * 134, (UCS2, 2)),
        ("á" * 135, (UCS2, 3)),
        ("📢" * 35, (UCS2, 1)),  # each emoji is a surrogate pair: two UTF-16 units
        ("📢" * 36, (UCS2, 2)),
        ("a" * 66 + "📢" + "a" * 66, (UCS2, 3)),  # 134 units; the pair cannot be split
    ],
    ids=lambda v: repr(v)[:24] if isinstance(v, str) else None,
)
def test_it_counts_segments(text: str, expected: tuple[str, int]) -> None:
    assert segments(text) == expected


def units(text: str) -> int:
    if segments(text)[0] == GSM7:
        return sum(2 if c in gsm7.GSM7_EXTENSION else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


@given(st.text(alphabet=st.sampled_from(GSM_BASIC + GSM_EXT), max_size=800))
def test_a_gsm_text_is_gsm7_and_packs_into_153_septet_parts(text: str) -> None:
    coding, count = segments(text)
    assert coding == GSM7
    n = units(text)
    if n <= 160:
        assert count == 1
    else:
        # Never fewer parts than full ones, never more than if each lost a septet.
        assert math.ceil(n / 153) <= count <= math.ceil(n / 152)


@given(st.text(max_size=600))
def test_any_text_counts_as_the_network_would(text: str) -> None:
    coding, count = segments(text)
    in_gsm = all(c in gsm7.GSM7_BASIC or c in gsm7.GSM7_EXTENSION for c in text)
    assert coding == (GSM7 if in_gsm else UCS2)
    single, part = gsm7.LIMITS[coding]
    n = units(text)
    assert count >= 1
    assert (count == 1) == (n <= single)
    if count > 1:
        assert math.ceil(n / part) <= count <= math.ceil(n / (part - 1))


@given(st.text(max_size=300), st.text(min_size=1, max_size=5))
def test_a_longer_text_never_has_fewer_segments(text: str, more: str) -> None:
    assert segments(text + more)[1] >= segments(text)[1]


@given(st.text(alphabet=st.sampled_from(SPANISH), max_size=400))
def test_spanish_becomes_gsm7(text: str) -> None:
    assert segments(to_gsm(text))[0] == GSM7


def test_it_keeps_the_accents_gsm7_has_and_drops_the_others() -> None:
    assert to_gsm("¿Está la policía? ¡Sí! Niño, pingüino, café, “ojo” — acción…") == (
        '¿Esta la policia? ¡Si! Niño, pingüino, café, "ojo" - accion...'
    )


# --- the SMS text ---

LINK = "https://tocsin.example.org/s/4c92-Fx-0abcdefgh/"


@given(
    head=st.text(max_size=500),
    summary=st.text(max_size=600),
    language=st.sampled_from([None, "en", "es"]),
)
def test_an_sms_is_at_most_two_segments_and_keeps_its_link(
    head: str, summary: str, language: str | None
) -> None:
    text = f"{head} http://testserver/a/tok/" + (f"\n\n{summary}" if summary else "")
    out = sms_text(message(text), language, link=LINK)
    assert segments(out)[1] <= 2
    assert LINK in out


@given(text=st.text(max_size=800))
def test_a_message_without_a_link_is_cut_to_two_segments(text: str) -> None:
    out = sms_text(Message(subject="Tocsin", text=text, url=""))
    assert segments(out)[1] <= 2


def test_a_short_message_without_a_link_is_sent_as_it_is() -> None:
    msg = Message(subject="Tocsin", text="Tocsin: your code is 123456.", url="")
    assert sms_text(msg) == "Tocsin: your code is 123456."


def test_it_replaces_the_long_link_with_the_short_one() -> None:
    out = sms_text(message(), link=LINK)
    assert out == f"Tocsin alert. Confirmed raid. {LINK}"


def test_it_cuts_a_long_summary_before_dropping_it() -> None:
    text = "Tocsin alert. Confirmed raid. http://testserver/a/tok/\n\n" + "Two vans. " * 40
    out = sms_text(message(text), link=LINK)
    assert segments(out) == (GSM7, 2)
    assert out.startswith(f"Tocsin alert. Confirmed raid. {LINK}\n\nTwo vans.")
    assert out.endswith("...")


def test_an_emoji_in_the_summary_keeps_ucs2_accents_or_is_dropped() -> None:
    text = "Alerta de Tocsin. Redada en la estación. http://testserver/a/tok/\n\n📹 dos camionetas"
    out = sms_text(message(text), link=LINK)
    assert segments(out)[1] <= 2
    assert LINK in out


def render_all(w: World, language: str, summary: str = "") -> list[Message]:
    incident = confirmed_incident(w)
    if summary:
        Incident.objects.filter(pk=incident.pk).update(summary=summary)
        incident.refresh_from_db()
    confirmed = incident.alerts.get(purpose=Purpose.CONFIRMED)
    rendered = [messages.render(confirmed, member_id=w.member.pk, language=language)]
    for purpose in (Purpose.ALL_CLEAR, Purpose.CORRECTION):
        alert = Alert.objects.create(
            incident=incident,
            msg_type="Update",
            purpose=purpose,
            certainty="Observed",
            cell=confirmed.cell,
            ring=confirmed.ring,
            expires_at=confirmed.expires_at,
        )
        rendered.append(messages.render(alert, member_id=w.member.pk, language=language))
    return rendered


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize(
    "summary",
    ["", "Two vans and an unmarked car outside the Home Depot on Soto St, near the bus stop." * 3],
    ids=["plain", "long-summary"],
)
def test_every_outgoing_alert_fits_two_gsm7_segments(
    w: World, settings: Settings, language: str, summary: str
) -> None:
    settings.SITE_URL = "https://alerts.tocsin-east-la.example.org"
    for msg in render_all(w, language, summary):
        out = sms_text(msg, language)
        assert segments(out)[0] == GSM7, out
        assert segments(out)[1] <= 2, out
        [link] = re.findall(r"https://\S+/s/\S+/", out)
        assert len(urlsplit(link).path) <= 30
        assert msg.url not in out
        start = {
            "en": "Tocsin ",
            "es": "Alerta de Tocsin" if msg.extra["urgency"] == "high" else "Tocsin:",
        }
        assert out.startswith(start[language]), out


@pytest.mark.django_db
def test_a_confirmed_alert_says_how_to_answer_in_the_members_language(w: World) -> None:
    en, *_ = render_all(w, "en")
    assert "Reply 1 if you are on your way, 2 if you cannot come." in sms_text(en, "en")
    es = messages.render(
        Alert.objects.filter(purpose=Purpose.CONFIRMED).get(), member_id=w.member.pk, language="es"
    )
    assert "Responda 1 si va en camino, 2 si no puede ir." in sms_text(es, "es")


@pytest.mark.django_db
def test_an_all_clear_has_no_reply_hint(w: World) -> None:
    _confirmed, all_clear, correction = render_all(w, "en")
    assert "Reply 1" not in sms_text(all_clear, "en")
    assert "Reply 1" not in sms_text(correction, "en")


# --- short links ---


def test_a_short_code_round_trips_and_is_short() -> None:
    code = sms.short_code(1_000_000, 250_000)
    assert len(code) <= 22
    assert sms.read_short_code(code) == (1_000_000, 250_000)


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c[:-1] + ("0" if c[-1] != "0" else "1"),
        lambda c: "2" + c[1:] if c[0] != "2" else "3" + c[1:],
        lambda c: c + "0",
        lambda c: c.replace("-", "."),
        lambda c: "",
        lambda c: "-".join(["0"] * 3),
    ],
    ids=["mac", "member", "longer", "separator", "empty", "zeros"],
)
def test_a_changed_short_code_is_refused(change: Any) -> None:
    with pytest.raises(signing.BadSignature):
        sms.read_short_code(change(sms.short_code(17, 42)))


@given(st.text(max_size=60))
def test_no_random_text_is_a_short_code(text: str) -> None:
    with pytest.raises(signing.BadSignature):
        sms.read_short_code(text)


@pytest.mark.django_db
def test_the_short_link_opens_the_alert_page(w: World) -> None:
    incident = confirmed_incident(w)
    alert = incident.alerts.get()
    code = sms.short_code(w.member.pk, incident.pk)
    response = Client().get(reverse("short_alert_link", args=[code]))
    token = alert_link_token(member_id=w.member.pk, incident_id=incident.pk, at=alert.sent_at)
    assert response.status_code == 302
    assert response["Location"] == reverse("alert_page", args=[token])
    assert Client().get(response["Location"]).status_code == 200


@pytest.mark.django_db
def test_the_short_link_of_a_member_never_alerted_is_not_found(w: World) -> None:
    incident = confirmed_incident(w)
    code = sms.short_code(w.outsider.pk, incident.pk)
    assert Client().get(reverse("short_alert_link", args=[code])).status_code == 404
    assert Client().get("/s/abc-def-ghijklmno/").status_code == 404


@pytest.mark.django_db
def test_the_short_link_expires_with_the_alert(w: World, settings: Settings) -> None:
    incident = confirmed_incident(w)
    Alert.objects.filter(incident=incident).update(
        sent_at=timezone.now() - timezone.timedelta(hours=settings.ALERT_LINK_HOURS + 1)
    )
    code = sms.short_code(w.member.pk, incident.pk)
    assert Client().get(reverse("short_alert_link", args=[code])).status_code == 404


# --- configuration ---


def test_it_says_what_is_missing(settings: Settings) -> None:
    for name in ("ACCOUNT_SID", "AUTH_TOKEN", "FROM", "MESSAGING_SERVICE_SID"):
        setattr(settings, f"TWILIO_{name}", "")
    settings.SMS_GATEWAY_URL = ""
    assert SmsTransport.problems() == ["set TOCSIN_TWILIO_* or TOCSIN_SMS_GATEWAY_URL"]
    assert "sms" not in transports_base.registry()
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    assert SmsTransport.problems() == [
        "set TOCSIN_TWILIO_AUTH_TOKEN",
        "set TOCSIN_TWILIO_FROM or TOCSIN_TWILIO_MESSAGING_SERVICE_SID",
    ]
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "1" * 32
    assert SmsTransport.problems() == []
    assert transports_base.registry()["sms"] is SmsTransport


def test_a_gateway_url_is_enough(settings: Settings) -> None:
    for name in ("ACCOUNT_SID", "AUTH_TOKEN", "FROM", "MESSAGING_SERVICE_SID"):
        setattr(settings, f"TWILIO_{name}", "")
    settings.SMS_GATEWAY_URL = "http://127.0.0.1:9/gateway"
    assert SmsTransport.problems() == []


# --- Twilio: sending ---


def test_it_sends_through_the_messages_api(twilio: SmsProvider) -> None:
    send(message(delivery=41))
    assert twilio.rejections == []
    [sent] = twilio.to(PHONE)
    assert sent.body == "Tocsin alert. Confirmed raid. http://testserver/a/tok/"
    assert sent.sender == FROM and sent.messaging_service == ""
    assert sent.key == KEY
    path = urlsplit(sent.status_callback).path
    assert sent.status_callback.startswith("http://testserver/hooks/sms/status/")
    token = path.rsplit("/", 2)[-2]
    assert signing.loads(token, salt=sms.STATUS_SALT) == 41


def test_it_sends_through_a_messaging_service_when_set(
    twilio: SmsProvider, settings: Settings
) -> None:
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "1" * 32
    send()
    assert twilio.rejections == []
    [sent] = twilio.messages
    assert sent.messaging_service == "MG" + "1" * 32 and sent.sender == ""
    assert sent.status_callback == ""  # no delivery id: nothing to call back about


def test_a_repeated_idempotency_key_delivers_once(twilio: SmsProvider) -> None:
    send(key="a1-e1")
    send(key="a1-e1")
    send(key="a1-e2")
    assert twilio.rejections == []
    assert [m.key for m in twilio.messages] == ["a1-e1", "a1-e2"]


def test_it_keeps_unicode_it_cannot_transliterate(twilio: SmsProvider) -> None:
    send(message("Redada en la estación 📹 http://testserver/a/tok/"))
    [sent] = twilio.messages
    assert sent.body == "Redada en la estación 📹 http://testserver/a/tok/"


@pytest.mark.parametrize(
    ("code", "reason"),
    [(21211, "invalid number"), (21610, "STOP"), (21614, "not a mobile")],
)
def test_a_number_that_can_never_work_is_permanent(
    twilio: SmsProvider, code: int, reason: str
) -> None:
    twilio.fail_next(400, code=code)
    error = failure()
    assert error.permanent and reason in error.message and str(code) in error.message
    assert twilio.messages == []


def test_the_peer_itself_refuses_an_invalid_number(twilio: SmsProvider) -> None:
    with pytest.raises(TransportError) as info:
        send(to="310-555-0100")
    assert info.value.permanent
    assert [r["code"] for r in twilio.rejections] == [21211]


def test_another_4xx_is_permanent(twilio: SmsProvider) -> None:
    twilio.fail_next(400, code=21617)
    assert failure().permanent


def test_a_wrong_auth_token_is_not_blamed_on_the_number(
    twilio: SmsProvider, settings: Settings
) -> None:
    # Disabling every member's SMS channel for the operator's typo would be a disaster.
    settings.TWILIO_AUTH_TOKEN = "wrong"
    error = failure()
    assert not error.permanent
    assert [r["status"] for r in twilio.rejections] == [401]


def test_429_waits_as_long_as_the_provider_asks(twilio: SmsProvider) -> None:
    twilio.fail_next(429, code=20429, retry_after="30")
    error = failure()
    assert not error.permanent and error.retry_after == 30


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_retried(twilio: SmsProvider, status: int) -> None:
    twilio.fail_next(status)
    error = failure()
    assert not error.permanent and error.retry_after is None


def test_a_timeout_is_retried(twilio: SmsProvider, fast: None) -> None:
    twilio.hang_next(3)
    error = failure()
    assert not error.permanent and "timed out" in error.message
    assert twilio.messages == []


def test_an_unreachable_provider_is_retried(twilio: SmsProvider, settings: Settings) -> None:
    settings.TWILIO_API_URL = f"http://127.0.0.1:{closed_port()}"
    assert not failure().permanent


def test_failures_never_log_the_number_or_the_text(
    twilio: SmsProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for status, code in ((400, 21211), (401, 20003), (429, None), (500, None)):
        twilio.fail_next(status, code=code)
        with pytest.raises(TransportError):
            send()
    assert "21211" in caplog.text
    assert PHONE not in caplog.text and "5550100" not in caplog.text
    assert "Confirmed raid" not in caplog.text


# --- the gateway ---


def test_it_sends_through_the_gateway(gateway: SmsProvider) -> None:
    text = 'Quotes " and \\ and {to} and {text} stay text. http://testserver/a/tok/'
    send(message(text))
    assert gateway.rejections == []
    [sent] = gateway.messages
    assert sent.to == PHONE and sent.body == text and sent.key == KEY


def test_a_custom_gateway_template(gateway: SmsProvider, settings: Settings) -> None:
    settings.SMS_GATEWAY_BODY = '{"message": {text}, "to": {to}, "sim": 1}'
    send()
    assert gateway.rejections == [] and len(gateway.messages) == 1


def test_the_gateway_repeats_nothing_for_a_repeated_key(gateway: SmsProvider) -> None:
    send()
    send()
    assert len(gateway.messages) == 1


def test_a_gateway_without_the_token_refuses(gateway: SmsProvider, settings: Settings) -> None:
    settings.SMS_GATEWAY_TOKEN = ""
    assert not failure().permanent  # 401: the operator's setting, not the number
    assert [r["status"] for r in gateway.rejections] == [401]


@pytest.mark.parametrize(
    ("status", "permanent", "retry_after"),
    [(400, True, None), (422, True, None), (429, False, 12), (500, False, None)],
)
def test_gateway_errors(
    gateway: SmsProvider, status: int, permanent: bool, retry_after: float | None
) -> None:
    gateway.fail_next(status, retry_after=str(retry_after) if retry_after else None)
    error = failure()
    assert error.permanent == permanent and error.retry_after == retry_after


def test_a_gateway_timeout_is_retried(gateway: SmsProvider, fast: None) -> None:
    gateway.hang_next(3)
    assert not failure().permanent
    assert gateway.messages == []


def test_an_unreachable_gateway_is_retried(gateway: SmsProvider, settings: Settings) -> None:
    settings.SMS_GATEWAY_URL = f"http://127.0.0.1:{closed_port()}/gateway"
    assert not failure().permanent


# --- through the outbox ---


def sms_first(name: str, w: World, *, language: str = "en", phone: str = PHONE) -> Member:
    """A member in the east whose first channel is SMS, then email."""
    m = member(name, w.east, area=EAST, language=language)
    ContactEndpoint.create(m, "sms", phone, verified=True)
    ContactEndpoint.create(m, "email", f"{name.lower()}@example.org", verified=True)
    return m


def delivery_of(incident: Incident, m: Member, kind: str = "sms") -> Delivery:
    return Delivery.objects.get(alert__incident=incident, member=m, kind=kind)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "start"),
    [("en", "Tocsin alert. Confirmed"), ("es", "Alerta de Tocsin confirmada")],
)
def test_an_alert_reaches_the_members_phone(
    w: World, twilio: SmsProvider, language: str, start: str
) -> None:
    ana = sms_first("Ana", w, language=language)
    incident = confirmed_incident(w)
    outbox.drain()
    assert twilio.rejections == []
    [sent] = twilio.to(PHONE)
    assert sent.body.startswith(start)
    assert segments(sent.body)[0] == GSM7 and segments(sent.body)[1] <= 2
    code = sms.short_code(ana.pk, incident.pk)
    assert f"http://testserver/s/{code}/" in sent.body
    d = delivery_of(incident, ana)
    assert d.status == DeliveryStatus.SENT
    assert sent.key == f"a{d.alert_id}-e{d.endpoint_id}"
    assert signing.loads(sent.status_callback.rsplit("/", 2)[-2], salt=sms.STATUS_SALT) == d.pk


@pytest.mark.django_db
def test_an_invalid_number_disables_sms_and_falls_back_to_email(
    w: World, twilio: SmsProvider, mailoutbox: list[Any]
) -> None:
    ana = sms_first("Ana", w)
    twilio.fail_next(400, code=21211)
    incident = confirmed_incident(w)
    outbox.drain()
    assert delivery_of(incident, ana).status == DeliveryStatus.DEAD
    assert ana.endpoints.get(kind="sms").disabled_at is not None
    assert delivery_of(incident, ana, "email").status == DeliveryStatus.SENT
    assert any(m.to == ["ana@example.org"] for m in mailoutbox)


@pytest.mark.django_db
def test_a_rate_limit_pauses_sms_and_keeps_the_delivery(w: World, twilio: SmsProvider) -> None:
    ana = sms_first("Ana", w)
    twilio.fail_next(429, retry_after="30")
    incident = confirmed_incident(w)
    outbox.drain(max_batches=2)
    d = delivery_of(incident, ana)
    assert d.status == DeliveryStatus.FAILED
    assert (d.next_attempt_at - timezone.now()).total_seconds() > 25
    assert outbox.limiter("sms").paused_for() > 25
    assert not Delivery.objects.filter(member=ana, kind="email").exists()


# --- status callbacks, peer to live server ---


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer().start()
    settings.SITE_URL = server.url
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_status_callbacks_record_receipts_and_fall_back(
    twilio: SmsProvider, live: LiveServer, mailoutbox: list[Any]
) -> None:
    w = world()
    ana = sms_first("Ana", w)
    bea = sms_first("Bea", w, phone="+13105550101")
    incident = confirmed_incident(w)
    outbox.drain()
    [to_ana] = twilio.to(PHONE)
    [to_bea] = twilio.to("+13105550101")
    assert to_ana.status_callback.startswith(live.url + "/hooks/sms/status/")

    assert twilio.send_status(to_ana, "sent").status_code == 200
    assert delivery_of(incident, ana).receipt_at is None
    assert twilio.send_status(to_ana, "delivered").status_code == 200
    received = delivery_of(incident, ana).receipt_at
    assert received is not None
    twilio.send_status(to_ana, "delivered")  # a repeat keeps the first time
    assert delivery_of(incident, ana).receipt_at == received

    assert twilio.send_status(to_bea, "undelivered", "30003").status_code == 200
    assert twilio.send_status(to_bea, "failed", "30003").status_code == 200
    d = delivery_of(incident, bea)
    assert d.status == DeliveryStatus.DEAD and d.error == "SMS undelivered (error 30003)"
    assert d.receipt_at is None
    # The phone was off: the number stays, the alert goes to Bea's email, once.
    assert bea.endpoints.get(kind="sms").disabled_at is None
    fallback = delivery_of(incident, bea, "email")
    outbox.drain()
    fallback.refresh_from_db()
    assert fallback.status == DeliveryStatus.SENT
    assert [m.to for m in mailoutbox if m.to == ["bea@example.org"]] == [["bea@example.org"]]
    assert twilio.rejections == []


@pytest.mark.django_db(transaction=True)
def test_a_dead_number_in_a_status_callback_disables_sms(
    twilio: SmsProvider, live: LiveServer
) -> None:
    w = world()
    ana = sms_first("Ana", w)
    incident = confirmed_incident(w)
    outbox.drain()
    [sent] = twilio.messages
    assert twilio.send_status(sent, "undelivered", "30006").status_code == 200
    assert ana.endpoints.get(kind="sms").disabled_at is not None
    assert delivery_of(incident, ana, "email").status == DeliveryStatus.QUEUED


# --- webhooks, through Django's test client ---

INBOUND = "/hooks/sms/inbound/"


def post_signed(peer: SmsProvider, path: str, params: dict[str, str], **headers: str) -> Any:
    signature = peer.signature("http://testserver" + path, params)
    return form_post(path, params, HTTP_X_TWILIO_SIGNATURE=signature, **headers)


def form_post(path: str, params: dict[str, str], **headers: str) -> Any:
    """POST a form as Twilio does: urlencoded, UTF-8."""
    body = urlencode(params)
    return Client().post(path, body, content_type="application/x-www-form-urlencoded", **headers)


def text_from(peer: SmsProvider, body: str, sender: str = PHONE, sid: str = "") -> Any:
    return post_signed(peer, INBOUND, peer.inbound_params(sender, body, sid))


def reply_of(response: Any) -> str:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    match = re.search(r"<Message>(.*)</Message>", response.content.decode(), re.S)
    return match[1] if match else ""


@pytest.fixture
def ana(w: World, twilio: SmsProvider) -> Member:
    return sms_first("Ana", w)


@pytest.mark.django_db
def test_stop_disables_sms_and_start_enables_it(ana: Member, twilio: SmsProvider) -> None:
    reply = reply_of(text_from(twilio, "STOP"))
    assert "no more messages" in reply
    assert ana.endpoints.get(kind="sms").disabled_at is not None
    reply = reply_of(text_from(twilio, "START"))
    assert "alerts are on again" in reply
    assert ana.endpoints.get(kind="sms").disabled_at is None


@pytest.mark.django_db
def test_alto_answers_in_spanish(w: World, twilio: SmsProvider) -> None:
    sms_first("Rosa", w, language="es", phone="+13105550111")
    reply = reply_of(text_from(twilio, "ALTO", sender="+13105550111"))
    assert "ya no recibirá mensajes aquí" in reply
    assert "INICIO" in reply or "START" in reply


@pytest.mark.django_db
def test_one_says_on_my_way_to_the_latest_alert(w: World, ana: Member, twilio: SmsProvider) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    reply = reply_of(text_from(twilio, "1"))
    assert "on your way" in reply
    assert Response.objects.get(incident=incident, member=ana).state == ResponseState.ON_MY_WAY
    reply_of(text_from(twilio, "NO"))
    assert Response.objects.get(incident=incident, member=ana).state == ResponseState.CANCELLED


@pytest.mark.django_db
def test_reporte_makes_a_report_for_the_desk(ana: Member, twilio: SmsProvider) -> None:
    soto_4th()
    reply = reply_of(text_from(twilio, "REPORTE dos camionetas en la Soto y 4th"))
    report = Report.objects.get()
    assert report.channel == "sms" and report.text == "dos camionetas en la Soto y 4th"
    assert report.receipt in reply


@pytest.mark.django_db
def test_the_reply_is_escaped_xml(ana: Member, twilio: SmsProvider) -> None:
    soto_4th()
    response = text_from(twilio, "REPORT <b>vans</b> & a car at Soto y 4th")
    assert response.status_code == 200
    assert "<b>" not in response.content.decode()
    assert Report.objects.get().text == "<b>vans</b> & a car at Soto y 4th"


@pytest.mark.django_db
def test_a_replayed_message_sid_is_ignored(ana: Member, twilio: SmsProvider) -> None:
    assert reply_of(text_from(twilio, "STOP", sid="SM" + "a" * 32))
    reply_of(text_from(twilio, "START"))
    response = text_from(twilio, "STOP", sid="SM" + "a" * 32)
    assert reply_of(response) == ""
    assert b"<Response/>" in response.content
    assert ana.endpoints.get(kind="sms").disabled_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "signature",
    [None, "", "bm90IGEgc2lnbmF0dXJl", "wrong"],
    ids=["missing", "empty", "other", "garbage"],
)
def test_a_bad_signature_is_refused_without_logging_the_sender(
    ana: Member, twilio: SmsProvider, caplog: pytest.LogCaptureFixture, signature: str | None
) -> None:
    caplog.set_level(logging.DEBUG)
    params = twilio.inbound_params(PHONE, "STOP secret words")
    headers = {} if signature is None else {"HTTP_X_TWILIO_SIGNATURE": signature}
    response = form_post(INBOUND, params, **headers)
    assert response.status_code == 403
    assert ana.endpoints.get(kind="sms").disabled_at is None
    assert "X-Twilio-Signature" in caplog.text
    assert PHONE not in caplog.text and "secret words" not in caplog.text


@pytest.mark.django_db
def test_a_signature_for_other_params_is_refused(ana: Member, twilio: SmsProvider) -> None:
    params = twilio.inbound_params(PHONE, "HELP")
    signature = twilio.signature("http://testserver" + INBOUND, params)
    params["Body"] = "STOP"
    response = form_post(INBOUND, params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    assert ana.endpoints.get(kind="sms").disabled_at is None


@pytest.mark.django_db
def test_a_signature_with_another_token_is_refused(ana: Member, twilio: SmsProvider) -> None:
    params = twilio.inbound_params(PHONE, "STOP")
    twilio.token = "someone-else"
    assert post_signed(twilio, INBOUND, params).status_code == 403


@pytest.mark.django_db
def test_without_twilio_settings_every_twilio_hook_refuses(
    w: World, peer: SmsProvider, settings: Settings
) -> None:
    settings.TWILIO_AUTH_TOKEN = ""
    assert text_from(peer, "STOP").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"Body": "STOP", "MessageSid": "SM1"},
        {"From": PHONE, "MessageSid": "SM1"},
        {"From": PHONE, "Body": "STOP"},
        {},
    ],
    ids=["no-from", "no-body", "no-sid", "empty"],
)
def test_a_malformed_inbound_is_400(ana: Member, twilio: SmsProvider, params: dict) -> None:
    assert post_signed(twilio, INBOUND, params).status_code == 400
    assert ana.endpoints.get(kind="sms").disabled_at is None


@pytest.mark.django_db
def test_a_non_form_body_is_400(ana: Member, twilio: SmsProvider) -> None:
    signature = twilio.signature("http://testserver" + INBOUND, {})
    response = Client().post(
        INBOUND,
        b'{"From": "x"}',
        content_type="application/json",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )
    assert response.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        "¿Qué pasa? 📹 redada en la estación",
        "STOP\x00\x00",
        "\x00" * 50,
        "REPORT " + "x" * 10_000,
        "1" + "\u202e" * 100,
    ],
    ids=["unicode", "nul-after-stop", "nul-only", "10kb", "bidi"],
)
def test_odd_inbound_bodies_never_crash(ana: Member, twilio: SmsProvider, body: str) -> None:
    response = text_from(twilio, body)
    assert response.status_code == 200
    assert "\x00" not in response.content.decode()


@pytest.mark.django_db
def test_a_10kb_report_is_cut_not_lost(ana: Member, twilio: SmsProvider) -> None:
    soto_4th()
    reply_of(text_from(twilio, "REPORT Soto y 4th " + "vans " * 2000))
    assert 0 < len(Report.objects.get().text) <= 1000


form_values = st.text(max_size=300) | st.sampled_from(["STOP", "1", "REPORTE x", PHONE, ""])


@pytest.mark.django_db
@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["From", "Body", "MessageSid", "To", "AccountSid", "x"])
        | st.text(max_size=20),
        form_values,
        max_size=6,
    ),
    signed=st.booleans(),
)
def test_fuzzed_inbound_forms_never_500(
    ana: Member, twilio: SmsProvider, params: dict[str, str], signed: bool
) -> None:
    headers = (
        {"HTTP_X_TWILIO_SIGNATURE": twilio.signature("http://testserver" + INBOUND, params)}
        if signed
        else {}
    )
    response = form_post(INBOUND, params, **headers)
    assert response.status_code in ((200, 400) if signed else (403,))


@pytest.mark.django_db
@hsettings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/plain",
            "application/json",
        ]
    ),
)
def test_fuzzed_raw_bodies_never_500(
    ana: Member, twilio: SmsProvider, body: bytes, content_type: str
) -> None:
    for path in (INBOUND, "/hooks/sms/status/bad/", "/hooks/sms/gateway/inbound/"):
        response = Client().post(
            path,
            body,
            content_type=content_type,
            HTTP_X_TWILIO_SIGNATURE="x",
            HTTP_X_TOCSIN_GATEWAY_TOKEN=GATEWAY_TOKEN,
        )
        assert response.status_code in (200, 400, 403), (path, response.status_code)


def test_hooks_take_only_post(db: None) -> None:
    for path in (INBOUND, "/hooks/sms/status/x/", "/hooks/sms/gateway/inbound/"):
        assert Client().get(path).status_code == 405


# --- status callbacks, test client ---


@pytest.mark.django_db
def test_a_status_callback_with_a_bad_token_is_refused(ana: Member, twilio: SmsProvider) -> None:
    path = "/hooks/sms/status/not-a-token/"
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    assert post_signed(twilio, path, params).status_code == 403


@pytest.mark.django_db
def test_a_status_callback_with_a_bad_signature_is_refused(
    w: World, ana: Member, twilio: SmsProvider
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    path = urlsplit(twilio.messages[0].status_callback).path
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    assert form_post(path, params, HTTP_X_TWILIO_SIGNATURE="x").status_code == 403
    assert form_post(path, params).status_code == 403
    assert delivery_of(incident, ana).receipt_at is None
    assert post_signed(twilio, path, {"MessageSid": "SM1"}).status_code == 400
    assert post_signed(twilio, path, {**params, "MessageStatus": "queued"}).status_code == 200
    assert delivery_of(incident, ana).receipt_at is None
    assert post_signed(twilio, path, params).status_code == 200
    assert delivery_of(incident, ana).receipt_at is not None


@pytest.mark.django_db
def test_a_status_callback_for_a_purged_delivery_is_ignored(w: World, twilio: SmsProvider) -> None:
    path = urlsplit(sms.status_callback_url(987654)).path
    for status in ("delivered", "failed"):
        params = {"MessageSid": "SM1", "MessageStatus": status, "ErrorCode": "30005"}
        assert post_signed(twilio, path, params).status_code == 200


# --- gateway inbound ---

GATEWAY_INBOUND = "/hooks/sms/gateway/inbound/"


def from_gateway(data: Any, token: str | None = GATEWAY_TOKEN) -> Any:
    headers = {} if token is None else {"HTTP_X_TOCSIN_GATEWAY_TOKEN": token}
    return Client().post(GATEWAY_INBOUND, data, content_type="application/json", **headers)


@pytest.mark.django_db
def test_the_gateway_inbound_acts_and_replies_in_json(ana: Member, gateway: SmsProvider) -> None:
    response = from_gateway({"from": PHONE, "text": "STOP", "id": "g1"})
    assert response.status_code == 200
    assert "no more messages" in response.json()["reply"]
    assert ana.endpoints.get(kind="sms").disabled_at is not None
    # The same id again is a replay: nothing happens, no reply.
    reply_of_start = from_gateway({"from": PHONE, "text": "START", "id": "g2"}).json()["reply"]
    assert "on again" in reply_of_start
    assert from_gateway({"from": PHONE, "text": "STOP", "id": "g1"}).json() == {"reply": None}
    assert ana.endpoints.get(kind="sms").disabled_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("token", [None, "", "wrong", GATEWAY_TOKEN + "x", "ñ"])
def test_the_gateway_inbound_checks_the_token(
    ana: Member, gateway: SmsProvider, token: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    response = from_gateway({"from": PHONE, "text": "STOP secret", "id": "g1"}, token)
    assert response.status_code == 403
    assert ana.endpoints.get(kind="sms").disabled_at is None
    assert PHONE not in caplog.text and "secret" not in caplog.text


@pytest.mark.django_db
def test_without_a_gateway_token_setting_the_gateway_inbound_refuses(
    ana: Member, gateway: SmsProvider, settings: Settings
) -> None:
    settings.SMS_GATEWAY_TOKEN = ""
    assert from_gateway({"from": PHONE, "text": "STOP"}, "").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        "not json",
        [],
        {"text": "STOP"},
        {"from": 5, "text": "STOP"},
        {"from": PHONE, "text": 5},
        {"from": PHONE, "text": "x", "id": {"a": 1}},
        "\x00",
    ],
)
def test_a_malformed_gateway_inbound_is_400(ana: Member, gateway: SmsProvider, data: Any) -> None:
    import json

    raw = data if isinstance(data, str) else json.dumps(data)
    assert from_gateway(raw).status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["REPORTE \x00 camionetas 📹", "x" * 10_000, "\u0000"])
def test_odd_gateway_texts_never_crash(ana: Member, gateway: SmsProvider, text: str) -> None:
    assert from_gateway({"from": PHONE, "text": text, "id": 7}).status_code == 200
