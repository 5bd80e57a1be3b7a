"""Claiming due deliveries with a lease: a crashed worker's rows become due again when
its lease ends, and urgent alerts are claimed first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from tocsin.alerts.models import RETRYABLE, Delivery, DeliveryStatus


class Batch(list[int]):
    """The ids of claimed deliveries, with the token of the claim."""

    # Django rebuilds list values with type(value)(iterable) when resolving lookups.
    def __init__(self, ids: Iterable[int] = (), token: str = "") -> None:
        super().__init__(ids)
        self.token = token


def claim(limit: int | None = None, *, kind: str | None = None) -> Batch:
    """Lease up to ``limit`` due deliveries (of channel ``kind``, or of any) to this
    worker: first those whose lease ran out (a worker crashed), then the most urgent
    due ones. Both reads come from partial indexes in order and stop at the limit."""
    limit = limit or settings.DELIVERY_BATCH
    token = uuid.uuid4().hex
    now = timezone.now()
    lease = now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    skip_locked = connection.features.has_select_for_update_skip_locked
    with transaction.atomic():
        ids: list[int] = []
        expired = Delivery.objects.filter(status=DeliveryStatus.SENDING, lease_until__lt=now)
        due = Delivery.objects.filter(status__in=RETRYABLE, next_attempt_at__lte=now)
        if kind is not None:
            expired, due = expired.filter(kind=kind), due.filter(kind=kind)
        for qs in (
            expired.order_by("lease_until", "id"),
            due.order_by("priority", "next_attempt_at", "id"),
        ):
            if len(ids) >= limit:
                break
            if skip_locked:
                qs = qs.select_for_update(skip_locked=True)
            # On SQLite the IMMEDIATE transaction holds the write lock, so no other
            # worker can claim between this read and the update below.
            ids += qs.values_list("id", flat=True)[: limit - len(ids)]
        if ids:
            Delivery.objects.filter(id__in=ids).update(
                status=DeliveryStatus.SENDING,
                lease_until=lease,
                claim_token=token,
                attempts=F("attempts") + 1,
            )
    return Batch(ids, token)


def claim_unhandled(kinds: list[str]) -> Batch:
    """Claim due rows of channels this process has no transport for (say, a channel the
    operator turned off after alerts were queued), so they fail visibly."""
    token = uuid.uuid4().hex
    now = timezone.now()
    with transaction.atomic():
        qs = Delivery.objects.filter(status__in=RETRYABLE, next_attempt_at__lte=now).exclude(
            kind__in=kinds
        )
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        ids = list(qs.order_by("id").values_list("id", flat=True)[: settings.DELIVERY_BATCH])
        if ids:
            Delivery.objects.filter(id__in=ids).update(
                status=DeliveryStatus.SENDING,
                lease_until=now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
                claim_token=token,
                attempts=F("attempts") + 1,
            )
    return Batch(ids, token)
