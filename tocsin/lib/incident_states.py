"""The states of an incident (DESIGN.md section 3), the vocabulary every layer reads.

The rules of moving between them are incidents' own (tocsin.incidents.states); alerts
read a state to word a message or to tell whether an alert is still current.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class State(models.TextChoices):
    REPORTED = "reported", _("Reported")
    VERIFYING = "verifying", _("Verifying")
    CONFIRMED = "confirmed", _("Confirmed")
    RESOLVED = "resolved", _("Resolved")
    UNFOUNDED = "unfounded", _("False alarm")
    MERGED = "merged", _("Merged into another incident")
    # Nobody verified it in time (the committee's rules): closed, never broadcast.
    EXPIRED = "expired", _("Expired unverified")
