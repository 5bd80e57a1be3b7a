"""What the dispatcher decided on a confirmed incident: the steps of its escalation
ladder taken (tocsin.mobilize.ladder) and how many of each role are needed
(tocsin.mobilize.quorum)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Step(models.TextChoices):
    """The ladder's rungs, in order: each reaches people the ones before did not."""

    RESPONDERS = "responders", _("Responders further out")
    MEMBERS = "members", _("Every member of the committee")
    PUBLIC = "public", _("A public call")


class LadderStep(models.Model):
    """A rung of ``committee``'s ladder taken (``done_at``), or waiting for a second
    person (``approval``)."""

    incident = models.ForeignKey("incidents.Incident", models.CASCADE, related_name="ladder_steps")
    committee = models.ForeignKey("committees.Committee", models.CASCADE, related_name="+")
    step = models.CharField(max_length=12, choices=Step.choices)
    # The alert it sent (responders, members) or the public mobilization it made.
    alert = models.ForeignKey("alerts.Alert", models.SET_NULL, null=True, blank=True)
    mobilization = models.ForeignKey(
        "mobilize.Mobilization", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The assembly point of a public call.
    place = models.ForeignKey(
        "places.Place", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approval = models.ForeignKey(
        "committees.Approval", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reached = models.PositiveIntegerField(default=0)
    taken_by = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    taken_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["taken_at", "pk"]
        constraints = [
            # Each committee climbs its own ladder for its own people.
            models.UniqueConstraint(
                fields=["incident", "committee", "step"], name="ladder_step_once"
            )
        ]


class Quorum(models.Model):
    """How many of one role (a headcount row) the dispatcher needs at an incident.

    When "on my way" answers reach ``needed``, the people alerted for the role who have
    not answered hear "enough people are there" (or, with ``redirect_place``, "go there
    instead"): ``met_at`` and ``stand_down`` record it. Re-opening clears both."""

    incident = models.ForeignKey("incidents.Incident", models.CASCADE, related_name="quorums")
    role = models.CharField(max_length=20)
    # 0: no limit (the call stays open).
    needed = models.PositiveSmallIntegerField(default=0)
    redirect_place = models.ForeignKey(
        "places.Place", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    met_at = models.DateTimeField(null=True, blank=True)
    stand_down = models.ForeignKey(
        "alerts.Alert", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reopened_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["incident", "role"], name="quorum_once")]
