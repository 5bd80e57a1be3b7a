"""The two-person rule: wide or risky actions wait for a second staff member.

An alert beyond a committee's single-person reach, any alert to a partner's members, a
committee's alerts past the broadcast breaker, a bulk export of member data and a grant
of the dispatcher or organizer role are asked for by one staff member (or by the
committee's rules) and approved by another, from their own session. The Approval row
is the audit entry afterwards: who asked, who approved, when; never the content.

This module keeps the lifecycle; what each kind does once approved lives with the
objects it changes (tocsin.incidents.twoperson for alerts, tocsin.committees.services
for roles and exports).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from tocsin.committees.models import Approval, Committee, Membership, Role
from tocsin.lib import live
from tocsin.members.models import Member

# An alert that waits longer than this is stale: the desk asks again if it still matters.
WAIT = {
    Approval.Kind.ALERT: timedelta(hours=2),
    Approval.Kind.ROLE: timedelta(days=7),
    Approval.Kind.EXPORT: timedelta(days=1),
    Approval.Kind.LOCK: timedelta(hours=1),
    Approval.Kind.CASE_EXPORT: timedelta(days=1),
}
# Kinds only the committee's legal team asks for and decides (tocsin.legal): the desk's
# staff never see them.
LEGAL_KINDS = (Approval.Kind.CASE_EXPORT,)


class ApprovalError(ValueError):
    """The approval cannot be given, declined or used (the message says why)."""


def ask(
    committee: Committee,
    kind: str,
    reason: str,
    *,
    by: Member | None,
    object_id: int | None = None,
    options: dict | None = None,
) -> Approval:
    """Return the waiting approval for this action, creating it if none waits."""
    kind = Approval.Kind(kind)
    existing = (
        Approval.objects.waiting()
        .filter(committee=committee, kind=kind, reason=reason, object_id=object_id)
        .first()
    )
    if existing is not None:
        return existing
    now = timezone.now()
    approval = Approval.objects.create(
        committee=committee,
        kind=kind,
        reason=reason,
        object_id=object_id,
        options=options or {},
        requested_by=by,
        requested_at=now,
        expires_at=now + WAIT[kind],
    )
    _publish(approval)
    return approval


def _publish(approval: Approval) -> None:
    """Refresh the desks where it shows (after commit)."""
    channels = [f"desk:{c}" for c in sorted(committee_ids(approval))]
    transaction.on_commit(lambda: live.publish(*channels))


def committee_ids(approval: Approval) -> set[int]:
    """Return the committees whose staff may approve: the asking committee, and for an
    alert the other committees it was asked on behalf of."""
    ids = {approval.committee_id}
    ids.update(int(c) for c in approval.options.get("committees", []))
    return ids


def can_decide(approval: Approval, member: Member) -> bool:
    """Return whether ``member`` may approve or decline: staff (dispatcher or organizer)
    of the committee, and not the person who asked."""
    if approval.requested_by_id == member.pk:
        return False
    if approval.kind in LEGAL_KINDS:
        return Membership.objects.filter(
            member=member, committee_id=approval.committee_id, role=Role.LEGAL
        ).exists()
    return (
        Membership.objects.filter(member=member, committee_id__in=committee_ids(approval))
        .at_least(Role.DISPATCHER)
        .exists()
    )


def approve(approval: Approval, *, by: Member | None) -> Approval:
    """Mark ``approval`` approved by ``by`` (None: the operator, on the command line) and
    return it locked for the caller, who carries out the action in the same transaction
    (call inside transaction.atomic)."""
    if by is not None and not can_decide(approval, by):
        raise ApprovalError("a second staff member of the committee approves")
    locked = Approval.objects.select_for_update().get(pk=approval.pk)
    if locked.status != Approval.Status.WAITING or locked.expires_at <= timezone.now():
        raise ApprovalError("it is no longer waiting")
    locked.status = Approval.Status.DONE
    locked.decided_by = by
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decided_by", "decided_at"])
    _publish(locked)
    return locked


def decline(approval: Approval, *, by: Member) -> None:
    """Decline a waiting approval (a second person), or withdraw it (the one who asked)."""
    if approval.requested_by_id != by.pk and not can_decide(approval, by):
        raise ApprovalError("a second staff member of the committee declines")
    status = (
        Approval.Status.CANCELLED if approval.requested_by_id == by.pk else Approval.Status.DECLINED
    )
    Approval.objects.filter(pk=approval.pk, status=Approval.Status.WAITING).update(
        status=status, decided_by=by, decided_at=timezone.now()
    )
    _publish(approval)


def decline_as_operator(approval: Approval) -> None:
    Approval.objects.filter(pk=approval.pk, status=Approval.Status.WAITING).update(
        status=Approval.Status.DECLINED, decided_at=timezone.now()
    )


def cancel_for(kind: str, object_id: int) -> int:
    """Cancel what waits about an object that no longer needs it (a closed incident)."""
    return Approval.objects.filter(
        kind=kind, object_id=object_id, status=Approval.Status.WAITING
    ).update(status=Approval.Status.CANCELLED, decided_at=timezone.now())


def waiting_for(member: Member) -> list[Approval]:
    """Return what waits in the committees where ``member`` is staff, oldest first."""
    staff = Membership.objects.filter(member=member).at_least(Role.DISPATCHER)
    ids = set(staff.values_list("committee_id", flat=True))
    rows = (
        Approval.objects.waiting()
        .exclude(kind__in=LEGAL_KINDS)
        .select_related("committee", "requested_by")
        .order_by("requested_at", "id")
    )
    found = [a for a in rows if committee_ids(a) & ids]
    _name_targets(found)
    return found


def _name_targets(rows: list[Approval]) -> None:
    """Set ``target`` on role grants: the display name of the member who would get it."""
    ids = [a.object_id for a in rows if a.kind == Approval.Kind.ROLE and a.object_id]
    names = dict(Membership.objects.filter(pk__in=ids).values_list("pk", "member__display_name"))
    for a in rows:
        a.target = names.get(a.object_id or 0, "") if a.kind == Approval.Kind.ROLE else ""


def audit(committee: Committee, limit: int = 20) -> list[Approval]:
    """Return the committee's latest two-person decisions, newest first."""
    return list(
        committee.approvals.exclude(status=Approval.Status.WAITING).select_related(
            "requested_by", "decided_by"
        )[:limit]
    )
