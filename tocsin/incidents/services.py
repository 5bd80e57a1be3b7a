"""Incident changes, each one transaction with its alerts and timeline entry."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from tocsin import geo
from tocsin.alerts import outbox
from tocsin.alerts.models import Delivery, DeliveryStatus, Purpose
from tocsin.incidents import clustering, states
from tocsin.incidents.models import CLOSED_STATES, Incident, IncidentEvent, State, coded
from tocsin.intake import screening
from tocsin.intake.models import Report
from tocsin.intake.services import committees_for_cell
from tocsin.lib import live
from tocsin.members.models import Member
from tocsin.transports import posts

# A dispatcher's hold on an incident lasts this long after their last action on it.
HOLD_MINUTES = 15


class HeldByOther(Exception):
    """Another dispatcher holds the incident: take it over explicitly first."""

    def __init__(self, holder_id: int) -> None:
        super().__init__(holder_id)
        self.holder_id = holder_id


def hold(incident: Incident, actor: Member, *, now: datetime | None = None) -> None:
    """Make ``actor`` the incident's holder for HOLD_MINUTES (on the object; the caller
    saves it). Raises HeldByOther when someone else holds it."""
    now = now or timezone.now()
    holder = incident.holder(now)
    if holder is not None and holder != actor.pk:
        raise HeldByOther(holder)
    incident.held_by = actor
    incident.held_until = now + timedelta(minutes=HOLD_MINUTES)


def claim(incident: Incident, actor: Member | None) -> None:
    """Check and renew ``actor``'s hold on a locked incident row, and save it."""
    if actor is None:
        return
    hold(incident, actor)
    incident.save(update_fields=["held_by", "held_until"])


def take_over(incident: Incident, actor: Member) -> Incident:
    """Make ``actor`` the incident's holder, whoever held it, on the timeline."""
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        previous = incident.holder()
        incident.held_by, incident.held_until = None, None
        hold(incident, actor)
        incident.save(update_fields=["held_by", "held_until"])
        if previous != actor.pk:
            IncidentEvent.objects.create(
                incident=incident,
                actor=actor,
                action="took_over",
                detail=coded("member", previous) if previous else "",
            )
        _publish(incident)
    return incident


def release(incident: Incident, actor: Member) -> None:
    """Let go of the incident if ``actor`` holds it."""
    Incident.objects.filter(pk=incident.pk, held_by=actor).update(held_by=None, held_until=None)
    _publish(incident)


def _publish(incident: Incident) -> None:
    channels = [
        f"incident:{incident.pk}",
        *(f"desk:{c}" for c in committees_for_cell(incident.area_cell)),
    ]
    transaction.on_commit(lambda: live.publish(*channels))


def open_incident(report: Report, *, actor: Member | None) -> Incident:
    """Open an incident from a report (or return the one it already belongs to).

    ``actor`` None: a trusted member's report opened it by itself. Unassigned reports
    nearby that clustering would have joined to it (they came before it existed) join it.
    """
    with transaction.atomic():
        report = Report.objects.select_for_update().get(pk=report.pk)
        if report.incident_id is not None:
            return report.incident  # type: ignore[return-value]
        incident = Incident.objects.create(
            kind=report.kind,
            cell=report.cell,
            area_cell=report.area_cell,
            first_seen_at=report.received_at,
            last_seen_at=report.received_at,
        )
        if actor is not None:
            hold(incident, actor)
            incident.save(update_fields=["held_by", "held_until"])
        report.incident = incident
        report.save(update_fields=["incident"])
        IncidentEvent.objects.create(
            incident=incident,
            actor=actor,
            action="opened",
            detail=coded("opened" if actor is not None else "opened_trusted", report.receipt),
        )
        rule = clustering.DEFAULT
        earlier = (
            Report.objects.unassigned()
            .not_suspicious()
            .filter(
                area_cell__in=geo.disk(report.area_cell, 1),
                received_at__gte=report.received_at - rule.window,
            )
            .exclude(pk=report.pk)
            .order_by("received_at")
        )
        for other in earlier:
            cluster_report(other, rule)
        _publish(incident)
    return incident


def attach_report(report: Report, incident: Incident, *, actor: Member | None) -> None:
    """Add ``report`` to ``incident`` (by a dispatcher, or by clustering with no actor)."""
    with transaction.atomic():
        Report.objects.filter(pk=report.pk).update(incident=incident)
        report.incident = incident
        Incident.objects.filter(pk=incident.pk, last_seen_at__lt=report.received_at).update(
            last_seen_at=report.received_at
        )
        IncidentEvent.objects.create(
            incident=incident,
            actor=actor,
            action="report_added" if actor is not None else "report_clustered",
            detail=coded("report", report.channel, report.receipt),
        )
        _publish(incident)


def cluster_report(report: Report, rule: clustering.Rule = clustering.DEFAULT) -> Incident | None:
    """Join a new report to the open incident it describes, if there is one (the rule in
    tocsin.incidents.clustering), and return that incident. Reports held as a possible
    flood stay on their own for a dispatcher to look at."""
    if report.incident_id is not None or getattr(report, "suspicious", False):
        return None
    near = geo.disk(report.area_cell, 1)
    candidates = Incident.objects.open().filter(
        area_cell__in=near,
        last_seen_at__gte=report.received_at - rule.window,
        merged_into__isnull=True,
    )
    seen = {i.pk: i for i in candidates.only("id", "cell", "kind", "first_seen_at", "last_seen_at")}
    chosen = clustering.choose(
        clustering.Seen(
            report.pk, report.cell, report.kind, report.received_at, report.received_at
        ),
        (
            clustering.Seen(i.pk, i.cell, i.kind, i.first_seen_at, i.last_seen_at)
            for i in seen.values()
        ),
        rule,
    )
    if chosen is None:
        return None
    attach_report(report, seen[chosen], actor=None)
    return seen[chosen]


class MergeError(ValueError):
    """The incidents cannot be merged (say why in the message)."""


def merge(source: Incident, target: Incident, *, actor: Member) -> Incident:
    """Move every report of ``source`` to ``target`` and close ``source`` as merged.

    An incident members were already alerted about cannot be merged away (its alert,
    all-clear and correction belong to it): resolve or correct it instead.
    """
    if source.pk == target.pk:
        raise MergeError("an incident cannot be merged into itself")
    with transaction.atomic():
        first, second = sorted([source.pk, target.pk])
        locked = {
            i.pk: i for i in Incident.objects.select_for_update().filter(pk__in=[first, second])
        }
        source, target = locked[source.pk], locked[target.pk]
        claim(source, actor)
        claim(target, actor)
        if not source.is_open or not target.is_open:
            raise MergeError("both incidents must be open")
        if source.alerts.exists():
            raise MergeError("members were alerted about this incident")
        moved = Report.objects.filter(incident=source).update(incident=target)
        now = timezone.now()
        target.first_seen_at = min(target.first_seen_at, source.first_seen_at)
        target.last_seen_at = max(target.last_seen_at, source.last_seen_at)
        target.updated_at = now
        target.save(update_fields=["first_seen_at", "last_seen_at", "updated_at"])
        source.state = State.MERGED
        source.merged_into = target
        source.closed_at = now
        source.updated_at = now
        source.save(update_fields=["state", "merged_into", "closed_at", "updated_at"])
        IncidentEvent.objects.create(
            incident=target, actor=actor, action="merged_in", detail=f"#{source.pk}: {moved}"
        )
        IncidentEvent.objects.create(
            incident=source, actor=actor, action="merged_into", detail=f"#{target.pk}"
        )
        _publish(source)
        _publish(target)
    return target


def split(incident: Incident, report_ids: list[int], *, actor: Member) -> Incident:
    """Move the given reports of ``incident`` to a new incident and return it. At least
    one report must stay."""
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        claim(incident, actor)
        if not incident.is_open:
            raise MergeError("the incident is closed")
        reports = list(
            Report.objects.filter(incident=incident, pk__in=report_ids).order_by("received_at")
        )
        if not reports:
            raise MergeError("choose the reports to move")
        if (
            not Report.objects.filter(incident=incident)
            .exclude(pk__in=[r.pk for r in reports])
            .exists()
        ):
            raise MergeError("at least one report must stay")
        first = reports[0]
        new = Incident.objects.create(
            kind=first.kind,
            cell=first.cell,
            area_cell=first.area_cell,
            first_seen_at=first.received_at,
            last_seen_at=reports[-1].received_at,
        )
        Report.objects.filter(pk__in=[r.pk for r in reports]).update(incident=new)
        left = Report.objects.filter(incident=incident).order_by("received_at")
        incident.first_seen_at = left.first().received_at  # type: ignore[union-attr]
        incident.last_seen_at = left.last().received_at  # type: ignore[union-attr]
        incident.updated_at = timezone.now()
        incident.save(update_fields=["first_seen_at", "last_seen_at", "updated_at"])
        IncidentEvent.objects.create(
            incident=incident, actor=actor, action="split_out", detail=f"#{new.pk}: {len(reports)}"
        )
        IncidentEvent.objects.create(
            incident=new, actor=actor, action="split_from", detail=f"#{incident.pk}"
        )
        _publish(incident)
        _publish(new)
    return new


def dismiss_report(report: Report, *, actor: Member) -> None:
    Report.objects.filter(pk=report.pk, incident__isnull=True).update(dismissed=True)
    for c in committees_for_cell(report.area_cell):
        live.publish(f"desk:{c}")


class SummaryHeld(ValueError):
    """The alert note names an officer or calls to interfere (tocsin.intake.screening):
    it is refused, so it never reaches an alert. ``reasons`` holds the reason codes."""

    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__(",".join(reasons))
        self.reasons = reasons


def change_state(
    incident: Incident,
    wanted: str,
    *,
    actor: Member | None,
    summary: str | None = None,
    all_channels: bool = False,
    note: str = "",
) -> Incident:
    """Move the incident to ``wanted`` and, in the same transaction, queue the alerts that
    the move calls for (DESIGN.md section 3). With ``all_channels``, a confirmation goes
    to every channel each member has at once. ``actor`` None means the committee's rules
    made the move (``note`` says which, on the timeline). Raises states.TransitionError,
    or SummaryHeld (before changing anything) when ``summary`` screens as held."""
    if summary is not None:
        verdict = screening.screen(summary)
        if verdict.held:
            raise SummaryHeld(verdict.reasons)
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if actor is not None:
            hold(incident, actor)
        previous = incident.state
        incident.state = states.next_state(previous, wanted)
        now = timezone.now()
        if summary is not None:
            incident.summary = summary.strip()
        if wanted == State.CONFIRMED:
            incident.confirmed_at = now
        if wanted in CLOSED_STATES:
            incident.closed_at = now
            incident.held_by, incident.held_until = None, None
        incident.updated_at = now
        incident.save()
        alerted = Delivery.objects.filter(
            alert__incident=incident,
            alert__purpose__in=outbox.FOLLOWED_UP,
            status__in=[DeliveryStatus.SENT, DeliveryStatus.SENDING],
        ).exists() or posts.heard(incident)
        notice = states.notice_for(previous, wanted, members_were_alerted=alerted)
        if notice is None and wanted in CLOSED_STATES:
            # Nobody heard yet: cancel anything still queued so no one hears late.
            Delivery.objects.filter(
                alert__incident=incident, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED]
            ).update(status=DeliveryStatus.CANCELLED, error="superseded")
            posts.cancel_waiting(incident)
        detail = ""
        if notice is not None:
            alert = outbox.issue_alert(
                incident,
                Purpose(notice),
                all_channels=all_channels and notice == Purpose.CONFIRMED,
            )
            detail = coded("notice", alert.purpose, alert.targeted)
        if note:
            detail = f"{note}; {detail}" if detail else note
        IncidentEvent.objects.create(
            incident=incident, actor=actor, action=wanted, detail=detail[:200]
        )
        _publish(incident)
    return incident
