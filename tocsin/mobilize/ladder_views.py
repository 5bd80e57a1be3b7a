"""The dispatcher's escalation page of an incident: the ladder, one tap per rung with
its reach shown first, how many of each role are needed, and the live headcount."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from tocsin import geo
from tocsin.committees import access
from tocsin.geo import describe
from tocsin.incidents import access as desk_access
from tocsin.incidents.models import Incident, State
from tocsin.members.models import Member
from tocsin.mobilize import ladder, quorum, services
from tocsin.mobilize.escalation import Step
from tocsin.places.models import Place


def _context(incident: Incident, member: Member) -> dict:
    acting = desk_access.acting_committee_ids(member, incident)
    here = geo.center(incident.cell)
    return {
        "incident": incident,
        "rungs": ladder.rungs(incident, acting),
        # Assembly points nearest the incident first: the one to pick is usually there.
        "places": sorted(
            Place.objects.for_committees(acting).order_by("name"),
            key=lambda p: describe.metres(here, (p.lat, p.lng)),
        ),
        "headcount": services.headcount(incident),
        "redirect": next(
            (q.redirect_place_id for q in quorum.of(incident).values() if q.redirect_place_id),
            None,
        ),
        "confirmed": incident.state == State.CONFIRMED,
    }


@access.staff_view
def escalation(request: HttpRequest, pk: int) -> HttpResponse:
    incident, member = desk_access.incident_for_dispatcher(request, pk)
    return render(request, "mobilize/escalation.html", _context(incident, member))


def _place(request: HttpRequest, acting: set[int], field: str) -> Place | None:
    value = request.POST.get(field, "")
    if not value.isdigit():
        return None
    return Place.objects.for_committees(acting).filter(pk=int(value)).first()


@access.staff_view
@require_POST
def escalate(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    """One tap: take the next rung of the ladder (or ask a second person to)."""
    incident, member = desk_access.incident_for_dispatcher(request, pk)
    if step not in Step.values:
        raise Http404
    acting = desk_access.acting_committee_ids(member, incident)
    try:
        taken = ladder.take(
            incident,
            step,
            actor=member,
            committee_ids=acting,
            place=_place(request, acting, "place"),
        )
    except ladder.LadderError:
        messages.error(
            request,
            _(
                "That step cannot be taken now: the incident must be confirmed, the steps "
                "go in order, a public call needs an assembly point, and only one alert "
                "waits for a second person at a time."
            ),
        )
    else:
        if taken.done_at is None:
            messages.warning(request, _("It waits for a second staff member to approve it."))
        elif taken.step == Step.PUBLIC:
            messages.success(request, _("The public call is published."))
        else:
            messages.success(
                request,
                ngettext(
                    "Alert queued for %(n)d person.",
                    "Alert queued for %(n)d people.",
                    taken.reached,
                )
                % {"n": taken.reached},
            )
    return redirect("incident_escalation", pk=incident.pk)


@access.staff_view
@require_POST
def set_quorum(request: HttpRequest, pk: int) -> HttpResponse:
    """Set how many of each role are needed, and where the others go instead."""
    incident, member = desk_access.incident_for_dispatcher(request, pk)
    acting = desk_access.acting_committee_ids(member, incident)
    needed = {}
    for role in quorum.ROLES:
        value = request.POST.get(f"needed_{role}", "").strip()
        needed[role] = min(int(value), 999) if value.isdigit() else 0
    try:
        met = quorum.set_needed(
            incident,
            needed,
            actor=member,
            redirect_place=_place(request, acting, "redirect"),
        )
    except quorum.QuorumError:
        messages.error(request, _("Only a confirmed incident has a call to answer."))
    else:
        messages.success(request, _("Saved: how many people are needed."))
        if met:
            messages.info(request, _("Enough people are there: the others were told."))
    return redirect("incident_escalation", pk=incident.pk)


@access.staff_view
@require_POST
def reopen_call(request: HttpRequest, pk: int, role: str) -> HttpResponse:
    """Re-open the call for a role whose people were stood down."""
    incident, member = desk_access.incident_for_dispatcher(request, pk)
    if role not in quorum.ROLES:
        raise Http404
    try:
        n = quorum.reopen(incident, role, actor=member)
    except quorum.QuorumError:
        messages.error(request, _("Only a confirmed incident has a call to answer."))
    else:
        messages.success(
            request,
            ngettext(
                "The call is open again: %(n)d person was called back.",
                "The call is open again: %(n)d people were called back.",
                n,
            )
            % {"n": n},
        )
    return redirect("incident_escalation", pk=incident.pk)
