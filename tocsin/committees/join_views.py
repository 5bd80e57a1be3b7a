"""Organizer pages for growing in the open: requests to join (accept or decline) and
whether the committee is listed publicly at /committees/."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tocsin.committees import access, joining
from tocsin.committees.models import JoinRequest, Role


@access.staff_view
def requests(request: HttpRequest, slug: str) -> HttpResponse:
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    return render(
        request,
        "committees/join_requests.html",
        {
            "committee": committee,
            "requests": joining.waiting(committee),
            "accepted": joining.accepted(committee),
        },
    )


def _waiting(committee_id: int, pk: int) -> JoinRequest:
    return get_object_or_404(JoinRequest.objects.waiting(), pk=pk, committee_id=committee_id)


@access.staff_view
@require_POST
def accept(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    committee, mine = access.committee_for(request, slug, Role.ORGANIZER)
    join_request = _waiting(committee.pk, pk)
    joining.accept(join_request, by=mine.member)
    messages.success(
        request,
        _(
            "Accepted: %(name)s gets a join link on their channel. You vouch for them: "
            "they join the vouching tree under you."
        )
        % {"name": join_request.display_name},
    )
    return redirect("committee_join_requests", slug=slug)


@access.staff_view
@require_POST
def decline(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    joining.decline(_waiting(committee.pk, pk))
    messages.success(request, _("Declined: the request and its contact are deleted."))
    return redirect("committee_join_requests", slug=slug)


@access.staff_view
@require_POST
def set_listed(request: HttpRequest, slug: str) -> HttpResponse:
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    committee.listed = request.POST.get("listed") == "1"
    committee.save(update_fields=["listed"])
    if not committee.listed:
        messages.success(request, _("The committee is no longer listed publicly."))
    elif committee.is_approved:
        messages.success(
            request, _("Listed: people find the committee by ZIP code and can ask to join.")
        )
    else:
        messages.warning(
            request,
            _("Listed, but shown only once the operator approves the committee."),
        )
    return redirect("committee_join_requests", slug=slug)
