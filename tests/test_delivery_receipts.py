"""Tests for delivery receipts (tocsin.alerts.receipts, tocsin.alerts.outbox): a push alert
carries a signed receipt link, the member's device posts it on arrival, the dispatcher sees
it, and a push that no device acknowledged in time goes to the member's next channel.

The seam is the transport registry, as in tests/test_outbox.py: a recording transport
stands in for email and push, so no test reaches a mail server or a push service.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core import signing
from django.test import Client
from django.urls import resolve, reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from tests.factories import EAST, World, member, world
from tests.test_outbox import (
    RecordingTransport,
    add_push,
    confirmed_incident,
    deliveries,
    incident_at,
)
from tocsin.alerts import outbox
from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.alerts.outbox import draining
from tocsin.incidents.models import Incident, State
from tocsin.incidents.services import change_state
from tocsin.members import security
from tocsin.members.models import ContactEndpoint, Member
from tocsin.transports import registry as transports_base
from tocsin.transports.base import Message, TransportError
from tocsin.transports.webpush import payload_for


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> type[RecordingTransport]:
    recording = type("Recording", (RecordingTransport,), {"sent": [], "failures": {}})
    monkeypatch.setattr(
        transports_base, "registry", lambda: {"email": recording, "webpush": recording}
    )
    return recording


@pytest.fixture
def w(db: None, settings: Settings) -> World:
    settings.DELIVERY_RECEIPT_SECONDS = 120
    return world()


def push_then_email(name: str, w: World) -> Member:
    """A member in the east whose first channel is push, then email."""
    m = member(name, w.east, area=EAST)
    add_push(m)
    ContactEndpoint.create(m, "email", f"{name.lower()}@example.org", verified=True)
    return m


@pytest.fixture
def ana(w: World) -> Member:
    return push_then_email("Ana", w)


def push_to(incident: Incident, m: Member) -> Delivery:
    return deliveries(incident).get(member=m, kind="webpush")


def sent_message(transport: type[RecordingTransport], address: str) -> Message:
    return next(s.message for s in transport.sent if s.address == address)


def receipt_path(d: Delivery) -> str:
    return urlsplit(outbox.receipt_url(d.pk)).path


def device() -> Client:
    """The service worker's request: no cookies, and CSRF checks as in production."""
    return Client(enforce_csrf_checks=True)


def overdue(d: Delivery, seconds: float = 121) -> None:
    Delivery.objects.filter(pk=d.pk).update(sent_at=timezone.now() - timedelta(seconds=seconds))


# The receipt link in a push alert


def receipt_names(url: str) -> int:
    """Return the delivery a receipt link names. Compared by what it names, not as text:
    its token carries the second it was signed, which a link signed again in the test
    may not share (a run that crossed a second failed here)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == settings.SITE_URL
    match = resolve(parts.path)
    assert match.url_name == "delivery_receipt"
    return int(signing.loads(match.kwargs["token"], salt=outbox.RECEIPT_SALT))


@pytest.mark.django_db
def test_a_push_alert_carries_a_receipt_link(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    message = sent_message(transport, "https://push.example/ana")
    assert receipt_names(message.extra["receipt"]) == push_to(incident, ana).pk


@pytest.mark.django_db
def test_each_push_in_a_batch_carries_its_own_receipt_link(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    bea = push_then_email("Bea", w)
    incident = confirmed_incident(w)
    outbox.drain()
    ana_receipt = sent_message(transport, "https://push.example/ana").extra["receipt"]
    bea_receipt = sent_message(transport, "https://push.example/bea").extra["receipt"]
    assert receipt_names(ana_receipt) == push_to(incident, ana).pk
    assert receipt_names(bea_receipt) == push_to(incident, bea).pk


@pytest.mark.django_db
def test_the_push_payload_holds_the_receipt_link(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    confirmed_incident(w)
    outbox.drain()
    message = sent_message(transport, "https://push.example/ana")
    assert json.loads(payload_for(message))["receipt"] == message.extra["receipt"]


@pytest.mark.django_db
def test_an_email_alert_carries_no_receipt_link(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    confirmed_incident(w)
    outbox.drain()
    message = sent_message(transport, "mateo@example.org")
    assert "receipt" not in message.extra
    assert "/r/" not in message.text


def test_a_push_payload_without_a_receipt_link_has_no_receipt_field() -> None:
    message = Message(subject="s", text="t", url="http://testserver/a/x/")
    assert "receipt" not in json.loads(payload_for(message))


# Posting a receipt


@pytest.mark.django_db
def test_a_device_posting_its_receipt_marks_the_delivery_received(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    d = push_to(incident, ana)
    response = device().post(receipt_path(d))
    assert response.status_code == 204
    assert Delivery.objects.get(pk=d.pk).receipt_at is not None


@pytest.mark.django_db
def test_a_second_receipt_is_harmless(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    d = push_to(incident, ana)
    device().post(receipt_path(d))
    first = Delivery.objects.get(pk=d.pk).receipt_at
    response = device().post(receipt_path(d))
    assert response.status_code == 204
    assert Delivery.objects.get(pk=d.pk).receipt_at == first


def token_of(d: Delivery) -> str:
    return receipt_path(d).rstrip("/").rsplit("/", 1)[-1]


@pytest.mark.django_db
def test_a_receipt_link_with_a_broken_signature_is_not_found(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    d = push_to(incident, ana)
    value, signature = token_of(d).rsplit(":", 1)
    broken = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    response = device().post(reverse("delivery_receipt", args=[f"{value}:{broken}"]))
    assert response.status_code == 404
    assert Delivery.objects.get(pk=d.pk).receipt_at is None


@pytest.mark.django_db
def test_a_receipt_signature_does_not_vouch_for_another_delivery(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    d = push_to(incident, ana)
    other = deliveries(incident).get(member=w.member)
    _, signature = token_of(d).rsplit(":", 1)
    other_value, _ = token_of(other).rsplit(":", 1)
    response = device().post(reverse("delivery_receipt", args=[f"{other_value}:{signature}"]))
    assert response.status_code == 404
    assert Delivery.objects.get(pk=other.pk).receipt_at is None


@pytest.mark.django_db
def test_a_receipt_signed_for_something_else_is_not_found(w: World, ana: Member) -> None:
    incident = confirmed_incident(w)
    d = push_to(incident, ana)
    # A valid signature with another salt: an alert link, say.
    token = signing.dumps(d.pk, salt="tocsin.alert-link")
    assert device().post(reverse("delivery_receipt", args=[token])).status_code == 404
    assert Delivery.objects.get(pk=d.pk).receipt_at is None


@pytest.mark.django_db
def test_a_garbage_receipt_token_is_not_found(w: World) -> None:
    response = device().post(reverse("delivery_receipt", args=["not-a-token"]))
    assert response.status_code == 404


@pytest.mark.django_db
def test_a_receipt_link_does_not_answer_get(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    d = push_to(incident, ana)
    assert device().get(receipt_path(d)).status_code == 405
    assert Delivery.objects.get(pk=d.pk).receipt_at is None


# What the dispatcher sees


def as_dispatcher(persona: Member) -> Client:
    """A dispatcher's client with a strong (second factor) session, as after login."""
    client = Client()
    client.force_login(persona.user)
    session = client.session
    session[security.EPOCH_KEY] = persona.session_epoch
    session[security.LOGIN_AT_KEY] = int(time.time())
    session[security.STRONG_KEY] = int(time.time())
    session.save()
    return client


def progress_cell(page: str, testid: str) -> str:
    start = page.index(f'data-testid="{testid}">') + len(f'data-testid="{testid}">')
    return page[start : page.index("</td>", start)]


@pytest.mark.django_db
def test_the_incident_page_counts_the_deliveries_received(
    w: World, ana: Member, transport: type[RecordingTransport], settings: Settings
) -> None:
    settings.STAFF_MFA = True
    incident = confirmed_incident(w)
    outbox.drain()
    device().post(receipt_path(push_to(incident, ana)))
    response = as_dispatcher(w.dispatcher).get(reverse("incident", args=[incident.pk]))
    page = response.content.decode()
    assert progress_cell(page, "received") == "1"
    assert progress_cell(page, "sent") == "3"


@pytest.mark.django_db
def test_the_incident_page_says_all_sent_when_nothing_is_pending(
    w: World, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    response = as_dispatcher(w.dispatcher).get(reverse("incident", args=[incident.pk]))
    assert "all sent in" in progress_cell(response.content.decode(), "seconds")


@pytest.mark.django_db
def test_the_incident_page_says_so_far_while_deliveries_are_pending(
    w: World, transport: type[RecordingTransport]
) -> None:
    transport.failures["rosa@example.org"] = TransportError("mailbox busy")
    incident = confirmed_incident(w)
    outbox.drain()
    response = as_dispatcher(w.dispatcher).get(reverse("incident", args=[incident.pk]))
    seconds = progress_cell(response.content.decode(), "seconds")
    assert "so far" in seconds
    assert "all sent in" not in seconds


# Falling back when no receipt comes


@pytest.mark.django_db
def test_an_unreceived_push_falls_back_to_the_members_next_channel(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    push = push_to(incident, ana)
    overdue(push)
    outbox.fall_back_unreceived()
    follow_up = deliveries(incident).get(member=ana, kind="email")
    assert follow_up.status == DeliveryStatus.QUEUED
    assert follow_up.priority == push.priority
    assert Delivery.objects.get(pk=push.pk).fell_back is True


@pytest.mark.django_db
def test_a_drain_sends_the_fall_back_of_an_unreceived_push_with_nothing_else_due(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    overdue(push_to(incident, ana))
    transport.sent.clear()
    outbox.drain()
    follow_up = deliveries(incident).get(member=ana, kind="email")
    assert follow_up.status == DeliveryStatus.SENT
    assert [s.address for s in transport.sent] == ["ana@example.org"]


@pytest.mark.django_db
def test_a_new_alerts_first_messages_leave_before_the_look_back_for_unreceived_pushes(
    w: World, transport: type[RecordingTransport], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The look back is a query over every push of the last hours: not on the path of
    # the first messages of an alert.
    order: list[str] = []
    fall_back, send = draining.fall_back_unreceived, draining.send_batches

    def looked_back() -> int:
        order.append("look back")
        return fall_back()

    def sent(*args: object, **kwargs: object) -> object:
        order.append("send")
        return send(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(draining, "fall_back_unreceived", looked_back)
    monkeypatch.setattr(draining, "send_batches", sent)
    confirmed_incident(w)
    outbox.drain()
    assert order[:2] == ["send", "look back"]


@pytest.mark.django_db
def test_an_unreceived_push_falls_back_once(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    overdue(push_to(incident, ana))
    outbox.fall_back_unreceived()
    outbox.fall_back_unreceived()
    assert deliveries(incident).filter(member=ana).count() == 2


@pytest.mark.django_db
def test_draining_sends_an_unreceived_push_to_the_members_next_channel(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    overdue(push_to(incident, ana))
    outbox.drain()
    outbox.drain()
    assert [s.address for s in transport.sent].count("ana@example.org") == 1
    assert deliveries(incident).get(member=ana, kind="email").status == DeliveryStatus.SENT


@pytest.mark.django_db
def test_a_received_push_does_not_fall_back(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    push = push_to(incident, ana)
    device().post(receipt_path(push))
    overdue(push)
    outbox.fall_back_unreceived()
    assert deliveries(incident).filter(member=ana).count() == 1


@pytest.mark.django_db
def test_a_push_not_yet_overdue_does_not_fall_back(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    overdue(push_to(incident, ana), seconds=60)
    outbox.fall_back_unreceived()
    assert deliveries(incident).filter(member=ana).count() == 1
    assert push_to(incident, ana).fell_back is False


@pytest.mark.django_db
def test_an_email_does_not_fall_back_for_want_of_a_receipt(
    w: World, transport: type[RecordingTransport]
) -> None:
    add_push(w.member)  # email first, then push
    incident = confirmed_incident(w)
    outbox.drain()
    email = deliveries(incident).get(member=w.member)
    assert email.kind == "email"
    overdue(email)
    outbox.fall_back_unreceived()
    assert deliveries(incident).filter(member=w.member).count() == 1


@pytest.mark.django_db
def test_nothing_falls_back_once_the_incident_is_resolved(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    overdue(push_to(incident, ana))
    outbox.fall_back_unreceived()
    assert deliveries(incident).filter(member=ana).count() == 1


@pytest.mark.django_db
def test_an_all_channels_alert_does_not_fall_back(
    w: World, transport: type[RecordingTransport]
) -> None:
    ana = member("Ana", w.east, area=EAST)
    add_push(ana)
    incident = change_state(incident_at(w), State.CONFIRMED, actor=w.dispatcher, all_channels=True)
    outbox.drain()
    # Her email came after the alert: a fall-back would pick it.
    ContactEndpoint.create(ana, "email", "ana@example.org", verified=True)
    overdue(push_to(incident, ana))
    outbox.fall_back_unreceived()
    assert deliveries(incident).filter(member=ana).count() == 1


@pytest.mark.django_db
def test_a_push_without_a_next_channel_is_marked_and_left_alone(
    w: World, transport: type[RecordingTransport]
) -> None:
    ana = member("Ana", w.east, area=EAST)
    add_push(ana)
    incident = confirmed_incident(w)
    outbox.drain()
    overdue(push_to(incident, ana))
    outbox.fall_back_unreceived()
    assert deliveries(incident).filter(member=ana).count() == 1
    assert push_to(incident, ana).fell_back is True


@pytest.mark.django_db
def test_it_counts_only_the_deliveries_it_followed_up(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    bea = member("Bea", w.east, area=EAST)
    add_push(bea)
    incident = confirmed_incident(w)
    outbox.drain()
    overdue(push_to(incident, ana))
    overdue(push_to(incident, bea))
    assert outbox.fall_back_unreceived() == 1  # Bea has no next channel


# The index behind the look back


def look_back_plan() -> str:
    """The database's plan for the look back's query (its first statement)."""
    from unittest import mock

    from django.db import connection
    from django.db.backends.utils import CursorWrapper

    statements: list[tuple[str, object]] = []
    execute = CursorWrapper.execute

    def capture(self: CursorWrapper, sql: str, params: object = None) -> object:
        statements.append((sql, params))
        return execute(self, sql, params)  # type: ignore[arg-type]

    with mock.patch.object(CursorWrapper, "execute", capture):
        outbox.fall_back_unreceived()
    sql, params = statements[0]
    assert "receipt_at" in sql
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The tables are tiny here: forbid the sequential scan, as a large table would.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(str(row) for row in cursor.fetchall())


@pytest.mark.django_db(transaction=False)
def test_the_look_back_reads_the_index_of_pushes_awaiting_a_receipt(
    w: World, ana: Member, transport: type[RecordingTransport]
) -> None:
    confirmed_incident(w)
    outbox.drain()
    assert "delivery_awaiting_receipt" in look_back_plan()


def test_only_channels_that_send_receipts_are_kept_in_that_index() -> None:
    # Every email or SMS sent would otherwise add an entry the look back never reads:
    # 1.4 us of each such delivery's write on SQLite (docs/benchmarks.md).
    index = next(i for i in Delivery._meta.indexes if i.name == "delivery_awaiting_receipt")
    assert index.condition is not None
    assert ("kind__in", sorted(outbox.RECEIPT_KINDS)) in index.condition.children
