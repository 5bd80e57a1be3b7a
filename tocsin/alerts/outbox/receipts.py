"""Receipts: a device confirms a push arrived; confirmed alerts no device acknowledged
in time go to the member's next channel too.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from tocsin.alerts.models import RECEIPT_KINDS, Delivery, DeliveryStatus, Purpose
from tocsin.alerts.outbox.retrying import fall_back
from tocsin.lib import live
from tocsin.lib.incident_states import State

# --- receipts ---

RECEIPT_SALT = "tocsin.delivery-receipt"


def receipt_url(delivery_id: int) -> str:
    token = signing.dumps(delivery_id, salt=RECEIPT_SALT)
    return settings.SITE_URL + reverse("delivery_receipt", args=[token])


def record_receipt(token: str) -> bool:
    """Mark the delivery in a signed receipt token received; False if the token is bad."""
    try:
        delivery_id = int(signing.loads(token, salt=RECEIPT_SALT, max_age=7 * 86400))
    except (signing.BadSignature, TypeError, ValueError):
        return False
    if Delivery.objects.filter(pk=delivery_id, receipt_at__isnull=True).update(
        receipt_at=timezone.now()
    ):
        incident_id = (
            Delivery.objects.filter(pk=delivery_id)
            .values_list("alert__incident_id", flat=True)
            .first()
        )
        if incident_id:
            live.publish(f"incident:{incident_id}")
    return True


def fall_back_unreceived(limit: int = 500) -> int:
    """Send confirmed alerts that no device acknowledged in time to the member's next
    channel as well. Return how many deliveries were followed up."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.DELIVERY_RECEIPT_SECONDS)
    stale = list(
        Delivery.objects.select_related("alert")
        .filter(
            status=DeliveryStatus.SENT,
            receipt_at__isnull=True,
            fell_back=False,
            sent_at__lt=cutoff,
            # Alerts expire after six hours: older rows are never looked at again.
            sent_at__gt=now - timedelta(hours=6),
            kind__in=RECEIPT_KINDS,
            alert__purpose=Purpose.CONFIRMED,
            alert__incident__state=State.CONFIRMED,
        )
        .order_by("sent_at")[:limit]
    )
    incidents = set()
    followed = 0
    for d in stale:
        with transaction.atomic():
            claimed = Delivery.objects.filter(pk=d.pk, fell_back=False).update(fell_back=True)
            if claimed and fall_back(d):
                followed += 1
                incidents.add(d.alert.incident_id)
    for incident_id in incidents:
        live.publish(f"incident:{incident_id}")
    return followed
