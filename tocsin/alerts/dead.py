"""Dead deliveries: the ones the outbox gave up on, listed for operators and queued again
on request.

A retry never reads or opens the contact address: it only puts the row back in the queue,
and a worker sends it as if it were new.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.utils import timezone

from tocsin.alerts.models import Delivery, DeliveryStatus, Purpose
from tocsin.alerts.outbox import announce
from tocsin.committees.models import Membership
from tocsin.lib.incident_states import State

# The channel still works: verified, not disabled after a permanent error.
CHANNEL_USABLE = Q(endpoint__verified_at__isnull=False, endpoint__disabled_at__isnull=True)
# An alert about an incident that is no longer confirmed would arrive after the all-clear
# or the correction; the outbox cancels queued ones for the same reason.
STILL_CURRENT = ~Q(alert__purpose=Purpose.CONFIRMED) | Q(alert__incident__state=State.CONFIRMED)
CAN_RETRY = CHANNEL_USABLE & STILL_CURRENT

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    class Flags(TypedDict):
        channel_usable: bool
        still_current: bool

    DeadDelivery = WithAnnotations[Delivery, Flags]


def dead(
    *, committees: set[int] | None = None, incident_id: int | None = None
) -> QuerySet[DeadDelivery]:
    """Return dead deliveries, newest first, with ``channel_usable`` and ``still_current``.

    ``committees`` limits them to deliveries to those committees' members (a
    dispatcher's own committees); ``None`` means every committee (operators on the
    command line).
    """
    qs = Delivery.objects.filter(status=DeliveryStatus.DEAD)
    if committees is not None:
        qs = qs.filter(
            member_id__in=Membership.objects.filter(committee_id__in=committees).values("member_id")
        )
    if incident_id is not None:
        qs = qs.filter(alert__incident_id=incident_id)
    # No column records when a row died: next_attempt_at is when its last attempt fell due,
    # which the worker claims within seconds.
    return (
        qs.select_related("alert__incident", "member", "endpoint")
        .defer("endpoint__sealed", "endpoint__blind_index")
        .annotate(
            channel_usable=ExpressionWrapper(CHANNEL_USABLE, output_field=BooleanField()),
            still_current=ExpressionWrapper(STILL_CURRENT, output_field=BooleanField()),
        )
        .order_by("-next_attempt_at", "-id")
    )


@dataclass(frozen=True)
class Retried:
    queued: int
    # Dead rows left alone: their channel is gone, or their incident was closed.
    skipped: int


def retry(deliveries: QuerySet[Delivery]) -> Retried:
    """Queue the dead rows among ``deliveries`` again and wake the workers after commit.

    Only rows still dead change (a second click queues nothing twice), and only those
    whose channel works and whose alert is still current.
    """
    pending = deliveries.filter(status=DeliveryStatus.DEAD).order_by()
    with transaction.atomic():
        skipped = pending.exclude(CAN_RETRY).count()
        retryable = pending.filter(CAN_RETRY)
        incident_ids = set(retryable.values_list("alert__incident_id", flat=True).distinct())
        queued = Delivery.objects.filter(
            pk__in=retryable.values("pk"), status=DeliveryStatus.DEAD
        ).update(
            status=DeliveryStatus.QUEUED,
            attempts=0,
            error="",
            next_attempt_at=timezone.now(),
            lease_until=None,
            claim_token="",
        )
        for incident_id in incident_ids if queued else ():
            announce(incident_id)
    return Retried(queued=queued, skipped=skipped)
