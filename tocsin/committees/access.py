"""Access helpers: each returns the object a person may see, or raises Http404.

Objects of another committee get the same 404 as objects that do not exist, so ids
reveal nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from tocsin.committees.models import Committee, CommitteeCell, Membership, Role
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


def dispatcher_committees(member: Member) -> list[Committee]:
    ids = (
        Membership.objects.filter(member=member)
        .at_least(Role.DISPATCHER)
        .values_list("committee_id")
    )
    return list(Committee.objects.filter(id__in=ids).order_by("name"))


def dispatch_cells(member: Member) -> set[int]:
    """Return every area cell of the committees ``member`` dispatches for."""
    ids = (
        Membership.objects.filter(member=member)
        .at_least(Role.DISPATCHER)
        .values_list("committee_id")
    )
    return set(CommitteeCell.objects.filter(committee_id__in=ids).values_list("cell", flat=True))


def incident_for_dispatcher(request: HttpRequest, pk: int) -> tuple[Incident, Member]:
    member = member_of(request)
    incident = Incident.objects.filter(pk=pk, area_cell__in=dispatch_cells(member)).first()
    if incident is None:
        raise Http404
    return incident, member


def verifier_for_incident(incident: Incident, member_id: str) -> Member:
    """Return the member a dispatcher wants to send to ``incident``: a verifier (or
    above) of a committee covering it; anyone else is a 404."""
    try:
        pk = int(member_id)
    except ValueError:
        raise Http404 from None
    committees = CommitteeCell.objects.filter(cell=incident.area_cell).values("committee_id")
    membership = (
        Membership.objects.filter(member_id=pk, committee_id__in=committees)
        .at_least(Role.VERIFIER)
        .select_related("member")
        .first()
    )
    if membership is None:
        raise Http404
    return membership.member


def report_for_dispatcher(request: HttpRequest, pk: int) -> tuple[Report, Member]:
    member = member_of(request)
    report = Report.objects.filter(
        pk=pk, dismissed=False, area_cell__in=dispatch_cells(member)
    ).first()
    if report is None:
        raise Http404
    return report, member


def photo_for_dispatcher(request: HttpRequest, pk: int) -> ReportPhoto:
    member = member_of(request)
    photo = ReportPhoto.objects.filter(
        pk=pk, report__dismissed=False, report__area_cell__in=dispatch_cells(member)
    ).first()
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
