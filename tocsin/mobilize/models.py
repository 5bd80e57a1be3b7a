"""Responses: "I'm on my way", with a role and an ETA. (Shifts, when a verifier is on duty
for a committee, are the committee's: tocsin.committees.models.Shift.)"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ResponderRole(models.TextChoices):
    OBSERVER = "observer", _("Observer")
    LEGAL_OBSERVER = "legal_observer", _("Legal observer")
    INTERPRETER = "interpreter", _("Interpreter")
    FAMILY_SUPPORT = "family_support", _("Family support")


class ResponseState(models.TextChoices):
    ON_MY_WAY = "on_my_way", _("On my way")
    ARRIVED = "arrived", _("Arrived")
    CANCELLED = "cancelled", _("Cannot come")


class Response(models.Model):
    incident = models.ForeignKey("incidents.Incident", models.CASCADE, related_name="responses")
    member = models.ForeignKey("members.Member", models.CASCADE, related_name="responses")
    role = models.CharField(_("role"), max_length=20, choices=ResponderRole.choices)
    state = models.CharField(
        max_length=20, choices=ResponseState.choices, default=ResponseState.ON_MY_WAY
    )
    eta_minutes = models.PositiveSmallIntegerField(_("minutes away"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "member"], name="one_response_per_member")
        ]


# On-call shift notices, the escalation ladder and the dispatch quorum of a confirmed
# incident, planned mobilizations and the people signed up for them live in their own modules.
from tocsin.mobilize.escalation import LadderStep, Quorum  # noqa: E402, F401
from tocsin.mobilize.oncall import ShiftNotice  # noqa: E402, F401
from tocsin.mobilize.planned import (  # noqa: E402, F401
    Mobilization,
    MobilizationRole,
    MobilizationShift,
    Rsvp,
    RsvpMessage,
)
