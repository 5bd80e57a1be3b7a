"""Committees, their areas, memberships, invites and the vouching audit trail."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Committee(models.Model):
    class Kind(models.TextChoices):
        NEIGHBORHOOD = "neighborhood", _("Neighborhood")
        WORKPLACE = "workplace", _("Workplace")

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(unique=True, max_length=60)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    def cells(self) -> set[int]:
        return set(self.area_cells.values_list("cell", flat=True))

    def set_area(self, cells: set[int]) -> None:
        self.area_cells.all().delete()
        CommitteeCell.objects.bulk_create(CommitteeCell(committee=self, cell=c) for c in cells)


class CommitteeQuerySet(models.QuerySet):
    pass


class CommitteeCell(models.Model):
    """One H3 cell (at settings.AREA_RESOLUTION) of a committee's area."""

    committee = models.ForeignKey(Committee, models.CASCADE, related_name="area_cells")
    cell = models.BigIntegerField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["committee", "cell"], name="committee_cell_unique")
        ]


class Role(models.TextChoices):
    MEMBER = "member", _("Member")
    RESPONDER = "responder", _("Responder")
    # A trained responder the desk sends to check a report on the spot.
    VERIFIER = "verifier", _("Verifier")
    DISPATCHER = "dispatcher", _("Dispatcher")
    ORGANIZER = "organizer", _("Organizer")


# Each role includes the powers of the roles before it.
ROLE_RANK = {
    Role.MEMBER: 0,
    Role.RESPONDER: 1,
    Role.VERIFIER: 2,
    Role.DISPATCHER: 3,
    Role.ORGANIZER: 4,
}


class MembershipQuerySet(models.QuerySet["Membership"]):
    def at_least(self, role: str) -> MembershipQuerySet:
        allowed = [r for r, rank in ROLE_RANK.items() if rank >= ROLE_RANK[Role(role)]]
        return self.filter(role__in=allowed)


class Membership(models.Model):
    committee = models.ForeignKey(Committee, models.CASCADE, related_name="memberships")
    member = models.ForeignKey("members.Member", models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.MEMBER)
    vouched_by = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="vouched"
    )
    joined_at = models.DateTimeField(default=timezone.now)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["committee", "member"], name="membership_unique")
        ]

    def has_role(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


def _invite_token() -> str:
    return secrets.token_urlsafe(18)


def _invite_expiry():  # type: ignore[no-untyped-def]
    return timezone.now() + timedelta(days=14)


class Invite(models.Model):
    committee = models.ForeignKey(Committee, models.CASCADE, related_name="invites")
    token = models.CharField(max_length=40, unique=True, default=_invite_token)
    created_by = models.ForeignKey("members.Member", models.SET_NULL, null=True, related_name="+")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=_invite_expiry)
    max_uses = models.PositiveIntegerField(default=200)
    uses = models.PositiveIntegerField(default=0)
    revoked = models.BooleanField(default=False)
    # A personal invite: one person vouching for one other person (single use, made by a
    # responder or above from "Invite someone you trust"). The organizer's shared link is not.
    personal = models.BooleanField(default=False)

    def usable(self) -> bool:
        return not self.revoked and self.uses < self.max_uses and self.expires_at > timezone.now()


class VouchingEvent(models.Model):
    """The audit trail of vouching decisions: who cut which branch, and how many it removed.

    Member ids only: the names of the people removed are not kept here.
    """

    class Action(models.TextChoices):
        CUT_BRANCH = "cut_branch", _("Cut a branch")

    committee = models.ForeignKey(Committee, models.CASCADE, related_name="vouching_events")
    actor = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    # The member at the top of the branch (an id; emptied if they delete their account).
    root = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    target_count = models.PositiveIntegerField(default=0)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]


class VerificationRules(models.Model):
    """How a committee confirms an incident without a dispatcher's tap, and when an
    unverified one expires (the pure rules are in tocsin.incidents.verification).

    A committee without a row uses the defaults below.
    """

    committee = models.OneToOneField(Committee, models.CASCADE, related_name="verification_rules")
    trusted_score = models.PositiveSmallIntegerField(
        _("trust a member needs for their word to count"), default=60
    )
    verifier_confirms = models.BooleanField(
        _("a trusted verifier's “Confirmed” confirms the incident"), default=True
    )
    # 0 turns the quorum off.
    quorum = models.PositiveSmallIntegerField(
        _("reports from distinct trusted members that confirm"), default=3
    )
    quorum_meters = models.PositiveIntegerField(_("within metres of each other"), default=500)
    quorum_minutes = models.PositiveIntegerField(_("within minutes of each other"), default=30)
    # 0: never expires by itself.
    expire_minutes = models.PositiveIntegerField(
        _("close an unverified incident after this many quiet minutes"), default=120
    )
