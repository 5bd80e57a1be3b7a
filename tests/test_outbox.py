"""Tests for the delivery outbox (tocsin.alerts.outbox) and incident changes
(tocsin.incidents.services) that write it.

The seam is the transport registry: a recording transport stands in for email and push,
so no test reaches an SMTP server or a push service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import h3
import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from pytest_django.fixtures import Settings

from tests.conftest import need
from tests.factories import EAST, WEST, World, member, own_incident
from tocsin import geo
from tocsin.alerts import messages, outbox, targeting
from tocsin.alerts.models import Alert, Certainty, Delivery, DeliveryStatus, MsgType, Purpose
from tocsin.committees.models import Membership
from tocsin.committees.services import revoke
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state
from tocsin.lib import exposure, links
from tocsin.members.models import AlertArea, ContactEndpoint, Member
from tocsin.transports import registry as transports_base
from tocsin.transports.base import Message, Transport, TransportError

PUSH_DATA = {"keys": {"p256dh": "BPublicKeyForTests", "auth": "authsecret"}}


@dataclass(frozen=True)
class Sent:
    address: str
    message: Message
    idempotency_key: str


class RecordingTransport(Transport):
    """Records what it sends; raises the TransportError set for an address instead."""

    kind = "recording"
    sent: ClassVar[list[Sent]]
    failures: ClassVar[dict[str, TransportError]]

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        error = self.failures.get(payload["address"])
        if error is not None:
            raise error
        self.sent.append(Sent(payload["address"], message, idempotency_key))


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> type[RecordingTransport]:
    recording = type("Recording", (RecordingTransport,), {"sent": [], "failures": {}})
    monkeypatch.setattr(
        transports_base, "registry", lambda: {"email": recording, "webpush": recording}
    )
    return recording


def incident_at(w: World, place: tuple[float, float] = EAST) -> Incident:
    report = submit_report(
        channel="web", kind="checkpoint", lat=place[0], lng=place[1], text="two vans"
    )
    return own_incident(report, w.dispatcher)


def confirmed_incident(w: World, place: tuple[float, float] = EAST) -> Incident:
    return change_state(incident_at(w, place), State.CONFIRMED, actor=w.dispatcher)


def deliveries(incident: Incident, purpose: str = Purpose.CONFIRMED) -> QuerySet[Delivery]:
    return Delivery.objects.filter(alert__incident=incident, alert__purpose=purpose)


def email_of(m: Member) -> ContactEndpoint:
    return m.endpoints.get(kind="email")


def add_push(m: Member) -> ContactEndpoint:
    return ContactEndpoint.create(
        m,
        "webpush",
        f"https://push.example/{m.display_name.lower()}",
        data=PUSH_DATA,
        verified=True,
    )


def has_spanish_catalog() -> bool:
    return (Path(django_settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES" / "django.mo").exists()


def status_of(incident: Incident, m: Member) -> str:
    return deliveries(incident).get(member=m).status


# Targeting: who gets a confirmed alert


@pytest.mark.django_db
def test_it_writes_one_delivery_per_member_whose_area_matches(w: World) -> None:
    incident = confirmed_incident(w)
    assert sorted(deliveries(incident).values_list("member_id", flat=True)) == sorted(
        [w.responder.pk, w.member.pk]
    )


@pytest.mark.django_db
def test_it_sends_nothing_to_a_member_far_away(w: World) -> None:
    far = member("Felipe", w.west, area=WEST, email="felipe@example.org")
    incident = confirmed_incident(w)
    assert not deliveries(incident).filter(member=far).exists()


@pytest.mark.django_db
def test_it_writes_one_delivery_for_a_member_with_two_matching_areas(w: World) -> None:
    ana = member("Ana", w.east, area=EAST, email="ana@example.org")
    AlertArea.objects.create(
        member=ana, cell=geo.cell_at(34.036, -118.214, django_settings.AREA_RESOLUTION), ring=0
    )
    incident = confirmed_incident(w)
    assert deliveries(incident).filter(member=ana).count() == 1


@pytest.mark.django_db
def test_it_reaches_a_member_whose_area_just_touches_the_alert_area(w: World) -> None:
    incident = incident_at(w)
    alert_disk = targeting.alert_disk(incident.cell)
    edge = min(h3.grid_ring(geo.to_str(alert_disk.cell), alert_disk.ring + 1))
    ana = member("Ana", w.east, email="ana@example.org")
    AlertArea.objects.create(member=ana, cell=geo.from_str(edge), ring=1)
    change_state(incident, State.CONFIRMED, actor=w.dispatcher)
    assert deliveries(incident).filter(member=ana).exists()


@pytest.mark.django_db
def test_it_does_not_reach_a_member_one_step_beyond_the_alert_area(w: World) -> None:
    incident = incident_at(w)
    alert_disk = targeting.alert_disk(incident.cell)
    beyond = min(h3.grid_ring(geo.to_str(alert_disk.cell), alert_disk.ring + 2))
    ana = member("Ana", w.east, email="ana@example.org")
    AlertArea.objects.create(member=ana, cell=geo.from_str(beyond), ring=1)
    change_state(incident, State.CONFIRMED, actor=w.dispatcher)
    assert not deliveries(incident).filter(member=ana).exists()


@pytest.mark.django_db
def test_it_delivers_to_the_members_first_usable_endpoint(w: World) -> None:
    add_push(w.member)
    incident = confirmed_incident(w)
    assert deliveries(incident).get(member=w.member).endpoint == email_of(w.member)


@pytest.mark.django_db
def test_it_skips_an_unverified_endpoint(w: World) -> None:
    ana = member("Ana", w.east, area=EAST)
    ContactEndpoint.create(ana, "email", "ana@example.org", verified=False)
    push = add_push(ana)
    incident = confirmed_incident(w)
    assert deliveries(incident).get(member=ana).endpoint == push


@pytest.mark.django_db
def test_it_skips_a_member_without_a_usable_endpoint(w: World) -> None:
    ana = member("Ana", w.east, area=EAST)
    incident = confirmed_incident(w)
    assert not deliveries(incident).filter(member=ana).exists()


@pytest.mark.django_db
def test_it_counts_the_members_targeted(w: World) -> None:
    incident = confirmed_incident(w)
    assert incident.alerts.get().targeted == 2


@pytest.mark.django_db
def test_it_alerts_nobody_while_an_incident_is_reported(w: World) -> None:
    incident_at(w)
    assert not Alert.objects.exists()
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_it_alerts_only_the_responders_nearby_while_an_incident_is_being_verified(
    w: World,
) -> None:
    change_state(incident_at(w), State.VERIFYING, actor=w.dispatcher)
    alert = Alert.objects.get()
    assert (alert.purpose, alert.certainty) == (Purpose.POSSIBLE, Certainty.POSSIBLE)
    # Rosa responds at East; Mateo is a member there and hears nothing yet.
    assert set(Delivery.objects.values_list("member_id", flat=True)) == {w.responder.pk}


# Claiming: leases


@pytest.mark.django_db
def test_it_leases_due_deliveries_to_one_claim_only(w: World) -> None:
    confirmed_incident(w)
    first = outbox.claim()
    assert len(first) == 2
    assert outbox.claim() == []


@pytest.mark.django_db
def test_it_marks_claimed_deliveries_as_sending_under_a_lease(w: World) -> None:
    confirmed_incident(w)
    ids = outbox.claim()
    # Mateo and Rosa: a claim that hands out nothing must not pass as "all leased".
    assert len(ids) == 2
    for d in Delivery.objects.filter(id__in=ids):
        assert d.status == DeliveryStatus.SENDING
        assert d.attempts == 1
        assert d.lease_until > timezone.now()


@pytest.mark.django_db
def test_it_hands_out_a_delivery_again_once_its_lease_expires(w: World) -> None:
    confirmed_incident(w)
    first = outbox.claim()
    Delivery.objects.filter(id__in=first).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert sorted(outbox.claim()) == sorted(first)


@pytest.mark.django_db
def test_it_counts_each_claim_as_an_attempt(w: World) -> None:
    confirmed_incident(w)
    first = outbox.claim()
    Delivery.objects.filter(id__in=first).update(lease_until=timezone.now() - timedelta(seconds=1))
    outbox.claim()
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {2}


@pytest.mark.django_db
def test_it_does_not_claim_a_delivery_waiting_to_retry(w: World) -> None:
    confirmed_incident(w)
    Delivery.objects.update(
        status=DeliveryStatus.FAILED, next_attempt_at=timezone.now() + timedelta(minutes=1)
    )
    assert outbox.claim() == []


@pytest.mark.django_db
def test_it_claims_at_most_the_limit(w: World) -> None:
    confirmed_incident(w)
    assert len(outbox.claim(limit=1)) == 1
    assert len(outbox.claim(limit=1)) == 1
    assert outbox.claim(limit=1) == []


# Draining: sending and recording the outcome


@pytest.mark.django_db
def test_it_sends_every_due_delivery(w: World, transport: type[RecordingTransport]) -> None:
    confirmed_incident(w)
    outcome = outbox.drain()
    assert outcome.sent == 2
    assert sorted(s.address for s in transport.sent) == ["mateo@example.org", "rosa@example.org"]


@pytest.mark.django_db
def test_it_marks_sent_deliveries_sent(w: World, transport: type[RecordingTransport]) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    assert len(deliveries(incident)) == 2
    for d in deliveries(incident):
        assert d.status == DeliveryStatus.SENT
        assert d.sent_at is not None
        assert d.lease_until is None


@pytest.mark.django_db
def test_it_gives_the_transport_one_idempotency_key_per_alert_and_endpoint(
    w: World, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    expected = {f"a{d.alert_id}-e{d.endpoint_id}" for d in deliveries(incident)}
    assert {s.idempotency_key for s in transport.sent} == expected


@pytest.mark.django_db
def test_it_sends_each_delivery_once(w: World, transport: type[RecordingTransport]) -> None:
    confirmed_incident(w)
    outbox.drain()
    outbox.drain()
    assert len(transport.sent) == 2


@pytest.mark.django_db
def test_it_sends_the_alert_in_the_members_language(
    w: World, transport: type[RecordingTransport]
) -> None:
    need(has_spanish_catalog(), "locale/es has no compiled catalog yet")
    confirmed_incident(w)
    outbox.drain()
    by_address = {s.address: s.message for s in transport.sent}
    assert by_address["mateo@example.org"].subject.startswith("Confirmed:")
    assert by_address["rosa@example.org"].subject.startswith("Alerta confirmada:")


@pytest.mark.django_db
def test_it_does_not_send_a_delivery_whose_lease_was_taken_over(
    w: World, transport: type[RecordingTransport]
) -> None:
    # A slow worker whose lease expired must not send once another worker has re-claimed.
    confirmed_incident(w)
    first = outbox.claim()
    Delivery.objects.filter(id__in=first).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert outbox.claim() != []  # a second worker now holds the lease
    outbox.send_one(
        first[0], outbox.Outcome(), token=first.token
    )  # the first worker gets to its row late
    assert transport.sent == []


# Transient failures


@pytest.mark.django_db
def test_it_retries_a_transient_failure_later(
    w: World, transport: type[RecordingTransport]
) -> None:
    transport.failures["rosa@example.org"] = TransportError("mailbox busy")
    incident = confirmed_incident(w)
    before = timezone.now()
    outbox.drain()
    d = deliveries(incident).get(member=w.responder)
    assert d.status == DeliveryStatus.FAILED
    assert d.error == "mailbox busy"
    assert d.next_attempt_at > before


@pytest.mark.django_db
def test_it_waits_as_long_as_the_provider_asks(
    w: World, transport: type[RecordingTransport]
) -> None:
    transport.failures["rosa@example.org"] = TransportError("slow down", retry_after=3600)
    incident = confirmed_incident(w)
    before = timezone.now()
    outbox.drain()
    d = deliveries(incident).get(member=w.responder)
    assert d.next_attempt_at >= before + timedelta(seconds=3600)


@pytest.mark.django_db
def test_it_keeps_an_endpoint_after_a_transient_failure(
    w: World, transport: type[RecordingTransport]
) -> None:
    transport.failures["rosa@example.org"] = TransportError("mailbox busy")
    confirmed_incident(w)
    outbox.drain()
    assert email_of(w.responder).disabled_at is None


@pytest.mark.django_db
def test_it_still_sends_to_others_when_one_fails(
    w: World, transport: type[RecordingTransport]
) -> None:
    transport.failures["rosa@example.org"] = TransportError("mailbox busy")
    incident = confirmed_incident(w)
    outbox.drain()
    assert status_of(incident, w.member) == DeliveryStatus.SENT


@pytest.mark.django_db
def test_it_sends_a_retried_delivery_once_it_is_due(
    w: World, transport: type[RecordingTransport]
) -> None:
    transport.failures["rosa@example.org"] = TransportError("mailbox busy")
    incident = confirmed_incident(w)
    outbox.drain()
    del transport.failures["rosa@example.org"]
    Delivery.objects.filter(status=DeliveryStatus.FAILED).update(next_attempt_at=timezone.now())
    outbox.drain()
    assert status_of(incident, w.responder) == DeliveryStatus.SENT


@pytest.mark.django_db
def test_it_gives_up_after_the_last_attempt(
    w: World, transport: type[RecordingTransport], settings: Settings
) -> None:
    settings.DELIVERY_MAX_ATTEMPTS = 1
    transport.failures["rosa@example.org"] = TransportError("mailbox busy")
    incident = confirmed_incident(w)
    outbox.drain()
    assert status_of(incident, w.responder) == DeliveryStatus.DEAD


@pytest.mark.django_db
def test_it_keeps_the_endpoint_when_it_gives_up_on_transient_failures(
    w: World, transport: type[RecordingTransport], settings
) -> None:
    settings.DELIVERY_MAX_ATTEMPTS = 1
    transport.failures["rosa@example.org"] = TransportError("mailbox busy")
    confirmed_incident(w)
    outbox.drain()
    assert email_of(w.responder).disabled_at is None


# Permanent failures


@pytest.fixture
def rosa_email_gone(w: World, transport: type[RecordingTransport]) -> type[RecordingTransport]:
    transport.failures["rosa@example.org"] = TransportError("no such mailbox", permanent=True)
    return transport


@pytest.mark.django_db
def test_it_marks_a_permanent_failure_dead(
    w: World, rosa_email_gone: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    d = deliveries(incident).get(member=w.responder, endpoint=email_of(w.responder))
    assert d.status == DeliveryStatus.DEAD
    assert d.error == "no such mailbox"


@pytest.mark.django_db
def test_it_disables_an_endpoint_that_fails_permanently(
    w: World, rosa_email_gone: type[RecordingTransport]
) -> None:
    confirmed_incident(w)
    outbox.drain()
    endpoint = email_of(w.responder)
    assert endpoint.disabled_at is not None
    assert endpoint.last_error == "no such mailbox"


@pytest.mark.django_db
def test_it_falls_back_to_the_members_next_endpoint(
    w: World, rosa_email_gone: type[RecordingTransport]
) -> None:
    push = add_push(w.responder)
    incident = confirmed_incident(w)
    outbox.drain()
    assert deliveries(incident).get(member=w.responder, endpoint=push).status == DeliveryStatus.SENT
    assert "https://push.example/rosa" in [s.address for s in rosa_email_gone.sent]


@pytest.mark.django_db
def test_it_does_not_fall_back_without_another_endpoint(
    w: World, rosa_email_gone: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    assert deliveries(incident).filter(member=w.responder).count() == 1


@pytest.mark.django_db
def test_it_does_not_fall_back_to_an_unverified_endpoint(
    w: World, rosa_email_gone: type[RecordingTransport]
) -> None:
    ContactEndpoint.create(
        w.responder, "webpush", "https://push.example/rosa", data=PUSH_DATA, verified=False
    )
    incident = confirmed_incident(w)
    outbox.drain()
    assert deliveries(incident).filter(member=w.responder).count() == 1


@pytest.mark.django_db
def test_it_skips_a_disabled_endpoint_for_later_alerts(
    w: World, rosa_email_gone: type[RecordingTransport]
) -> None:
    push = add_push(w.responder)
    confirmed_incident(w)
    outbox.drain()
    later = confirmed_incident(w, (34.0339, -118.2010))  # 900 m away: its own incident
    assert deliveries(later).get(member=w.responder).endpoint == push


# Ending an incident: all-clear, correction, cancellation


@pytest.mark.django_db
def test_it_sends_an_all_clear_to_exactly_the_endpoints_that_got_the_alert(
    w: World, rosa_email_gone
) -> None:
    push = add_push(w.responder)
    incident = confirmed_incident(w)
    outbox.drain()
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    got = set(deliveries(incident, Purpose.ALL_CLEAR).values_list("endpoint_id", flat=True))
    assert got == {push.pk, email_of(w.member).pk}


@pytest.mark.django_db
def test_it_sends_no_all_clear_to_a_member_who_arrived_after_the_alert(
    w: World, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    late = member("Lucia", w.east, area=EAST, email="lucia@example.org")
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    assert not deliveries(incident, Purpose.ALL_CLEAR).filter(member=late).exists()


@pytest.mark.django_db
def test_it_marks_the_all_clear_an_update_referencing_the_alert(
    w: World, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    confirmed = incident.alerts.get(purpose=Purpose.CONFIRMED)
    all_clear = incident.alerts.get(purpose=Purpose.ALL_CLEAR)
    assert all_clear.msg_type == MsgType.UPDATE
    assert all_clear.references == confirmed


@pytest.mark.django_db
def test_it_sends_the_all_clear_when_drained(w: World, transport: type[RecordingTransport]) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    transport.sent.clear()
    outbox.drain()
    by_address = {s.address: s.message for s in transport.sent}
    assert by_address["mateo@example.org"].subject.startswith("All clear:")


@pytest.mark.django_db
def test_it_cancels_an_alert_still_retrying_when_resolved(
    w: World, transport: type[RecordingTransport]
) -> None:
    transport.failures["rosa@example.org"] = TransportError("mailbox busy")
    incident = confirmed_incident(w)
    outbox.drain()
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    assert status_of(incident, w.responder) == DeliveryStatus.CANCELLED


@pytest.mark.django_db
def test_it_sends_no_all_clear_to_someone_whose_alert_never_left(
    w: World, transport: type[RecordingTransport]
) -> None:
    transport.failures["rosa@example.org"] = TransportError("mailbox busy")
    incident = confirmed_incident(w)
    outbox.drain()
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    assert list(deliveries(incident, Purpose.ALL_CLEAR).values_list("member_id", flat=True)) == [
        w.member.pk
    ]


@pytest.mark.django_db
def test_it_sends_a_correction_after_a_false_alarm_that_went_out(
    w: World, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    change_state(incident, State.UNFOUNDED, actor=w.dispatcher)
    correction = incident.alerts.get(purpose=Purpose.CORRECTION)
    assert correction.msg_type == MsgType.CANCEL
    sent = set(deliveries(incident).values_list("endpoint_id", flat=True))
    assert set(correction.deliveries.values_list("endpoint_id", flat=True)) == sent


@pytest.mark.django_db
def test_it_cancels_queued_alerts_when_a_false_alarm_comes_before_any_send(
    w: World, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    change_state(incident, State.UNFOUNDED, actor=w.dispatcher)
    assert set(deliveries(incident).values_list("status", flat=True)) == {DeliveryStatus.CANCELLED}


@pytest.mark.django_db
def test_it_sends_no_correction_when_nobody_heard_the_alert(
    w: World, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    change_state(incident, State.UNFOUNDED, actor=w.dispatcher)
    assert not incident.alerts.filter(purpose=Purpose.CORRECTION).exists()


@pytest.mark.django_db
def test_it_sends_nothing_after_a_false_alarm_before_any_send(
    w: World, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    change_state(incident, State.UNFOUNDED, actor=w.dispatcher)
    outbox.drain()
    assert transport.sent == []


@pytest.mark.django_db
def test_it_sends_no_all_clear_when_resolved_before_any_send(
    w: World, transport: type[RecordingTransport]
) -> None:
    incident = confirmed_incident(w)
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    outbox.drain()
    assert transport.sent == []


@pytest.mark.django_db
def test_it_sends_no_correction_for_an_incident_nobody_heard_of(
    w: World, transport: type[RecordingTransport]
) -> None:
    incident = change_state(incident_at(w), State.VERIFYING, actor=w.dispatcher)
    change_state(incident, State.UNFOUNDED, actor=w.dispatcher)
    # The possible alert to the responder was still queued: cancelled, not corrected.
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.CANCELLED}
    outbox.drain()
    assert transport.sent == []


@pytest.mark.django_db
def test_a_false_alarm_corrects_the_responders_who_heard_it_was_possible(
    w: World, transport: type[RecordingTransport]
) -> None:
    incident = change_state(incident_at(w), State.VERIFYING, actor=w.dispatcher)
    outbox.drain()
    change_state(incident, State.UNFOUNDED, actor=w.dispatcher)
    correction = Alert.objects.get(purpose=Purpose.CORRECTION)
    assert set(correction.deliveries.values_list("member_id", flat=True)) == {w.responder.pk}


# Transactions: the outbox commits with the state change, or not at all


@pytest.mark.django_db(transaction=True)
def test_it_writes_no_alert_when_the_state_change_rolls_back(w: World) -> None:
    incident = incident_at(w)
    with pytest.raises(RuntimeError), transaction.atomic():
        change_state(incident, State.CONFIRMED, actor=w.dispatcher)
        raise RuntimeError("the request failed after confirming")
    assert not Delivery.objects.exists()
    assert Incident.objects.get(pk=incident.pk).state == State.REPORTED


@pytest.mark.django_db(transaction=True)
def test_it_wakes_the_workers_once_the_alert_commits(w: World) -> None:
    from django_tasks_db.models import DBTaskResult

    confirmed_incident(w)
    assert DBTaskResult.objects.filter(task_path__endswith="deliver_outbox").exists()


@pytest.mark.django_db(transaction=True)
def test_it_does_not_wake_the_workers_when_the_state_change_rolls_back(w: World) -> None:
    from django_tasks_db.models import DBTaskResult

    incident = incident_at(w)
    with pytest.raises(RuntimeError), transaction.atomic():
        change_state(incident, State.CONFIRMED, actor=w.dispatcher)
        raise RuntimeError("the request failed after confirming")
    assert not DBTaskResult.objects.exists()


# Messages


@pytest.mark.django_db
def test_it_renders_the_alert_in_english(w: World) -> None:
    incident = confirmed_incident(w)
    message = messages.render(incident.alerts.get(), member_id=w.member.pk, language="en")
    assert message.subject.startswith("Confirmed: Checkpoint near ")
    assert "Observe, document, support." in message.text


@pytest.mark.django_db
def test_it_renders_the_alert_in_spanish(w: World) -> None:
    need(has_spanish_catalog(), "locale/es has no compiled catalog yet")
    incident = confirmed_incident(w)
    message = messages.render(incident.alerts.get(), member_id=w.responder.pk, language="es")
    assert message.subject.startswith("Alerta confirmada:")
    assert "cerca de" in message.subject
    assert "Observe, documente, apoye." in message.text
    # A screen reader reads the email in Spanish, not as English.
    assert '<html lang="es">' in message.html


@pytest.mark.django_db
def test_it_renders_the_correction_in_spanish(
    w: World, transport: type[RecordingTransport]
) -> None:
    need(has_spanish_catalog(), "locale/es has no compiled catalog yet")
    incident = confirmed_incident(w)
    outbox.drain()
    change_state(incident, State.UNFOUNDED, actor=w.dispatcher)
    correction = incident.alerts.get(purpose=Purpose.CORRECTION)
    message = messages.render(correction, member_id=w.responder.pk, language="es")
    assert message.subject.startswith("Corrección:")


@pytest.mark.django_db
def test_it_leaves_the_active_language_unchanged_after_rendering(w: World) -> None:
    from django.utils import translation

    incident = confirmed_incident(w)
    with translation.override("en"):
        messages.render(incident.alerts.get(), member_id=w.responder.pk, language="es")
        assert translation.get_language() == "en"


@pytest.mark.django_db
def test_it_shows_the_block_not_the_exact_place(w: World) -> None:
    incident = confirmed_incident(w)
    message = messages.render(incident.alerts.get(), member_id=w.member.pk, language="en")
    lat, lng = geo.center(incident.cell)
    assert f"{lat:.4f}, {lng:.4f}" not in message.text
    block_lat, block_lng = exposure.block_point(incident.cell)
    assert f"{block_lat:.4f}, {block_lng:.4f}" in message.text


@pytest.mark.django_db
def test_it_links_each_member_to_their_own_alert_page(w: World) -> None:
    incident = confirmed_incident(w)
    alert = incident.alerts.get()
    message = messages.render(alert, member_id=w.member.pk, language="en")
    token = message.url.rstrip("/").rsplit("/", 1)[-1]
    assert links.read_alert_link_token(token) == (w.member.pk, incident.pk)


@pytest.mark.django_db
def test_a_channel_the_server_lost_fails_visibly_and_falls_back_without_blaming_the_endpoint(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = type("Recording", (RecordingTransport,), {"sent": [], "failures": {}})
    monkeypatch.setattr(transports_base, "registry", lambda: {"webpush": recording})
    ContactEndpoint.create(
        w.member, "webpush", "https://push.example/m", data=PUSH_DATA, verified=True
    )
    confirmed_incident(w)  # Mateo's first channel is email, which this server cannot send
    outbox.drain()
    email = ContactEndpoint.objects.get(member=w.member, kind="email")
    assert email.disabled_at is None
    dead = Delivery.objects.get(member=w.member, endpoint=email)
    assert dead.status == DeliveryStatus.DEAD
    assert "not configured" in dead.error
    assert [s.address for s in recording.sent] == ["https://push.example/m"]


@pytest.mark.django_db
def test_removing_a_member_from_their_last_committee_cancels_what_is_queued(w: World) -> None:
    """tocsin.committees.services.revoke tells the outbox through a signal, in its
    transaction (committees sit below alerts and do not import them)."""
    confirmed_incident(w)
    assert Delivery.objects.filter(member=w.member, status=DeliveryStatus.QUEUED).exists()
    for membership in Membership.objects.filter(member=w.member):
        revoke(membership)
    assert not Delivery.objects.filter(member=w.member, status=DeliveryStatus.QUEUED).exists()
    assert Delivery.objects.filter(member=w.member, error="revoked").exists()


def test_the_outbox_task_keeps_the_path_queued_rows_name() -> None:
    """Task rows store the task's path: a worker before or after an upgrade must load the
    rows the other queued (the outbox became a package; the path did not move)."""
    from django.utils.module_loading import import_string

    assert outbox.deliver_outbox.module_path == "tocsin.alerts.outbox.deliver_outbox"
    for path in ("tocsin.alerts.outbox.deliver_outbox", "tocsin.alerts.tasks.deliver_outbox"):
        assert import_string(path) is outbox.deliver_outbox


@pytest.mark.django_db
def test_a_drain_reads_each_alert_once_however_many_batches_it_claims(
    w: World, transport: type[RecordingTransport], settings: Settings
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.DELIVERY_BATCH = 1  # a batch per delivery
    incident = confirmed_incident(w)
    assert deliveries(incident).count() == 2
    alerts = Alert._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        assert outbox.drain().sent == 2
    read = [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT") and f'FROM "{alerts}"' in q["sql"]
    ]
    assert len(read) == 1, read
