"""What a failed send becomes: retried later with capped backoff, paused, or dead, the
endpoint disabled and the alert sent on the member's next channel.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F, QuerySet
from django.utils import timezone

from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.alerts.outbox.recording import Deferred, Outcome, Row
from tocsin.lib.retry import backoff
from tocsin.members.models import ContactEndpoint
from tocsin.transports.base import NoTransport, TransportError

logger = logging.getLogger(__name__)


def _record_failure(
    d: Row, mine: QuerySet[Delivery], error: BaseException, outcome: Outcome
) -> None:
    row = mine.filter(pk=d.pk)
    if not isinstance(error, TransportError):
        # A bug or a broken sealed row: keep it visible for operators, never lose the rest.
        logger.error("delivery %s crashed", d.pk, exc_info=error)
        row.update(
            status=DeliveryStatus.DEAD,
            error=f"internal error: {type(error).__name__}",
            lease_until=None,
        )
        outcome.dead += 1
        return
    if isinstance(error, Deferred):
        row.update(
            status=DeliveryStatus.QUEUED,
            attempts=F("attempts") - 1,
            lease_until=None,
            next_attempt_at=timezone.now() + timedelta(seconds=error.retry_after or 1),
        )
        return
    logger.info("delivery %s failed: %s", d.pk, error.message)
    if error.permanent or d.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
        row.update(status=DeliveryStatus.DEAD, error=error.message[:200], lease_until=None)
        outcome.dead += 1
        if error.permanent and not isinstance(error, NoTransport):
            # An endpoint already off keeps its reason (the member's STOP, an unsubscribe).
            ContactEndpoint.objects.filter(pk=d.endpoint_id, disabled_at__isnull=True).update(
                disabled_at=timezone.now(), last_error=error.message[:200]
            )
        fall_back(d)
    else:
        wait = max(backoff(d.attempts), error.retry_after or 0)
        row.update(
            status=DeliveryStatus.FAILED,
            error=error.message[:200],
            lease_until=None,
            next_attempt_at=timezone.now() + timedelta(seconds=wait),
        )
        outcome.failed += 1


def fall_back(d: Row | Delivery) -> bool:
    """Queue the alert on the member's next usable endpoint not yet tried; return
    whether there was one."""
    if d.alert.all_channels:
        return False  # every channel already has its own delivery
    tried = Delivery.objects.filter(alert_id=d.alert_id, member_id=d.member_id).values_list(
        "endpoint_id"
    )
    nxt = (
        ContactEndpoint.objects.usable()
        .filter(member_id=d.member_id)
        .exclude(id__in=tried)
        .order_by("priority", "id")
        .first()
    )
    if nxt is None:
        return False
    Delivery.objects.get_or_create(
        alert_id=d.alert_id,
        endpoint=nxt,
        defaults={
            "member_id": d.member_id,
            "kind": nxt.kind,
            "priority": d.priority,
            "extra": True,
        },
    )
    return True
