"""What a member can send back on SMS, Signal or Telegram (tocsin.hooks.inbound)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import World, world
from tests.test_outbox import confirmed_incident
from tocsin.alerts import outbox
from tocsin.hooks.inbound import HELP, NO, REPORT, START, STOP, YES, Inbound, handle, parse
from tocsin.intake.models import Report
from tocsin.members.models import ContactEndpoint
from tocsin.mobilize.models import Response, ResponseState
from tocsin.transports import registry as transports_base
from tocsin.transports.base import Message, Transport

PHONE = "+1 (310) 555-0100"


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STOP", STOP),
        ("alto", STOP),
        ("Alto.", STOP),
        ("START", START),
        ("inicio", START),
        ("HELP", HELP),
        ("Ayuda", HELP),
        ("1", YES),
        ("SÍ", YES),
        ("si", YES),
        ("2", NO),
        ("No", NO),
        ("REPORT vans on 5th", REPORT),
        ("reporte camionetas en la 5", REPORT),
        ("hello", None),
        ("", None),
    ],
)
def test_it_reads_keywords_in_english_and_spanish(text: str, keyword: str | None) -> None:
    assert parse(text)[0] == keyword


def test_it_keeps_the_text_after_report() -> None:
    assert parse("REPORTE  dos camionetas\x00 en la 5") == (REPORT, "dos camionetas en la 5")


@given(st.text(max_size=12000))
def test_parsing_never_fails_and_keeps_at_most_a_thousand_characters(text: str) -> None:
    keyword, rest = parse(text)
    assert len(rest) <= 1000
    assert "\x00" not in rest


class Recording(Transport):
    kind = "sms"
    sent: list[str] = []

    def send(self, payload: dict, message: Message, *, idempotency_key: str) -> None:
        self.sent.append(payload["address"])


@pytest.fixture
def w(monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setattr(
        transports_base,
        "registry",
        lambda: {"email": Recording, "webpush": Recording, "sms": Recording},
    )
    w = world()
    ContactEndpoint.create(w.member, "sms", PHONE, verified=True)
    return w


def sms(text: str, message_id: str = "", address: str = "+13105550100") -> str | None:
    return handle(Inbound("sms", address, text, message_id))


@pytest.mark.django_db
def test_stop_turns_the_channel_off_and_start_turns_it_on(w: World) -> None:
    reply = sms("STOP")
    assert reply is not None and "START" in reply
    endpoint = ContactEndpoint.objects.get(member=w.member, kind="sms")
    assert endpoint.disabled_at is not None
    sms("START")
    endpoint.refresh_from_db()
    assert endpoint.disabled_at is None


@pytest.mark.django_db
def test_a_member_who_writes_in_spanish_settings_gets_spanish_replies(w: World) -> None:
    ContactEndpoint.create(w.responder, "sms", "+13105550111", verified=True)
    reply = sms("ayuda", address="+13105550111")  # Rosa's language is Spanish
    assert reply is not None and "No interfiera" in reply


@pytest.mark.django_db
def test_one_means_on_my_way_to_the_latest_alert(w: World) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    reply = sms("1")
    assert reply is not None and "on your way" in reply
    response = Response.objects.get(incident=incident, member=w.member)
    assert response.state == ResponseState.ON_MY_WAY
    sms("2")
    response.refresh_from_db()
    assert response.state == ResponseState.CANCELLED


@pytest.mark.django_db
def test_one_without_an_alert_says_there_is_nothing_to_answer(w: World) -> None:
    assert "no open alert" in (sms("1") or "")
    assert not Response.objects.exists()


@pytest.mark.django_db
def test_a_members_report_without_a_place_is_asked_where_not_put_at_their_area(w: World) -> None:
    """Their saved area is only a hint (tests/test_text_reports.py has the whole
    conversation)."""
    reply = sms("REPORT two vans at the car wash")
    assert not Report.objects.exists()
    assert "where is it?" in (reply or "").lower()


@pytest.mark.django_db
def test_a_report_from_an_unknown_number_is_asked_where_in_its_language(w: World) -> None:
    reply = sms("REPORTE camionetas", address="+13105559999")
    assert "¿dónde es?" in (reply or "")
    assert not Report.objects.exists()


@pytest.mark.django_db
def test_a_replayed_message_id_does_nothing(w: World) -> None:
    assert sms("STOP", message_id="SM1") is not None
    sms("START")
    assert sms("STOP", message_id="SM1") is None
    assert ContactEndpoint.objects.get(member=w.member, kind="sms").disabled_at is None


@pytest.mark.django_db
def test_anything_else_gets_the_help_text(w: World) -> None:
    assert "STOP" in (sms("what is this?") or "")
