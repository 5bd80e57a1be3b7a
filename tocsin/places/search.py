"""Find places by name in the gazetteers, and the places near a point.

Searches read only the names and points organizers made public; the query is neither
stored nor logged.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from tocsin import geo
from tocsin.committees.models import Committee
from tocsin.geo.describe import EXACT, metres, rounded
from tocsin.places.models import Place, PlaceKind, fold

MAX_RESULTS = 8


@dataclass(frozen=True)
class Found:
    id: int
    name: str
    kind: str
    lat: float
    lng: float
    metres: int | None = None

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "lat": self.lat,
            "lng": self.lng,
            "metres": self.metres,
        }


def covering(lat: float, lng: float) -> set[int]:
    """Return the active committees whose area holds the point."""
    if not geo.valid_latlng(lat, lng):
        return set()
    cell = geo.cell_at(lat, lng, settings.AREA_RESOLUTION)
    return set(Committee.objects.covering(cell).ids())


def active() -> set[int]:
    return set(Committee.objects.active().ids())


def _found(place: Place, near: tuple[float, float] | None, *, step_m: int = 1) -> Found:
    d = rounded(metres(near, (place.lat, place.lng)), step_m) if near else None
    return Found(place.pk, place.said(), str(PlaceKind(place.kind).label), place.lat, place.lng, d)


def search(
    query: str,
    *,
    committee_ids: set[int],
    near: tuple[float, float] | None = None,
    limit: int = MAX_RESULTS,
) -> list[Found]:
    """Return the places whose names hold every word of ``query`` (accents and case
    aside): names that start with it first, then the nearest to ``near``, then by name."""
    folded = fold(query[:100])
    if not folded or not committee_ids:
        return []
    candidates = list(Place.objects.for_committees(committee_ids).matching(folded)[:200])
    found = [_found(p, near) for p in candidates]
    starts = {p.pk for p in candidates if p.search_text.startswith(folded)}
    found.sort(key=lambda f: (f.id not in starts, f.metres if f.metres is not None else 0, f.name))
    return found[:limit]


def nearby(
    lat: float,
    lng: float,
    *,
    committee_ids: set[int],
    within_m: float = EXACT.limit_m,
    limit: int = 5,
) -> list[Found]:
    """Return the spots (not areas) within ``within_m`` of the point, nearest first."""
    if not committee_ids or not geo.valid_latlng(lat, lng):
        return []
    places = (
        Place.objects.for_committees(committee_ids)
        .exclude(kind=PlaceKind.AREA)
        .around(lat, lng, within_m)
    )
    found = [_found(p, (lat, lng), step_m=10) for p in places]
    found = [f for f in found if f.metres is not None and f.metres <= within_m]
    found.sort(key=lambda f: (f.metres, f.name))
    return found[:limit]


def chosen(pk: int) -> Place | None:
    """Return a place a reporter picked, if it belongs to an active committee."""
    return Place.objects.for_committees(active()).filter(pk=pk).first()
