"""What became of one message on its way out: the status of a delivery or a committee post."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed, retrying")
    DEAD = "dead", _("Failed")
    CANCELLED = "cancelled", _("Cancelled before sending")
