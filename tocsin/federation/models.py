"""The partner registry, and what went to and came from each partner."""

from __future__ import annotations

from functools import cached_property

from django.db import models
from django.utils.translation import gettext_lazy as _

from tocsin import geo


class Trust(models.TextChoices):
    # Either way a partner's alert is a report on the desk, never an alert to members by
    # itself: a dispatcher confirms it like any report, under the two-person rule.
    DESK = "desk", _("desk only")
    CONFIRM = "confirm", _("may alert after a dispatcher confirms")


class PartnerQuerySet(models.QuerySet["Partner"]):
    def enabled(self) -> PartnerQuerySet:
        return self.filter(enabled=True)


class Partner(models.Model):
    """A neighbouring Tocsin network: where to send, and the key its alerts are signed with."""

    name = models.CharField(max_length=100, unique=True)
    base_url = models.URLField(max_length=300)
    # Ed25519 public key, raw 32 bytes in base64url without padding: also the keyid the
    # partner signs with.
    public_key = models.CharField(max_length=64, unique=True)
    trust = models.CharField(max_length=10, choices=Trust.choices, default=Trust.DESK)
    # The H3 cells (as strings, comma-separated) of the partner's area: incidents touching
    # them are sent to the partner.
    cells = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PartnerQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name

    @cached_property
    def area(self) -> frozenset[int]:
        return frozenset(geo.from_str(c) for c in self.cells.split(",") if c.strip())

    def touches(self, cell: int) -> bool:
        """Whether ``cell`` or a cell next to it overlaps the partner's area (compared at
        the coarser of the two resolutions)."""
        near = geo.disk(cell, 1)
        resolution = geo.resolution(cell)
        coarse: dict[int, set[int]] = {}
        for theirs in self.area:
            res = min(geo.resolution(theirs), resolution)
            if res not in coarse:
                coarse[res] = {geo.parent(c, res) for c in near}
            if geo.parent(theirs, res) in coarse[res]:
                return True
        return False


class Received(models.Model):
    """An alert a partner sent that we accepted: a second one with the same identifier or
    signature nonce is a replay."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="received")
    identifier = models.CharField(max_length=200)
    nonce = models.CharField(max_length=100)
    report_id = models.IntegerField(null=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "identifier"], name="federation_received_identifier"
            ),
            models.UniqueConstraint(fields=["partner", "nonce"], name="federation_received_nonce"),
        ]


class Sent(models.Model):
    """The last CAP message each partner was sent about one incident."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="sent")
    incident_id = models.IntegerField()
    msg_type = models.CharField(max_length=10)  # Alert, Update or Cancel
    # The public view it was sent for: a change (resolved, a new label) is due again.
    fingerprint = models.CharField(max_length=64)
    # The public view it was built from (tocsin.public.incidents.PublicIncident as JSON),
    # so a Cancel says no more than the Alert did, even once the public view is gone.
    view = models.TextField()
    delivered = models.BooleanField(default=False)
    # The partner has had an Alert or Update about it: it is owed a Cancel when it ends.
    announced = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=200, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "incident_id"], name="federation_sent_once")
        ]
