"""Reports of enforcement activity, from any channel, from anyone.

A report holds what, where (an H3 cell of the operation, never of the reporter's home) and
when. It holds nothing about who sent it.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ReportKind(models.TextChoices):
    CHECKPOINT = "checkpoint", _("Checkpoint")
    WORKPLACE_RAID = "workplace_raid", _("Workplace raid")
    HOME_ARREST = "home_arrest", _("Arrest at a home")
    AGENTS_SEEN = "agents_seen", _("Agents or vehicles seen")
    DETENTION = "detention", _("Someone detained")


class Channel(models.TextChoices):
    WEB = "web", _("Web")
    SMS = "sms", _("SMS")
    SIGNAL = "signal", _("Signal")
    TELEGRAM = "telegram", _("Telegram")
    HOTLINE = "hotline", _("Hotline")


# Unambiguous characters only: a receipt is read aloud and typed on phones.
_RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_receipt() -> str:
    return "".join(secrets.choice(_RECEIPT_ALPHABET) for _ in range(8))


class ReportQuerySet(models.QuerySet["Report"]):
    def in_cells(self, cells: set[int]) -> ReportQuerySet:
        return self.filter(area_cell__in=cells)

    def unassigned(self) -> ReportQuerySet:
        return self.filter(incident__isnull=True, dismissed=False)


class Report(models.Model):
    TEXT_MAX = 1000

    channel = models.CharField(max_length=20, choices=Channel.choices)
    kind = models.CharField(_("what you see"), max_length=30, choices=ReportKind.choices)
    text = models.TextField(_("details"), blank=True, max_length=TEXT_MAX)
    # The operation's place at about 25 m, and its committee-area cell for routing.
    cell = models.BigIntegerField()
    area_cell = models.BigIntegerField(db_index=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    receipt = models.CharField(max_length=12, unique=True, default=new_receipt)
    # A random value the form carries, so a double submit returns the first receipt.
    nonce = models.CharField(max_length=64, unique=True, null=True, blank=True)
    incident = models.ForeignKey(
        "incidents.Incident", models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    dismissed = models.BooleanField(default=False)
    objects = ReportQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
