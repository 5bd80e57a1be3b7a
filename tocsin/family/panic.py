"""The panic button: adding emergency contacts, triggering and cancelling, the missed
check-in.

Every message to a contact is a ``ContactMessage`` row written in the transaction that
decides it. After the commit a task wakes a worker (the task queue is polled every 0.2 s)
that sends the trigger's messages at once; the worker's housekeeping retries what failed
(tocsin.family.sending). Why not the alerts outbox: its Delivery rows belong to an alert
about an incident and go to members' endpoints; contacts are not members and a panic is
not an incident, and a table of its own keeps a panic from waiting behind an alert's
thousands of rows in the same queue.
"""

from __future__ import annotations

from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tocsin import vault
from tocsin.committees.models import Committee
from tocsin.family import sending, signals
from tocsin.family.models import (
    MAX_CONTACTS,
    ContactMessage,
    EmergencyContact,
    FamilyPlan,
    Trigger,
)
from tocsin.lib import phones
from tocsin.members.models import ContactEndpoint, Member
from tocsin.transports import registry

Purpose = ContactMessage.Purpose


# A PIN is a few digits: after this many wrong tries in an hour (by text, on the web or
# through a dispatcher) it is refused, even when right, until the hour is over.
PIN_TRIES = 5
PIN_WINDOW_SECONDS = 3600


def pin_ok(plan: FamilyPlan, pin: str) -> bool:
    """Return whether ``pin`` is ``plan``'s PIN, counting wrong tries."""
    key = f"family-pin-tries:{plan.pk}"
    if cache.get(key, 0) >= PIN_TRIES:
        return False
    if plan.pin_matches(pin):
        return True
    cache.add(key, 0, PIN_WINDOW_SECONDS)
    cache.incr(key)
    return False


class TooManyContacts(Exception):
    pass


class AlreadyAContact(Exception):
    pass


def plan_for(member: Member) -> FamilyPlan:
    """Return ``member``'s plan, made on first use (in their language, for their first
    committee)."""
    plan = FamilyPlan.objects.filter(member=member).first()
    if plan is None:
        first = member.memberships.order_by("pk").first()
        plan = FamilyPlan.objects.create(
            member=member,
            language=member.language,
            committee_id=first.committee_id if first else None,
        )
    return plan


def add_contact(
    plan: FamilyPlan, *, label: str, kind: str, address: str, language: str
) -> EmergencyContact:
    """Seal and store a contact and queue the message that asks them to agree."""
    address = address.strip()
    if registry.is_phone(kind):
        address = phones.e164(address) or address
    index = registry.blind_index(kind, address)
    with transaction.atomic():
        FamilyPlan.objects.select_for_update().filter(pk=plan.pk).first()
        if plan.contacts.count() >= MAX_CONTACTS:
            raise TooManyContacts
        if plan.contacts.filter(kind=kind, blind_index=index).exists():
            raise AlreadyAContact
        contact = EmergencyContact.objects.create(
            plan=plan,
            label=label.strip()[:40],
            kind=kind,
            sealed=vault.seal({"address": address}),
            blind_index=index,
            language=language,
        )
        ContactMessage.objects.create(contact=contact, purpose=Purpose.CONFIRM)
        _wake()
    return contact


def confirm_contact(token: str) -> EmergencyContact | None:
    contact = EmergencyContact.objects.filter(token=token).select_related("plan__member").first()
    if contact is not None and contact.confirmed_at is None:
        contact.confirmed_at = timezone.now()
        contact.save(update_fields=["confirmed_at"])
    return contact


def committee_of(plan: FamilyPlan) -> Committee | None:
    if plan.committee_id is not None:
        return plan.committee
    first = plan.member.memberships.select_related("committee").order_by("pk").first()
    return first.committee if first else None


def trigger(member: Member, kind: str, *, now: datetime | None = None) -> Trigger:
    """Record a panic trigger and queue the call for help to every confirmed contact;
    after the commit, the worker is woken and ``panic_triggered`` is sent. A trigger
    while one is still open returns that one (a double press alerts nobody twice)."""
    now = now or timezone.now()
    plan = plan_for(member)
    with transaction.atomic():
        FamilyPlan.objects.select_for_update().filter(pk=plan.pk).first()
        open_one = Trigger.objects.filter(member=member, cancelled_at__isnull=True).first()
        if open_one is not None and (now - open_one.at).total_seconds() < 3600:
            return open_one
        committee = committee_of(plan)
        t = Trigger.objects.create(
            member=member,
            committee=committee,
            kind=kind,
            language=plan.language,
            at=now,
        )
        ContactMessage.objects.bulk_create(
            ContactMessage(contact=c, trigger=t, purpose=Purpose.PANIC, next_attempt_at=now)
            for c in plan.contacts.confirmed()
        )
        _wake()
        transaction.on_commit(
            lambda: signals.panic_triggered.send(sender=Trigger, trigger=t), robust=True
        )
    return t


def open_trigger(member: Member) -> Trigger | None:
    return Trigger.objects.filter(member=member, cancelled_at__isnull=True).first()


def cancel(t: Trigger, *, now: datetime | None = None) -> bool:
    """Cancel a wrong trigger: calls for help not yet sent are dropped, everyone who got
    one hears it was a mistake, and ``panic_cancelled`` is sent. False if it was
    cancelled already."""
    now = now or timezone.now()
    with transaction.atomic():
        done = Trigger.objects.filter(pk=t.pk, cancelled_at__isnull=True).update(cancelled_at=now)
        if not done:
            return False
        t.cancelled_at = now
        panic = ContactMessage.objects.filter(trigger=t, purpose=Purpose.PANIC)
        told = list(panic.exclude(status=ContactMessage.Status.QUEUED, attempts=0))
        panic.filter(status=ContactMessage.Status.QUEUED, attempts=0).delete()
        ContactMessage.objects.bulk_create(
            ContactMessage(contact_id=m.contact_id, trigger=t, purpose=Purpose.MISTAKE)
            for m in told
        )
        _wake()
        transaction.on_commit(
            lambda: signals.panic_cancelled.send(sender=Trigger, trigger=t), robust=True
        )
    return True


def trigger_with_pin(member: Member, pin: str, kind: str) -> Trigger | None:
    """Trigger for ``member`` if ``pin`` is their PIN; None if it is not."""
    plan = FamilyPlan.objects.filter(member=member).first()
    if plan is None or not pin_ok(plan, pin):
        return None
    return trigger(member, kind)


def cancel_with_pin(member: Member, pin: str) -> Trigger | None:
    """Cancel ``member``'s open trigger if ``pin`` is their PIN; return it, or None."""
    plan = FamilyPlan.objects.filter(member=member).first()
    if plan is None or not pin_ok(plan, pin):
        return None
    t = open_trigger(member)
    if t is not None:
        cancel(t)
    return t


def check_in(plan: FamilyPlan, until: datetime | None) -> None:
    """Set (or, with None, clear: "I am fine") the time to check on the member."""
    FamilyPlan.objects.filter(pk=plan.pk).update(check_in_by=until)
    plan.check_in_by = until


def fire_missed_check_ins(now: datetime | None = None) -> list[Trigger]:
    """Trigger for every plan whose check-in time passed unchecked (the worker's
    housekeeping); each fires once."""
    now = now or timezone.now()
    fired = []
    for plan in FamilyPlan.objects.filter(check_in_by__lte=now).select_related("member"):
        # The conditional clear claims it: another worker finds nothing to fire.
        if FamilyPlan.objects.filter(pk=plan.pk, check_in_by=plan.check_in_by).update(
            check_in_by=None
        ):
            fired.append(trigger(plan.member, Trigger.Kind.MISSED_CHECKIN, now=now))
    return fired


def _wake() -> None:
    transaction.on_commit(sending.wake)


def housekeeping() -> None:
    """The worker's periodic part: missed check-ins fire, failed messages are retried."""
    fire_missed_check_ins()
    sending.send_due()


def by_phone_and_pin(phone: str, pin: str, committee_ids: set[int]) -> Member | None:
    """Return the member of one of ``committee_ids`` whose verified phone is ``phone``
    (found by its blind index) and whose PIN is ``pin``; None otherwise, whichever part
    was wrong (a caller learns nothing from a wrong guess)."""
    indexes = {
        kind: registry.blind_index(kind, phone)
        for kind in registry.CHANNELS
        if registry.is_phone(kind)
    }
    query = Q()
    for kind, index in indexes.items():
        query |= Q(kind=kind, blind_index=index)
    if not indexes:
        return None
    member_ids = set(
        ContactEndpoint.objects.filter(query, verified_at__isnull=False)
        .filter(member__memberships__committee_id__in=committee_ids)
        .values_list("member_id", flat=True)
    )
    for plan in FamilyPlan.objects.filter(member_id__in=member_ids).select_related("member"):
        if pin_ok(plan, pin):
            return plan.member
    return None
