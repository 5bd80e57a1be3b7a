"""The incident page's "Alerts" table (tocsin.alerts.outbox.progress): every person an
alert targeted is in exactly one column (queued, sent, retrying, failed, cancelled, or
records deleted), whatever the alert's purpose, its deliveries' statuses, the channels a
member has and the fall-backs between them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from tests.factories import EAST, World, member, own_incident, session_for, world
from tocsin.accounts import account
from tocsin.alerts import outbox
from tocsin.alerts.models import Alert, Delivery, DeliveryStatus, Purpose
from tocsin.committees.models import Membership, Role
from tocsin.incidents import verify
from tocsin.incidents.models import Incident, IncidentEvent, State
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state
from tocsin.members.models import ContactEndpoint, Member
from tocsin.mobilize import quorum
from tocsin.mobilize import services as mobilize
from tocsin.mobilize.models import ResponseState
from tocsin.places.models import Place
from tocsin.transports import registry as transports_base
from tocsin.transports.base import Message, Transport, TransportError

pytestmark = pytest.mark.django_db

COLUMNS = ("queued", "sent", "retrying", "failed", "cancelled", "gone")
PUSH_DATA = {"keys": {"p256dh": "BPublicKeyForTests", "auth": "authsecret"}}


class Recording(Transport):
    kind = "recording"
    failures: ClassVar[dict[str, TransportError]]

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        error = self.failures.get(payload["address"])
        if error is not None:
            raise error


@pytest.fixture
def failures(monkeypatch: pytest.MonkeyPatch) -> dict[str, TransportError]:
    recording = type("Rec", (Recording,), {"failures": {}})
    monkeypatch.setattr(
        transports_base, "registry", lambda: {"email": recording, "webpush": recording}
    )
    return recording.failures


@pytest.fixture
def w(failures: dict[str, TransportError]) -> World:
    return world()


def incident_at(w: World) -> Incident:
    report = submit_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
    return own_incident(report, w.dispatcher)


def confirmed(w: World, **options: Any) -> Incident:
    return change_state(incident_at(w), State.CONFIRMED, actor=w.dispatcher, **options)


def add_push(m: Member) -> ContactEndpoint:
    return ContactEndpoint.create(
        m, "webpush", f"https://push.example/{m.pk}", data=PUSH_DATA, verified=True
    )


def row(incident: Incident, purpose: str) -> dict[str, Any]:
    [found] = [p for p in outbox.progress(incident) if p["alert"].purpose == purpose]
    return found


def assert_accounted(p: dict[str, Any]) -> None:
    assert p["targeted"] == sum(p[c] for c in COLUMNS), p


def page_rows(incident: Incident) -> dict[str, dict[str, int]]:
    """Return the numbers of the incident page's Alerts table, per purpose."""
    client = session_for(w_dispatcher(incident), strong=True)
    html = client.get(reverse("incident", args=[incident.pk])).content.decode()
    out = {}
    for purpose, cells in re.findall(r'<tr data-purpose="(\w+)">(.*?)</tr>', html, re.S):
        out[purpose] = {
            name: int(re.sub(r"<[^>]+>", "", value))
            for name, value in re.findall(r'data-testid="(\w+)">(.*?)</td>', cells, re.S)
            if name != "seconds"
        }
    return out


def w_dispatcher(incident: Incident) -> Member:
    return Membership.objects.get(committee__in=incident.committees.all(), role="dispatcher").member


def assert_page_accounts_for_everyone(incident: Incident) -> None:
    rows = page_rows(incident)
    assert rows
    for purpose, cells in rows.items():
        columns = sum(cells.get(c, 0) for c in COLUMNS)
        assert cells["targeted"] == columns, (purpose, cells)


def test_a_verifier_asked_to_check_is_in_the_cancelled_column_of_the_possible_alert(
    w: World,
) -> None:
    # The demo loop: the verifier nearby is told "being verified" like every responder,
    # then asked to check; the general notice to her is dropped for the request.
    vero = member("Vero", area=EAST, email="vero@example.org")
    Membership.objects.create(committee=w.east, member=vero, role=Role.VERIFIER)
    incident = incident_at(w)
    verify.request(incident, vero, actor=w.dispatcher)
    outbox.drain()
    possible = row(incident, Purpose.POSSIBLE)
    assert (possible["targeted"], possible["sent"], possible["cancelled"]) == (2, 1, 1)
    assert_accounted(possible)
    assert page_rows(incident)["possible"]["cancelled"] == 1
    assert_page_accounts_for_everyone(incident)


def test_the_notice_that_an_incident_expired_unverified_is_not_called_a_false_alarm(
    w: World,
) -> None:
    vero = member("Vero", area=EAST, email="vero@example.org")
    Membership.objects.create(committee=w.east, member=vero, role=Role.VERIFIER)
    incident = incident_at(w)
    change_state(incident, State.VERIFYING, actor=w.dispatcher)
    verify.request(incident, vero, actor=w.dispatcher)
    outbox.drain()
    change_state(incident, State.EXPIRED, actor=None)
    assert Alert.objects.filter(incident=incident, purpose=Purpose.CORRECTION).exists()
    client = session_for(w.dispatcher, strong=True)
    html = client.get(reverse("incident", args=[incident.pk])).content.decode()
    [label] = re.findall(r'<tr data-purpose="correction"><th scope="row">(.*?)</th>', html)
    assert label == "Update: not verified"
    Member.objects.filter(pk=w.dispatcher.pk).update(language="es")  # her own setting
    spanish = client.get(reverse("incident", args=[incident.pk])).content.decode()
    assert "Aviso: no verificado" in spanish


def test_a_member_whose_first_channel_failed_and_next_one_sent_counts_once_as_sent(
    w: World, failures: dict[str, TransportError]
) -> None:
    add_push(w.member)  # Mateo's second channel
    failures["mateo@example.org"] = TransportError("no such mailbox", permanent=True)
    incident = confirmed(w)
    outbox.drain()
    confirmed_row = row(incident, Purpose.CONFIRMED)
    assert (confirmed_row["targeted"], confirmed_row["sent"], confirmed_row["failed"]) == (2, 2, 0)
    assert_accounted(confirmed_row)
    assert_page_accounts_for_everyone(incident)


def test_a_member_whose_every_channel_failed_counts_once_as_failed(
    w: World, failures: dict[str, TransportError]
) -> None:
    add_push(w.member)
    failures["mateo@example.org"] = TransportError("no such mailbox", permanent=True)
    failures[f"https://push.example/{w.member.pk}"] = TransportError("gone", permanent=True)
    incident = confirmed(w)
    outbox.drain()
    confirmed_row = row(incident, Purpose.CONFIRMED)
    assert (confirmed_row["sent"], confirmed_row["failed"]) == (1, 1)
    assert_accounted(confirmed_row)


def test_a_member_being_retried_on_a_fall_back_channel_counts_once_as_queued(
    w: World, failures: dict[str, TransportError]
) -> None:
    add_push(w.member)
    failures["mateo@example.org"] = TransportError("no such mailbox", permanent=True)
    incident = confirmed(w)
    outbox.drain(max_batches=1)  # the fall-back delivery is written, not sent yet
    confirmed_row = row(incident, Purpose.CONFIRMED)
    assert (confirmed_row["queued"], confirmed_row["failed"]) == (1, 0)
    assert_accounted(confirmed_row)


def test_an_unreceived_push_sent_again_by_email_is_one_person_and_so_is_their_all_clear(
    w: World, settings: Settings
) -> None:
    ana = member("Ana", w.east, area=EAST)
    add_push(ana)
    ContactEndpoint.create(ana, "email", "ana@example.org", verified=True)
    incident = confirmed(w)
    outbox.drain()
    Delivery.objects.filter(kind="webpush").update(
        sent_at=timezone.now() - timedelta(seconds=settings.DELIVERY_RECEIPT_SECONDS + 5)
    )
    assert outbox.fall_back_unreceived() == 1
    outbox.drain()
    confirmed_row = row(incident, Purpose.CONFIRMED)
    assert (confirmed_row["targeted"], confirmed_row["sent"]) == (3, 3)
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    all_clear = row(incident, Purpose.ALL_CLEAR)
    # Ana hears it on both channels that got the alert, and is one person.
    assert Delivery.objects.filter(alert=all_clear["alert"], member=ana).count() == 2
    assert all_clear["targeted"] == 3
    assert_accounted(all_clear)
    assert_page_accounts_for_everyone(incident)


def test_an_alert_to_every_channel_counts_people_not_channels(w: World) -> None:
    add_push(w.member)
    incident = confirmed(w, all_channels=True)
    alert = incident.alerts.get(purpose=Purpose.CONFIRMED)
    assert Delivery.objects.filter(alert=alert).count() == 3
    assert alert.targeted == 2
    event = IncidentEvent.objects.get(incident=incident, action=State.CONFIRMED)
    assert event.detail.endswith("|2"), event.detail
    outbox.drain()
    confirmed_row = row(incident, Purpose.CONFIRMED)
    assert (confirmed_row["sent"], confirmed_row["received"]) == (2, 0)
    assert_accounted(confirmed_row)


def test_a_member_who_deleted_their_account_is_counted_as_records_deleted(w: World) -> None:
    incident = confirmed(w)
    outbox.drain()
    account.delete_account(w.member)
    confirmed_row = row(incident, Purpose.CONFIRMED)
    assert (confirmed_row["targeted"], confirmed_row["sent"], confirmed_row["gone"]) == (2, 1, 1)
    assert_accounted(confirmed_row)
    assert page_rows(incident)["confirmed"]["gone"] == 1


def test_a_deleted_account_leaves_no_delivery_row_of_theirs(w: World) -> None:
    # The database checks no key from a delivery to its member (each key checked costs
    # the confirm time at commit): Django's cascade removes the rows.
    incident = confirmed(w)
    outbox.drain()
    gone = w.member.pk
    assert Delivery.objects.filter(alert__incident=incident, member_id=gone).exists()
    account.delete_account(w.member)
    assert not Delivery.objects.filter(member_id=gone).exists()


def test_a_deleted_endpoint_leaves_no_delivery_row_of_its_own(w: World) -> None:
    # Nor does the database check the key to the endpoint (it locked and checked each of
    # an alert's endpoints at commit: 6 ms of a 1,000-member confirm): Django's cascade
    # removes the rows.
    incident = confirmed(w)
    row = Delivery.objects.filter(alert__incident=incident).first()
    assert row is not None
    ContactEndpoint.objects.get(pk=row.endpoint_id).delete()
    assert not Delivery.objects.filter(endpoint_id=row.endpoint_id).exists()


def test_an_alert_to_an_endpoint_removed_before_its_turn_goes_to_the_next_channel(
    w: World,
) -> None:
    # The member removed the address while the confirm was writing the rows (the rows
    # were read from the endpoints before the removal committed).
    add_push(w.member)
    incident = confirmed(w)
    first = Delivery.objects.get(alert__incident=incident, member=w.member)
    [next_kind] = {"email", "webpush"} - {first.kind}
    with connection.cursor() as cursor:
        for table, column in (
            ("alerts_workerseal", "endpoint_id"),
            ("members_contactendpoint", "id"),
        ):
            cursor.execute(f"DELETE FROM {table} WHERE {column} = %s", [first.endpoint_id])  # noqa: S608
    outbox.drain()
    first.refresh_from_db()
    assert (first.status, first.error) == (DeliveryStatus.DEAD, "endpoint removed")
    statuses = Delivery.objects.filter(alert__incident=incident).values_list(
        "member_id", "kind", "status"
    )
    assert (w.member.pk, next_kind, DeliveryStatus.SENT) in set(statuses)
    assert {s for m, k, s in statuses if m != w.member.pk} == {DeliveryStatus.SENT}


def alert_of(w: World, purpose: str, settings: Settings) -> Alert:
    """Return a fresh alert of ``purpose`` about an East incident."""
    incident = incident_at(w)
    if purpose == Purpose.POSSIBLE:
        change_state(incident, State.VERIFYING, actor=w.dispatcher)
    elif purpose == Purpose.VERIFY:
        vero = member("Vero", area=EAST, email="vero@example.org")
        Membership.objects.create(committee=w.east, member=vero, role=Role.VERIFIER)
        verify.request(incident, vero, actor=w.dispatcher)
    elif purpose == Purpose.APPROVAL:
        settings.TWO_PERSON_THRESHOLD = 1
        change_state(incident, State.CONFIRMED, actor=w.dispatcher)
    elif purpose in (Purpose.STAND_DOWN, Purpose.REDIRECT):
        # Two members alerted; one is on the way, which is enough: the other is told.
        member("Lucia", w.east, area=EAST, email="lucia@example.org")
        change_state(incident, State.CONFIRMED, actor=w.dispatcher)
        plaza = (
            Place.objects.create(committee=w.east, name="Plaza", lat=EAST[0], lng=EAST[1])
            if purpose == Purpose.REDIRECT
            else None
        )
        quorum.set_needed(incident, {quorum.MEMBERS: 1}, actor=w.dispatcher, redirect_place=plaza)
        mobilize.respond(
            incident, w.member, role=None, state=ResponseState.ON_MY_WAY, eta_minutes=None
        )
    else:
        add_push(w.member)  # the all-clear or correction goes to two of Mateo's channels
        change_state(incident, State.CONFIRMED, actor=w.dispatcher, all_channels=True)
        Delivery.objects.update(status=DeliveryStatus.SENT)
        final = State.RESOLVED if purpose == Purpose.ALL_CLEAR else State.UNFOUNDED
        change_state(incident, final, actor=w.dispatcher)
    return incident.alerts.get(purpose=purpose)


COLUMN = {
    DeliveryStatus.QUEUED: "queued",
    DeliveryStatus.SENDING: "queued",
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.FAILED: "retrying",
    DeliveryStatus.DEAD: "failed",
    DeliveryStatus.CANCELLED: "cancelled",
}


@pytest.mark.parametrize("purpose", Purpose.values)
def test_every_targeted_person_is_in_one_column_for_every_purpose_and_status(
    w: World, settings: Settings, purpose: str
) -> None:
    alert = alert_of(w, purpose, settings)
    assert alert.targeted > 0
    for status, column in COLUMN.items():
        Delivery.objects.filter(alert=alert).update(status=status)
        p = row(alert.incident, purpose)
        assert_accounted(p)
        assert p[column] == alert.targeted, (status, p)
