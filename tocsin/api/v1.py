"""/api/v1/: the public data as JSON, with its OpenAPI document at /api/v1/openapi.json.

Read-only (GET only, so CSRF does not apply), no login, no personal data. Incidents come
only from ``tocsin.public.incidents.published``: the public map's cell, named area and
rounded time, nothing finer or earlier. Mobilizations are the public list's. Requests are
counted per network with the private limiter (a keyed hash of the network, in the cache;
TOCSIN_API_RATE_PER_10MIN), past which the API answers 429 with a JSON error. No docs page:
it would load its script from a CDN.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Query, Schema
from ninja.errors import Throttled
from ninja.throttling import BaseThrottle

from tocsin.committees import hotlines
from tocsin.lib import exposure, languages, ratelimit
from tocsin.mobilize import public_views
from tocsin.mobilize.planned import Mobilization
from tocsin.public.incidents import LIMIT, PublicIncident, published, published_one


class NetworkShare(BaseThrottle):
    """Count each request against its network's share (TOCSIN_API_RATE_PER_10MIN)."""

    def allow_request(self, request: HttpRequest) -> bool:
        source = ratelimit.source_of(request)
        if source is None:
            return True
        return ratelimit.count("api", source) <= settings.API_RATE_PER_10MIN

    def wait(self) -> float:
        return float(ratelimit.WINDOW_SECONDS)


api = NinjaAPI(
    title="Tocsin public API",
    version="1",
    description=(
        "Confirmed incidents as the public map shows them (a coarse area, a rounded time, "
        "after a delay), upcoming public mobilizations and the committees' hotlines. "
        "Add ?lang=es (or Accept-Language) for Spanish labels."
    ),
    urls_namespace="api",
    docs_url=None,
    throttle=NetworkShare(),
)


@api.exception_handler(Throttled)
def too_many(request: HttpRequest, exc: Throttled) -> HttpResponse:
    return api.create_response(
        request,
        {"detail": _("Too many requests from your network. Try again in a few minutes.")},
        status=429,
    )


class Point(Schema):
    lat: float
    lng: float


class IncidentOut(Schema):
    id: str
    kind: str
    kind_label: str
    state: str
    state_label: str
    at: dt.datetime
    area: str
    place_text: str
    verification: str
    cell: str
    resolution: int
    center: Point
    url: str


class MobilizationOut(Schema):
    id: int
    kind: str
    title: str
    description: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    where: str
    point: Point | None
    committee: str
    url: str


class CommitteeOut(Schema):
    name: str
    hotlines: list[str]


class Error(Schema):
    detail: str


def _incident(incident: PublicIncident) -> IncidentOut:
    lat, lng = incident.center
    return IncidentOut(
        id=incident.public_id,
        kind=incident.kind,
        kind_label=incident.kind_label,
        state=incident.state,
        state_label=incident.state_label,
        at=incident.at,
        area=incident.place,
        place_text=incident.place_text,
        verification=incident.verification,
        cell=incident.cell_id,
        resolution=incident.resolution,
        center=Point(lat=lat, lng=lng),
        url=reverse("api:api_incident", args=[incident.public_id]),
    )


def _mobilization(m: Mobilization) -> MobilizationOut:
    point = m.point()
    return MobilizationOut(
        id=m.pk,
        kind=m.kind,
        title=m.title_in(),
        description=m.description_in(),
        starts_at=m.starts_at,
        ends_at=m.ends_at,
        where=m.where(),
        point=Point(lat=point[0], lng=point[1]) if point else None,
        committee=m.committee.name,
        url=reverse("mobilization", args=[m.pk]),
    )


# How far back a client may page through the list (a page is at most LIMIT).
MAX_OFFSET = 10_000


@api.get(
    "/incidents",
    response=list[IncidentOut],
    url_name="api_incidents",
    summary="Confirmed and resolved incidents, newest first",
)
def incidents(
    request: HttpRequest,
    since: dt.datetime | None = None,
    kind: str | None = None,
    limit: int = Query(LIMIT, ge=1, le=LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> list[IncidentOut]:
    """``since``: only those whose public time (``at``) is after it; ``kind``: one public
    kind (checkpoint, enforcement, agents_seen; a report kind asks for its public kind);
    ``limit`` and ``offset``: one page of the list (the next page starts at ``offset +
    limit``)."""
    if kind is not None:
        if kind not in exposure.PublicKind.values and kind not in exposure.PUBLIC_KINDS:
            return []
        kind = exposure.public_kind(kind)
    # Compared with the rounded public time, never the exact confirmation: asking with
    # ever closer ``since`` values must not tell the minute it was confirmed.
    page = published(limit=limit, offset=offset)
    shown = [i for i in page if kind in (None, i.kind) and (since is None or i.at > since)]
    with translation.override(languages.requested(request)):
        return [_incident(i) for i in shown]


@api.get(
    "/incidents/{incident_id}",
    response={200: IncidentOut, 404: Error},
    url_name="api_incident",
    summary="One incident, as the public map shows it",
)
def incident(request: HttpRequest, incident_id: str) -> IncidentOut:
    found = published_one(incident_id)
    if found is None:
        raise Http404
    with translation.override(languages.requested(request)):
        return _incident(found)


@api.get(
    "/mobilizations",
    response=list[MobilizationOut],
    url_name="api_mobilizations",
    summary="Upcoming public mobilizations, soonest first",
)
def mobilizations(request: HttpRequest) -> list[MobilizationOut]:
    """The public list's filters apply: ``area`` (a committee's slug), ``kind``,
    ``language`` (en, es: those written in it), ``near`` (a US ZIP code or the name of a
    committee's public place) within ``km`` (2, 5, 10, 25 or 50; 10 by default)."""
    with translation.override(languages.requested(request)):
        found, _filters = public_views.upcoming_public(request)
        return [_mobilization(m) for m in found]


@api.get(
    "/committees",
    response=list[CommitteeOut],
    url_name="api_committees",
    summary="Committees taking reports, with their public hotline numbers",
)
def committees(request: HttpRequest) -> list[CommitteeOut]:
    return [
        CommitteeOut(name=h.committee, hotlines=[n.e164 for n in h.numbers])
        for h in hotlines.everywhere()
    ]
