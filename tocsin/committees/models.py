"""Committees, their areas, memberships, invites and the vouching audit trail."""

from __future__ import annotations

import functools
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CommitteeQuerySet(models.QuerySet["Committee"]):
    def active(self) -> CommitteeQuerySet:
        """Return the committees that take reports and alert: approved by the operator,
        or any committee when the operator does not ask for approval
        (TOCSIN_COMMITTEES_NEED_APPROVAL)."""
        if not settings.COMMITTEES_NEED_APPROVAL:
            return self.all()
        return self.filter(approved_at__isnull=False)

    def covering(self, area_cell: int) -> CommitteeQuerySet:
        """Return the active committees whose area holds ``area_cell``."""
        return self.active().filter(area_cells__cell=area_cell)

    def ids(self) -> list[int]:
        return list(self.order_by("pk").values_list("pk", flat=True))

    def public(self) -> CommitteeQuerySet:
        """Return the committees shown to the public: approved by the operator and listed
        by their organizers."""
        return self.filter(approved_at__isnull=False, listed=True)


def covering_ids(area_cell: int) -> list[int]:
    """Return ``Committee.objects.covering(area_cell).ids()``, from SQL the ORM compiled
    once: every stored report asks, and compiling the query cost ten times running it."""
    sql = _covering_sql(connection.vendor, settings.COMMITTEES_NEED_APPROVAL)
    with connection.cursor() as cursor:
        cursor.execute(sql, [area_cell])
        return [row[0] for row in cursor.fetchall()]


# A cell no committee area holds, only ever compiled into the SQL, then replaced.
_ANY_CELL = -7


@functools.cache
def _covering_sql(vendor: str, need_approval: bool) -> str:
    query = Committee.objects.covering(_ANY_CELL).order_by("pk").values_list("pk", flat=True)
    sql, params = query.query.sql_with_params()
    if tuple(params) != (_ANY_CELL,):
        raise AssertionError(f"covering() changed its parameters: {params!r}")
    return str(sql)


class Committee(models.Model):
    class Kind(models.TextChoices):
        NEIGHBORHOOD = "neighborhood", _("Neighborhood")
        WORKPLACE = "workplace", _("Workplace")

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(unique=True, max_length=60)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)
    # Set by the operator (`tocsin manage committees approve`). Until then the committee's
    # area is capped (TOCSIN_UNAPPROVED_AREA_M) and, when the operator asks for approval,
    # it takes no reports and sends no alerts.
    approved_at = models.DateTimeField(null=True, blank=True)
    # An alert reaching more members than this waits for a second staff member. Empty: the
    # operator's TOCSIN_TWO_PERSON_THRESHOLD; organizers may only set it lower.
    alert_threshold = models.PositiveIntegerField(
        _("alerts reaching more members than this need a second person"), null=True, blank=True
    )

    # The committee's public hotline numbers (E.164, at most three), set by its organizers:
    # shown to reporters on the report, receipt and know-your-rights pages and in every
    # refusal (tocsin.committees.hotlines).
    hotline_numbers = models.JSONField(default=list, blank=True)
    # Shown at /committees/ (find the committee near you) with a public page where people
    # ask to join. Off until an organizer turns it on; only approved committees are shown.
    listed = models.BooleanField(_("listed publicly"), default=False)

    objects = CommitteeQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None

    @property
    def is_active(self) -> bool:
        return self.approved_at is not None or not settings.COMMITTEES_NEED_APPROVAL

    def two_person_threshold(self) -> int:
        """Return how many members one person's alert may reach."""
        limit = settings.TWO_PERSON_THRESHOLD
        if self.alert_threshold is not None:
            limit = min(limit, self.alert_threshold)
        return limit

    def max_radius_m(self) -> int:
        """Return the largest area radius the committee may draw."""
        return settings.AREA_MAX_M if self.is_approved else settings.UNAPPROVED_AREA_M

    def cells(self) -> set[int]:
        return set(self.area_cells.values_list("cell", flat=True))

    def set_area(self, cells: set[int]) -> None:
        self.area_cells.all().delete()
        CommitteeCell.objects.bulk_create(CommitteeCell(committee=self, cell=c) for c in cells)


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
    # The committee's legal team: a responder who also reads and works the committee's
    # legal cases (tocsin.legal). Organizers and dispatchers do not read cases.
    LEGAL = "legal", _("Legal team")


# Each role includes the powers of the roles before it (the legal team's cases are its
# own: no other role, however high, reads them).
ROLE_RANK = {
    Role.MEMBER: 0,
    Role.RESPONDER: 1,
    Role.LEGAL: 1,
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


class Share(models.TextChoices):
    """What partner committees share, each by consent of both organizers."""

    REPORTS = "reports", _("Reports and incidents on the desk")
    VERIFIERS = "verifiers", _("Verifiers (each desk may ask the other's)")
    ALERTS = "alerts", _("Alerts to the other's members (each needs a second person)")


class PartnershipQuerySet(models.QuerySet["Partnership"]):
    def live(self) -> PartnershipQuerySet:
        """Return accepted partnerships that neither side ended."""
        return self.filter(accepted_at__isnull=False, ended_at__isnull=True)

    def pending(self) -> PartnershipQuerySet:
        return self.filter(accepted_at__isnull=True, ended_at__isnull=True)

    def involving(self, committee_ids: set[int] | list[int]) -> PartnershipQuerySet:
        return self.filter(
            models.Q(proposer_id__in=committee_ids) | models.Q(partner_id__in=committee_ids)
        )


class Partnership(models.Model):
    """Two committees cooperating by consent: one organizer proposes what to share, an
    organizer of the other committee accepts; either side can end it. Both sides share
    the same things. Overlapping areas alone share nothing."""

    proposer = models.ForeignKey(Committee, models.CASCADE, related_name="+")
    partner = models.ForeignKey(Committee, models.CASCADE, related_name="+")
    share_reports = models.BooleanField(_("reports and incidents on the desk"), default=False)
    share_verifiers = models.BooleanField(_("verifiers"), default=False)
    share_alerts = models.BooleanField(_("alerts to the other's members"), default=False)
    proposed_by = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    proposed_at = models.DateTimeField(default=timezone.now)
    accepted_by = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = PartnershipQuerySet.as_manager()

    class Meta:
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(proposer=models.F("partner")), name="partnership_two_sides"
            ),
        ]

    def other(self, committee_id: int) -> Committee:
        return self.partner if committee_id == self.proposer_id else self.proposer

    def shares(self) -> list[str]:
        return [
            s
            for s, on in (
                (Share.REPORTS, self.share_reports),
                (Share.VERIFIERS, self.share_verifiers),
                (Share.ALERTS, self.share_alerts),
            )
            if on
        ]


class ApprovalQuerySet(models.QuerySet["Approval"]):
    def waiting(self) -> ApprovalQuerySet:
        return self.filter(status=Approval.Status.WAITING, expires_at__gt=timezone.now())


class Approval(models.Model):
    """A wide or risky action waiting for a second staff member (the two-person rule),
    and afterwards its audit entry: who asked, who approved, when, never the content.

    ``object_id`` names what it acts on (an incident, a membership); ``options`` holds
    only ids, flags and counts (which committees, which role, how many members)."""

    class Kind(models.TextChoices):
        ALERT = "alert", _("Alert")
        ROLE = "role", _("Role grant")
        EXPORT = "export", _("Member list export")
        LOCK = "vault_lock", _("Vault lock")
        CASE_EXPORT = "case_export", _("Legal case export")

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting for a second person")
        DONE = "done", _("Approved and done")
        DECLINED = "declined", _("Declined")
        CANCELLED = "cancelled", _("Cancelled")

    class Reason(models.TextChoices):
        REACH = "reach", _("reaches more members than one person may alert")
        PARTNER = "partner", _("reaches a partner committee's members")
        NETWORK = "network", _("rests only on a partner network's reports")
        BREAKER = "breaker", _("too many alerts from this committee in the last hour")
        ROLE = "role", _("grants a staff role")
        EXPORT = "export", _("exports member data")
        LOCK = "lock", _("locks the vault")
        CASE = "case", _("exports a legal case")
        PUBLIC = "public", _("a public call reaches anyone")

    committee = models.ForeignKey(Committee, models.CASCADE, related_name="approvals")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    object_id = models.BigIntegerField(null=True, blank=True)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.WAITING)
    # None: the committee's own rules asked (a trusted verifier or a quorum confirmed).
    requested_by = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    objects = ApprovalQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["committee", "status"], name="approval_waiting")]

    # Filled in for display by tocsin.committees.approvals.waiting_for.
    target: str = ""

    @property
    def role_label(self) -> str:
        role = self.options.get("role", "")
        return str(Role(role).label) if role in Role.values else ""


class Duty(models.TextChoices):
    """What a person on shift does; each needs at least the role of the same name."""

    VERIFIER = "verifier", _("Verifier")
    DISPATCHER = "dispatcher", _("Dispatcher")
    RESPONDER = "responder", _("Responder")
    # The lawyer on call for the legal team's new cases (tocsin.legal): legal team only.
    LAWYER = "lawyer", _("Lawyer on call")
    # An interpreter on call for the languages they speak (tocsin.legal.interpreters).
    INTERPRETER = "interpreter", _("Interpreter on call")


# The least role each duty needs.
DUTY_ROLE = {
    Duty.VERIFIER: Role.VERIFIER,
    Duty.DISPATCHER: Role.DISPATCHER,
    Duty.RESPONDER: Role.RESPONDER,
    Duty.LAWYER: Role.LEGAL,
    Duty.INTERPRETER: Role.MEMBER,
}
# The duties the coverage roster counts per area (the desk and the field); the lawyer
# and interpreter on call serve the whole committee (tocsin.legal).
AREA_DUTIES = (Duty.VERIFIER, Duty.DISPATCHER, Duty.RESPONDER)
# Duties only this exact role holds (no rank above it includes it).
DUTY_ONLY_ROLE = {Duty.LAWYER: Role.LEGAL}


class ShiftQuerySet(models.QuerySet["Shift"]):
    def on_duty(self, at=None):  # type: ignore[no-untyped-def]
        """Return the shifts running at ``at`` (now) that someone holds."""
        at = at or timezone.now()
        return self.filter(starts_at__lte=at, ends_at__gt=at, member__isnull=False)

    def open(self, at=None):  # type: ignore[no-untyped-def]
        """Return the slots nobody holds yet that have not ended by ``at`` (now)."""
        at = at or timezone.now()
        return self.filter(member__isnull=True, ends_at__gt=at)

    def offered(self, at=None):  # type: ignore[no-untyped-def]
        """Return the shifts their holder offers to swap that have not ended."""
        at = at or timezone.now()
        return self.filter(member__isnull=False, offered_at__isnull=False, ends_at__gt=at)


class Shift(models.Model):
    """A time a verifier, dispatcher or responder is on duty for a committee: the desk
    suggests on-duty verifiers first when a report needs checking, and the coverage page
    shows which areas have someone on duty (tocsin.mobilize.coverage).

    A shift without a member is an open slot the organizer planned: a member with the
    role for its duty signs up for it. A holder may offer it to swap; another eligible
    member takes it (``swapped_from`` then names the one who gave it up)."""

    committee = models.ForeignKey("committees.Committee", models.CASCADE, related_name="shifts")
    duty = models.CharField(_("duty"), max_length=20, choices=Duty.choices, default=Duty.VERIFIER)
    member = models.ForeignKey(
        "members.Member", models.CASCADE, null=True, blank=True, related_name="shifts"
    )
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    created_by = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Set while the holder offers the shift to someone else; cleared when taken or withdrawn.
    offered_at = models.DateTimeField(null=True, blank=True)
    swapped_from = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    swapped_at = models.DateTimeField(null=True, blank=True)

    objects = ShiftQuerySet.as_manager()

    class Meta:
        # The table keeps the name it had under mobilize (the model moved, the data did not).
        db_table = "mobilize_shift"
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["committee", "ends_at"], name="shift_committee_end")]


def _request_expiry():  # type: ignore[no-untyped-def]
    return timezone.now() + timedelta(days=JOIN_REQUEST_DAYS)


# An unanswered request to join (or to start a committee) is purged this long after it
# was made; an accepted one once its message went out and the invite it carries expired.
JOIN_REQUEST_DAYS = 14
# A request's one message is tried this many times, then left marked as not sent.
MAX_SEND_ATTEMPTS = 8


class JoinRequestQuerySet(models.QuerySet["JoinRequest"]):
    def waiting(self) -> JoinRequestQuerySet:
        return self.filter(accepted_at__isnull=True, expires_at__gt=timezone.now())


class JoinRequest(models.Model):
    """Someone without an account asking to join a listed committee, from its public page.

    One channel, sealed to the vault like every contact (only workers open it), and the
    name they gave. An organizer accepts (a single-use invite vouched by that organizer
    goes to the person's channel, so the vouching tree stays whole) or declines (the row
    is deleted). The row is also the outbox of its one message.
    """

    committee = models.ForeignKey(Committee, models.CASCADE, related_name="join_requests")
    display_name = models.CharField(_("your name"), max_length=60)
    kind = models.CharField(max_length=20)
    sealed = models.BinaryField()
    # A keyed hash of the address: the same address asks a committee once.
    blind_index = models.CharField(max_length=64)
    language = models.CharField(max_length=8, default="en")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=_request_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    invite = models.OneToOneField(
        Invite, models.SET_NULL, null=True, blank=True, related_name="join_request"
    )
    # The message with the join link, once accepted: sent by a worker.
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)

    objects = JoinRequestQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["committee", "blind_index"], name="join_request_once_per_address"
            )
        ]
        indexes = [models.Index(fields=["next_attempt_at"], name="join_request_due")]

    @property
    def undeliverable(self) -> bool:
        """The join link could not be sent and will not be retried."""
        return self.sent_at is None and bool(self.error) and self.attempts >= MAX_SEND_ATTEMPTS


class CommitteeRequest(models.Model):
    """Someone without an account asking to start a committee where there is none.

    The operator decides (``tocsin manage committees requests``): starting it creates the
    committee unapproved, like any new committee (its area capped, and no reports until
    approved), with an organizer invite sent to the person's sealed channel.
    """

    name = models.CharField(_("name of the committee"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=Committee.Kind.choices)
    # The rough area: a ZIP's centre at the public resolution (about 1.2 km), never finer.
    cell = models.BigIntegerField()
    area_name = models.CharField(max_length=120)
    display_name = models.CharField(_("your name"), max_length=60)
    channel = models.CharField(max_length=20)
    sealed = models.BinaryField()
    blind_index = models.CharField(max_length=64, unique=True)
    language = models.CharField(max_length=8, default="en")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=_request_expiry)
    committee = models.OneToOneField(
        Committee, models.SET_NULL, null=True, blank=True, related_name="start_request"
    )
    invite = models.OneToOneField(
        Invite, models.SET_NULL, null=True, blank=True, related_name="start_request"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
