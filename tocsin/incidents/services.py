"""Incident changes, each one transaction with its alerts and timeline entry."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from tocsin import geo
from tocsin.alerts import outbox, posts
from tocsin.alerts.models import Alert, Delivery, DeliveryStatus, Purpose
from tocsin.committees import approvals, partners
from tocsin.committees.models import Approval
from tocsin.incidents import clustering, outcomes, states, twoperson
from tocsin.incidents.models import (
    CLOSED_STATES,
    Answer,
    ConfirmedBy,
    Incident,
    IncidentEvent,
    State,
    coded,
)
from tocsin.intake.models import Report
from tocsin.lib import live, screening
from tocsin.members.models import Member

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
        *partners.desks(incident.committees.values_list("pk", flat=True)),
    ]
    transaction.on_commit(lambda: live.publish(*channels))


def owners(incident: Incident) -> set[int]:
    """Return the ids of the committees ``incident`` belongs to."""
    return set(incident.committees.values_list("pk", flat=True))


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
            # A dispatcher opening it goes straight to its page: nothing on it is new.
            desk_seen_at=timezone.now() if actor is not None else None,
        )
        incident.committees.add(*report.committees.all())
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
            .for_committees(owners(incident))
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
        incident.committees.add(*report.committees.all())
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
    # Only an incident of a committee whose desk the report reached: a report never opens
    # another committee's incident to its own committees by being nearby.
    mine = report.committees.values_list("pk", flat=True)
    candidates = (
        Incident.objects.open()
        .for_committees(list(mine))
        .filter(
            area_cell__in=near,
            last_seen_at__gte=report.received_at - rule.window,
            merged_into__isnull=True,
        )
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
        target.committees.add(*source.committees.all())
        now = timezone.now()
        target.first_seen_at = min(target.first_seen_at, source.first_seen_at)
        target.last_seen_at = max(target.last_seen_at, source.last_seen_at)
        target.updated_at = now
        target.save(update_fields=["first_seen_at", "last_seen_at", "updated_at"])
        source.state = State.MERGED
        source.merged_into = target
        source.closed_at = now
        source.updated_at = now
        source.held_by, source.held_until = None, None  # nothing left to handle there
        source.save(
            update_fields=[
                "state",
                "merged_into",
                "closed_at",
                "updated_at",
                "held_by",
                "held_until",
            ]
        )
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
        new = Incident(
            kind=first.kind,
            cell=first.cell,
            area_cell=first.area_cell,
            first_seen_at=first.received_at,
            last_seen_at=reports[-1].received_at,
        )
        hold(new, actor)  # whoever split it goes on with it
        new.save()
        Report.objects.filter(pk__in=[r.pk for r in reports]).update(incident=new)
        new.committees.set(
            Report.committees.through.objects.filter(report__in=reports)
            .values_list("committee_id", flat=True)
            .distinct()
        )
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
    Report.objects.filter(pk=report.pk, incident__isnull=True).update(
        dismissed=True, burst_group=""
    )
    live.publish(*partners.desks(report.committees.values_list("pk", flat=True)))


def _committees_of(report_ids: list[int]) -> set[int]:
    through = Report.committees.through
    return set(
        through.objects.filter(report_id__in=report_ids).values_list("committee_id", flat=True)
    )


def release_burst(reports: QuerySet[Report], *, actor: Member) -> int:
    """Move a group of the desk's burst lane (tocsin.intake.burst) into the queue, where
    each report joins the open incident it describes, if any (clustering); return how
    many moved. The group's id goes: released reports are ordinary reports."""
    with transaction.atomic():
        chosen = list(reports.order_by("received_at", "pk"))
        ids = [r.pk for r in chosen]
        Report.objects.filter(pk__in=ids).update(suspicious=False, burst_group="")
        for report in chosen:
            report.suspicious, report.burst_group = False, ""
            cluster_report(report)
        desks = partners.desks(_committees_of(ids))
        transaction.on_commit(lambda: live.publish(*desks))
    return len(chosen)


def dismiss_burst(reports: QuerySet[Report], *, actor: Member) -> int:
    """Dismiss a group of the desk's burst lane; return how many reports it held."""
    with transaction.atomic():
        ids = list(reports.values_list("pk", flat=True))
        Report.objects.filter(pk__in=ids, incident__isnull=True).update(
            dismissed=True, burst_group=""
        )
        desks = partners.desks(_committees_of(ids))
        transaction.on_commit(lambda: live.publish(*desks))
    return len(ids)


def mark_seen(incident: Incident) -> datetime | None:
    """Record that a dispatcher opened ``incident`` now, clearing its "new" reports on the
    desk; return when one last did before (None: never)."""
    before = incident.desk_seen_at
    newest = incident.reports.order_by("-received_at").values_list("received_at", flat=True)
    latest = newest.first()
    if before is None or (latest is not None and latest > before):
        Incident.objects.filter(pk=incident.pk).update(desk_seen_at=timezone.now())
        _publish(incident)
    return before


class OnlyForInformation(states.TransitionError):
    """Every report of the incident is for the desk's information only (a partner network
    trusted "desk only"): a verifier or a report of our own must back a confirmation."""


def for_information_only(incident: Incident) -> bool:
    """Whether the incident rests only on reports that may not back a confirmation."""
    reports = Report.objects.filter(incident=incident)
    return reports.exists() and not reports.filter(for_information=False).exists()


class SummaryHeld(ValueError):
    """The alert note names an officer or calls to interfere (tocsin.lib.screening):
    it is refused, so it never reaches an alert. ``reasons`` holds the reason codes."""

    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__(",".join(reasons))
        self.reasons = reasons


def change_state(
    incident: Incident,
    wanted: str,
    *,
    actor: Member | None,
    committees: set[int] | None = None,
    partner_ids: set[int] | frozenset[int] = frozenset(),
    summary: str | None = None,
    all_channels: bool = False,
    note: str = "",
) -> Incident:
    """Move the incident to ``wanted`` and, in the same transaction, queue the messages
    that the move calls for (DESIGN.md section 3), within committees:

    ``committees`` are those the move is made for (the actor's, or the committee whose
    rules confirmed; None: every committee the incident belongs to, for moves the rules
    make by themselves). A confirmation alerts their members (and, with ``partner_ids``,
    partner committees' members), at once or after a second person's approval
    (tocsin.incidents.twoperson); with ``all_channels`` on every channel each member has.
    Closing it tells whoever heard of it through those committees how it ended; other
    committees send their own all-clear or correction (owed_follow_ups).

    ``actor`` None means the committee's rules made the move (``note`` says which, on the
    timeline). Raises states.TransitionError, or SummaryHeld (before changing anything)
    when ``summary`` screens as held."""
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
            if for_information_only(incident):
                raise OnlyForInformation(f"incident {incident.pk} rests on partner reports only")
            incident.confirmed_at = now
            incident.confirmed_by, incident.confirmed_sources = _confirmed_by(incident, actor, note)
        if wanted in CLOSED_STATES:
            incident.closed_at = now
            incident.held_by, incident.held_until = None, None
        incident.updated_at = now
        incident.save()
        scope = None if committees is None else set(committees)
        alerted = outbox.heard(incident, scope) or posts.heard(incident, scope)
        notice = states.notice_for(previous, wanted, members_were_alerted=alerted)
        if wanted in CLOSED_STATES:
            approvals.cancel_for(Approval.Kind.ALERT, incident.pk)
            if notice is None:
                # Nobody heard yet: cancel anything still queued so no one hears late.
                Delivery.objects.filter(
                    alert__incident=incident,
                    status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED],
                ).update(status=DeliveryStatus.CANCELLED, error="superseded")
                posts.cancel_waiting(incident)
        detail = ""
        if notice == Purpose.CONFIRMED:
            deciding = owners(incident) if scope is None else scope
            result = twoperson.alert_members(
                incident,
                deciding,
                actor=actor,
                partner_ids=partner_ids,
                all_channels=all_channels,
            )
            if isinstance(result, list):
                detail = coded("notice", Purpose.CONFIRMED, sum(a.targeted for a in result))
        elif notice is not None:
            alert = outbox.issue_alert(incident, Purpose(notice), scope=scope)
            detail = coded("notice", alert.purpose, alert.targeted)
        if note:
            detail = f"{note}; {detail}" if detail else note
        IncidentEvent.objects.create(
            incident=incident, actor=actor, action=wanted, detail=detail[:200]
        )
        if incident.state != previous:
            # Whoever reported it by text hears how it went, on their own channel.
            outcomes.tell_reporters(incident.pk, incident.state)
            # The public map re-renders: a false alarm leaves it at once; a confirmation
            # or a resolution shows only after its time step and delay
            # (tocsin.lib.exposure.public_from), which the map's own timer catches. A
            # render that changes nothing sends nothing.
            transaction.on_commit(lambda: live.publish(live.PUBLIC_INCIDENTS))
        _publish(incident)
    return incident


def _confirmed_by(incident: Incident, actor: Member | None, note: str) -> tuple[str, int]:
    """Return how the incident is being confirmed, for its public label: by the rules (the
    note names which one), by a dispatcher after a verifier on the ground said so, or by
    a dispatcher alone."""
    if actor is None and note.startswith("@rule_quorum|"):
        sources = note.rsplit("|", 1)[-1]
        return ConfirmedBy.QUORUM, int(sources) if sources.isdigit() else 0
    if actor is None and note.startswith("@rule_verifier|"):
        return ConfirmedBy.VERIFIER, 0
    if incident.verifications.filter(answer=Answer.CONFIRMED).exists():
        return ConfirmedBy.VERIFIER, 0
    return ConfirmedBy.DISPATCHER, 0


def alert_more(
    incident: Incident,
    committees: set[int],
    *,
    actor: Member,
    partner_ids: set[int] | frozenset[int] = frozenset(),
    all_channels: bool = False,
) -> list[Alert] | Approval:
    """Alert the members of more committees about a confirmed incident: a committee
    that shares it and decides to alert its own members too, or partners' members
    (which always waits for a second person)."""
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.state != State.CONFIRMED:
            raise states.TransitionError("only a confirmed incident alerts members")
        # No hold is taken or checked: each committee decides for its own members, even
        # while another committee's dispatcher handles the incident.
        result = twoperson.alert_members(
            incident, committees, actor=actor, partner_ids=partner_ids, all_channels=all_channels
        )
        if isinstance(result, list):
            IncidentEvent.objects.create(
                incident=incident,
                actor=actor,
                action="alerted_more",
                detail=coded("notice", Purpose.CONFIRMED, sum(a.targeted for a in result)),
            )
        _publish(incident)
    return result


def approve_alert(approval: Approval, *, by: Member) -> list[Alert]:
    """Approve a waiting alert as the second person and queue it. Raises
    approvals.ApprovalError (also when the incident is no longer confirmed)."""
    with transaction.atomic():
        approval = approvals.approve(approval, by=by)
        incident = Incident.objects.select_for_update().get(pk=approval.object_id or 0)
        if incident.state != State.CONFIRMED:
            raise approvals.ApprovalError("the incident is no longer confirmed")
        alerts = twoperson.carry_out(incident, approval)
        IncidentEvent.objects.create(
            incident=incident,
            actor=by,
            action="approval_given",
            detail=coded("notice", Purpose.CONFIRMED, sum(a.targeted for a in alerts)),
        )
        _publish(incident)
    return alerts


def follow_up(incident: Incident, committees: set[int], *, actor: Member) -> Alert | None:
    """Send the all-clear or correction to the members these committees alerted about a
    closed incident (another committee closed it; each tells its own members)."""
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.state not in (State.RESOLVED, State.UNFOUNDED, State.EXPIRED):
            raise states.TransitionError("only a closed incident is followed up")
        if not outbox.heard(incident, committees) and not posts.heard(incident, committees):
            return None
        purpose = Purpose.ALL_CLEAR if incident.state == State.RESOLVED else Purpose.CORRECTION
        alert = outbox.issue_alert(incident, purpose, scope=committees)
        IncidentEvent.objects.create(
            incident=incident,
            actor=actor,
            action="followed_up",
            detail=coded("notice", alert.purpose, alert.targeted),
        )
        _publish(incident)
    return alert
