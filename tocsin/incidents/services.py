"""Incident changes, each one transaction with its alerts and timeline entry."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from tocsin.alerts import outbox
from tocsin.alerts.models import Delivery, DeliveryStatus, Purpose
from tocsin.incidents import states
from tocsin.incidents.models import Incident, IncidentEvent, State
from tocsin.intake.models import Report
from tocsin.intake.services import committees_for_cell
from tocsin.lib import live
from tocsin.members.models import Member


def _publish(incident: Incident) -> None:
    channels = [
        f"incident:{incident.pk}",
        *(f"desk:{c}" for c in committees_for_cell(incident.area_cell)),
    ]
    transaction.on_commit(lambda: live.publish(*channels))


def open_incident(report: Report, *, actor: Member) -> Incident:
    """Open an incident from a report (or return the one it already belongs to)."""
    with transaction.atomic():
        report = Report.objects.select_for_update().get(pk=report.pk)
        if report.incident_id is not None:
            return report.incident  # type: ignore[return-value]
        incident = Incident.objects.create(
            kind=report.kind,
            cell=report.cell,
            area_cell=report.area_cell,
            first_seen_at=report.received_at,
        )
        report.incident = incident
        report.save(update_fields=["incident"])
        IncidentEvent.objects.create(
            incident=incident, actor=actor, action="opened", detail=f"report {report.receipt}"
        )
        _publish(incident)
    return incident


def attach_report(report: Report, incident: Incident, *, actor: Member) -> None:
    with transaction.atomic():
        Report.objects.filter(pk=report.pk).update(incident=incident)
        IncidentEvent.objects.create(
            incident=incident, actor=actor, action="report_added", detail=report.receipt
        )
        _publish(incident)


def dismiss_report(report: Report, *, actor: Member) -> None:
    Report.objects.filter(pk=report.pk, incident__isnull=True).update(dismissed=True)
    for c in committees_for_cell(report.area_cell):
        live.publish(f"desk:{c}")


def change_state(
    incident: Incident,
    wanted: str,
    *,
    actor: Member,
    summary: str | None = None,
    all_channels: bool = False,
) -> Incident:
    """Move the incident to ``wanted`` and, in the same transaction, queue the alerts that
    the move calls for (DESIGN.md section 3). With ``all_channels``, a confirmation goes
    to every channel each member has at once. Raises states.TransitionError."""
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        previous = incident.state
        incident.state = states.next_state(previous, wanted)
        now = timezone.now()
        if summary is not None:
            incident.summary = summary.strip()
        if wanted == State.CONFIRMED:
            incident.confirmed_at = now
        if wanted in (State.RESOLVED, State.UNFOUNDED):
            incident.closed_at = now
        incident.updated_at = now
        incident.save()
        alerted = Delivery.objects.filter(
            alert__incident=incident,
            alert__purpose=Purpose.CONFIRMED,
            status__in=[DeliveryStatus.SENT, DeliveryStatus.SENDING],
        ).exists()
        notice = states.notice_for(previous, wanted, members_were_alerted=alerted)
        if notice is None and wanted in (State.RESOLVED, State.UNFOUNDED):
            # Nobody heard yet: cancel anything still queued so no one hears late.
            Delivery.objects.filter(
                alert__incident=incident, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED]
            ).update(status=DeliveryStatus.CANCELLED, error="superseded")
        detail = ""
        if notice is not None:
            alert = outbox.issue_alert(
                incident,
                Purpose(notice),
                all_channels=all_channels and notice == Purpose.CONFIRMED,
            )
            detail = f"{alert.get_purpose_display()}: {alert.targeted}"
        IncidentEvent.objects.create(
            incident=incident, actor=actor, action=wanted, detail=detail[:200]
        )
        _publish(incident)
    return incident
