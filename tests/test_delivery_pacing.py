"""Tests for how the delivery engine orders and paces sends (tocsin.alerts.outbox): urgent
alerts first, one claim per channel, rates, a provider's pause, the pool of send threads,
alerts to every channel at once, and the link each attempt carries.

The seam is the transport registry, as in tests/test_outbox.py: a recording transport per
channel (email shares one provider account, push does not), so no test reaches a mail
server or a push service. No test waits on the wall clock: the rate limiter runs on a
fake clock.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core import signing
from django.db import connection
from django.db.models import QuerySet
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from tests.factories import EAST, World, committee, member
from tests.test_outbox import (
    PUSH_DATA,
    RecordingTransport,
    Sent,
    add_push,
    confirmed_incident,
    deliveries,
    email_of,
    incident_at,
)
from tocsin import geo, vault
from tocsin.alerts import messages, outbox
from tocsin.alerts.models import Delivery, DeliveryStatus, Priority, Purpose
from tocsin.committees.models import Membership, Role
from tocsin.incidents.models import State
from tocsin.incidents.services import change_state
from tocsin.members import security
from tocsin.members.models import AlertArea, ContactEndpoint, Member
from tocsin.transports import registry as transports_base
from tocsin.transports.base import Message, TransportError

# Close enough to EAST that Rosa and Mateo are alerted about both incidents.
NEARBY = (34.0345, -118.2115)


class ChannelTransport(RecordingTransport):
    """A recording transport that also notes every attempt (failed ones too) and the
    thread it ran on, and can answer the next sends with errors, once each (a 429)."""

    attempts: ClassVar[list[Sent]]
    threads: ClassVar[list[str]]
    next_errors: ClassVar[list[TransportError]]
    lock: ClassVar[threading.Lock]

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        with self.lock:
            self.attempts.append(Sent(payload["address"], message, idempotency_key))
            self.threads.append(threading.current_thread().name)
            error = self.next_errors.pop(0) if self.next_errors else None
        if error is not None:
            raise error
        super().send(payload, message, idempotency_key=idempotency_key)


def channel(name: str, **attrs: Any) -> type[ChannelTransport]:
    fresh = {
        "sent": [],
        "failures": {},
        "attempts": [],
        "threads": [],
        "next_errors": [],
        "lock": threading.Lock(),
    }
    return type(name, (ChannelTransport,), {**fresh, **attrs})


@dataclass
class Channels:
    email: type[ChannelTransport]
    push: type[ChannelTransport]


@pytest.fixture
def channels(monkeypatch: pytest.MonkeyPatch) -> Channels:
    # Email goes through one provider account (a 429 pauses the channel); each push
    # subscription has its own push service (a 429 delays only that delivery).
    email = channel("Email", shared_limit=True)
    push = channel("Push", shared_limit=False)
    monkeypatch.setattr(transports_base, "registry", lambda: {"email": email, "webpush": push})
    return Channels(email=email, push=push)


@dataclass
class FakeClock:
    """Stands in for the time module inside the outbox: sleeping moves the clock."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    fake_time = SimpleNamespace(monotonic=fake.monotonic, sleep=fake.sleep)
    # Pacing waits on the clock.
    monkeypatch.setattr(outbox.pacing, "time", fake_time)
    return fake


def push_only(name: str, w: World) -> Member:
    """A member in the east whose only channel is push."""
    m = member(name, w.east, area=EAST)
    add_push(m)
    return m


def ids(qs: QuerySet[Delivery]) -> set[int]:
    return set(qs.values_list("id", flat=True))


# Urgent first


@pytest.mark.django_db
def test_it_claims_a_confirmed_alert_before_an_all_clear(w: World, channels: Channels) -> None:
    earlier = confirmed_incident(w)
    outbox.drain()
    change_state(earlier, State.RESOLVED, actor=w.dispatcher)
    urgent = confirmed_incident(w, NEARBY)
    assert set(outbox.claim(2)) == ids(deliveries(urgent))


@pytest.mark.django_db
def test_it_claims_a_correction_before_an_all_clear(w: World, channels: Channels) -> None:
    resolved = confirmed_incident(w)
    false_alarm = confirmed_incident(w, NEARBY)
    outbox.drain()
    change_state(resolved, State.RESOLVED, actor=w.dispatcher)
    change_state(false_alarm, State.UNFOUNDED, actor=w.dispatcher)
    assert set(outbox.claim(2)) == ids(deliveries(false_alarm, Purpose.CORRECTION))


@pytest.mark.django_db
def test_each_delivery_takes_its_priority_from_the_alerts_purpose(
    w: World, channels: Channels
) -> None:
    resolved = confirmed_incident(w)
    false_alarm = confirmed_incident(w, NEARBY)
    outbox.drain()
    change_state(resolved, State.RESOLVED, actor=w.dispatcher)
    change_state(false_alarm, State.UNFOUNDED, actor=w.dispatcher)
    by_purpose = {
        purpose: set(Delivery.objects.filter(alert__purpose=purpose).values_list("priority"))
        for purpose in Purpose
        if Delivery.objects.filter(alert__purpose=purpose).exists()
    }
    assert by_purpose == {
        Purpose.CONFIRMED: {(Priority.URGENT,)},
        Purpose.CORRECTION: {(Priority.CORRECTION,)},
        Purpose.ALL_CLEAR: {(Priority.ROUTINE,)},
    }


# Claiming per channel


@pytest.mark.django_db
def test_a_claim_for_one_channel_hands_out_only_its_deliveries(w: World) -> None:
    push_only("Ana", w)
    incident = confirmed_incident(w)
    batch = outbox.claim(kind="email")
    assert set(batch) == ids(deliveries(incident).filter(kind="email"))
    assert len(batch) == 2


@pytest.mark.django_db
def test_a_channel_claim_takes_rows_whose_lease_ran_out_before_fresh_ones(w: World) -> None:
    confirmed_incident(w)
    crashed = outbox.claim(kind="email")
    Delivery.objects.filter(id=crashed[0]).update(lease_until=timezone.now() - timedelta(seconds=1))
    confirmed_incident(w, NEARBY)  # two fresh due email deliveries
    assert outbox.claim(1, kind="email") == [crashed[0]]


@pytest.mark.django_db
def test_a_channel_claim_leaves_the_rows_of_other_channels_due(w: World) -> None:
    ana = push_only("Ana", w)
    incident = confirmed_incident(w)
    outbox.claim(kind="email")
    push = deliveries(incident).get(member=ana)
    assert push.status == DeliveryStatus.QUEUED
    assert push.attempts == 0


# Batch size per channel


def test_a_paced_channel_claims_what_it_can_send_in_a_quarter_of_the_lease(
    settings: Settings,
) -> None:
    settings.DELIVERY_RATE = {"email": 2}
    settings.DELIVERY_LEASE_SECONDS = 60
    outbox.reset_pacing()
    assert outbox.batch_limit("email") == 30


def test_a_channel_without_a_rate_claims_a_full_batch(settings: Settings) -> None:
    settings.DELIVERY_RATE = {}
    settings.DELIVERY_BATCH = 123
    outbox.reset_pacing()
    assert outbox.batch_limit("email") == 123


def test_a_fast_channel_claims_no_more_than_a_full_batch(settings: Settings) -> None:
    settings.DELIVERY_RATE = {"email": 1000}
    settings.DELIVERY_LEASE_SECONDS = 60
    settings.DELIVERY_BATCH = 500
    outbox.reset_pacing()
    assert outbox.batch_limit("email") == 500


# Rate limits (on a fake clock)


def test_the_rate_limiter_spaces_sends_at_its_rate(clock: FakeClock) -> None:
    limiter = outbox.RateLimiter(5)
    for _ in range(4):
        assert limiter.acquire() == 0.0
    assert clock.sleeps == pytest.approx([0.2, 0.2, 0.2])
    assert sum(clock.sleeps) == pytest.approx((4 - 1) / 5)


def test_the_rate_limiter_does_not_wait_after_a_quiet_spell(clock: FakeClock) -> None:
    limiter = outbox.RateLimiter(5)
    limiter.acquire()
    clock.now += 10
    limiter.acquire()
    assert clock.sleeps == []


def test_a_channel_without_a_rate_never_waits(clock: FakeClock) -> None:
    limiter = outbox.RateLimiter(0)
    for _ in range(10):
        limiter.acquire()
    assert clock.sleeps == []


def test_a_paused_channel_hands_back_the_seconds_left_without_waiting(clock: FakeClock) -> None:
    limiter = outbox.RateLimiter(5)
    limiter.pause(30)
    clock.now += 10
    assert limiter.acquire() == pytest.approx(20)
    assert clock.sleeps == []


def test_a_pause_is_capped_so_the_provider_is_asked_again(clock: FakeClock) -> None:
    limiter = outbox.RateLimiter(0)
    limiter.pause(86400)
    assert limiter.paused_for() == pytest.approx(outbox.MAX_PAUSE)


def test_the_channels_limiter_follows_the_rate_setting(settings: Settings) -> None:
    settings.DELIVERY_RATE = {"email": 7}
    outbox.reset_pacing()
    assert outbox.limiter("email").rate == 7
    assert outbox.limiter("webpush").rate == 0


@pytest.mark.django_db
def test_draining_paces_a_channels_sends_at_its_rate(
    w: World, channels: Channels, clock: FakeClock, settings: Settings
) -> None:
    settings.DELIVERY_RATE = {"email": 10}
    settings.DELIVERY_CONCURRENCY = {"email": 0}
    outbox.reset_pacing()
    member("Ana", w.east, area=EAST, email="ana@example.org")
    confirmed_incident(w)
    outbox.drain()
    assert len(channels.email.sent) == 3
    assert sum(clock.sleeps) == pytest.approx((3 - 1) / 10)


# A provider's 429 with Retry-After


@pytest.fixture
def serial(settings: Settings) -> None:
    """Sends one after another in the calling thread: which send hits the 429 first, and
    which come after it, is then certain."""
    settings.DELIVERY_CONCURRENCY = {"email": 0, "webpush": 0}
    outbox.reset_pacing()


@pytest.fixture
def email_throttled(w: World, channels: Channels, serial: None) -> Channels:
    member("Ana", w.east, area=EAST, email="ana@example.org")
    channels.email.next_errors.append(TransportError("rate limited", retry_after=120))
    return channels


def email_failed_first(channels: Channels) -> Delivery:
    """The delivery whose send the provider answered with the 429."""
    address = channels.email.attempts[0].address
    return Delivery.objects.get(
        endpoint__blind_index=vault.blind_index("email", address, form="email")
    )


@pytest.mark.django_db
def test_a_shared_provider_429_holds_back_the_failing_delivery_for_retry_after(
    w: World, email_throttled: Channels
) -> None:
    before = timezone.now()
    confirmed_incident(w)
    outbox.drain()
    failed = email_failed_first(email_throttled)
    assert failed.status == DeliveryStatus.FAILED
    assert failed.next_attempt_at >= before + timedelta(seconds=120)


@pytest.mark.django_db
def test_a_shared_provider_429_puts_the_channels_other_deliveries_back_without_an_attempt(
    w: World, email_throttled: Channels
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    failed = email_failed_first(email_throttled)
    others = deliveries(incident).filter(kind="email").exclude(pk=failed.pk)
    assert others.count() == 2
    now = timezone.now()
    for d in others:
        assert d.status == DeliveryStatus.QUEUED
        assert d.attempts == 0
        assert d.next_attempt_at > now
    assert len(email_throttled.email.attempts) == 1


@pytest.mark.django_db
def test_a_shared_provider_429_leaves_other_channels_sending(
    w: World, email_throttled: Channels
) -> None:
    paula = push_only("Paula", w)
    incident = confirmed_incident(w)
    outbox.drain()
    assert deliveries(incident).get(member=paula).status == DeliveryStatus.SENT
    assert email_throttled.push.sent[0].address == "https://push.example/paula"


@pytest.mark.django_db
def test_a_paused_channel_sends_again_once_the_pause_is_over(
    w: World, email_throttled: Channels, clock: FakeClock
) -> None:
    incident = confirmed_incident(w)
    outbox.drain()
    clock.now += 121
    deliveries(incident).update(next_attempt_at=timezone.now())
    outbox.drain()
    assert set(deliveries(incident).values_list("status", flat=True)) == {DeliveryStatus.SENT}


@pytest.mark.django_db
def test_a_push_429_delays_only_that_delivery(w: World, channels: Channels, serial: None) -> None:
    for name in ("Ana", "Bea", "Cruz"):
        push_only(name, w)
    channels.push.next_errors.append(TransportError("push service rate limit", retry_after=120))
    before = timezone.now()
    incident = confirmed_incident(w)
    outbox.drain()
    push = deliveries(incident).filter(kind="webpush")
    failed = push.get(status=DeliveryStatus.FAILED)
    assert failed.next_attempt_at >= before + timedelta(seconds=120)
    assert push.filter(status=DeliveryStatus.SENT).count() == 2
    assert outbox.limiter("webpush").paused_for() == 0


# Sending threads


@pytest.mark.django_db
def test_sends_run_on_the_channels_pool_of_threads(
    w: World, channels: Channels, settings: Settings
) -> None:
    settings.DELIVERY_CONCURRENCY = {"email": 4}
    outbox.reset_pacing()
    confirmed_incident(w)
    outbox.drain()
    assert len(channels.email.threads) == 2
    assert all(name.startswith("send-email") for name in channels.email.threads)


@pytest.mark.django_db
def test_sends_run_in_the_calling_thread_without_concurrency(
    w: World, channels: Channels, settings: Settings
) -> None:
    settings.DELIVERY_CONCURRENCY = {"email": 0}
    outbox.reset_pacing()
    confirmed_incident(w)
    outbox.drain()
    assert channels.email.threads == [threading.current_thread().name] * 2


@pytest.mark.django_db
def test_a_transport_that_is_not_concurrent_runs_in_the_calling_thread(
    w: World, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    settings.DELIVERY_CONCURRENCY = {"email": 4}
    outbox.reset_pacing()
    email = channel("SerialEmail", concurrent=False)
    monkeypatch.setattr(transports_base, "registry", lambda: {"email": email})
    confirmed_incident(w)
    outbox.drain()
    assert email.threads == [threading.current_thread().name] * 2


@pytest.mark.django_db
def test_a_slow_channel_does_not_hold_back_another_channels_sends(
    w: World, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    # Each email waits until a push has gone out. Sent side by side, the push goes at once
    # and the emails follow; sent one channel after the other, the emails wait in vain.
    settings.DELIVERY_CONCURRENCY = {"email": 2, "webpush": 2}
    outbox.reset_pacing()
    pushed = threading.Event()
    waited: list[bool] = []

    class SlowEmail(ChannelTransport):
        def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
            waited.append(pushed.wait(timeout=5))

    class Push(ChannelTransport):
        def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
            pushed.set()

    monkeypatch.setattr(transports_base, "registry", lambda: {"email": SlowEmail, "webpush": Push})
    push_only("Ana", w)
    confirmed_incident(w)
    outbox.drain()
    assert waited == [True, True]


class InboxLike(ChannelTransport):
    """Writes to the database as it sends, like the demo inbox: runs in the calling thread,
    where a test can look at what the worker recorded so far."""

    concurrent = False
    recorded: ClassVar[list[int]]  # sent rows recorded when each send began
    seconds_per_send: ClassVar[float]
    clock: ClassVar[FakeClock]

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        self.recorded.append(Delivery.objects.filter(status=DeliveryStatus.SENT).count())
        self.clock.now += self.seconds_per_send


def inbox_like(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock, seconds: float
) -> type[InboxLike]:
    inbox = type(
        "Inbox", (InboxLike,), {"recorded": [], "seconds_per_send": seconds, "clock": clock}
    )
    monkeypatch.setattr(transports_base, "registry", lambda: {"email": inbox})
    return inbox


@pytest.mark.django_db
@pytest.mark.parametrize("seconds", [1.0, 0.0])
def test_each_sent_row_is_recorded_before_the_next_send_slow_or_fast(
    w: World, monkeypatch: pytest.MonkeyPatch, clock: FakeClock, seconds: float
) -> None:
    # A worker killed mid-batch re-sends only the message in flight (tests/test_outbox_kill.py).
    inbox = inbox_like(monkeypatch, clock, seconds=seconds)
    member("Ana", w.east, area=EAST, email="ana@example.org")
    confirmed_incident(w)
    outbox.drain()
    assert inbox.recorded == [0, 1, 2]


# Every channel at once


@pytest.mark.django_db
def test_an_all_channels_alert_goes_to_every_usable_endpoint(w: World) -> None:
    push = add_push(w.responder)
    incident = change_state(incident_at(w), State.CONFIRMED, actor=w.dispatcher, all_channels=True)
    rosa = deliveries(incident).filter(member=w.responder)
    assert set(rosa.values_list("endpoint_id", flat=True)) == {email_of(w.responder).pk, push.pk}
    assert deliveries(incident).filter(member=w.member).count() == 1


@pytest.mark.django_db
def test_an_all_channels_alert_skips_unverified_and_disabled_endpoints(w: World) -> None:
    ContactEndpoint.create(
        w.responder, "webpush", "https://push.example/rosa", data=PUSH_DATA, verified=False
    )
    gone = add_push(w.member)
    ContactEndpoint.objects.filter(pk=gone.pk).update(disabled_at=timezone.now())
    incident = change_state(incident_at(w), State.CONFIRMED, actor=w.dispatcher, all_channels=True)
    assert set(deliveries(incident).values_list("kind", flat=True)) == {"email"}
    assert deliveries(incident).count() == 2


@pytest.mark.django_db
def test_an_alert_goes_to_the_first_channel_only_by_default(w: World) -> None:
    add_push(w.responder)
    incident = confirmed_incident(w)
    assert list(deliveries(incident).filter(member=w.responder).values_list("kind", flat=True)) == [
        "email"
    ]


@pytest.mark.django_db
def test_the_alert_records_whether_it_went_to_every_channel(w: World) -> None:
    everywhere = change_state(
        incident_at(w), State.CONFIRMED, actor=w.dispatcher, all_channels=True
    )
    first_only = confirmed_incident(w, NEARBY)
    assert everywhere.alerts.get().all_channels is True
    assert first_only.alerts.get().all_channels is False


@pytest.mark.django_db
def test_an_all_channels_alert_counts_the_people_it_targets_not_their_channels(w: World) -> None:
    add_push(w.responder)
    incident = change_state(incident_at(w), State.CONFIRMED, actor=w.dispatcher, all_channels=True)
    assert deliveries(incident).count() == 3
    assert incident.alerts.get().targeted == 2


@pytest.mark.django_db
def test_a_permanent_failure_in_an_all_channels_alert_does_not_fall_back(
    w: World, channels: Channels
) -> None:
    channels.email.failures["rosa@example.org"] = TransportError("no such mailbox", permanent=True)
    add_push(w.responder)
    incident = change_state(incident_at(w), State.CONFIRMED, actor=w.dispatcher, all_channels=True)
    # A new device since the alert: a fall-back would pick it.
    ContactEndpoint.create(
        w.responder, "webpush", "https://push.example/rosa-tablet", data=PUSH_DATA, verified=True
    )
    outbox.drain()
    rosa = deliveries(incident).filter(member=w.responder)
    assert rosa.count() == 2
    assert rosa.get(kind="email").status == DeliveryStatus.DEAD
    assert rosa.get(kind="webpush").status == DeliveryStatus.SENT


@pytest.mark.django_db
def test_a_permanent_failure_in_a_first_channel_alert_falls_back_to_a_new_device(
    w: World, channels: Channels
) -> None:
    # The counterpart of the test above: the same setup without all_channels falls back.
    channels.email.failures["rosa@example.org"] = TransportError("no such mailbox", permanent=True)
    incident = confirmed_incident(w)
    add_push(w.responder)
    outbox.drain()
    assert deliveries(incident).filter(member=w.responder).count() == 2


# Confirming on the incident page


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


def confirm_on_the_page(w: World, **extra: str) -> Any:
    incident = incident_at(w)
    response = as_dispatcher(w.dispatcher).post(
        reverse("incident_state", args=[incident.pk]), {"state": "confirmed", **extra}
    )
    assert response.status_code == 302
    return incident


@pytest.mark.django_db
def test_the_incident_page_offers_to_alert_every_channel(w: World, settings: Settings) -> None:
    settings.STAFF_MFA = True
    incident = incident_at(w)
    response = as_dispatcher(w.dispatcher).get(reverse("incident", args=[incident.pk]))
    assert response.status_code == 200
    assert 'name="all_channels" value="1"' in response.content.decode()


@pytest.mark.django_db
def test_confirming_with_all_channels_on_the_page_alerts_every_channel(
    w: World, settings: Settings
) -> None:
    settings.STAFF_MFA = True
    add_push(w.responder)
    incident = confirm_on_the_page(w, all_channels="1")
    assert incident.alerts.get().all_channels is True
    assert deliveries(incident).filter(member=w.responder).count() == 2


@pytest.mark.django_db
def test_confirming_on_the_page_alerts_the_first_channel_only_by_default(
    w: World, settings: Settings
) -> None:
    settings.STAFF_MFA = True
    add_push(w.responder)
    incident = confirm_on_the_page(w)
    assert incident.alerts.get().all_channels is False
    assert deliveries(incident).filter(member=w.responder).count() == 1


@pytest.mark.django_db
def test_all_channels_on_a_resolve_sends_the_all_clear_where_the_alert_went(
    w: World, channels: Channels
) -> None:
    add_push(w.responder)
    incident = confirmed_incident(w)
    outbox.drain()
    client = as_dispatcher(w.dispatcher)
    client.post(
        reverse("incident_state", args=[incident.pk]), {"state": "resolved", "all_channels": "1"}
    )
    all_clear = incident.alerts.get(purpose=Purpose.ALL_CLEAR)
    assert all_clear.all_channels is False
    assert all_clear.deliveries.filter(member=w.responder).count() == 1


# One delivery per member


def twice_matched(w: World) -> Member:
    """Ana: two areas around the east incident, a member of two committees there."""
    ana = member("Ana", w.east, area=EAST, email="ana@example.org")
    AlertArea.objects.create(
        member=ana, cell=geo.cell_at(*NEARBY, django_settings.AREA_RESOLUTION), ring=1
    )
    Membership.objects.create(committee=committee("Eastside", EAST), member=ana, role=Role.MEMBER)
    return ana


@pytest.mark.django_db
def test_a_member_matched_twice_through_two_committees_gets_one_delivery(w: World) -> None:
    ana = twice_matched(w)
    incident = confirmed_incident(w)
    assert deliveries(incident).filter(member=ana).count() == 1


@pytest.mark.django_db
def test_a_member_matched_twice_gets_one_delivery_per_channel_in_all_channels_mode(
    w: World,
) -> None:
    ana = twice_matched(w)
    add_push(ana)
    incident = change_state(incident_at(w), State.CONFIRMED, actor=w.dispatcher, all_channels=True)
    assert deliveries(incident).filter(member=ana).count() == 2


# The alert link


@pytest.mark.django_db
def test_every_attempt_at_a_delivery_carries_the_same_link(
    w: World, channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    channels.email.failures["mateo@example.org"] = TransportError("mailbox busy")
    incident = confirmed_incident(w)
    outbox.drain()
    # A minute later by the signing clock: a link signed "now" would differ.
    later = time.time() + 60
    monkeypatch.setattr(signing, "time", SimpleNamespace(time=lambda: later))
    del channels.email.failures["mateo@example.org"]
    deliveries(incident).filter(member=w.member).update(next_attempt_at=timezone.now())
    outbox.drain()
    first, second = [a for a in channels.email.attempts if a.address == "mateo@example.org"]
    assert second.message.url == first.message.url
    assert second.message.text == first.message.text
    assert second.message.html == first.message.html
    assert second.idempotency_key == first.idempotency_key


@pytest.mark.django_db
def test_rendering_an_alert_again_later_gives_the_same_link(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident = confirmed_incident(w)
    alert = incident.alerts.get()
    first = messages.Renderer().render(alert, member_id=w.member.pk, language="en")
    later = time.time() + 1
    monkeypatch.setattr(signing, "time", SimpleNamespace(time=lambda: later))
    again = messages.Renderer().render(alert, member_id=w.member.pk, language="en")
    assert (again.url, again.text) == (first.url, first.text)


@pytest.mark.django_db
def test_the_link_of_a_retried_delivery_opens_the_alert_page(w: World, channels: Channels) -> None:
    channels.email.failures["mateo@example.org"] = TransportError("mailbox busy")
    incident = confirmed_incident(w)
    outbox.drain()
    del channels.email.failures["mateo@example.org"]
    deliveries(incident).filter(member=w.member).update(next_attempt_at=timezone.now())
    outbox.drain()
    url = channels.email.sent[-1].message.url
    response = Client().get(urlsplit(url).path)
    assert response.status_code == 200
    assert channels.email.sent[-1].address == "mateo@example.org"


@pytest.mark.django_db
def test_a_claim_leases_no_more_rows_than_its_limit_however_many_are_due(w: World) -> None:
    # On PostgreSQL, UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)
    # may run its subquery again for each row it updates: bench/latency.py saw one
    # claim of 20 lease all 1,000 rows due. This plan is the planner's choice, which a
    # table this small may not make; the claim must hold its limit whatever the plan.
    incident = confirmed_incident(w)
    template = deliveries(incident).filter(kind="email").first()
    assert template is not None
    # Statistics taken while the table was small, as after a quiet night.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor == "sqlite" else "ANALYZE alerts_delivery")
    rows = [
        Delivery(
            alert_id=template.alert_id,
            member_id=template.member_id,
            endpoint=ContactEndpoint.objects.create(
                member_id=template.member_id,
                kind="email",
                sealed=b"x",
                blind_index=f"claim-limit-{i}",
                verified_at=timezone.now(),
                priority=9,
            ),
            kind="email",
            next_attempt_at=template.next_attempt_at,
        )
        for i in range(600)
    ]
    Delivery.objects.bulk_create(rows)
    assert deliveries(incident).filter(kind="email").count() > 600
    for limit in (1, 20, 200):
        batch = outbox.claim(limit, kind="email")
        assert len(batch) == limit
        assert Delivery.objects.filter(claim_token=batch.token).count() == limit
    assert Delivery.objects.filter(status=DeliveryStatus.SENDING).count() == 221
