"""Who asked for the daily digest (sealed), each day's issue, and the messages (the outbox)."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone


def _token() -> str:
    return secrets.token_urlsafe(18)


class Subscription(models.Model):
    """One email address that asked for the digest; it gets issues once confirmed."""

    # The address, sealed to the vault (only workers open it), and a keyed hash so an
    # address signs up once. Never the address itself.
    sealed = models.BinaryField()
    blind_index = models.CharField(max_length=64, unique=True)
    language = models.CharField(max_length=8, default="en")
    # The secret of the confirmation and unsubscribe links (signed in the links).
    token = models.CharField(max_length=32, unique=True, default=_token)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)


class Issue(models.Model):
    """One day's digest: the incidents newly public that day (as published() showed them)."""

    day = models.DateField(unique=True)
    incident_ids = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)


class DigestMessage(models.Model):
    """One email to one subscription: the confirmation request, or an issue."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENT = "sent"
        FAILED = "failed"
        DEAD = "dead"
        CANCELLED = "cancelled"

    subscription = models.ForeignKey(Subscription, models.CASCADE, related_name="messages")
    # None: the request to confirm the address.
    issue = models.ForeignKey(Issue, models.CASCADE, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "issue"], name="digest_message_once")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["queued", "failed"]),
                name="digest_message_due",
            )
        ]
