"""Find the committee near you: listed committees by ZIP code, and each one's coarse area.

A committee's area is shown to the public only coarsened (cells of about 1.2 km,
geo.PUBLIC_RESOLUTION) and named by the towns of the ZIP codes nearest to it, never
drawn or given as coordinates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tocsin import geo
from tocsin.committees.models import Committee
from tocsin.geo import describe, zips

# How far from a ZIP's centre a committee still counts as near (the edge of its area).
NEAR_KM = 15
# At most this many town names describe one committee's area.
TOWNS = 3


@dataclass(frozen=True)
class Near:
    committee: Committee
    km: int  # 0: its area covers the ZIP's centre
    towns: list[str]

    @property
    def covers(self) -> bool:
        return self.km == 0


def coarse_cells(committee: Committee) -> set[int]:
    return {geo.parent(c, geo.PUBLIC_RESOLUTION) for c in committee.cells()}


def towns(cells: set[int]) -> list[str]:
    """Return the names people know for an area of coarse cells: its nearest ZIPs' towns,
    the most common first."""
    counted: dict[str, int] = {}
    for cell in cells:
        found = zips.nearest(*geo.center(cell))
        if found is not None:
            counted[found.town] = counted.get(found.town, 0) + 1
    return sorted(counted, key=lambda t: (-counted[t], t))[:TOWNS]


def area_towns(committee: Committee) -> list[str]:
    return towns(coarse_cells(committee))


def _km(cells: set[int], target: int, point: tuple[float, float]) -> int | None:
    if target in cells:
        return 0
    if not cells:
        return None
    metres = min(describe.metres(geo.center(c), point) for c in cells)
    return max(1, round(metres / 1000))


def near(place: zips.Zip) -> list[Near]:
    """Return the public committees whose area covers or lies within NEAR_KM of the
    ZIP's centre, nearest first."""
    target = geo.cell_at(place.lat, place.lng, geo.PUBLIC_RESOLUTION)
    found = []
    for committee in Committee.objects.public().order_by("name"):
        cells = coarse_cells(committee)
        km = _km(cells, target, (place.lat, place.lng))
        if km is not None and km <= NEAR_KM:
            found.append(Near(committee, km, towns(cells)))
    return sorted(found, key=lambda n: (n.km, n.committee.name))


def areas_geojson(url_of: Callable[[Committee], str]) -> dict:
    """Return the public committees' coarse areas as GeoJSON: one feature per coarse cell,
    carrying the committee's name and the address of its public page (``url_of``)."""
    features = []
    for committee in Committee.objects.public().order_by("name"):
        cells = geo.geojson_cells(coarse_cells(committee))
        for feature in cells["features"]:
            feature["properties"] = {"name": committee.name, "url": url_of(committee)}
            features.append(feature)
    return {"type": "FeatureCollection", "features": features}
