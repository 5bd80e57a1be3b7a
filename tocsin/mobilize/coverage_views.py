"""On-call pages: a committee's coverage for its staff (which areas have a dispatcher, a
verifier and responders on duty now, and the gaps in the next days), and each eligible
member's own on-call page (sign up for open slots, offer a shift, take an offered one)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tocsin import geo
from tocsin.committees import access
from tocsin.committees.models import AREA_DUTIES, Committee, Role, Shift
from tocsin.mobilize import oncall
from tocsin.mobilize.coverage import AreaCoverage, coverage_by_area


def _features(areas: list[AreaCoverage]) -> dict:
    """Return the areas as GeoJSON cells, each marked covered now or not."""
    features = []
    for area in areas:
        name = area.name() or _("Rest of the area")
        for f in geo.geojson_cells(area.cells)["features"]:
            f["properties"] = {"covered": area.covered_now, "name": name}
            features.append(f)
    return {"type": "FeatureCollection", "features": features}


MAX_GAPS = 5


def _rows(areas: list[AreaCoverage]) -> list[dict]:
    """Return each area as the page lists it: per duty, who is on now and the gaps."""
    return [
        {
            "area": area,
            "name": area.name(),
            "duties": [
                {
                    "duty": duty,
                    "label": duty.label,
                    "now": area.now[duty],
                    "gaps": area.gaps[duty][:MAX_GAPS],
                    "more": max(0, len(area.gaps[duty]) - MAX_GAPS),
                }
                for duty in AREA_DUTIES
            ],
        }
        for area in areas
    ]


@access.staff_view
def coverage(request: HttpRequest, slug: str) -> HttpResponse:
    committee, _m = access.committee_for(request, slug, Role.DISPATCHER)
    now = timezone.now()
    areas = coverage_by_area(committee, now)
    return render(
        request,
        "mobilize/coverage.html",
        {
            "committee": committee,
            "areas": _rows(areas),
            "uncovered": sum(1 for a in areas if not a.covered_now),
            "open_slots": Shift.objects.open(now).filter(committee=committee),
            "swaps": Shift.objects.filter(
                committee=committee, swapped_at__isnull=False, ends_at__gt=now
            ).select_related("member", "swapped_from"),
            "offered": Shift.objects.offered(now)
            .filter(committee=committee)
            .select_related("member"),
            "features": _features(areas),
            "now": now,
        },
    )


@access.staff_view
def oncall_page(request: HttpRequest, slug: str) -> HttpResponse:
    committee, mine = access.committee_for(request, slug, Role.RESPONDER)
    return render(
        request,
        "mobilize/oncall.html",
        {
            "committee": committee,
            "mine": oncall.mine(committee, mine.member),
            "open_slots": oncall.open_slots(committee, mine),
            "offered": oncall.offered(committee, mine),
            "now": timezone.now(),
        },
    )


def _shift_of(committee: Committee, pk: int) -> Shift:
    shift = Shift.objects.filter(pk=pk, committee=committee, ends_at__gt=timezone.now()).first()
    if shift is None:
        raise Http404
    return shift


@access.staff_view
@require_POST
def sign_up(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    committee, mine = access.committee_for(request, slug, Role.RESPONDER)
    shift = _shift_of(committee, pk)
    if shift.member_id is not None and shift.member_id != mine.member_id:
        messages.error(request, _("Someone else signed up for this slot first."))
    elif not oncall.may_hold(mine, shift.duty):
        raise Http404
    elif shift.member_id is None and oncall.sign_up(shift, mine):
        messages.success(request, _("You are signed up for this shift."))
    return redirect("committee_oncall", slug=slug)


@access.staff_view
@require_POST
def offer(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    committee, mine = access.committee_for(request, slug, Role.RESPONDER)
    shift = _shift_of(committee, pk)
    if shift.member_id != mine.member_id:
        raise Http404
    withdraw = bool(request.POST.get("withdraw"))
    oncall.offer(shift, mine.member, withdraw=withdraw)
    if withdraw:
        messages.success(request, _("You keep this shift: the offer is withdrawn."))
    else:
        messages.success(
            request, _("Your shift is offered: it stays yours until someone takes it.")
        )
    return redirect("committee_oncall", slug=slug)


@access.staff_view
@require_POST
def take(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    committee, mine = access.committee_for(request, slug, Role.RESPONDER)
    shift = _shift_of(committee, pk)
    if (
        shift.member_id is None
        or shift.member_id == mine.member_id
        or not oncall.may_hold(mine, shift.duty)
    ):
        raise Http404
    if oncall.take(shift, mine):
        messages.success(request, _("The shift is yours now. We told the person who offered it."))
    else:
        messages.error(request, _("This shift is no longer offered."))
    return redirect("committee_oncall", slug=slug)
