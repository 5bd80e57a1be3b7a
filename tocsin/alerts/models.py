"""Alerts (CAP-style) and the delivery outbox."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin.transports.status import DeliveryStatus


class MsgType(models.TextChoices):
    ALERT = "Alert", "Alert"
    UPDATE = "Update", "Update"
    CANCEL = "Cancel", "Cancel"


class Certainty(models.TextChoices):
    OBSERVED = "Observed", "Observed"
    POSSIBLE = "Possible", "Possible"


class Purpose(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed incident")
    ALL_CLEAR = "all_clear", _("All clear")
    CORRECTION = "correction", _("Correction: false alarm")
    # Unverified: to the responders and verifiers nearby only, with the exact place.
    POSSIBLE = "possible", _("Possible incident, being verified")
    # A request to one verifier to go and check.
    VERIFY = "verify", _("Request to verify")
    # To a committee's staff: an alert waits for a second person (the broadcast breaker
    # tripped, or it reaches more members than one person may alert).
    APPROVAL = "approval", _("Waiting for a second person")
    # To people alerted who have not answered "on my way" once enough have (the
    # dispatcher's quorum for their role, tocsin.mobilize.quorum): stand down, or go to
    # another place instead (the alert's cell is that place).
    STAND_DOWN = "stand_down", _("Enough people are there: stand down")
    REDIRECT = "redirect", _("Go to another place instead")


class Alert(models.Model):
    incident = models.ForeignKey("incidents.Incident", models.CASCADE, related_name="alerts")
    msg_type = models.CharField(max_length=10, choices=MsgType.choices)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    certainty = models.CharField(max_length=10, choices=Certainty.choices)
    cell = models.BigIntegerField()
    ring = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    targeted = models.PositiveIntegerField(default=0)
    # Every usable channel of each member at once, not only the first (a confirmed
    # workplace raid): the dispatcher decides when confirming.
    all_channels = models.BooleanField(default=False)
    references = models.ForeignKey("self", models.SET_NULL, null=True, blank=True, related_name="+")
    # Whose members a confirmed alert (and its all-clear or correction) reaches, and whose
    # staff or rules decided it (a partner's alert is decided by the other committee).
    # Empty for the incident-wide messages to responders and verifiers.
    committee = models.ForeignKey(
        "committees.Committee", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    by_committee = models.ForeignKey(
        "committees.Committee", models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["sent_at", "id"]
        # The broadcast breaker counts a committee's alerts in the last hour.
        indexes = [models.Index(fields=["by_committee", "sent_at"], name="alert_by_committee")]


TERMINAL = (DeliveryStatus.SENT, DeliveryStatus.DEAD, DeliveryStatus.CANCELLED)
RETRYABLE = (DeliveryStatus.QUEUED, DeliveryStatus.FAILED)
# Channels whose arrival the member's device confirms: the app's service worker posts
# the receipt link when the push arrives (tocsin.alerts.outbox.receipts).
RECEIPT_KINDS = frozenset({"webpush"})


class Priority(models.IntegerChoices):
    """Lower goes first: a confirmed raid ahead of a correction, ahead of an all-clear."""

    URGENT = 0, _("Urgent")
    CORRECTION = 1, _("Correction")
    ROUTINE = 2, _("Routine")


class Delivery(models.Model):
    """One alert to one endpoint: written with the alert, then claimed and sent by a worker."""

    # A confirm writes thousands of these rows in its transaction, and the database
    # checks each foreign key of each row at commit (Django declares them deferred):
    # about 10 ms a key per 1,000 rows on PostgreSQL (docs/benchmarks.md), and the
    # endpoint's check also locked each endpoint row. So none is checked. Every row is
    # written from an endpoint read in the same statement, with that endpoint's member
    # (tocsin.alerts.outbox.writing), and the alert is written in the same transaction.
    # All three still cascade: Django deletes the rows with the member, the endpoint or
    # the alert. An endpoint removed while a confirm was writing its rows leaves a row
    # the worker does not send: it goes to the member's next channel (sending._load).
    # The alert needs no index of its own: the unique (alert, endpoint) index starts
    # with it.
    alert = models.ForeignKey(
        Alert, models.CASCADE, related_name="deliveries", db_constraint=False, db_index=False
    )
    member = models.ForeignKey(
        "members.Member", models.CASCADE, related_name="+", db_constraint=False
    )
    endpoint = models.ForeignKey(
        "members.ContactEndpoint", models.CASCADE, related_name="+", db_constraint=False
    )
    # The endpoint's kind, copied: workers claim per channel, each at its own pace.
    kind = models.CharField(max_length=20, default="")
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.URGENT)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    # Random per claim: a worker whose lease ran out (and whose row another worker then
    # claimed) cannot record or send under the new claim.
    claim_token = models.CharField(max_length=32, blank=True)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # When the member's device said it got the message (push receipt, provider callback).
    receipt_at = models.DateTimeField(null=True, blank=True)
    # Set once the member's next channel was tried because no receipt came in time.
    fell_back = models.BooleanField(default=False)
    # Not the member's first delivery of this alert: a fall-back to their next channel,
    # or another channel of an alert to every channel. The incident page counts each
    # person once (tocsin.alerts.outbox.progress) by looking only at members with one.
    extra = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "endpoint"], name="delivery_once_per_endpoint")
        ]
        indexes = [
            # A claim reads due rows of one channel in priority order and stops at its
            # limit: both come from these partial indexes, never a sort of the backlog.
            models.Index(
                fields=["kind", "priority", "next_attempt_at", "id"],
                condition=models.Q(status__in=["queued", "failed"]),
                name="delivery_due",
            ),
            models.Index(
                fields=["kind", "lease_until"],
                condition=models.Q(status="sending"),
                name="delivery_lease",
            ),
            models.Index(
                fields=["sent_at"],
                condition=models.Q(
                    status="sent",
                    receipt_at__isnull=True,
                    fell_back=False,
                    kind__in=sorted(RECEIPT_KINDS),
                ),
                name="delivery_awaiting_receipt",
            ),
            # The members an alert reached on more than one channel (their other rows are
            # then found through the member index).
            models.Index(
                fields=["alert", "member"], condition=models.Q(extra=True), name="delivery_extra"
            ),
        ]


class WorkerSeal(models.Model):
    """An endpoint's contact details sealed again, on first open, under a symmetric key
    derived from the vault's private key (tocsin.alerts.outbox.resealing): opening it
    costs a few microseconds instead of an X25519 per alert. It is no plaintext cache:
    it needs the same private key, so it changes with the vault keys (a rotated key
    makes every one fail, and they are sealed again), and it is bound to the endpoint's
    sealed value, so a changed address makes it fail too."""

    endpoint = models.OneToOneField(
        "members.ContactEndpoint", models.CASCADE, primary_key=True, related_name="worker_seal"
    )
    blob = models.BinaryField()
