"""Alerts (CAP-style) and the delivery outbox."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class MsgType(models.TextChoices):
    ALERT = "Alert", "Alert"
    UPDATE = "Update", "Update"
    CANCEL = "Cancel", "Cancel"


class Certainty(models.TextChoices):
    OBSERVED = "Observed", "Observed"
    POSSIBLE = "Possible", "Possible"


class Purpose(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed incident")
    ALL_CLEAR = "all_clear", _("All clear")
    CORRECTION = "correction", _("Correction: false alarm")


class Alert(models.Model):
    incident = models.ForeignKey("incidents.Incident", models.CASCADE, related_name="alerts")
    msg_type = models.CharField(max_length=10, choices=MsgType.choices)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    certainty = models.CharField(max_length=10, choices=Certainty.choices)
    cell = models.BigIntegerField()
    ring = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    targeted = models.PositiveIntegerField(default=0)
    references = models.ForeignKey("self", models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["sent_at", "id"]


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed, retrying")
    DEAD = "dead", _("Failed")
    CANCELLED = "cancelled", _("Cancelled before sending")


TERMINAL = (DeliveryStatus.SENT, DeliveryStatus.DEAD, DeliveryStatus.CANCELLED)


class Delivery(models.Model):
    """One alert to one endpoint: written with the alert, then claimed and sent by a worker."""

    alert = models.ForeignKey(Alert, models.CASCADE, related_name="deliveries")
    member = models.ForeignKey("members.Member", models.CASCADE, related_name="+")
    endpoint = models.ForeignKey("members.ContactEndpoint", models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    # Random per claim: a worker whose lease ran out (and whose row another worker then
    # claimed) cannot record or send under the new claim.
    claim_token = models.CharField(max_length=32, blank=True)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "endpoint"], name="delivery_once_per_endpoint")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]
