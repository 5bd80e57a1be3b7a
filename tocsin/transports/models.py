"""Committee channels: a committee's room or topic on another service, through Apprise.

A channel is an Apprise URL (a Matrix room, an ntfy topic, a webhook). The URL holds the
service's token and names the room, so it is sealed like a contact endpoint
(tocsin.vault): the operator's command and web processes can add one but never read it
back; only workers open it to post. Posts are an outbox like deliveries: one row per
(alert, channel), written in the alert's transaction and sent by a worker
(tocsin.alerts.posts).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin import vault
from tocsin.transports.status import DeliveryStatus


class ChannelQuerySet(models.QuerySet["CommitteeChannel"]):
    def usable(self) -> ChannelQuerySet:
        return self.filter(disabled_at__isnull=True)


class CommitteeChannel(models.Model):
    committee = models.ForeignKey(
        "committees.Committee", models.CASCADE, related_name="apprise_channels"
    )
    label = models.CharField(_("label"), max_length=60)
    # What kind of service the URL points at, as Apprise names it ("Matrix", "ntfy",
    # "JSON") and its scheme ("matrixs", "ntfys", "json"): never the host, room or token.
    service = models.CharField(_("service"), max_length=40)
    scheme = models.CharField(max_length=20)
    # {"address": <the Apprise URL>} sealed to the vault: web processes cannot read it.
    sealed = models.BinaryField()
    # The language the committee's posts are written in.
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Set when a post failed in a way retrying cannot fix (Apprise cannot use the URL).
    disabled_at = models.DateTimeField(null=True, blank=True)
    # A short reason safe to show an organizer (an HTTP status, "server unreachable").
    last_error = models.CharField(max_length=200, blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["committee", "label"], name="channel_label_unique")
        ]

    def __str__(self) -> str:
        return self.label

    @classmethod
    def seal_url(cls, url: str) -> bytes:
        return vault.seal({"address": url})

    def open(self) -> dict[str, Any]:
        """Return the sealed payload; only processes holding the vault private key can."""
        return vault.unseal(bytes(self.sealed))

    @property
    def failing(self) -> bool:
        """Whether the last attempt failed (and nothing was posted since)."""
        if self.last_error_at is None:
            return False
        return self.last_sent_at is None or self.last_error_at > self.last_sent_at


class CommitteePost(models.Model):
    """One alert to one committee channel: written with the alert, then claimed and sent."""

    alert = models.ForeignKey("alerts.Alert", models.CASCADE, related_name="committee_posts")
    channel = models.ForeignKey(CommitteeChannel, models.CASCADE, related_name="posts")
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, default="")
    error = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "channel"], name="committee_post_unique")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="committee_post_due")]
