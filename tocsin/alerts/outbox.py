"""The delivery outbox: alerts become Delivery rows in the transaction that decides them;
workers claim due rows with a lease, send them, and record the outcome.

A crashed worker loses nothing: its leased rows become due again when the lease ends.
The unique (alert, endpoint) key makes a second claim of the same row harmless, and
the transport gets that key as its idempotency key.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from tocsin.alerts import messages, targeting
from tocsin.alerts.models import Alert, Certainty, Delivery, DeliveryStatus, MsgType, Purpose
from tocsin.incidents.models import Incident
from tocsin.lib import live
from tocsin.members.models import ContactEndpoint, Member
from tocsin.transports import base as transports
from tocsin.transports.base import TransportError

logger = logging.getLogger(__name__)

WORKER_ID = uuid.uuid4().hex[:12]


def _first_endpoints(member_ids: set[int]) -> dict[int, int]:
    """Return member id -> id of their first usable endpoint."""
    chosen: dict[int, int] = {}
    rows = (
        ContactEndpoint.objects.usable()
        .filter(member_id__in=member_ids)
        .order_by("member_id", "priority", "id")
        .values_list("member_id", "id")
    )
    for member_id, endpoint_id in rows:
        chosen.setdefault(member_id, endpoint_id)
    return chosen


def issue_alert(incident: Incident, purpose: str) -> Alert:
    """Create an alert about ``incident`` and its deliveries. Call inside the transaction
    that changes the incident's state, so both commit or neither does."""
    now = timezone.now()
    previous = incident.alerts.filter(purpose=Purpose.CONFIRMED).order_by("-sent_at").first()
    disk = targeting.alert_disk(incident.cell)
    alert = Alert.objects.create(
        incident=incident,
        msg_type={
            Purpose.CONFIRMED: MsgType.ALERT,
            Purpose.ALL_CLEAR: MsgType.UPDATE,
            Purpose.CORRECTION: MsgType.CANCEL,
        }[Purpose(purpose)],
        purpose=purpose,
        certainty=Certainty.OBSERVED,
        cell=disk.cell,
        ring=disk.ring,
        sent_at=now,
        expires_at=now + timedelta(hours=6),
        references=previous,
    )
    if purpose == Purpose.CONFIRMED:
        endpoints = _first_endpoints(targeting.matching_members(disk))
        rows = [
            Delivery(alert=alert, member_id=m, endpoint_id=e, next_attempt_at=now)
            for m, e in endpoints.items()
        ]
    else:
        # The all-clear or correction goes to exactly the endpoints that got the alert;
        # alerts still waiting in the queue are cancelled instead of sent late.
        earlier = Delivery.objects.filter(
            alert__incident=incident, alert__purpose=Purpose.CONFIRMED
        )
        earlier.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED]).update(
            status=DeliveryStatus.CANCELLED, error="superseded", lease_until=None
        )
        got = earlier.filter(status__in=[DeliveryStatus.SENT, DeliveryStatus.SENDING])
        rows = [
            Delivery(alert=alert, member_id=m, endpoint_id=e, next_attempt_at=now)
            for m, e in got.values_list("member_id", "endpoint_id").distinct()
        ]
    Delivery.objects.bulk_create(rows, batch_size=2000)
    alert.targeted = len(rows)
    alert.save(update_fields=["targeted"])
    transaction.on_commit(lambda: _wake_workers(incident.pk))
    return alert


def _wake_workers(incident_id: int) -> None:
    from tocsin.alerts.tasks import deliver_outbox

    live.publish(f"incident:{incident_id}")
    try:
        deliver_outbox.enqueue()
    except Exception:  # the worker's sweep sends them anyway
        logger.exception("could not enqueue the outbox task")


def _due() -> Q:
    now = timezone.now()
    return Q(
        status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED], next_attempt_at__lte=now
    ) | Q(status=DeliveryStatus.SENDING, lease_until__lt=now)


class Batch(list[int]):
    """The ids of claimed deliveries, with the token of the claim."""

    # Django rebuilds list values with type(value)(iterable) when resolving lookups.
    def __init__(self, ids: Iterable[int] = (), token: str = "") -> None:
        super().__init__(ids)
        self.token = token


def claim(limit: int | None = None) -> Batch:
    """Lease up to ``limit`` due deliveries to this worker and return them."""
    limit = limit or settings.DELIVERY_BATCH
    token = uuid.uuid4().hex
    lease = timezone.now() + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    with transaction.atomic():
        qs = Delivery.objects.filter(_due()).order_by("next_attempt_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        # On SQLite the IMMEDIATE transaction holds the write lock, so no other worker
        # can claim between this read and the update below.
        ids = list(qs.values_list("id", flat=True)[:limit])
        if ids:
            Delivery.objects.filter(id__in=ids).update(
                status=DeliveryStatus.SENDING,
                lease_until=lease,
                claim_token=token,
                attempts=F("attempts") + 1,
            )
    return Batch(ids, token)


def backoff(attempts: int) -> float:
    """Return seconds to wait before attempt ``attempts + 1``: capped exponential with jitter."""
    base = min(600.0, 5.0 * (2 ** max(0, attempts - 1)))
    return base / 2 + random.random() * base / 2


@dataclass
class Outcome:
    sent: int = 0
    failed: int = 0
    dead: int = 0


def send_one(delivery_id: int, outcome: Outcome, *, token: str) -> int | None:
    """Send one delivery leased under ``token`` and record the result. Return its incident id.

    A delivery whose lease this worker lost (another worker claimed it since) is skipped.
    """
    d = (
        Delivery.objects.select_related("alert__incident", "member", "endpoint")
        .filter(
            id=delivery_id,
            status=DeliveryStatus.SENDING,
            claim_token=token,
            lease_until__gt=timezone.now(),
        )
        .first()
    )
    if d is None:
        return None
    mine = Delivery.objects.filter(id=d.pk, status=DeliveryStatus.SENDING, claim_token=token)
    endpoint = d.endpoint
    try:
        if endpoint.disabled_at is not None:
            raise TransportError("endpoint disabled", permanent=True)
        payload = endpoint.open()
        payload.setdefault("member_id", d.member_id)
        payload.setdefault("channel", endpoint.kind)
        message = messages.render(d.alert, member_id=d.member_id, language=d.member.language)
        message.extra["topic"] = f"i{d.alert.incident_id}-e{endpoint.pk}"
        transports.get(endpoint.kind).send(
            payload, message, idempotency_key=f"a{d.alert_id}-e{endpoint.pk}"
        )
    except TransportError as e:
        logger.info("delivery %s failed: %s", d.pk, e.message)
        if e.permanent or d.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
            mine.update(status=DeliveryStatus.DEAD, error=e.message[:200], lease_until=None)
            outcome.dead += 1
            if e.permanent:
                ContactEndpoint.objects.filter(pk=endpoint.pk).update(
                    disabled_at=timezone.now(), last_error=e.message[:200]
                )
            _fall_back(d)
        else:
            wait = max(backoff(d.attempts), e.retry_after or 0)
            mine.update(
                status=DeliveryStatus.FAILED,
                error=e.message[:200],
                lease_until=None,
                next_attempt_at=timezone.now() + timedelta(seconds=wait),
            )
            outcome.failed += 1
    except Exception as e:
        # A bug or a broken sealed row: keep it visible for operators, never lose the rest.
        logger.exception("delivery %s crashed", d.pk)
        mine.update(
            status=DeliveryStatus.DEAD,
            error=f"internal error: {type(e).__name__}",
            lease_until=None,
        )
        outcome.dead += 1
    else:
        mine.update(status=DeliveryStatus.SENT, sent_at=timezone.now(), lease_until=None, error="")
        outcome.sent += 1
    return d.alert.incident_id


def _fall_back(d: Delivery) -> None:
    """After a permanent failure, queue the alert on the member's next usable endpoint."""
    tried = Delivery.objects.filter(alert_id=d.alert_id, member_id=d.member_id).values_list(
        "endpoint_id"
    )
    nxt = (
        ContactEndpoint.objects.usable().filter(member_id=d.member_id).exclude(id__in=tried).first()
    )
    if nxt is not None:
        Delivery.objects.get_or_create(
            alert_id=d.alert_id, endpoint=nxt, defaults={"member_id": d.member_id}
        )


# One drain at a time per process: the task and the sweep would otherwise only contend
# for the same rows (and, on SQLite, for the write lock).
_drain_lock = threading.Lock()


def drain(*, max_batches: int | None = None) -> Outcome:
    """Send due deliveries until none are left (or ``max_batches`` batches).

    Returns at once, doing nothing, if this process is already draining.
    """
    if not _drain_lock.acquire(blocking=False):
        return Outcome()
    try:
        return _drain(max_batches)
    finally:
        _drain_lock.release()


def _drain(max_batches: int | None) -> Outcome:
    outcome = Outcome()
    batches = 0
    while max_batches is None or batches < max_batches:
        batch = claim()
        if not batch:
            break
        batches += 1
        touched: set[int] = set()
        for delivery_id in batch:
            incident_id = send_one(delivery_id, outcome, token=batch.token)
            if incident_id is not None:
                touched.add(incident_id)
        live.publish(*(f"incident:{i}" for i in touched))
    return outcome


def progress(incident: Incident) -> list[dict]:
    """Return per-alert delivery counts for the dispatcher."""
    out = []
    for alert in incident.alerts.all():
        counts = dict(
            Delivery.objects.filter(alert=alert)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        done = (
            Delivery.objects.filter(alert=alert, status=DeliveryStatus.SENT)
            .order_by("-sent_at")
            .first()
        )
        out.append(
            {
                "alert": alert,
                "targeted": alert.targeted,
                "queued": counts.get(DeliveryStatus.QUEUED, 0)
                + counts.get(DeliveryStatus.SENDING, 0),
                "sent": counts.get(DeliveryStatus.SENT, 0),
                "retrying": counts.get(DeliveryStatus.FAILED, 0),
                "failed": counts.get(DeliveryStatus.DEAD, 0),
                "cancelled": counts.get(DeliveryStatus.CANCELLED, 0),
                "seconds": (done.sent_at - alert.sent_at).total_seconds()
                if done and done.sent_at
                else None,
            }
        )
    return out


def member_language(member_id: int) -> str:
    return Member.objects.filter(pk=member_id).values_list("language", flat=True).first() or "en"
