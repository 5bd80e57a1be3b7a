"""Signal: alerts through the outbox to a local signal-cli REST API, and the poller
that reads what members send back."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone, translation
from django.utils.translation import gettext
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests import factories
from tests.factories import EAST, World
from tests.peers import signal_api
from tests.peers.signal_api import SignalAPI
from tocsin.alerts import messages, outbox
from tocsin.alerts.models import Alert, Delivery, DeliveryStatus, Purpose
from tocsin.hooks import signal as signal_hooks
from tocsin.hooks.signal import poll_once
from tocsin.incidents.models import Incident
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state, open_incident
from tocsin.intake.models import Report
from tocsin.members.models import ContactEndpoint, Member
from tocsin.mobilize.models import Response, ResponseState
from tocsin.transports import registry as transports_base
from tocsin.transports import signal
from tocsin.transports.base import Message, TransportError
from tocsin.transports.signal import SignalTransport

MATEO = "+13105550100"  # English
ROSA = "+13105550111"  # Spanish
STRANGER = "+13105550177"


@pytest.fixture
def api(settings: Any) -> Iterator[SignalAPI]:
    with SignalAPI() as peer:
        settings.SIGNAL_API_URL = peer.url
        settings.SIGNAL_NUMBER = signal_api.NUMBER
        yield peer


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signal, "TIMEOUT", 0.5)


def first_channel(member: Member, kind: str, address: str) -> ContactEndpoint:
    endpoint = ContactEndpoint.create(member, kind, address, verified=True)
    member.endpoints.exclude(pk=endpoint.pk).update(priority=1)
    ContactEndpoint.objects.filter(pk=endpoint.pk).update(priority=0)
    return endpoint


@pytest.fixture
def w(api: SignalAPI) -> World:
    w = factories.world()
    first_channel(w.member, "signal", MATEO)
    first_channel(w.responder, "signal", ROSA)
    return w


def confirm(w: World) -> Incident:
    report = submit_report(channel="web", kind="workplace_raid", lat=EAST[0], lng=EAST[1])
    incident = open_incident(report, actor=w.dispatcher)
    # Straight to confirmed: going through verifying tells the responders first
    # (tests/test_verification.py); here only the confirmed alert is under test.
    return change_state(incident, "confirmed", actor=w.dispatcher)


def expected_text(incident: Incident, purpose: str, member: Member) -> str:
    alert = Alert.objects.filter(incident=incident, purpose=purpose).latest("sent_at")
    return messages.render(alert, member_id=member.pk, language=member.language).text


def send(address: str, text: str = "Tocsin alert. Confirmed workplace raid.") -> None:
    SignalTransport().send(
        {"address": address}, Message(subject="", text=text, url=""), idempotency_key="a1-e2"
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- configuration ---


def test_it_is_off_until_the_server_and_the_number_are_set(settings: Any) -> None:
    settings.SIGNAL_API_URL = ""
    settings.SIGNAL_NUMBER = ""
    assert len(SignalTransport.problems()) == 2
    assert "signal" not in transports_base.registry()


def test_the_registry_picks_it_once_configured(api: SignalAPI) -> None:
    assert transports_base.registry()["signal"] is SignalTransport


# --- sending through the outbox ---


@pytest.mark.django_db
def test_an_alert_reaches_an_english_and_a_spanish_speaker_in_their_language(
    api: SignalAPI, w: World
) -> None:
    incident = confirm(w)
    outcome = outbox.drain()
    assert outcome.failed == 0 and outcome.dead == 0
    [english] = api.to(MATEO)
    [spanish] = api.to(ROSA)
    assert english == expected_text(incident, Purpose.CONFIRMED, w.member)
    assert spanish == expected_text(incident, Purpose.CONFIRMED, w.responder)
    with translation.override("es"):
        assert gettext("Observe, document, support. Do not interfere.") in spanish
    assert "Observe, document, support. Do not interfere." in english


@pytest.mark.django_db
@pytest.mark.parametrize("purpose", ["resolved", "unfounded"])
def test_every_follow_up_reaches_both_languages(api: SignalAPI, w: World, purpose: str) -> None:
    incident = confirm(w)
    outbox.drain()
    change_state(incident, purpose, actor=w.dispatcher)
    outbox.drain()
    follow_up = Purpose.ALL_CLEAR if purpose == "resolved" else Purpose.CORRECTION
    for address, member in ((MATEO, w.member), (ROSA, w.responder)):
        texts = api.to(address)
        assert len(texts) == 2
        assert texts[1] == expected_text(incident, follow_up, member)
    assert api.to(MATEO)[1] != api.to(ROSA)[1]


@pytest.mark.django_db
def test_an_unregistered_number_is_disabled_and_falls_back_to_email(
    api: SignalAPI, w: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api.fail(MATEO, signal_api.UNREGISTERED)
    confirm(w)
    outbox.drain()
    endpoint = ContactEndpoint.objects.get(member=w.member, kind="signal")
    assert endpoint.disabled_at is not None
    assert MATEO not in endpoint.last_error
    assert any("mateo@example.org" in m.to for m in mail.outbox)
    assert MATEO not in caplog.text and MATEO[1:] not in caplog.text


@pytest.mark.django_db
def test_a_rate_limit_waits_as_long_as_the_server_asks(api: SignalAPI, w: World) -> None:
    api.fail(MATEO, signal_api.RATE_LIMITED)
    confirm(w)
    before = timezone.now()
    outbox.drain(max_batches=1)
    delivery = Delivery.objects.get(member=w.member)
    assert delivery.status in (DeliveryStatus.FAILED, DeliveryStatus.QUEUED)
    assert delivery.next_attempt_at >= before + timedelta(seconds=8)
    assert ContactEndpoint.objects.get(member=w.member, kind="signal").disabled_at is None


# --- each answer of signal-cli ---


def test_it_sends_from_the_account_to_the_recipient(api: SignalAPI) -> None:
    send(MATEO, "¡No interfiera! 📹")
    assert api.to(MATEO) == ["¡No interfiera! 📹"]
    assert api.refused == []


def test_an_unregistered_user_is_permanent(api: SignalAPI) -> None:
    api.fail(MATEO, signal_api.UNREGISTERED)
    with pytest.raises(TransportError) as info:
        send(MATEO)
    assert info.value.permanent
    assert MATEO not in info.value.message


def test_a_rate_limit_carries_retry_after(api: SignalAPI) -> None:
    api.fail(MATEO, signal_api.RATE_LIMITED)
    with pytest.raises(TransportError) as info:
        send(MATEO)
    assert not info.value.permanent
    assert info.value.retry_after == 9


def test_an_old_servers_rate_limit_is_one_too() -> None:
    error = signal.error_for(400, "Failed to send message: [413] Rate limit exceeded: 413")
    assert not error.permanent and error.retry_after == signal.DEFAULT_RETRY_AFTER


def test_a_server_error_is_transient(api: SignalAPI) -> None:
    api.fail(MATEO, signal_api.SERVER_ERROR)
    with pytest.raises(TransportError) as info:
        send(MATEO)
    assert not info.value.permanent


def test_a_hung_server_times_out_as_transient(api: SignalAPI, fast: None) -> None:
    api.fail(MATEO, signal_api.HANG)
    with pytest.raises(TransportError) as info:
        send(MATEO)
    assert not info.value.permanent and "timed out" in info.value.message


def test_an_unreachable_server_is_transient(settings: Any) -> None:
    settings.SIGNAL_API_URL = f"http://127.0.0.1:{closed_port()}"
    settings.SIGNAL_NUMBER = signal_api.NUMBER
    with pytest.raises(TransportError) as info:
        send(MATEO)
    assert not info.value.permanent
    assert MATEO not in info.value.message


# --- receiving ---


@pytest.mark.django_db
def test_one_after_an_alert_means_on_my_way_and_gets_a_reply(api: SignalAPI, w: World) -> None:
    incident = confirm(w)
    outbox.drain()
    api.incoming(MATEO, "1")
    assert poll_once() == 1
    assert Response.objects.get(incident=incident, member=w.member).state == (
        ResponseState.ON_MY_WAY
    )
    assert "on your way" in api.to(MATEO)[-1]


@pytest.mark.django_db
def test_a_spanish_speaker_gets_spanish_replies(api: SignalAPI, w: World) -> None:
    api.incoming(ROSA, "ayuda")
    poll_once()
    with translation.override("es"):
        assert gettext("Observe, document, support. Do not interfere.") in api.to(ROSA)[-1]


@pytest.mark.django_db
@pytest.mark.parametrize("word", ["STOP", "ALTO", "alto."])
def test_stop_turns_signal_off_for_the_member(api: SignalAPI, w: World, word: str) -> None:
    api.incoming(MATEO, word)
    poll_once()
    assert ContactEndpoint.objects.get(member=w.member, kind="signal").disabled_at is not None
    assert "START" in api.to(MATEO)[-1] or "INICIO" in api.to(MATEO)[-1]
    confirm(w)
    outbox.drain()
    assert len(api.to(MATEO)) == 1  # only the reply: the alert went by email
    assert any("mateo@example.org" in m.to for m in mail.outbox)


@pytest.mark.django_db
def test_a_report_from_a_member_reaches_the_desk(api: SignalAPI, w: World) -> None:
    factories.soto_4th()
    api.incoming(MATEO, "REPORT two vans at Soto y 4th")
    poll_once()
    report = Report.objects.get()
    assert report.channel == "signal"
    assert report.receipt in api.to(MATEO)[-1]


@pytest.mark.django_db
def test_a_stranger_gets_the_help_text(api: SignalAPI, w: World) -> None:
    api.incoming(STRANGER, "hola?")
    assert poll_once() == 1
    assert "Tocsin" in api.to(STRANGER)[-1]


@pytest.mark.django_db
def test_each_message_is_received_once(api: SignalAPI, w: World) -> None:
    api.incoming(MATEO, "HELP")
    assert poll_once() == 1
    assert poll_once() == 0
    assert len(api.to(MATEO)) == 1


@pytest.mark.django_db
def test_a_replayed_message_is_ignored(api: SignalAPI, w: World) -> None:
    api.incoming(MATEO, "STOP", timestamp=1_700_000_000_000)
    poll_once()
    ContactEndpoint.objects.filter(member=w.member).update(disabled_at=None)
    api.incoming(MATEO, "STOP", timestamp=1_700_000_000_000)
    poll_once()
    assert ContactEndpoint.objects.get(member=w.member, kind="signal").disabled_at is None
    assert len(api.to(MATEO)) == 1


@pytest.mark.django_db
def test_malformed_envelopes_are_skipped_and_the_rest_handled(
    api: SignalAPI, w: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api.queue_raw(
        None,
        "envelope",
        {"envelope": "x"},
        {"envelope": {"source": MATEO, "timestamp": 1, "dataMessage": "STOP"}},
        {"envelope": {"source": 5, "timestamp": 2, "dataMessage": {"message": "STOP"}}},
        {"envelope": {"source": MATEO, "timestamp": "3", "dataMessage": {"message": "STOP"}}},
        {"envelope": {"source": MATEO, "timestamp": 4, "dataMessage": {"message": ["STOP"]}}},
        # A delivery receipt and a typing notice: not messages, skipped quietly.
        {"envelope": {"source": MATEO, "timestamp": 5, "receiptMessage": {"isDelivery": True}}},
        {"envelope": {"source": MATEO, "timestamp": 6, "typingMessage": {"action": "STARTED"}}},
        # A group message: keywords are one to one.
        {
            "envelope": {
                "source": MATEO,
                "timestamp": 7,
                "dataMessage": {"message": "STOP", "groupInfo": {"groupId": "g"}},
            }
        },
    )
    api.incoming(MATEO, "HELP")
    assert poll_once() == 1
    assert "signal envelope skipped: malformed" in caplog.text
    assert MATEO not in caplog.text
    assert ContactEndpoint.objects.get(member=w.member, kind="signal").disabled_at is None


@pytest.mark.django_db
def test_uuid_only_senders_nul_bytes_unicode_and_long_texts_get_replies(
    api: SignalAPI, w: World
) -> None:
    uuid = "0d4a3c8e-1b2f-4e5a-9c6d-7e8f9a0b1c2d"
    api.queue_raw(
        {"envelope": {"source": uuid, "sourceNumber": None, "timestamp": 11,
                      "dataMessage": {"message": "hola"}}},
    )  # fmt: skip
    api.incoming(MATEO, "ST\x00OP")
    api.incoming(STRANGER, "¿Qué pasa? 🚨 \ud800")
    api.incoming(STRANGER, "REPORTE " + "camionetas en la 5 " * 600)
    assert poll_once() == 4
    assert api.to(uuid) and api.to(STRANGER)
    assert ContactEndpoint.objects.get(member=w.member, kind="signal").disabled_at is not None


@pytest.mark.django_db
def test_it_survives_the_server_being_down(
    api: SignalAPI, w: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api.incoming(MATEO, "HELP")
    api.down = True
    assert poll_once() == 0
    assert "signal receive failed" in caplog.text
    api.down = False
    assert poll_once() == 1  # nothing was lost


def test_it_survives_an_unreachable_server(settings: Any) -> None:
    settings.SIGNAL_API_URL = f"http://127.0.0.1:{closed_port()}"
    settings.SIGNAL_NUMBER = signal_api.NUMBER
    assert poll_once() == 0


@pytest.mark.django_db
def test_a_reply_that_cannot_be_sent_is_logged(
    api: SignalAPI, w: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api.fail(MATEO, signal_api.SERVER_ERROR)
    api.incoming(MATEO, "STOP")
    assert poll_once() == 1
    assert "signal reply not sent" in caplog.text
    assert ContactEndpoint.objects.get(member=w.member, kind="signal").disabled_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_poller_keeps_going_until_stopped(api: SignalAPI) -> None:
    w = factories.world()
    ContactEndpoint.create(w.member, "signal", MATEO, verified=True)
    api.down = True
    stop = threading.Event()
    poller = threading.Thread(target=signal_hooks.run, args=(stop,), kwargs={"interval": 0.05})
    poller.start()
    try:
        api.incoming(MATEO, "STOP")
        time.sleep(0.3)  # a few failed polls
        assert api.to(MATEO) == []
        api.down = False
        _wait(lambda: bool(api.to(MATEO)), timeout=10)
    finally:
        stop.set()
        poller.join(timeout=10)
    assert not poller.is_alive()
    assert ContactEndpoint.objects.get(member=w.member, kind="signal").disabled_at is not None


def _wait(condition: Any, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert condition()


ENVELOPE_FIELD = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=30), st.lists(st.integers())
)
ENVELOPES = st.lists(
    st.one_of(
        ENVELOPE_FIELD,
        st.fixed_dictionaries(
            {},
            optional={
                "envelope": ENVELOPE_FIELD
                | st.fixed_dictionaries(
                    {},
                    optional={
                        "source": st.sampled_from([MATEO, STRANGER]) | ENVELOPE_FIELD,
                        "sourceNumber": st.sampled_from([MATEO, ROSA]) | ENVELOPE_FIELD,
                        "timestamp": st.integers(min_value=0) | ENVELOPE_FIELD,
                        "dataMessage": ENVELOPE_FIELD
                        | st.fixed_dictionaries(
                            {},
                            optional={
                                "message": st.text(max_size=500) | ENVELOPE_FIELD,
                                "groupInfo": ENVELOPE_FIELD,
                            },
                        ),
                    },
                )
            },
        ),
    ),
    max_size=5,
)


@pytest.mark.django_db
@hsettings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=ENVELOPES)
def test_fuzzed_envelopes_never_fail(api: SignalAPI, w: World, items: list[Any]) -> None:
    api.queue_raw(*items)
    handled = poll_once()
    assert 0 <= handled <= len(items)
