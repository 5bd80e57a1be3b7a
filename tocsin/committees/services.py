"""Committee changes that reach beyond one row."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from tocsin.committees import approvals
from tocsin.committees.models import ROLE_RANK, Approval, Committee, Invite, Membership, Role
from tocsin.lib import live
from tocsin.members.models import ContactEndpoint, EndpointKind, Member
from tocsin.members.security import end_all_sessions, open_enrollment
from tocsin.vault import locking

# Sent inside the transaction that removes a member from their last committee, with
# ``member``: what was queued for them (alerts) is cancelled by the app that queued it.
left_every_committee = Signal()


def revoke(membership: Membership) -> None:
    """Remove a member from a committee and cut them off now.

    Their sessions end at their next request, their push subscriptions are deleted (a
    device of someone who should not hear alerts stops hearing them), the invites they made
    for this committee stop working (nobody joins on their word any more), and alerts still
    queued for them are cancelled. They keep any other committee, but must log in again.
    """
    member = membership.member
    with transaction.atomic():
        membership.delete()
        Invite.objects.filter(committee_id=membership.committee_id, created_by=member).update(
            revoked=True
        )
        end_all_sessions(member)
        ContactEndpoint.objects.filter(member=member, kind=EndpointKind.WEBPUSH).delete()
        if not member.memberships.exists():
            # In this transaction: the outbox cancels what is still queued for them
            # (tocsin.alerts.outbox.cancel_for_revoked).
            left_every_committee.send(sender=Membership, member=member)


# Roles that carry staff power: granting one waits for a second staff member.
STAFF_ROLES = (Role.DISPATCHER, Role.ORGANIZER)


def set_role(membership: Membership, role: str, *, by: Member) -> Approval | None:
    """Change a member's role, or ask a second staff member first when it grants staff
    power (dispatcher or organizer); return the Approval that waits, or None if done."""
    role = Role(role)
    grants_staff = role in STAFF_ROLES and ROLE_RANK[role] > ROLE_RANK[Role(membership.role)]
    # The legal team reads sealed cases: joining it waits for a second person too.
    grants_legal = role == Role.LEGAL and membership.role != Role.LEGAL
    if grants_staff or grants_legal:
        return approvals.ask(
            membership.committee,
            Approval.Kind.ROLE,
            Approval.Reason.ROLE,
            by=by,
            object_id=membership.pk,
            options={"role": role.value},
        )
    Membership.objects.filter(pk=membership.pk).update(role=role)
    # A role taken away ends the live streams it allowed (tocsin.committees.live_access).
    member_id = membership.member_id
    transaction.on_commit(lambda: live.publish_access("member", member_id))
    return None


def approve_role(approval: Approval, *, by: Member | None) -> Membership:
    """Grant the waiting role as the second staff member. Raises ApprovalError."""
    with transaction.atomic():
        approval = approvals.approve(approval, by=by)
        membership = (
            Membership.objects.select_for_update()
            .filter(pk=approval.object_id or 0, committee_id=approval.committee_id)
            .first()
        )
        if membership is None:
            raise approvals.ApprovalError("the member left the committee")
        before = Role(membership.role)
        membership.role = Role(approval.options["role"])
        membership.save(update_fields=["role"])
        if ROLE_RANK[before] < ROLE_RANK[Role.DISPATCHER] <= ROLE_RANK[membership.role]:
            # A new dispatcher or organizer adds their first passkey or authenticator app
            # from the session they have, within the window this grant opens.
            open_enrollment(membership.member, granted_by=approval.requested_by)
    return membership


# A member list the second person approved can be downloaded once, this soon after.
EXPORT_MINUTES = 60


def ask_export(committee: Committee, *, by: Member) -> Approval:
    """Ask for the committee's member list; a second staff member approves."""
    return approvals.ask(committee, Approval.Kind.EXPORT, Approval.Reason.EXPORT, by=by)


def approve_export(approval: Approval, *, by: Member | None) -> None:
    with transaction.atomic():
        approvals.approve(approval, by=by)


def export_ready(committee: Committee, member: Member) -> Approval | None:
    """Return the approved, unused export ``member`` asked for, if still fresh."""
    cutoff = timezone.now() - timedelta(minutes=EXPORT_MINUTES)
    return (
        committee.approvals.filter(
            kind=Approval.Kind.EXPORT,
            status=Approval.Status.DONE,
            requested_by=member,
            decided_at__gte=cutoff,
        )
        .exclude(options__has_key="downloaded")
        .order_by("-decided_at")
        .first()
    )


def take_export(approval: Approval) -> list[list[str]]:
    """Mark the export used and return the member list as rows (with a header): display
    names, roles, when they joined, who vouched, which kinds of channels they have.
    Contact addresses are sealed and never leave; nor do areas."""
    with transaction.atomic():
        locked = Approval.objects.select_for_update().get(pk=approval.pk)
        if "downloaded" in locked.options:
            raise approvals.ApprovalError("already downloaded")
        locked.options = {**locked.options, "downloaded": True}
        locked.save(update_fields=["options"])
    rows = [["display_name", "role", "joined", "vouched_by", "channels"]]
    memberships = (
        Membership.objects.filter(committee_id=approval.committee_id)
        .select_related("member", "vouched_by")
        .order_by("member__display_name")
    )
    kinds: dict[int, set[str]] = {}
    for member_id, kind in (
        ContactEndpoint.objects.usable()
        .filter(member__memberships__committee_id=approval.committee_id)
        .values_list("member_id", "kind")
    ):
        kinds.setdefault(member_id, set()).add(kind)
    for m in memberships:
        rows.append(
            [
                m.member.display_name,
                m.role,
                m.joined_at.date().isoformat(),
                m.vouched_by.display_name if m.vouched_by else "",
                " ".join(sorted(kinds.get(m.member_id, ()))),
            ]
        )
    return rows


def operator_threshold() -> int:
    """Return the operator's single-person alert reach (TOCSIN_TWO_PERSON_THRESHOLD)."""
    return settings.TWO_PERSON_THRESHOLD


def ask_lock(committee: Committee, *, by: Member) -> Approval:
    """Ask to lock the vault (a door is knocked on); a second staff member approves."""
    return approvals.ask(committee, Approval.Kind.LOCK, Approval.Reason.LOCK, by=by)


def approve_lock(approval: Approval, *, by: Member | None) -> int:
    """Lock the vault as the second person: every worker drops the private key and
    deliveries wait until the operator unlocks it. Return the lock generation."""
    with transaction.atomic():
        approvals.approve(approval, by=by)
    return locking.lock()
