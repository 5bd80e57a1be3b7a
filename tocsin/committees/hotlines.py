"""Committees' hotline numbers, as a reporter reads them: who answers, and the numbers.

They are public numbers (a committee prints them on flyers), kept in E.164 and shown as
people of the operator's region write them, each a tel: link. The report page shows the
hotlines of the committees covering the place picked (all active committees before a place
is picked), the receipt page those of the committees the report reached, and the
know-your-rights page all of them; every refusal of a report carries them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from tocsin import geo
from tocsin.committees.models import Committee
from tocsin.lib import phones

MAX_NUMBERS = 3


@dataclass(frozen=True)
class Number:
    e164: str
    shown: str


@dataclass(frozen=True)
class Hotline:
    committee: str
    numbers: tuple[Number, ...]


def of(committees: Iterable[Committee]) -> list[Hotline]:
    """Return the hotlines of ``committees`` that have a number, by committee name."""
    found = [
        Hotline(
            committee=c.name,
            numbers=tuple(Number(n, phones.display(n)) for n in c.hotline_numbers),
        )
        for c in committees
        if c.hotline_numbers
    ]
    return sorted(found, key=lambda h: h.committee.lower())


def everywhere() -> list[Hotline]:
    """Return the hotlines of every committee that takes reports."""
    return of(Committee.objects.active().only("name", "hotline_numbers"))


def said(committee: Committee) -> str:
    """Return ``committee``'s numbers as a message says them ("" if it has none)."""
    return " / ".join(n.shown for h in of([committee]) for n in h.numbers)


def for_committees(ids: Iterable[int]) -> list[Hotline]:
    return of(Committee.objects.filter(pk__in=list(ids)).only("name", "hotline_numbers"))


def for_place(lat: float | None, lng: float | None) -> list[Hotline]:
    """Return the hotlines of the active committees covering (lat, lng), or of every
    active committee when no place is known or none covering it has a number."""
    if lat is None or lng is None or not geo.valid_latlng(lat, lng):
        return everywhere()
    area = geo.parent(geo.cell_at(lat, lng, geo.REPORT_RESOLUTION), settings.AREA_RESOLUTION)
    covering = of(Committee.objects.covering(area).only("name", "hotline_numbers"))
    return covering or everywhere()


# How long a refusal's hotlines may be old (see for_place_cached).
CACHED_SECONDS = 60


def for_place_cached(lat: float | None, lng: float | None) -> list[Hotline]:
    """Return for_place(lat, lng), kept in the cache up to CACHED_SECONDS per area cell.

    For the answers a flood gets (a refused report, thousands a minute): without a query
    each, they need no database connection at all. A number changed on the committee's
    page shows there within the minute. The key names a committee-area cell, as coarse as
    the committees' areas, and nothing about who asked.
    """
    found = in_cache(lat, lng)
    if found is None:
        found = for_place(lat, lng)
        cache.set(_key(lat, lng), found, timeout=CACHED_SECONDS)
    return found


def in_cache(lat: float | None, lng: float | None) -> list[Hotline] | None:
    """Return what for_place_cached(lat, lng) keeps in the cache, or None (not there)."""
    found: list[Hotline] | None = cache.get(_key(lat, lng))
    return found


def _key(lat: float | None, lng: float | None) -> str:
    if lat is None or lng is None or not geo.valid_latlng(lat, lng):
        return "tocsin:hotlines:everywhere"
    area = geo.parent(geo.cell_at(lat, lng, geo.REPORT_RESOLUTION), settings.AREA_RESOLUTION)
    return f"tocsin:hotlines:{area}"
