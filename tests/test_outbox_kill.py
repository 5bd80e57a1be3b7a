"""A worker killed mid-batch re-sends nothing it had already sent, but the one message in flight.

Each send is recorded as soon as the sends pause (outbox.RECORD_QUIET), so what another
worker sends again once the dead worker's lease runs out is only what had not left yet,
plus the messages (one per send thread) in the transport's hands at the kill; never more
than outbox.RECORD_WINDOW. The SMTP peer (tests/peers/smtp.py)
counts what each address received: email has no idempotency key a server honours.

The kill is simulated in the process: the transport raises SystemExit (inline sends, in the
claiming thread, which dies as a killed process would, writing nothing more) or freezes
every send thread (pooled sends), at a chosen point of a batch. Then the lease runs out,
a second worker drains the outbox, and the peer's inbox is read. tests/test_worker_kill.py
kills real processes on PostgreSQL; tests/test_metro.py does it behind the proxy.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from django.utils import timezone

from tests.factories import World
from tests.peers.smtp import SMTPPeer, mail_settings
from tests.test_outbox import confirmed_incident
from tests.test_workers_exactly_once import recipients
from tocsin.alerts import outbox
from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.transports import registry as transports_base
from tocsin.transports.base import Message
from tocsin.transports.email import EmailTransport

RECIPIENTS = 30
# Against a hang only.
TIMEOUT = 20


class Killed(SystemExit):
    """The worker process dies here."""


class KillingEmail(EmailTransport):
    """The real email transport, to the SMTP peer, until the kill: before the message
    numbered ``kill_at`` (counting from 0) leaves, or, with ``in_flight``, after the peer
    took it and before the send returns. Inline sends die at once; pooled ones freeze
    until the test releases them, then die."""

    kill_at: ClassVar[int]
    in_flight: ClassVar[bool]
    started: ClassVar[int]
    inside: ClassVar[int]  # sends in the SMTP conversation now
    returned: ClassVar[int]
    dead: ClassVar[threading.Event]
    release: ClassVar[threading.Event]
    lock: ClassVar[threading.Lock]

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        with self.lock:
            n = type(self).started
            type(self).started += 1
            if self.dead.is_set() or (n == self.kill_at and not self.in_flight):
                dies = True
            else:
                dies = False
                type(self).inside += 1
        if dies:
            self._die()
        try:
            super().send(payload, message, idempotency_key=idempotency_key)
        finally:
            with self.lock:
                type(self).inside -= 1
        if n == self.kill_at:
            self._die()
        with self.lock:
            type(self).returned += 1

    def _die(self) -> None:
        self.dead.set()
        if self.concurrent_sends:
            self.release.wait(TIMEOUT)
        raise Killed(137)

    concurrent_sends: ClassVar[bool]


@pytest.fixture
def smtp(settings: Any) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        yield peer


def killing(
    monkeypatch: pytest.MonkeyPatch, *, kill_at: int, in_flight: bool, pooled: bool
) -> type[KillingEmail]:
    transport = type(
        "Killing",
        (KillingEmail,),
        {
            "kill_at": kill_at,
            "in_flight": in_flight,
            "started": 0,
            "inside": 0,
            "returned": 0,
            "dead": threading.Event(),
            "release": threading.Event(),
            "lock": threading.Lock(),
            "concurrent_sends": pooled,
        },
    )
    monkeypatch.setattr(transports_base, "registry", lambda: {"email": transport})
    return transport


def alert_everyone(w: World, settings: Any) -> None:
    recipients(RECIPIENTS, w.east)
    settings.TWO_PERSON_THRESHOLD = RECIPIENTS + 10
    confirmed_incident(w)


def first_worker(transport: type[KillingEmail]) -> threading.Thread:
    """Claim one batch of every delivery and send it in a thread of its own, which the
    transport kills; return the thread once the kill came."""

    def run() -> None:
        try:
            outbox.send_batch(outbox.claim(kind="email"), outbox.Outcome())
        except Killed:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert transport.dead.wait(TIMEOUT), "the transport never reached the kill"
    return thread


def lease_runs_out() -> None:
    Delivery.objects.filter(status=DeliveryStatus.SENDING).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )


def second_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transports_base, "registry", lambda: {"email": EmailTransport})
    outbox.drain()


def inbox(smtp: SMTPPeer) -> Counter[str]:
    return Counter(a for r in smtp.messages for a in r.rcpt_tos)


def wait_until_recorded(transport: type[KillingEmail]) -> None:
    """Wait until the sends under way at the kill returned and every send that returned
    is recorded as sent (or two seconds, if the worker keeps some unrecorded: the lease
    then runs out on them)."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        with transport.lock:
            inside, returned = transport.inside, transport.returned
        if not inside and Delivery.objects.filter(status=DeliveryStatus.SENT).count() >= returned:
            return
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kill_at", [1, 5, 17])
def test_a_worker_killed_between_inline_sends_duplicates_nothing(
    w: World, smtp: SMTPPeer, settings: Any, monkeypatch: pytest.MonkeyPatch, kill_at: int
) -> None:
    settings.DELIVERY_CONCURRENCY = {**settings.DELIVERY_CONCURRENCY, "email": 0}
    alert_everyone(w, settings)
    transport = killing(monkeypatch, kill_at=kill_at, in_flight=False, pooled=False)
    first_worker(transport).join(TIMEOUT)
    assert len(smtp.messages) == kill_at
    lease_runs_out()
    second_worker(monkeypatch)

    received = inbox(smtp)
    assert len(received) == Delivery.objects.count() >= RECIPIENTS
    assert {a: n for a, n in received.items() if n > 1} == {}
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kill_at", [1, 5, 17])
def test_a_worker_killed_mid_send_duplicates_only_the_message_in_flight(
    w: World, smtp: SMTPPeer, settings: Any, monkeypatch: pytest.MonkeyPatch, kill_at: int
) -> None:
    # The peer took the message, the worker died before the send returned: nobody can
    # tell it left, so it goes again. A duplicate alert beats a lost one.
    settings.DELIVERY_CONCURRENCY = {**settings.DELIVERY_CONCURRENCY, "email": 0}
    alert_everyone(w, settings)
    transport = killing(monkeypatch, kill_at=kill_at, in_flight=True, pooled=False)
    first_worker(transport).join(TIMEOUT)
    assert len(smtp.messages) == kill_at + 1
    in_flight = smtp.messages[-1].rcpt_tos[0]
    lease_runs_out()
    second_worker(monkeypatch)

    received = inbox(smtp)
    assert len(received) == Delivery.objects.count() >= RECIPIENTS
    assert {a: n for a, n in received.items() if n > 1} == {in_flight: 2}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kill_at", [1, 5, 17])
def test_a_worker_killed_mid_batch_duplicates_at_most_its_sends_in_flight(
    w: World, smtp: SMTPPeer, settings: Any, monkeypatch: pytest.MonkeyPatch, kill_at: int
) -> None:
    threads = 4
    settings.DELIVERY_CONCURRENCY = {**settings.DELIVERY_CONCURRENCY, "email": threads}
    alert_everyone(w, settings)
    transport = killing(monkeypatch, kill_at=kill_at, in_flight=False, pooled=True)
    thread = first_worker(transport)
    try:
        wait_until_recorded(transport)
        lease_runs_out()
        second_worker(monkeypatch)
    finally:
        transport.release.set()
        thread.join(TIMEOUT)

    received = inbox(smtp)
    assert len(received) == Delivery.objects.count() >= RECIPIENTS
    # Every send that returned was recorded at once: only the frozen ones go again, and
    # those never reached the peer. (Here the sends under way at the kill finish first;
    # a real kill re-sends those too: at most one per send thread.)
    assert {a: n for a, n in received.items() if n > 1} == {}
