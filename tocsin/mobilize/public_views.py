"""Public pages of planned mobilizations: the list, one page each with sign-up, the
person's own page (cancel, confirm, check in), share QR codes and calendars.

Counts of people coming and places left are public, as "fewer than 5" below
TOCSIN_PUBLIC_MIN_COUNT (tocsin.lib.counts); who signed up never is.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.cache import patch_cache_control
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from tocsin.committees.models import Committee
from tocsin.lib import languages, live, ratelimit, sse
from tocsin.mobilize import access, calendar, ladder, public_list, rsvps
from tocsin.mobilize.forms import RsvpForm
from tocsin.mobilize.planned import Mobilization, MobilizationKind, Rsvp
from tocsin.transports import registry as transports
from tocsin.transports.vapid import application_server_key

# The cookie that remembers, on this device, the sign-up to a mobilization (its signed
# link), so scanning the organizer's check-in code needs nothing typed.
COOKIE = "rsvp-%d"
COOKIE_AGE = 60 * 60 * 24 * 60
PAGE_SIZE = public_list.PAGE_SIZE


def _flooded(request: HttpRequest) -> bool:
    """Count a sign-up without an account from the request's network; return whether the
    network is past TOCSIN_RSVP_PER_10MIN (counted per network, never per address)."""
    source = ratelimit.source_of(request)
    return source is not None and ratelimit.count("rsvp", source) > settings.RSVP_PER_10MIN


def _language() -> str:
    return (get_language() or "en")[:2]


def _member(request: HttpRequest) -> Any:
    return getattr(request.user, "member", None) if request.user.is_authenticated else None


def upcoming_public(request: HttpRequest) -> tuple[list[Mobilization], dict[str, Any]]:
    """Return the upcoming public mobilizations the query asks for (tocsin.mobilize.
    public_list: a committee, a kind, a language, near a place), and the filter choices."""
    chosen = public_list.Filter.from_query(request.GET)
    areas = Committee.objects.filter(
        pk__in=Mobilization.objects.listed().upcoming().values("committee")
    ).order_by("name")
    return chosen.mobilizations(), {
        "chosen": chosen,
        "query": urlencode(chosen.query),
        "areas": areas,
        "kinds": MobilizationKind.choices,
        "radii": public_list.radii(),
        "area": chosen.area,
        "kind": chosen.kind,
        "language": chosen.language,
    }


@require_GET
def mobilizations(request: HttpRequest) -> HttpResponse:
    found, filters = upcoming_public(request)
    # A member also sees, apart, those called for their committees' members only.
    yours = access.not_public_for(request).upcoming().select_related("committee", "place")
    return render(
        request,
        "mobilize/list.html",
        {
            "mobilizations": found,
            "yours": list(yours[:PAGE_SIZE]),
            "sms": "sms" in transports.registry(),
            **filters,
        },
    )


@require_http_methods(["GET", "POST"])
def mobilization(request: HttpRequest, pk: int) -> HttpResponse:
    m = access.mobilization_for(request, pk)
    member = _member(request)
    mine = m.rsvps.active().filter(member=member).first() if member is not None else None
    form = RsvpForm(
        request.POST if request.method == "POST" else None,
        mobilization=m,
        member=member is not None,
    )
    open_ = not m.is_cancelled and m.ends_at > timezone.now()
    if request.method == "POST" and open_ and form.is_valid():
        contact = (
            None
            if member is not None
            else rsvps.Contact(
                form.cleaned_data["channel"],
                form.cleaned_data["address"],
                {"keys": form.push_keys} if form.push_keys else None,
            )
        )
        if contact is not None and _flooded(request):
            return render(request, "mobilize/too_many.html", {"m": m}, status=429)
        try:
            rsvp = rsvps.sign_up(
                m,
                member=member,
                contact=contact,
                display_name=form.cleaned_data.get("display_name", ""),
                language=member.language if member is not None else _language(),
                role=form.chosen_role(),
                shift=form.chosen_shift(),
            )
        except rsvps.AlreadySignedUp as e:
            rsvp = e.rsvp
        if contact is not None:
            # The same answer whether the address was signed up already or not: typing
            # someone's address must not tell whether they come, nor open their sign-up.
            # Their own link comes in the confirmation message.
            return render(request, "mobilize/signed_up.html", {"m": m, "kind": contact.kind})
        return redirect("rsvp_page", token=rsvps.link_token(rsvp))
    return render(
        request,
        "mobilize/page.html",
        {
            "m": m,
            "form": form,
            "mine": mine,
            "mine_token": rsvps.link_token(mine) if mine else "",
            "places_left": rsvps.places_left(m),
            "counts": rsvps.counts(m),
            "call": ladder.public_headcount(m),
            "share_url": calendar.page_url(m),
            "open": open_,
            "push": "webpush" in transports.registry(),
            "vapid_key": application_server_key(),
        },
        status=400 if form.errors else 200,
    )


def mobilization_live(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The page's count of people coming and places left, live: counts only, the same
    for everyone who reads it in one language."""
    m = access.mobilization_for(request, pk)
    language = _language()
    member = _member(request)

    def render_turnout() -> str:
        fresh = Mobilization.objects.get(pk=m.pk)
        with translation.override(language):
            return render_to_string(
                "mobilize/_turnout.html",
                {
                    "counts": rsvps.counts(fresh),
                    "places_left": rsvps.places_left(fresh),
                    "call": ladder.public_headcount(fresh),
                },
            )

    # A members-only page's viewers lose the stream when they log out or are removed.
    ends = (live.access_channel("member", member.pk),) if member is not None else ()
    # A public call's page also follows the answers to its incident (counts only).
    call = ladder.call_for(m)
    incident = [f"incident:{call.incident_id}"] if call is not None else []
    return sse.stream(
        request,
        [f"mobilization:{m.pk}", *incident],
        render_turnout,
        audience=("mobilization", m.pk, language),
        access=ends if m.visibility != "public" else (),
    )


@require_GET
@cache_control(max_age=3600, public=True)
def mobilization_qr(request: HttpRequest, pk: int) -> HttpResponse:
    m = access.mobilization_for(request, pk)
    # A standalone SVG file needs its namespace (svg_inline leaves it out: it is for
    # inlining in HTML), or an <img> shows nothing.
    svg = io.BytesIO()
    segno.make(calendar.page_url(m), error="m").save(
        svg, kind="svg", scale=6, dark="#111", light="#fff", xmldecl=False
    )
    return HttpResponse(svg.getvalue(), content_type="image/svg+xml")


def _ics(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@require_GET
def mobilization_ics(request: HttpRequest, pk: int) -> HttpResponse:
    m = access.mobilization_for(request, pk)
    return _ics(
        calendar.ical([m], name=m.title_in(), language=_language()), f"mobilization-{m.pk}.ics"
    )


@require_GET
def mobilizations_ics(request: HttpRequest) -> HttpResponse:
    found, _filters = upcoming_public(request)
    return _ics(
        calendar.ical(found, name=_("Tocsin: planned mobilizations"), language=_language()),
        "mobilizations.ics",
    )


@require_GET
def committee_ics(request: HttpRequest, slug: str) -> HttpResponse:
    committee = get_object_or_404(Committee.objects.active(), slug=slug)
    found = Mobilization.objects.listed().upcoming().filter(committee=committee)
    return _ics(
        calendar.ical(found.select_related("place"), name=committee.name, language=_language()),
        f"{committee.slug}.ics",
    )


@require_GET
def mobilizations_osdi(request: HttpRequest) -> JsonResponse:
    found, _filters = upcoming_public(request)
    return JsonResponse(calendar.osdi(found, language=_language()))


@require_safe
def mobilizations_geojson(request: HttpRequest) -> JsonResponse:
    """The public list's mobilizations as GeoJSON (RFC 7946), filtered like the list."""
    found, _filters = upcoming_public(request)
    response = JsonResponse(
        public_list.geojson(found, language=_language()),
        content_type="application/geo+json",
        json_dumps_params={"separators": (",", ":"), "ensure_ascii": False},
    )
    # Its labels are in the reader's language (a cookie may choose it): no shared caches.
    patch_cache_control(response, private=True, max_age=60)
    return response


def _own(token: str) -> Rsvp:
    rsvp = rsvps.rsvp_for_link(token)
    if rsvp is None:
        raise Http404
    return rsvp


@require_http_methods(["GET", "POST"])
def rsvp_page(request: HttpRequest, token: str) -> HttpResponse:
    """The person's own sign-up: what, when, where, and cancel, confirm or check in."""
    rsvp = _own(token)
    languages.activate_for_link(request, rsvp.language)
    m = rsvp.mobilization
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "cancel":
            rsvps.cancel(rsvp)
        elif action == "confirm":
            rsvps.confirm(rsvp)
        elif action == "checkin" and rsvps.can_check_in(m):
            rsvps.check_in(rsvp)
        return redirect("rsvp_page", token=token)
    response = render(
        request,
        "mobilize/rsvp.html",
        {"rsvp": rsvp, "m": m, "token": token, "can_check_in": rsvps.can_check_in(m)},
    )
    # This device now knows its sign-up: scanning the organizer's check-in code is one tap.
    response.set_cookie(
        COOKIE % m.pk,
        token,
        max_age=COOKIE_AGE,
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )
    return response


@require_http_methods(["GET", "POST"])
def checkin(request: HttpRequest, pk: int, code: str) -> HttpResponse:
    """The page the organizer's check-in QR code opens: the sign-up this device made (or
    the logged-in member's) is checked in with one tap."""
    m = get_object_or_404(Mobilization, pk=pk, checkin_token=code)
    member = _member(request)
    rsvp = None
    if member is not None:
        rsvp = m.rsvps.active().filter(member=member).first()
    if rsvp is None:
        found = rsvps.rsvp_for_link(request.COOKIES.get(COOKIE % m.pk, ""))
        rsvp = found if found is not None and found.mobilization_id == m.pk else None
    done = False
    if request.method == "POST" and rsvp is not None and rsvps.can_check_in(m):
        done = rsvps.check_in(rsvp)
        if done:
            rsvp.refresh_from_db()
    return render(
        request,
        "mobilize/checkin.html",
        {
            "m": m,
            "rsvp": rsvp,
            "done": done,
            "can_check_in": rsvps.can_check_in(m),
        },
    )
