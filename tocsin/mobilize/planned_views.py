"""The organizer's (or dispatcher's) pages of planned mobilizations: create, edit,
cancel, and the people signed up (by display name only) with check-in."""

from __future__ import annotations

import segno
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from tocsin import geo
from tocsin.committees import access as committee_access
from tocsin.committees.models import Committee
from tocsin.mobilize import access, rsvps
from tocsin.mobilize.forms import MobilizationForm
from tocsin.mobilize.planned import Mobilization


def _center(committee: Committee) -> tuple[float, float]:
    """Return where the pick map opens: the committee's area, else the operator's centre."""
    cells = committee.cells()
    return geo.center(next(iter(cells))) if cells else settings.MAP_CENTER


@committee_access.staff_view
@require_http_methods(["GET", "POST"])
def mobilizations(request: HttpRequest, slug: str) -> HttpResponse:
    committee, _m = access.mobilization_for_staff(request, slug)
    form = MobilizationForm(request.POST if request.method == "POST" else None, committee=committee)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            m = form.save(commit=False)
            m.committee = committee
            m.created_by = committee_access.member_of(request)
            m.save()
            form.save_roles_and_shifts(m)
        messages.success(request, _("Mobilization published."))
        return redirect("committee_mobilization", slug=slug, pk=m.pk)
    upcoming = committee.mobilizations.filter(ends_at__gt=timezone.now()).order_by("starts_at")
    past = committee.mobilizations.filter(ends_at__lte=timezone.now()).order_by("-starts_at")[:20]
    return render(
        request,
        "mobilize/manage_list.html",
        {
            "committee": committee,
            "form": form,
            "upcoming": upcoming,
            "past": past,
            "map_center": _center(committee),
        },
        status=400 if form.errors else 200,
    )


@committee_access.staff_view
@require_http_methods(["GET", "POST"])
def mobilization(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    committee, m = access.mobilization_for_staff(request, slug, pk)
    assert m is not None
    before = (m.starts_at, m.ends_at, m.place_id, m.address, m.lat, m.lng)
    form = MobilizationForm(
        request.POST if request.method == "POST" else None, instance=m, committee=committee
    )
    if request.method == "POST" and form.is_valid() and not m.is_cancelled:
        with transaction.atomic():
            m = form.save(commit=False)
            m.updated_at = timezone.now()
            m.save()
            form.save_roles_and_shifts(m)
            # A capacity raised: the people waiting get the new places, and are told.
            rsvps.fill(m)
            if (m.starts_at, m.ends_at, m.place_id, m.address, m.lat, m.lng) != before:
                told = rsvps.moved(m)
                if told:
                    messages.info(
                        request,
                        ngettext(
                            "%(n)d person signed up is told of the change.",
                            "%(n)d people signed up are told of the change.",
                            told,
                        )
                        % {"n": told},
                    )
        messages.success(request, _("Saved."))
        return redirect("committee_mobilization", slug=slug, pk=m.pk)
    return render(
        request,
        "mobilize/manage_edit.html",
        {
            "committee": committee,
            "m": m,
            "form": form,
            "counts": rsvps.counts(m),
            "map_center": m.point() or _center(committee),
        },
        status=400 if form.errors else 200,
    )


@committee_access.staff_view
@require_POST
def cancel_mobilization(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    _committee, m = access.mobilization_for_staff(request, slug, pk)
    assert m is not None
    if not request.POST.get("sure"):
        messages.error(request, _("Nothing was cancelled. Tick the box to say you are sure."))
        return redirect("committee_mobilization", slug=slug, pk=pk)
    told = rsvps.call_off(m)
    messages.success(
        request,
        ngettext(
            "Cancelled. %(n)d person signed up is told now.",
            "Cancelled. %(n)d people signed up are told now.",
            told,
        )
        % {"n": told},
    )
    return redirect("committee_mobilization", slug=slug, pk=pk)


def checkin_url(m: Mobilization) -> str:
    return settings.SITE_URL + reverse("mobilization_checkin", args=[m.pk, m.checkin_token])


@committee_access.staff_view
@require_http_methods(["GET", "POST"])
def people(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The people signed up, by display name (never an address), and check-in: the
    organizer marks someone, or shows the QR code people scan to check themselves in."""
    committee, m = access.mobilization_for_staff(request, slug, pk)
    assert m is not None
    if request.method == "POST":
        rsvp = access.rsvp_of(request, m, request.POST.get("rsvp", ""))
        if rsvps.check_in(rsvp):
            messages.success(request, _("Checked in."))
        return redirect("committee_mobilization_people", slug=slug, pk=pk)
    qr = segno.make(checkin_url(m), error="m").svg_inline(scale=5, dark="#111", light="#fff")
    return render(
        request,
        "mobilize/people.html",
        {
            "committee": committee,
            "m": m,
            "rsvps": m.rsvps.select_related("role", "shift", "member").order_by(
                "status", "created_at"
            ),
            "counts": rsvps.counts(m),
            "qr": qr,
            "checkin_url": checkin_url(m),
        },
    )
