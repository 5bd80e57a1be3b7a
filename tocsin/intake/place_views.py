"""Where a reporter is, in names: the committees' named places and, when the operator runs
one, their geocoder (addresses), always through Tocsin.

What is searched is neither stored nor logged; searches are counted per network like
reports (a keyed hash in the cache, never the address), so nobody scrapes or floods the
geocoder through the report page.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from tocsin import geo
from tocsin.intake.forms import choice_point, place_id
from tocsin.lib import geocode, ratelimit
from tocsin.places import search
from tocsin.places.naming import Gazetteer

WINDOW_SECONDS = 600
MIN_ADDRESS_QUERY = 3


def take_search(source: str | None, *, now: float | None = None) -> bool:
    """Count one search from ``source``; return whether it is within its share."""
    if source is None:
        return True
    now = time.time() if now is None else now
    key = f"tocsin:rl:search:{source}:{int(now // WINDOW_SECONDS)}"
    cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
        used = 1
    return bool(used <= settings.PLACE_SEARCH_RATE_PER_10MIN)


def point_of(request: HttpRequest) -> tuple[float, float] | None:
    """Return the (lat, lng) a request names, or None."""
    try:
        lat, lng = float(request.GET.get("lat", "")), float(request.GET.get("lng", ""))
    except ValueError:
        return None
    return (lat, lng) if geo.valid_latlng(lat, lng) else None


def find(
    query: str, near: tuple[float, float] | None, *, committee_ids: set[int] | None = None
) -> dict:
    """Return the named places matching ``query`` (in the gazetteers of ``committee_ids``,
    else of the committees covering ``near``, else of every active committee) and, with a
    geocoder, addresses."""
    if committee_ids is None:
        committee_ids = (search.covering(*near) if near else set()) or search.active()
    places = search.search(query, committee_ids=committee_ids, near=near)
    found: dict = {"places": [f.as_json() for f in places], "addresses": []}
    if geocode.enabled() and len(query.strip()) >= MIN_ADDRESS_QUERY:
        try:
            found["addresses"] = [
                {"label": p.label, "lat": p.lat, "lng": p.lng} for p in geocode.search(query)
            ]
        except geocode.GeocoderError:
            found["address_error"] = _("Address search is not answering.")
    return found


def near_point(lat: float, lng: float, *, committee_ids: set[int] | None = None) -> dict:
    """Return what is near a point: the place in words, the named places around it, and
    the geocoder's address for it (when there is a geocoder)."""
    if committee_ids is None:
        committee_ids = search.covering(lat, lng)
    # Measured from the report's cell, as the desk will say it.
    cell = geo.cell_at(lat, lng, geo.REPORT_RESOLUTION)
    where = Gazetteer(committee_ids).exact(cell)
    address = ""
    if geocode.enabled():
        try:
            address = geocode.reverse(lat, lng)
        except geocode.GeocoderError:
            address = ""
    return {
        "where": where.text if where.place else "",
        "places": [
            f.as_json() for f in search.nearby(*geo.center(cell), committee_ids=committee_ids)
        ],
        "address": address,
        "covered": bool(committee_ids),
    }


@never_cache
@require_GET
def places(request: HttpRequest) -> JsonResponse:
    """Search the named places (``q``), or say what is near a point (``lat``, ``lng``)."""
    if not take_search(ratelimit.source_of(request)):
        response = JsonResponse(
            {"error": _("Too many searches from your network. Tap the map instead.")},
            status=429,
        )
        response["Retry-After"] = str(WINDOW_SECONDS)
        return response
    query = request.GET.get("q", "").replace("\x00", "").strip()[:100]
    near = point_of(request)
    if query:
        return JsonResponse(find(query, near))
    if near is None:
        return JsonResponse({"error": _("Type a place, or pick one on the map.")}, status=400)
    return JsonResponse(near_point(*near))


def search_context(request: HttpRequest, form: Any) -> dict:
    """Return the report page's place search without JavaScript: the results of the name
    typed (``?where=``) as choices, and the place already picked when the form returns."""
    query = request.GET.get("where", "").replace("\x00", "").strip()[:100]
    context: dict[str, Any] = {
        "where_query": query,
        "address_search": geocode.enabled(),
        "found": None,
        "search_refused": False,
        "picked": None,
    }
    if query and request.method == "GET":
        if take_search(ratelimit.source_of(request)):
            context["found"] = find(query, None)
        else:
            context["search_refused"] = True
    value = str(form.data.get("place", "")) if form.is_bound else ""
    pk = place_id(value)
    if pk is not None:
        place = search.chosen(pk)
        if place is not None:
            context["picked"] = {"value": value, "label": place.said()}
    elif value.startswith("a") and choice_point(value) is not None:
        context["picked"] = {"value": value, "label": value[1:].replace(",", ", ")}
    return context
