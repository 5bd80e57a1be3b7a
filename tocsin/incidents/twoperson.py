"""Alerting a committee's members, under the two-person rule and the broadcast breaker.

A confirmed raid below the committee's single-person reach goes out with one tap: speed
matters. An alert that would reach more members, any alert to a partner committee's
members, any alert about an incident that rests only on a partner network's reports
(tocsin.federation: another network's word, which none of our people saw), and a
committee's alerts past TOCSIN_ALERTS_PER_HOUR wait for a second staff
member (tocsin.committees.approvals), who approves with one tap on the desk; the
committee's staff hear that it waits (the organizers too when the breaker tripped).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from tocsin.alerts import outbox
from tocsin.alerts.models import Alert, Purpose
from tocsin.committees import approvals
from tocsin.committees.models import Approval, Committee, Membership, Role
from tocsin.incidents.models import Answer, Incident, IncidentEvent, coded
from tocsin.intake.models import Channel, Report
from tocsin.members.models import Member


def reason_for(
    *, reach: int, threshold: int, partner: bool, network: bool, recent: int, per_hour: int
) -> str | None:
    """Return why an alert needs a second person (an Approval.Reason), or None.

    ``reach``: members it would reach; ``threshold``: the committee's single-person
    reach; ``partner``: it reaches a partner committee's members; ``network``: the
    incident rests only on a partner network's reports; ``recent``: member alerts the
    committee sent in the last hour; ``per_hour``: the breaker's limit."""
    if recent >= per_hour:
        return Approval.Reason.BREAKER
    if partner:
        return Approval.Reason.PARTNER
    if network:
        return Approval.Reason.NETWORK
    if reach > threshold:
        return Approval.Reason.REACH
    return None


def rests_on_network(incident: Incident) -> bool:
    """Whether ``incident`` rests only on partner networks' reports: every report on it
    came from a partner network and none of our verifiers confirmed it on the ground."""
    reports = Report.objects.filter(incident=incident)
    return (
        reports.exists()
        and not reports.exclude(channel=Channel.PARTNER).exists()
        and not incident.verifications.filter(answer=Answer.CONFIRMED).exists()
    )


class _TooWide(Exception):
    def __init__(self, reach: int) -> None:
        super().__init__(reach)
        self.reach = reach


def recent_alerts(committee_ids: Iterable[int], *, now=None) -> int:  # type: ignore[no-untyped-def]
    """Return the most member alerts any of these committees decided in the last hour."""
    since = (now or timezone.now()) - timedelta(hours=1)
    rows = (
        Alert.objects.filter(
            by_committee_id__in=list(committee_ids),
            purpose=Purpose.CONFIRMED,
            sent_at__gte=since,
        )
        .values("by_committee_id")
        .annotate(n=Count("incident_id", distinct=True))
    )
    return max((r["n"] for r in rows), default=0)


def _reach(alerts: list[Alert]) -> int:
    # Each alert counts people, and no member gets two confirmed alerts about one incident.
    return sum(a.targeted for a in alerts)


def issue(incident: Incident, targets: list[int], *, by: int, all_channels: bool) -> list[Alert]:
    """Queue the confirmed alert to the members of each committee in ``targets``, as
    decided by committee ``by`` (no gate: the caller decided it may go)."""
    return [
        outbox.issue_alert(
            incident,
            Purpose.CONFIRMED,
            all_channels=all_channels,
            committee_id=c,
            by_committee_id=by,
        )
        for c in targets
    ]


def alert_members(
    incident: Incident,
    committee_ids: Iterable[int],
    *,
    actor: Member | None,
    partner_ids: Iterable[int] = (),
    all_channels: bool = False,
) -> list[Alert] | Approval:
    """Queue the confirmed alert to the members of ``committee_ids`` now, or ask a
    second person first; an alert to partner committees' members (``partner_ids``)
    always waits for one. Return the alerts sent now, or the Approval that waits for
    the committees' own members. Call inside the transaction that confirms."""
    ids = sorted(set(committee_ids))
    partners = sorted(set(partner_ids) - set(ids))
    if not ids:
        return []
    if partners:
        _wait(incident, ids, partners, Approval.Reason.PARTNER, 0, actor, all_channels)
    committees = list(Committee.objects.filter(pk__in=ids).order_by("pk"))
    threshold = min(c.two_person_threshold() for c in committees)
    reason = reason_for(
        reach=0,
        threshold=threshold,
        partner=False,
        network=rests_on_network(incident),
        recent=recent_alerts(ids),
        per_hour=settings.ALERTS_PER_HOUR,
    )
    reach = 0
    if reason is None:
        try:
            with transaction.atomic():
                alerts = [
                    a for c in ids for a in issue(incident, [c], by=c, all_channels=all_channels)
                ]
                reach = _reach(alerts)
                if reach > threshold:
                    raise _TooWide(reach)
            return alerts
        except _TooWide:
            reason = Approval.Reason.REACH
    return _wait(incident, ids, ids, reason, reach, actor, all_channels)


def _wait(
    incident: Incident,
    deciding: list[int],
    targets: list[int],
    reason: str,
    reach: int,
    actor: Member | None,
    all_channels: bool,
) -> Approval:
    approval = approvals.ask(
        Committee.objects.get(pk=deciding[0]),
        Approval.Kind.ALERT,
        reason,
        by=actor,
        object_id=incident.pk,
        options={
            "committees": deciding,
            "targets": targets,
            "all_channels": all_channels,
            "reach": reach,
        },
    )
    IncidentEvent.objects.create(
        incident=incident,
        actor=actor,
        action="approval_waiting",
        detail=coded("approval", reason, reach),
    )
    _tell_staff(incident, approval, actor=actor)
    return approval


def carry_out(incident: Incident, approval: Approval) -> list[Alert]:
    """Queue what ``approval`` (approved, locked by the caller) was waiting for."""
    options = approval.options
    deciding = [int(c) for c in options.get("committees", [])]
    targets = [int(c) for c in options.get("targets", [])]
    if targets == deciding:
        return [
            a
            for c in targets
            for a in issue(incident, [c], by=c, all_channels=bool(options.get("all_channels")))
        ]
    return issue(incident, targets, by=deciding[0], all_channels=bool(options.get("all_channels")))


def _tell_staff(incident: Incident, approval: Approval, *, actor: Member | None) -> None:
    """Tell the committee's other staff (and its organizers) that an alert waits."""
    staff = set(
        Membership.objects.filter(committee_id__in=approvals.committee_ids(approval))
        .at_least(Role.DISPATCHER)
        .values_list("member_id", flat=True)
    )
    if actor is not None:
        staff.discard(actor.pk)
    if staff:
        outbox.issue_direct(incident, Purpose.APPROVAL, staff)
