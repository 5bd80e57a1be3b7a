"""Signing up for a planned mobilization: places, the waiting list, reminders, check-in.

Every message to a person signed up is a ``RsvpMessage`` row written in the same
transaction as the change that calls for it (the outbox); workers send them when due
(tocsin.mobilize.notices). A sign-up is serialized per mobilization (its row is locked),
so two people never take the last place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from tocsin import vault
from tocsin.lib import live, phones
from tocsin.members.models import Member
from tocsin.mobilize.planned import (
    Mobilization,
    MobilizationRole,
    MobilizationShift,
    Rsvp,
    RsvpMessage,
    RsvpStatus,
)
from tocsin.transports import registry

Purpose = RsvpMessage.Purpose
Status = RsvpMessage.Status

# Reminders that belong to a time: rewritten when the time changes, dropped on cancel.
TIMED = (Purpose.DAY_BEFORE, Purpose.MORNING_OF, Purpose.SOON, Purpose.THANKS)
# Local hours of the reminders: the day before late in the morning, the morning of early.
DAY_BEFORE_AT = time(11, 0)
MORNING_OF_AT = time(8, 0)
SOON = timedelta(minutes=30)
THANKS_AFTER = timedelta(hours=1)
LINK_SALT = "tocsin.rsvp-link"


def zone() -> ZoneInfo:
    """Return the committees' local time zone (the operator's TOCSIN_TIME_ZONE)."""
    return ZoneInfo(settings.TIME_ZONE)


def reminder_times(starts_at: datetime, ends_at: datetime, tz: ZoneInfo) -> dict[str, datetime]:
    """Return when each timed reminder is due for a mobilization from ``starts_at`` to
    ``ends_at``: the day before at 11:00 local time, the morning of at 8:00 (not when it
    starts before 9:00: the day-before one was the last), 30 minutes before, and a
    thank-you an hour after the end."""
    local = starts_at.astimezone(tz)
    times = {
        Purpose.DAY_BEFORE: datetime.combine(local.date() - timedelta(days=1), DAY_BEFORE_AT, tz),
        Purpose.SOON: starts_at - SOON,
        Purpose.THANKS: ends_at + THANKS_AFTER,
    }
    morning = datetime.combine(local.date(), MORNING_OF_AT, tz)
    if morning + timedelta(hours=1) <= starts_at:
        times[Purpose.MORNING_OF] = morning
    return {k: v.astimezone(UTC) for k, v in times.items()}


def link_token(rsvp: Rsvp) -> str:
    """Return the signed secret of ``rsvp``'s own page (cancel, confirm, check in)."""
    return signing.Signer(salt=LINK_SALT).sign(rsvp.token)


def rsvp_for_link(token: str) -> Rsvp | None:
    try:
        raw = signing.Signer(salt=LINK_SALT).unsign(token)
    except signing.BadSignature:
        return None
    return Rsvp.objects.select_related("mobilization__committee").filter(token=raw).first()


def _has_room(
    m: Mobilization, role: MobilizationRole | None, shift: MobilizationShift | None
) -> bool:
    limit = role.capacity if role is not None else m.capacity
    if limit is None:
        return True
    taken = m.rsvps.going().filter(role=role, shift=shift).count()
    return taken < limit


def _queue(rsvp: Rsvp, purpose: str, due_at: datetime, *, version: int | None = None) -> None:
    RsvpMessage.objects.update_or_create(
        rsvp=rsvp,
        purpose=purpose,
        version=rsvp.mobilization.version if version is None else version,
        defaults={"due_at": due_at, "next_attempt_at": due_at, "status": Status.QUEUED},
    )


def _schedule(rsvp: Rsvp, now: datetime) -> None:
    """Write the timed reminders still ahead for ``rsvp`` (one who has a place)."""
    m = rsvp.mobilization
    for purpose, due_at in reminder_times(m.starts_at, m.ends_at, zone()).items():
        if due_at > now:
            _queue(rsvp, purpose, due_at)


def _drop_timed(rsvps: list[Rsvp] | Rsvp) -> None:
    ids = [r.pk for r in rsvps] if isinstance(rsvps, list) else [rsvps.pk]
    RsvpMessage.objects.filter(
        rsvp_id__in=ids, purpose__in=TIMED, status__in=[Status.QUEUED, Status.FAILED]
    ).update(status=Status.CANCELLED)


def _changed(m: Mobilization) -> None:
    transaction.on_commit(lambda: live.publish(f"mobilization:{m.pk}"))


class AlreadySignedUp(Exception):
    def __init__(self, rsvp: Rsvp) -> None:
        super().__init__("already signed up")
        self.rsvp = rsvp


@dataclass(frozen=True)
class Contact:
    """A person without an account: one channel and its address."""

    kind: str  # "email", "sms" or "webpush"
    address: str  # for push, the subscription's endpoint
    data: dict[str, Any] | None = None  # for push, the subscription's keys


def sign_up(
    m: Mobilization,
    *,
    member: Member | None = None,
    contact: Contact | None = None,
    display_name: str = "",
    language: str = "en",
    role: MobilizationRole | None = None,
    shift: MobilizationShift | None = None,
    now: datetime | None = None,
) -> Rsvp:
    """Sign a member (or a person by one channel) up for ``m``: a place if one is left,
    else the waiting list; the confirmation (or "you are on the waiting list") is queued
    at once, the reminders at their times. Raises AlreadySignedUp for a second sign-up of
    the same member or address."""
    if (member is None) == (contact is None):
        raise ValueError("a member or a contact, not both")
    now = now or timezone.now()
    fields: dict[str, object] = {}
    if contact is not None:
        address = contact.address.strip()
        if contact.kind == "sms":
            address = phones.e164(address) or address
        fields = {
            "kind": contact.kind,
            "sealed": vault.seal({"address": address, **(contact.data or {})}),
            "blind_index": registry.blind_index(contact.kind, address),
        }
    with transaction.atomic():
        m = Mobilization.objects.select_for_update().get(pk=m.pk)
        same = m.rsvps.active().filter(
            Q(member=member) if member is not None else Q(blind_index=fields["blind_index"])
        )
        earlier = same.first()
        if earlier is not None:
            raise AlreadySignedUp(earlier)
        going = _has_room(m, role, shift)
        rsvp = Rsvp.objects.create(
            mobilization=m,
            member=member,
            display_name=display_name.strip()[:60],
            language=language,
            role=role,
            shift=shift,
            status=RsvpStatus.GOING if going else RsvpStatus.WAITLIST,
            **fields,
        )
        _queue(rsvp, Purpose.CONFIRMATION if going else Purpose.WAITLISTED, now)
        if going:
            _schedule(rsvp, now)
        _changed(m)
    return rsvp


def cancel(rsvp: Rsvp, *, now: datetime | None = None) -> None:
    """Cancel ``rsvp``: its reminders are dropped, and the first person waiting for the
    same role and shift gets the place (and is told)."""
    now = now or timezone.now()
    with transaction.atomic():
        m = Mobilization.objects.select_for_update().get(pk=rsvp.mobilization_id)
        rsvp = Rsvp.objects.get(pk=rsvp.pk)
        if rsvp.status == RsvpStatus.CANCELLED:
            return
        had_place = rsvp.status == RsvpStatus.GOING
        Rsvp.objects.filter(pk=rsvp.pk).update(status=RsvpStatus.CANCELLED)
        RsvpMessage.objects.filter(rsvp=rsvp, status__in=[Status.QUEUED, Status.FAILED]).update(
            status=Status.CANCELLED
        )
        if had_place and not m.is_cancelled:
            promote(m, rsvp.role, rsvp.shift, now=now)
        _changed(m)


def cancel_by_address(
    kind: str, address: str, *, every: bool = False, member: Member | None = None
) -> list[Rsvp]:
    """Cancel the sign-up of the person writing from ``address`` on ``kind`` (an SMS
    reply "2"): the soonest one still ahead, or, with ``every``, all of them (STOP).
    With ``member`` (the address is theirs), their sign-ups as a member count too.
    Return the ones cancelled; the address is compared by its blind index only."""
    try:
        by_address = Q(kind=kind, blind_index=registry.blind_index(kind, address))
    except Exception:  # an address the vault cannot normalise signed up for nothing
        by_address = Q(pk__in=[])
    mine = by_address | Q(member=member) if member is not None else by_address
    found = list(
        Rsvp.objects.active()
        .filter(mine, mobilization__ends_at__gt=timezone.now())
        .select_related("mobilization")
        .order_by("mobilization__starts_at", "pk")
    )
    chosen = found if every else found[:1]
    for rsvp in chosen:
        cancel(rsvp)
    return chosen


def promote(
    m: Mobilization,
    role: MobilizationRole | None,
    shift: MobilizationShift | None,
    *,
    now: datetime,
) -> list[Rsvp]:
    """Give the places left for ``role`` and ``shift`` to the people waiting longest."""
    promoted = []
    waiting = m.rsvps.filter(status=RsvpStatus.WAITLIST, role=role, shift=shift).order_by(
        "created_at", "pk"
    )
    for rsvp in waiting:
        if not _has_room(m, role, shift):
            break
        Rsvp.objects.filter(pk=rsvp.pk).update(status=RsvpStatus.GOING)
        rsvp.status = RsvpStatus.GOING
        _queue(rsvp, Purpose.PROMOTED, now)
        _schedule(rsvp, now)
        promoted.append(rsvp)
    return promoted


def fill(m: Mobilization, *, now: datetime | None = None) -> list[Rsvp]:
    """Give places that opened (the organizer raised a capacity) to the people waiting."""
    now = now or timezone.now()
    promoted: list[Rsvp] = []
    with transaction.atomic():
        m = Mobilization.objects.select_for_update().get(pk=m.pk)
        if m.is_cancelled:
            return []
        slots = set(m.rsvps.filter(status=RsvpStatus.WAITLIST).values_list("role", "shift"))
        for role_id, shift_id in sorted(slots, key=lambda s: (s[0] or 0, s[1] or 0)):
            role = m.roles.filter(pk=role_id).first() if role_id else None
            shift = m.shifts.filter(pk=shift_id).first() if shift_id else None
            promoted += promote(m, role, shift, now=now)
        if promoted:
            _changed(m)
    return promoted


def confirm(rsvp: Rsvp, *, now: datetime | None = None) -> None:
    """Record that the person still comes (the day-before reminder's "confirm")."""
    Rsvp.objects.filter(pk=rsvp.pk, status=RsvpStatus.GOING).update(
        confirmed_at=now or timezone.now()
    )


def check_in(rsvp: Rsvp, *, now: datetime | None = None) -> bool:
    """Mark ``rsvp`` as there; return False if it has no place (cancelled, waiting)."""
    done = Rsvp.objects.filter(pk=rsvp.pk, status=RsvpStatus.GOING).update(
        checked_in_at=now or timezone.now()
    )
    _changed(rsvp.mobilization)
    return bool(done)


def can_check_in(m: Mobilization, now: datetime | None = None) -> bool:
    """Return whether people may check themselves in: from an hour before it starts to
    the end, unless it was cancelled."""
    now = now or timezone.now()
    return not m.is_cancelled and m.starts_at - timedelta(hours=1) <= now <= m.ends_at


def moved(m: Mobilization, *, now: datetime | None = None) -> int:
    """Tell everyone signed up that the time or place of ``m`` changed (call after saving
    the change): the reminders follow the new time. Return how many are told."""
    now = now or timezone.now()
    with transaction.atomic():
        m = Mobilization.objects.select_for_update().get(pk=m.pk)
        m.version += 1
        Mobilization.objects.filter(pk=m.pk).update(version=m.version, updated_at=now)
        people = list(m.rsvps.active().select_related("mobilization"))
        _drop_timed(people)
        for rsvp in people:
            rsvp.mobilization = m
            _queue(rsvp, Purpose.CHANGED, now)
            if rsvp.status == RsvpStatus.GOING:
                _schedule(rsvp, now)
        _changed(m)
    return len(people)


def call_off(m: Mobilization, *, now: datetime | None = None) -> int:
    """Cancel ``m`` and tell everyone signed up at once; return how many are told."""
    now = now or timezone.now()
    with transaction.atomic():
        m = Mobilization.objects.select_for_update().get(pk=m.pk)
        if m.is_cancelled:
            return 0
        m.cancelled_at = now
        m.save(update_fields=["cancelled_at"])
        people = list(m.rsvps.active())
        RsvpMessage.objects.filter(
            rsvp__in=people, status__in=[Status.QUEUED, Status.FAILED]
        ).update(status=Status.CANCELLED)
        for rsvp in people:
            rsvp.mobilization = m
            _queue(rsvp, Purpose.CANCELLED, now)
        _changed(m)
    return len(people)


@dataclass(frozen=True)
class Counts:
    going: int
    waiting: int
    checked_in: int
    no_show: int


def counts(m: Mobilization, now: datetime | None = None) -> Counts:
    """Return how many have a place, wait, came; no-shows count once it is over."""
    now = now or timezone.now()
    going = m.rsvps.going().count()
    checked_in = m.rsvps.going().filter(checked_in_at__isnull=False).count()
    return Counts(
        going=going,
        waiting=m.rsvps.filter(status=RsvpStatus.WAITLIST).count(),
        checked_in=checked_in,
        no_show=going - checked_in if now > m.ends_at else 0,
    )


def places_left(m: Mobilization) -> list[dict[str, Any]]:
    """Return, per role (None: people without a role) and shift, how many places are
    left (None: no limit). Counts only, never who."""
    shifts: list[MobilizationShift | None] = list(m.shifts.all()) or [None]
    rows: list[dict[str, Any]] = []
    for role in [None, *m.roles.all()]:
        limit = role.capacity if role is not None else m.capacity
        for shift in shifts:
            taken = m.rsvps.going().filter(role=role, shift=shift).count()
            rows.append(
                {
                    "role": role,
                    "shift": shift,
                    "left": None if limit is None else max(0, limit - taken),
                }
            )
    return rows


def keep_turnout(ended_before: datetime) -> int:
    """Write down, on each mobilization that ended before ``ended_before`` and has not
    yet, how many had a place and how many checked in; return how many were written.

    The purge calls it before deleting their sign-ups (TOCSIN_RETAIN_RSVPS_DAYS): one
    UPDATE with counted subqueries, whatever the number of mobilizations."""
    going = Rsvp.objects.going().filter(mobilization=OuterRef("pk"))
    return Mobilization.objects.filter(ends_at__lte=ended_before, kept_going__isnull=True).update(
        kept_going=_count(going),
        kept_checked_in=_count(going.filter(checked_in_at__isnull=False)),
    )


def _count(rsvps: Any) -> Any:
    return Coalesce(
        Subquery(rsvps.order_by().values("mobilization").annotate(n=Count("pk")).values("n")[:1]),
        0,
    )
