"""What the public broadcast channels posted: one row per (incident, public state, channel),
so each incident is posted once when the public sees it confirmed and once when resolved;
and the public view each incident's public CAP alert was last published with."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class PublicPost(models.Model):
    """One post to a public broadcast channel (tocsin.public.broadcast).

    The unique constraint is what makes a post happen once: a worker writes the row
    before sending, and a second worker's row for the same (incident, state, channel)
    is refused by the database.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"
        DEAD = "dead"
        # Public before the channel was turned on: never posted late.
        SKIPPED = "skipped"

    incident = models.ForeignKey("incidents.Incident", models.CASCADE, related_name="+")
    # The public state posted: confirmed or resolved; or unfounded, the correction of a
    # confirmation the channel carried.
    state = models.CharField(max_length=16)
    channel = models.CharField(max_length=16)
    # What the channel said, as published() showed it (a correction repeats it, as the
    # incident is no longer public): the kind, the named area, the rounded time.
    kind = models.CharField(max_length=24, blank=True)
    place = models.CharField(max_length=120, blank=True)
    at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "state", "channel"], name="public_post_once"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="public_post_due")]


class CapVersion(models.Model):
    """The public view an incident's public CAP alert was last published with (its
    fingerprint, tocsin.public.incidents.PublicIncident.fingerprint): first an Alert; a
    later change of that view (a new verification label, a new area name) makes it an
    Update, whose identifier carries the new fingerprint's first characters."""

    incident = models.OneToOneField("incidents.Incident", models.CASCADE, related_name="+")
    msg_type = models.CharField(max_length=10)  # Alert or Update
    fingerprint = models.CharField(max_length=64)
    changed_at = models.DateTimeField(default=timezone.now)
