"""Incidents: one operation on the ground, however many reports describe it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin.committees.models import Approval
from tocsin.intake.models import ReportKind
from tocsin.lib import exposure
from tocsin.lib.incident_states import State
from tocsin.lib.screening import reason_labels

OPEN_STATES = (State.REPORTED, State.VERIFYING, State.CONFIRMED)
UNVERIFIED_STATES = (State.REPORTED, State.VERIFYING)
CLOSED_STATES = (State.RESOLVED, State.UNFOUNDED, State.MERGED, State.EXPIRED)
PUBLIC_STATES = tuple(exposure.SHOWN[exposure.Audience.PUBLIC])


class IncidentQuerySet(models.QuerySet["Incident"]):
    def open(self) -> IncidentQuerySet:
        return self.filter(state__in=OPEN_STATES)

    def for_committees(self, committee_ids: set[int] | list[int]) -> IncidentQuerySet:
        """Return the incidents that belong to any of these committees."""
        through = Incident.committees.through
        return self.filter(
            models.Exists(
                through.objects.filter(
                    incident_id=models.OuterRef("pk"), committee_id__in=committee_ids
                )
            )
        )

    def confirmed(self) -> IncidentQuerySet:
        return self.filter(state=State.CONFIRMED)

    def published(self, cutoff: datetime) -> IncidentQuerySet:
        """Return the incidents the public may see: confirmed or resolved, confirmed at
        or before ``cutoff`` (tocsin.lib.exposure.public_cutoff), newest first."""
        return self.filter(
            state__in=PUBLIC_STATES, confirmed_at__isnull=False, confirmed_at__lte=cutoff
        ).order_by("-confirmed_at", "-pk")

    def with_report_counts(self) -> IncidentQuerySet:
        """Annotate ``report_count`` and ``new_reports``: those that arrived since a
        dispatcher last opened the incident (all of them if none has)."""
        new = models.Q(desk_seen_at__isnull=True) | models.Q(
            reports__received_at__gt=models.F("desk_seen_at")
        )
        return self.annotate(
            report_count=models.Count("reports", distinct=True),
            new_reports=models.Count("reports", filter=new, distinct=True),
        )

    def closed_before(self, cutoff: datetime) -> IncidentQuerySet:
        """Return incidents resolved or marked false alarm at or before ``cutoff``."""
        return self.filter(state__in=CLOSED_STATES, closed_at__lte=cutoff)


class ConfirmedBy(models.TextChoices):
    """How an incident came to be confirmed: the public reads it as its label."""

    VERIFIER = "verifier", _("confirmed by a verifier on the ground")
    QUORUM = "quorum", _("confirmed by trusted members")
    DISPATCHER = "dispatcher", _("confirmed by the committee's dispatcher")


class Incident(models.Model):
    kind = models.CharField(max_length=30, choices=ReportKind.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.REPORTED)
    cell = models.BigIntegerField()
    area_cell = models.BigIntegerField(db_index=True)
    summary = models.TextField(_("summary for alerts"), blank=True, max_length=500)
    opened_at = models.DateTimeField(default=timezone.now)
    first_seen_at = models.DateTimeField(default=timezone.now)
    # The newest report's time: clustering joins reports that come soon after it.
    last_seen_at = models.DateTimeField(default=timezone.now)
    merged_into = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="merged_from"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.CharField(max_length=20, choices=ConfirmedBy.choices, blank=True)
    # With ``quorum``: how many distinct trusted members reported it (a member who
    # reported twice counts once: tocsin.incidents.verification.quorum_size).
    confirmed_sources = models.PositiveSmallIntegerField(default=0)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    # When a dispatcher last opened its page (empty: none has since it opened by itself):
    # reports that arrived later show as new on the desk's queue until one opens it again.
    desk_seen_at = models.DateTimeField(null=True, blank=True)
    # Evidence (for a lawsuit or a complaint) keeps the raw reports and the summary past
    # the retention period; everything else about the incident is purged as usual.
    keep_as_evidence = models.BooleanField(_("keep as evidence"), default=False)
    # One dispatcher handles an incident at a time: the others see who, and can take it
    # over explicitly. The hold lapses HOLD_MINUTES after the holder's last action.
    held_by = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    held_until = models.DateTimeField(null=True, blank=True)
    # The committees it belongs to: those whose desks its reports reached. Each decides
    # for its own members; overlapping areas share nothing else.
    committees = models.ManyToManyField(
        "committees.Committee",
        related_name="+",
        blank=True,
        db_table="incidents_incident_committee",
    )

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()}"

    @property
    def place(self) -> str:
        """The operation's place (its ~25 m cell centre) as "lat, lng", for dispatchers."""
        from tocsin import geo

        lat, lng = geo.center(self.cell)
        return f"{lat:.5f}, {lng:.5f}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def holder(self, now: datetime | None = None) -> int | None:
        """Return the member id of the dispatcher holding the incident, or None."""
        now = now or timezone.now()
        if self.held_by_id is None or self.held_until is None or self.held_until <= now:
            return None
        return self.held_by_id


def coded(code: str, *values: object) -> str:
    """Return a timeline detail written by Tocsin itself, as a code and its values, so
    each dispatcher reads it in their own language (IncidentEvent.text)."""
    parts = [str(v).replace("|", "/").replace(";", ",") for v in values]
    return "@" + "|".join([code, *parts])


def _choice(choices: type[models.TextChoices], value: str) -> str:
    return str(choices(value).label) if value in choices.values else value


_NAMED = ("sent", "member")


def _member_name(pk: str, names: dict[int, str] | None) -> str:
    """A member named on the timeline by id, so a deleted account's name goes with it."""
    from tocsin.members.models import Member

    name = None
    if pk.isdigit():
        if names is not None:
            name = names.get(int(pk))
        else:
            name = Member.objects.filter(pk=int(pk)).values_list("display_name", flat=True).first()
    return name or str(_("a removed member"))


def with_member_names(events: Iterable[IncidentEvent]) -> list[IncidentEvent]:
    """Return ``events`` with the names of the members they mention read in one query
    (a timeline is rendered on every live update)."""
    from tocsin.members.models import Member

    events = list(events)
    ids = {
        int(values[0])
        for e in events
        for code, values in e.coded_parts()
        if code in _NAMED and values and values[0].isdigit()
    }
    names = dict(Member.objects.filter(pk__in=ids).values_list("pk", "display_name"))
    for e in events:
        e.names = names
    return events


def _coded_text(code: str, values: list[str], names: dict[int, str] | None) -> str:
    from tocsin.alerts.models import Purpose
    from tocsin.intake.models import Channel

    v = values + [""] * 3
    texts = {
        "opened": lambda: _("report %(receipt)s") % {"receipt": v[0]},
        "opened_trusted": lambda: (
            _("report %(receipt)s (from a trusted member)") % {"receipt": v[0]}
        ),
        "report": lambda: f"{_choice(Channel, v[0])} {v[1]}",
        "notice": lambda: f"{_choice(Purpose, v[0])}: {v[1]}",
        "sent": lambda: f"{_member_name(v[0], names)}: {v[1]}",
        "member": lambda: _member_name(v[0], names),
        "answer": lambda: f"{_choice(Answer, v[0])} ({_choice(Channel, v[1])})",
        "rule_verifier": lambda: (
            _("rule of %(committee)s: a trusted verifier confirmed") % {"committee": v[0]}
        ),
        "rule_quorum": lambda: (
            _("rule of %(committee)s: %(n)s trusted members reported")
            % {"committee": v[0], "n": v[1]}
        ),
        "expired": lambda: _("nobody verified it; quiet for %(n)s min") % {"n": v[0]},
        "approval": lambda: (
            f"{_choice(Approval.Reason, v[0])}"
            + (f" ({_('%(n)s members') % {'n': v[1]}})" if v[1] not in ("", "0") else "")
        ),
    }
    make = texts.get(code)
    return make() if make is not None else " ".join(values)


class IncidentEvent(models.Model):
    """The incident's timeline: every state change and who made it."""

    incident = models.ForeignKey(Incident, models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=40)
    detail = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["at", "id"]

    @property
    def other_incident(self) -> int | None:
        """The other incident a merge or split names ("#12: 3"), to link to."""
        if self.action not in ("merged_in", "merged_into", "split_out", "split_from"):
            return None
        found = re.match(r"#(\d+)", self.detail)
        return int(found.group(1)) if found else None

    @property
    def label(self) -> str:
        """The action in words, in the active language."""
        labels = {
            "opened": _("Opened"),
            "report_added": _("Report added"),
            "report_clustered": _("Report joined"),
            "merged_in": _("Incident merged in"),
            "merged_into": _("Merged into"),
            "split_out": _("Reports split out"),
            "split_from": _("Split from"),
            "took_over": _("Took over from"),
            "verifier_sent": _("Verifier asked"),
            "verifier_answered": _("Verifier answered"),
            "replied": _("Replied to the reporter"),
            "approval_waiting": _("Alert waits for a second person"),
            "approval_given": _("A second person approved the alert"),
            "alerted_more": _("More members alerted"),
            "followed_up": _("Alerted members told how it ended"),
            "escalated": _("Escalated"),
            "public_call": _("Public call published"),
            "escalation_waiting": _("Escalation waits for a second person"),
            "stood_down": _("Enough people: stand-down sent"),
            "call_reopened": _("Call re-opened"),
        }
        if self.action in labels:
            return str(labels[self.action])
        if self.action in State.values:
            return str(State(self.action).label)
        return self.action

    # Member names for the coded details, when read in one go (with_member_names).
    names: dict[int, str] | None = None

    def coded_parts(self) -> list[tuple[str, list[str]]]:
        """Return the detail's parts as (code, values); a plain part has code ""."""
        parts = []
        for part in self.detail.split(";"):
            part = part.strip()
            if part.startswith("@"):
                code, *values = part[1:].split("|")
                parts.append((code, values))
            elif part:
                parts.append(("", [part]))
        return parts

    @property
    def text(self) -> str:
        """The detail in the active language (details Tocsin wrote are codes, see
        ``coded``; what a person wrote, such as a name, stays as it is)."""
        return "; ".join(
            _coded_text(code, values, self.names) if code else values[0]
            for code, values in self.coded_parts()
        )


class Answer(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed")
    POLICE = "police", _("It is local police")
    NOTHING = "nothing", _("Nothing here")


class Agency(models.TextChoices):
    ICE = "ice", _("ICE")
    CBP = "cbp", _("CBP (Border Patrol)")
    OTHER_FEDERAL = "other_federal", _("Other federal agents")
    LOCAL_POLICE = "local_police", _("Local police or sheriff")
    UNKNOWN = "unknown", _("I cannot tell")


class VerificationRequestQuerySet(models.QuerySet["VerificationRequest"]):
    def answered(self) -> VerificationRequestQuerySet:
        return self.exclude(answer="")

    def waiting(self) -> VerificationRequestQuerySet:
        return self.filter(answer="")


class VerificationRequest(models.Model):
    """A verifier sent to check an incident, and what they found (the evidence checklist).

    Verifiers act in a role the committee gave them, so the request names them; the
    reporters of the incident stay unnamed.
    """

    incident = models.ForeignKey(Incident, models.CASCADE, related_name="verifications")
    verifier = models.ForeignKey(
        "members.Member", models.CASCADE, related_name="verification_requests"
    )
    requested_by = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The message that asked (through the outbox like every other message).
    alert = models.ForeignKey(
        "alerts.Alert", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    answer = models.CharField(max_length=20, choices=Answer.choices, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    # Where the answer came from: web (the signed link), sms, signal, telegram.
    answer_channel = models.CharField(max_length=20, blank=True)
    agency = models.CharField(_("which agency"), max_length=20, choices=Agency.choices, blank=True)
    vehicles = models.CharField(_("vehicles"), max_length=200, blank=True)
    agents = models.PositiveSmallIntegerField(_("how many agents"), null=True, blank=True)
    details = models.TextField(_("what is happening"), max_length=500, blank=True)
    # tocsin.lib.screening reason codes when the details are held back (like reports).
    held_reasons = models.CharField(max_length=200, blank=True, default="")

    objects = VerificationRequestQuerySet.as_manager()

    class Meta:
        ordering = ["requested_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "verifier"], name="one_verification_per_verifier"
            )
        ]

    @property
    def held_labels(self) -> list[str]:
        return reason_labels(self.held_reasons)
