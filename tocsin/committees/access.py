"""Access helpers: each returns the object a person may see, or raises Http404.

Objects of another committee get the same 404 as objects that do not exist, so ids
reveal nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from tocsin.committees import approvals, partners
from tocsin.committees.models import Approval, Committee, Membership, Role, Share
from tocsin.incidents.models import Incident
from tocsin.intake.models import Report, ReportPhoto
from tocsin.members.models import Member


def member_of(request: HttpRequest) -> Member:
    user = request.user
    if not user.is_authenticated:
        raise Http404
    try:
        return user.member  # type: ignore[union-attr]
    except Member.DoesNotExist:
        raise Http404 from None


def committee_for(request: HttpRequest, slug: str, role: str) -> tuple[Committee, Membership]:
    member = member_of(request)
    membership = (
        Membership.objects.select_related("committee")
        .filter(member=member, committee__slug=slug)
        .at_least(role)
        .first()
    )
    if membership is None:
        raise Http404
    return membership.committee, membership


def staff_committee_ids(member: Member, role: str = Role.DISPATCHER) -> set[int]:
    """Return the committees where ``member`` holds ``role`` or above."""
    return set(
        Membership.objects.filter(member=member)
        .at_least(role)
        .values_list("committee_id", flat=True)
    )


def dispatcher_committees(member: Member) -> list[Committee]:
    return list(Committee.objects.filter(id__in=staff_committee_ids(member)).order_by("name"))


def desk_committee_ids(member: Member) -> set[int]:
    """Return the committees whose reports and incidents ``member``'s desk shows: those
    they dispatch for, and the partners that share reports with those."""
    own = set(Committee.objects.active().filter(pk__in=staff_committee_ids(member)).ids())
    return partners.with_partners(own, Share.REPORTS)


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


def is_dispatcher(member: Member) -> bool:
    return Membership.objects.filter(member=member).at_least(Role.DISPATCHER).exists()


def staff_view(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require login and, for dispatchers and organizers, a passkey or TOTP session.

    Someone who is not staff passes through (the view's own access helper answers 404);
    staff whose session proved no factor that counts for the desk (an emailed code, or a
    factor they added as a plain member) go to the second-factor page first.
    """
    from tocsin.members import security

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect(f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}")
        member = getattr(request.user, "member", None)
        if (
            member is not None
            and security.needs_second_factor(member)
            and not security.opens_desk(request)
        ):
            if request.headers.get("accept") == "text/event-stream":
                return HttpResponse(status=403)
            return redirect(
                f"{reverse('login_verify')}?{urlencode({'next': request.get_full_path()})}"
            )
        return view(request, *args, **kwargs)

    return wrapper


def approval_for(request: HttpRequest, pk: int) -> Approval:
    """Return a waiting approval of a committee where the user is staff, or raise 404."""
    member = member_of(request)
    approval = Approval.objects.waiting().filter(pk=pk).first()
    if approval is None or not staff_committee_ids(member) & approvals.committee_ids(approval):
        raise Http404
    return approval
