"""Anyone reports by text (SMS, Signal, Telegram), placed where the text says.

The router (tocsin.hooks.inbound.handle) takes each text as a provider's webhook hands
it over; the replies are what goes back to the reporter. The committee's gazetteer holds
the places; texts in English and Spanish, with and without accents.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from tests.factories import EAST, World, member, world
from tocsin import geo
from tocsin.alerts.models import Delivery
from tocsin.committees.models import Role
from tocsin.hooks.inbound import Inbound, handle
from tocsin.incidents import replies, texting
from tocsin.incidents.models import State
from tocsin.incidents.services import change_state, open_incident
from tocsin.intake.models import Report, ReportKind, TextConversation
from tocsin.lib.gsm7 import segments, to_gsm
from tocsin.places.models import Place, PlaceKind
from tocsin.places.wording import MAX_TEXT
from tocsin.transports import registry as transports_base
from tocsin.transports.base import Message, Transport

STRANGER = "+13105559999"
SOTO_4TH = (34.0361, -118.2093)
CAR_WASH = (34.0405, -118.2072)


class Outbox(Transport):
    """What the worker sends back to reporters, by address."""

    kind = "sms"
    sent: list[tuple[str, str]] = []

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        self.sent.append((payload["address"], message.text))


@pytest.fixture
def w(monkeypatch: pytest.MonkeyPatch) -> World:
    Outbox.sent = []
    monkeypatch.setattr(
        transports_base,
        "registry",
        lambda: {
            "email": Outbox,
            "webpush": Outbox,
            "sms": Outbox,
            "signal": Outbox,
            "telegram": Outbox,
        },
    )
    w = world()
    for name, name_es, kind, (lat, lng) in [
        ("Soto St & 4th St", "Soto y 4th", PlaceKind.INTERSECTION, SOTO_4TH),
        ("Car wash, Cesar Chavez & Soto", "", PlaceKind.CAR_WASH, CAR_WASH),
        ("Food 4 Less, Soto", "", PlaceKind.STORE, (34.0330, -118.2100)),
        ("Food 4 Less, Whittier", "", PlaceKind.STORE, (34.0310, -118.2050)),
    ]:
        Place.objects.create(
            committee=w.east, name=name, name_es=name_es, kind=kind, lat=lat, lng=lng
        )
    return w


def text(body: str, address: str = STRANGER, channel: str = "sms") -> str:
    reply = handle(Inbound(channel, address, body))
    assert reply is not None
    return reply


def one_segment(reply: str) -> bool:
    return segments(to_gsm(reply))[1] == 1


def at(report: Report, place: tuple[float, float]) -> bool:
    return report.cell == geo.cell_at(*place, geo.REPORT_RESOLUTION)


@pytest.mark.django_db
def test_a_strangers_text_with_cross_streets_reaches_the_desk_then_asks_what(w: World) -> None:
    reply = text("they are at Soto and 4th right now")
    report = Report.objects.get()
    # Placed at once, so the desk sees it while the kind is asked.
    assert at(report, SOTO_4TH)
    assert report.kind == ReportKind.AGENTS_SEEN
    assert "what do you see?" in reply.lower() and one_segment(reply)
    reply = text("1")
    report.refresh_from_db()
    assert report.kind == ReportKind.CHECKPOINT
    assert report.receipt in reply and one_segment(reply)


@pytest.mark.django_db
def test_a_text_that_says_it_all_skips_every_question(w: World) -> None:
    reply = text("REPORT checkpoint at Soto & 4th")
    report = Report.objects.get()
    assert report.kind == ReportKind.CHECKPOINT and at(report, SOTO_4TH)
    assert report.receipt in reply


@pytest.mark.django_db
def test_a_spanish_text_with_accents_names_a_place_from_the_gazetteer(w: World) -> None:
    reply = text("retén enfrente del car wash de César Chávez")
    report = Report.objects.get()
    assert at(report, CAR_WASH) and report.kind == ReportKind.CHECKPOINT
    assert report.language == "es"
    assert report.receipt in reply and "No interfiera" in reply


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["they are taking people away", "agents in 90033"])
def test_nothing_placed_or_a_zip_alone_asks_where_then_what(w: World, body: str) -> None:
    reply = text(body)
    assert not Report.objects.exists()
    assert "where is it?" in reply.lower() and one_segment(reply)
    reply = text("Soto y 4th")
    report = Report.objects.get()
    assert at(report, SOTO_4TH)
    # "taking people" / "agents" said a kind already, or it is asked now.
    if report.kind == ReportKind.AGENTS_SEEN and "what do you see" in reply.lower():
        reply = text("5")
        report.refresh_from_db()
        assert report.kind == ReportKind.DETENTION
    assert report.receipt in reply
    assert body in report.text


@pytest.mark.django_db
def test_an_answer_that_places_nothing_asks_again(w: World) -> None:
    text("la migra")
    reply = text("aqui")
    assert "¿dónde" in reply.lower() or "where" in reply.lower()
    assert not Report.objects.exists()


@pytest.mark.django_db
def test_two_places_that_fit_are_a_choice(w: World) -> None:
    reply = text("agents at the Food 4 Less")
    assert "1) Food 4 Less" in reply and "2) Food 4 Less" in reply and one_segment(reply)
    assert not Report.objects.exists()
    second = reply.split("2) ")[1].split("?")[0]
    reply = text("2")
    report = Report.objects.get()
    place = Place.objects.get(name=second)
    assert at(report, (place.lat, place.lng))
    assert report.kind == ReportKind.AGENTS_SEEN
    assert report.receipt in reply


@pytest.mark.django_db
def test_a_member_away_from_home_is_placed_where_the_text_says(w: World) -> None:
    from tocsin.members.models import ContactEndpoint

    ContactEndpoint.create(w.member, "sms", "+13105550100", verified=True)
    # Their saved area is EAST's centre; the text says the car wash.
    text("REPORT ICE vans at the car wash on Cesar Chavez", address="+13105550100")
    report = Report.objects.get()
    assert at(report, CAR_WASH)
    assert not at(report, EAST)


@pytest.mark.django_db
def test_a_members_text_without_a_keyword_is_a_report_only_if_it_reads_as_one(w: World) -> None:
    from tocsin.members.models import ContactEndpoint

    ContactEndpoint.create(w.member, "sms", "+13105550100", verified=True)
    assert "REPORT" in text("hello?", address="+13105550100")
    assert not Report.objects.exists()
    text("checkpoint at Soto y 4th", address="+13105550100")
    assert Report.objects.count() == 1


@pytest.mark.django_db
def test_a_question_never_blocks_a_second_report(w: World) -> None:
    text("they are at Soto and 4th")  # asked what they see
    text("raid at the car wash on Cesar Chavez")  # a new report, not an answer
    assert Report.objects.count() == 2


@pytest.mark.django_db
def test_the_conversation_runs_out_and_one_never_placed_is_forgotten(
    w: World, settings: Any
) -> None:
    text("la migra")
    assert TextConversation.objects.count() == 1
    TextConversation.objects.update(
        updated_at=timezone.now() - dt.timedelta(minutes=settings.TEXT_CONVERSATION_MINUTES + 1)
    )
    # "1" is no longer an answer to anything: the number gets the member help (not a member).
    text("checkpoint at Soto y 4th", address="+13105558888")
    assert TextConversation.objects.filter(report__isnull=True).count() == 0


@pytest.mark.django_db
def test_the_reporter_hears_what_happened_on_their_channel_in_their_language(w: World) -> None:
    text("retén en Soto y 4th", address=STRANGER, channel="signal")
    report = Report.objects.get()
    incident = open_incident(report, actor=w.dispatcher)
    change_state(incident, State.CONFIRMED, actor=w.dispatcher)
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    assert replies.send_due() == 2
    told = [body for address, body in Outbox.sent if address == STRANGER]
    assert any("confirm" in b.lower() and report.receipt in b for b in told), told
    assert any("resuelto" in b.lower() for b in told), told
    assert all(one_segment(b) for b in told)


@pytest.mark.django_db
def test_stop_ends_the_reporters_messages(w: World) -> None:
    text("checkpoint at Soto y 4th")
    report = Report.objects.get()
    text("STOP")
    change_state(open_incident(report, actor=w.dispatcher), State.CONFIRMED, actor=w.dispatcher)
    replies.send_due()
    assert [a for a, _ in Outbox.sent if a == STRANGER] == []
    assert not TextConversation.objects.exclude(sender="").exists()


@pytest.mark.django_db
def test_every_question_fits_one_text_message_in_english_and_spanish(w: World) -> None:
    from django.utils import translation

    from tocsin.places.locate import Spot

    long = [Spot("Food 4 Less, Cesar Chavez Avenue & North Soto Street", 0, 0)] * 3
    for language in ("en", "es"):
        with translation.override(language):
            for reply in (texting.ask_where(), texting.ask_what(), texting.ask_which(long)):
                assert one_segment(reply), (language, reply)


@pytest.mark.django_db
def test_a_burst_of_texts_from_new_numbers_goes_to_the_lane_and_alerts_nobody(
    w: World, settings: Any
) -> None:
    settings.BURST_NEW_SOURCES = 5
    numbers = [f"+1310555{n:04d}" for n in range(50)]
    for i in range(200):
        text("checkpoint at Soto y 4th", address=numbers[i % 50])
    reports = Report.objects.all()
    assert reports.count() == 200  # never lost
    assert reports.filter(suspicious=True).count() > 150
    assert reports.filter(suspicious=True).values("burst_group").distinct().count() == 1
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_the_database_holds_no_senders_number(w: World) -> None:
    numbers = ["+13105551234", "+13105554321"]
    text("checkpoint at Soto y 4th", address=numbers[0])
    text("la migra", address=numbers[1], channel="telegram")
    digits = [n.lstrip("+") for n in numbers] + [n[2:] for n in numbers]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from the schema
            for row in cursor.fetchall():
                flat = repr(row)
                assert not any(d in flat for d in digits), (table, row)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    ["", " ", "1", "x" * MAX_TEXT, "Soto y " * 300, "¿¡" * 800, "\u202e90033\u202c", "& & &"],
)
def test_odd_texts_get_a_reply_not_an_error(w: World, body: str) -> None:
    assert isinstance(handle(Inbound("sms", STRANGER, body)), str)


@pytest.mark.django_db
def test_responders_of_the_committee_are_not_asked_anything_else(w: World) -> None:
    """A responder's "1" to an alert still means "on my way" when they have no open
    question from a report."""
    from tests.test_outbox import confirmed_incident
    from tocsin.alerts import outbox
    from tocsin.members.models import ContactEndpoint
    from tocsin.mobilize.models import Response

    rosa = member("Rosa2", w.east, Role.RESPONDER, area=EAST, email="rosa2@example.org")
    ContactEndpoint.create(rosa, "sms", "+13105550177", verified=True)
    confirmed_incident(w)
    outbox.drain()
    assert "on your way" in text("1", address="+13105550177")
    assert Response.objects.filter(member=rosa).exists()


@pytest.mark.django_db
def test_a_telegram_shared_location_places_the_report(w: World) -> None:
    from tocsin.hooks.telegram import read_update, respond

    update = {
        "update_id": 77,
        "message": {
            "chat": {"id": 4242, "type": "private"},
            "from": {"language_code": "es"},
            "location": {"latitude": SOTO_4TH[0], "longitude": SOTO_4TH[1]},
        },
    }
    msg = read_update(update)
    assert msg is not None
    reply = respond(msg) or ""
    report = Report.objects.get()
    assert at(report, SOTO_4TH) and report.channel == "telegram"
    assert "what do you see" in reply.lower() or "qué ve" in reply.lower()


@pytest.mark.django_db
def test_a_signal_location_link_places_the_report(w: World) -> None:
    text(
        f"retén aquí https://maps.google.com/maps?q={CAR_WASH[0]}%2C{CAR_WASH[1]}",
        channel="signal",
    )
    assert at(Report.objects.get(), CAR_WASH)


@pytest.mark.django_db
def test_a_dispatchers_reply_keeps_its_frame_after_the_dispatcher_is_deleted(w: World) -> None:
    # The reply names its sender by what kind of message it is, not by guessing from the
    # text: a reply that begins with "Tocsin" from a dispatcher who has since left is
    # still a dispatcher's reply about the report.
    text("checkpoint at Soto y 4th")
    report = Report.objects.get()
    message = replies.reply(report, "Tocsin volunteers are on the way", actor=w.dispatcher)
    w.dispatcher.delete()
    message.refresh_from_db()
    assert message.author_id is None
    rendered = replies.render(message).text
    assert rendered.startswith("Tocsin dispatcher, about your report"), rendered
    assert report.receipt in rendered
