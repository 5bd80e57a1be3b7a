"""The committees' answers to what members ask about roles (tocsin.members.staff)."""

from __future__ import annotations

from tocsin.committees.models import Membership, Role
from tocsin.members.models import Member


def is_staff(member: Member) -> bool:
    """Whether ``member`` is a dispatcher, an organizer or on the legal team of any
    committee (the legal team reads sealed cases: it proves a second factor too)."""
    memberships = Membership.objects.filter(member=member)
    return (
        memberships.at_least(Role.DISPATCHER).exists()
        or memberships.filter(role=Role.LEGAL).exists()
    )


def organizers_of(member: Member) -> list[Member]:
    """The organizers of every committee where ``member`` is a dispatcher or an
    organizer, without ``member``."""
    committees = (
        Membership.objects.filter(member=member).at_least(Role.DISPATCHER).values("committee_id")
    )
    ids = (
        Membership.objects.filter(committee_id__in=committees, role=Role.ORGANIZER)
        .exclude(member=member)
        .values("member_id")
    )
    return list(Member.objects.filter(pk__in=ids).order_by("pk"))
