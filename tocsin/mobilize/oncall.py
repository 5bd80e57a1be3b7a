"""On-call shifts as people use them: a member with the role for a shift's duty signs up
for an open slot, offers their own shift to swap, or takes one someone else offers; the
one who gave a shift up is told (a ``ShiftNotice``), and everyone holding a shift hears
before it starts. The notices go out from a worker (tocsin.mobilize.shift_notices).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin.committees.models import (
    DUTY_ONLY_ROLE,
    DUTY_ROLE,
    ROLE_RANK,
    Committee,
    Duty,
    Membership,
    Role,
    Shift,
)
from tocsin.members.models import Member

# Holders hear this long before their shift starts.
REMIND_BEFORE = timedelta(hours=2)


class ShiftNotice(models.Model):
    """A message to a shift's holder: the reminder before it starts (one per shift and
    holder: a new holder after a swap gets their own), or "your shift was taken"."""

    class Purpose(models.TextChoices):
        REMINDER = "reminder", _("Shift reminder")
        TAKEN = "taken", _("Shift taken over")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed, will retry")
        DEAD = "dead", _("Failed for good")
        CANCELLED = "cancelled", _("No longer needed")

    shift = models.ForeignKey(Shift, models.CASCADE, related_name="notices")
    member = models.ForeignKey(Member, models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Exactly one reminder per shift and holder, however many workers look.
            models.UniqueConstraint(
                fields=["shift", "member"],
                condition=models.Q(purpose="reminder"),
                name="one_shift_reminder",
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="shift_notice_due")]


def may_hold(membership: Membership | None, duty: str) -> bool:
    """Return whether ``membership`` has the role a shift of ``duty`` needs."""
    if membership is None:
        return False
    if duty in DUTY_ONLY_ROLE:
        return bool(membership.role == DUTY_ONLY_ROLE[Duty(duty)])
    return ROLE_RANK[Role(membership.role)] >= ROLE_RANK[DUTY_ROLE[Duty(duty)]]


def duties_for(membership: Membership) -> list[str]:
    return [d for d in Duty.values if may_hold(membership, d)]


def open_slots(committee: Committee, membership: Membership) -> list[Shift]:
    """Return the open slots of ``committee`` the member may sign up for."""
    return list(Shift.objects.open().filter(committee=committee, duty__in=duties_for(membership)))


def offered(committee: Committee, membership: Membership) -> list[Shift]:
    """Return the shifts others offer to swap that the member may take."""
    return list(
        Shift.objects.offered()
        .filter(committee=committee, duty__in=duties_for(membership))
        .exclude(member=membership.member)
        .select_related("member")
    )


def mine(committee: Committee, member: Member) -> list[Shift]:
    return list(
        Shift.objects.filter(committee=committee, member=member, ends_at__gt=timezone.now())
    )


def sign_up(shift: Shift, membership: Membership) -> bool:
    """Give the open slot ``shift`` to the member; return False if someone was faster."""
    if not may_hold(membership, shift.duty):
        return False
    return bool(
        Shift.objects.open().filter(pk=shift.pk).update(member=membership.member, offered_at=None)
    )


def offer(shift: Shift, member: Member, *, withdraw: bool = False) -> None:
    """Offer the holder's own shift to swap (or withdraw the offer)."""
    Shift.objects.filter(pk=shift.pk, member=member).update(
        offered_at=None if withdraw else timezone.now()
    )


@transaction.atomic
def take(shift: Shift, membership: Membership, *, now: datetime | None = None) -> bool:
    """Move the offered ``shift`` to the member and tell the one who gave it up, in one
    transaction; return False if it is no longer offered."""
    now = now or timezone.now()
    holder = shift.member_id
    if not may_hold(membership, shift.duty) or holder == membership.member_id:
        return False
    moved = (
        Shift.objects.offered(now)
        .filter(pk=shift.pk, member_id=holder)
        .update(member=membership.member, offered_at=None, swapped_from=holder, swapped_at=now)
    )
    if moved and holder is not None:
        ShiftNotice.objects.create(shift=shift, member_id=holder, purpose=ShiftNotice.Purpose.TAKEN)
    return bool(moved)


def queue_reminders(now: datetime | None = None) -> int:
    """Queue the reminder for each held shift starting within REMIND_BEFORE; return how
    many were new (the constraint keeps it at one per shift and holder)."""
    now = now or timezone.now()
    due = Shift.objects.filter(
        member__isnull=False, starts_at__gt=now, starts_at__lte=now + REMIND_BEFORE
    ).exclude(
        models.Exists(
            ShiftNotice.objects.filter(
                shift=models.OuterRef("pk"),
                member=models.OuterRef("member"),
                purpose=ShiftNotice.Purpose.REMINDER,
            )
        )
    )
    rows = [
        ShiftNotice(shift_id=pk, member_id=member_id, purpose=ShiftNotice.Purpose.REMINDER)
        for pk, member_id in due.values_list("pk", "member_id")
    ]
    return len(ShiftNotice.objects.bulk_create(rows, ignore_conflicts=True))
