"""Access helpers for the desk: the incident, report, burst or photo a dispatcher may act
on, or a 404. Staff power is scoped to committees (tocsin.committees.access), never cells."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from tocsin.committees import partners
from tocsin.committees.access import desk_committee_ids, member_of, staff_committee_ids
from tocsin.committees.models import Membership, Role, Share
from tocsin.incidents.models import Incident
from tocsin.intake.models import Report, ReportPhoto
from tocsin.members.models import Member


def acting_committee_ids(member: Member, incident: Incident) -> set[int]:
    """Return the committees on whose behalf ``member`` acts on ``incident``: those they
    dispatch for that own it, or that a partner owning it shares reports with. A
    confirmation by ``member`` alerts these committees' members."""
    owners = set(incident.committees.values_list("pk", flat=True))
    return staff_committee_ids(member) & partners.with_partners(owners, Share.REPORTS)


def verifier_committee_ids(member: Member, incident: Incident) -> set[int]:
    """Return the committees whose verifiers ``member`` may send to ``incident``."""
    return partners.with_partners(acting_committee_ids(member, incident), Share.VERIFIERS)


def incident_for_dispatcher(request: HttpRequest, pk: int) -> tuple[Incident, Member]:
    member = member_of(request)
    incident = Incident.objects.for_committees(desk_committee_ids(member)).filter(pk=pk).first()
    if incident is None:
        raise Http404
    return incident, member


def verifier_for_incident(incident: Incident, member_id: str, *, dispatcher: Member) -> Member:
    """Return the member ``dispatcher`` wants to send to ``incident``: a verifier (or
    above) of a committee whose verifiers they may send; anyone else is a 404."""
    try:
        pk = int(member_id)
    except ValueError:
        raise Http404 from None
    membership = (
        Membership.objects.filter(
            member_id=pk, committee_id__in=verifier_committee_ids(dispatcher, incident)
        )
        .at_least(Role.VERIFIER)
        .select_related("member")
        .first()
    )
    if membership is None:
        raise Http404
    return membership.member


def report_for_dispatcher(request: HttpRequest, pk: int) -> tuple[Report, Member]:
    member = member_of(request)
    report = (
        Report.objects.for_committees(desk_committee_ids(member))
        .filter(pk=pk, dismissed=False)
        .first()
    )
    if report is None:
        raise Http404
    return report, member


def burst_for_dispatcher(request: HttpRequest, group: str) -> tuple[QuerySet[Report], Member]:
    """Return the reports of a group of the burst lane that ``request``'s dispatcher sees
    (tocsin.incidents.lane), or raise Http404 when they see none."""
    member = member_of(request)
    reports = Report.objects.for_committees(desk_committee_ids(member)).in_burst_group(group)
    if not group or not reports.exists():
        raise Http404
    return reports, member


def photo_for_dispatcher(request: HttpRequest, pk: int) -> ReportPhoto:
    member = member_of(request)
    reports = Report.objects.for_committees(desk_committee_ids(member)).filter(dismissed=False)
    photo = ReportPhoto.objects.filter(pk=pk, report__in=reports).first()
    if photo is None:
        raise Http404
    return photo
