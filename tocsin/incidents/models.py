"""Incidents: one operation on the ground, however many reports describe it."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin.intake.models import ReportKind


class State(models.TextChoices):
    REPORTED = "reported", _("Reported")
    VERIFYING = "verifying", _("Verifying")
    CONFIRMED = "confirmed", _("Confirmed")
    RESOLVED = "resolved", _("Resolved")
    UNFOUNDED = "unfounded", _("False alarm")
    MERGED = "merged", _("Merged into another incident")


OPEN_STATES = (State.REPORTED, State.VERIFYING, State.CONFIRMED)
CLOSED_STATES = (State.RESOLVED, State.UNFOUNDED, State.MERGED)


class IncidentQuerySet(models.QuerySet["Incident"]):
    def open(self) -> IncidentQuerySet:
        return self.filter(state__in=OPEN_STATES)

    def in_cells(self, cells: set[int]) -> IncidentQuerySet:
        return self.filter(area_cell__in=cells)

    def confirmed(self) -> IncidentQuerySet:
        return self.filter(state=State.CONFIRMED)

    def closed_before(self, cutoff: datetime) -> IncidentQuerySet:
        """Return incidents resolved or marked false alarm at or before ``cutoff``."""
        return self.filter(state__in=CLOSED_STATES, closed_at__lte=cutoff)


class Incident(models.Model):
    kind = models.CharField(max_length=30, choices=ReportKind.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.REPORTED)
    cell = models.BigIntegerField()
    area_cell = models.BigIntegerField(db_index=True)
    summary = models.TextField(_("summary for alerts"), blank=True, max_length=500)
    opened_at = models.DateTimeField(default=timezone.now)
    first_seen_at = models.DateTimeField(default=timezone.now)
    # The newest report's time: clustering joins reports that come soon after it.
    last_seen_at = models.DateTimeField(default=timezone.now)
    merged_into = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="merged_from"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    # Evidence (for a lawsuit or a complaint) keeps the raw reports and the summary past
    # the retention period; everything else about the incident is purged as usual.
    keep_as_evidence = models.BooleanField(_("keep as evidence"), default=False)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()}"

    @property
    def place(self) -> str:
        """The operation's place (its ~25 m cell centre) as "lat, lng", for dispatchers."""
        from tocsin import geo

        lat, lng = geo.center(self.cell)
        return f"{lat:.5f}, {lng:.5f}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class IncidentEvent(models.Model):
    """The incident's timeline: every state change and who made it."""

    incident = models.ForeignKey(Incident, models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=40)
    detail = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["at", "id"]
