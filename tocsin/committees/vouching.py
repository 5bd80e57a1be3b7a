"""Vouching: personal invites, the tree of who vouched for whom, and cutting a branch."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tocsin.committees.models import Committee, Invite, Membership, Role, VouchingEvent
from tocsin.committees.services import revoke
from tocsin.committees.trust import Trust, committee_trust
from tocsin.members.models import Member

# A fallback for installs whose settings predate the setting (TOCSIN_VOUCH_INVITES_PER_WEEK).
DEFAULT_INVITES_PER_WEEK = 5


def invites_per_week() -> int:
    return int(getattr(settings, "VOUCH_INVITES_PER_WEEK", DEFAULT_INVITES_PER_WEEK))


def personal_invites(member: Member, committee: Committee) -> list[Invite]:
    """Return the member's personal invites for ``committee`` that still work, newest first."""
    invites = Invite.objects.filter(
        committee=committee, created_by=member, personal=True, join_request__isnull=True
    )
    return [i for i in invites.order_by("-created_at") if i.usable()]


def invites_left(member: Member, committee: Committee) -> int:
    """Return how many personal invites ``member`` may still make this week (7 days)."""
    since = timezone.now() - timedelta(days=7)
    # Invites that answer a request to join were asked for, not given: they do not count.
    made = Invite.objects.filter(
        committee=committee,
        created_by=member,
        personal=True,
        created_at__gte=since,
        join_request__isnull=True,
    ).count()
    return max(0, invites_per_week() - made)


def make_personal_invite(member: Member, committee: Committee) -> Invite | None:
    """Return a new single-use invite by which ``member`` vouches for one person, or None
    when they reached the weekly limit."""
    with transaction.atomic():
        # Lock the member's row so two quick clicks cannot both pass the limit.
        Member.objects.select_for_update().filter(pk=member.pk).first()
        if invites_left(member, committee) <= 0:
            return None
        return Invite.objects.create(
            committee=committee, created_by=member, role=Role.MEMBER, max_uses=1, personal=True
        )


@dataclass
class TreeNode:
    """One person in the vouching tree: a current member, or a removed voucher."""

    member_id: int
    display_name: str
    membership: Membership | None  # None: no longer in the committee
    trust: Trust | None
    children: list[TreeNode] = field(default_factory=list)

    @property
    def revoked(self) -> bool:
        return self.membership is None

    @property
    def joined_at(self) -> datetime | None:
        return self.membership.joined_at if self.membership else None


def tree(committee: Committee) -> list[TreeNode]:
    """Return the committee as a forest by who vouched for whom.

    Roots are members with no voucher on record, and removed vouchers (marked as such)
    with the members they brought in below them.
    """
    memberships = list(
        committee.memberships.select_related("member", "vouched_by").order_by("joined_at", "id")
    )
    trusts = committee_trust(committee)
    nodes = {
        m.member_id: TreeNode(m.member_id, m.member.display_name, m, trusts.get(m.member_id))
        for m in memberships
    }
    roots: list[TreeNode] = []
    removed: dict[int, TreeNode] = {}
    for m in memberships:
        node = nodes[m.member_id]
        voucher = m.vouched_by
        if voucher is None or voucher.pk == m.member_id:
            roots.append(node)
        elif voucher.pk in nodes:
            nodes[voucher.pk].children.append(node)
        else:
            if voucher.pk not in removed:
                removed[voucher.pk] = TreeNode(voucher.pk, voucher.display_name, None, None)
                roots.append(removed[voucher.pk])
            removed[voucher.pk].children.append(node)
    # A vouching loop (someone removed came back through a person they had vouched for)
    # reaches no root: show its members at the top rather than hide them.
    reached: set[int] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        reached.add(node.member_id)
        stack.extend(node.children)
    roots.extend(n for n in nodes.values() if n.member_id not in reached)
    return roots


def branch(root: Membership, *, actor: Member, include_organizers: bool) -> list[Membership]:
    """Return ``root`` and everyone they vouched for, recursively, in root's committee.

    The branch stops at anyone who stays: the organizer cutting it (never removed, nor
    the people they vouched for), and other organizers unless ``include_organizers``.
    """
    by_voucher: dict[int, list[Membership]] = {}
    memberships = root.committee.memberships.select_related("member").order_by("joined_at", "id")
    for m in memberships:
        if m.vouched_by_id is not None:
            by_voucher.setdefault(m.vouched_by_id, []).append(m)
    found: list[Membership] = []
    seen: set[int] = set()
    queue = [root]
    while queue:
        m = queue.pop(0)
        if m.member_id in seen:
            continue
        seen.add(m.member_id)
        if m.member_id == actor.pk:
            continue
        if m.role == Role.ORGANIZER and not include_organizers:
            continue
        found.append(m)
        queue.extend(by_voucher.get(m.member_id, []))
    return found


def cut_branch(root: Membership, *, actor: Member, include_organizers: bool) -> int:
    """Remove ``root`` and their branch (see ``branch``) with ``revoke``; return how many.

    Each removed member's sessions, push subscriptions and invites end. The cut is written
    to the committee's vouching audit trail with member ids only.
    """
    with transaction.atomic():
        cut = branch(root, actor=actor, include_organizers=include_organizers)
        for membership in cut:
            revoke(membership)
        if cut:
            VouchingEvent.objects.create(
                committee=root.committee,
                actor=actor,
                action=VouchingEvent.Action.CUT_BRANCH,
                root=root.member,
                target_count=len(cut),
            )
    return len(cut)
