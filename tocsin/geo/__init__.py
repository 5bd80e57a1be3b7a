"""H3 geography: pure functions, no models.

People's places are never stored finer than a cell. A member area is a cell plus a ring
size; an alert area is a cell plus the ring covering its radius; the two match when the
grid distance between the cells is at most the sum of the rings, which is exactly when
the two cell disks share a cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import h3

# Mean distance between neighbouring cell centres, per resolution, in metres
# (sqrt(3) x the mean hexagon edge length).
_EDGE_M = {r: h3.average_hexagon_edge_length(r, unit="m") for r in range(16)}

REPORT_RESOLUTION = 11  # about 25 m: where an operation is, for verifiers only
BLOCK_RESOLUTION = 9  # about 170 m: what members see
PUBLIC_RESOLUTION = 7  # about 1.2 km: what the public sees
MAX_AREA_RING = 3


class GeoError(ValueError):
    """A coordinate or cell that Tocsin cannot use."""


@dataclass(frozen=True)
class Disk:
    cell: int
    ring: int


def valid_latlng(lat: float, lng: float) -> bool:
    return math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 180


def cell_at(lat: float, lng: float, resolution: int) -> int:
    """Return the H3 cell (as an int) holding the point."""
    if not valid_latlng(lat, lng):
        raise GeoError(f"not a place on Earth: {lat}, {lng}")
    return h3.str_to_int(h3.latlng_to_cell(lat, lng, resolution))


def parent(cell: int, resolution: int) -> int:
    return h3.str_to_int(h3.cell_to_parent(h3.int_to_str(cell), resolution))


def resolution(cell: int) -> int:
    return h3.get_resolution(h3.int_to_str(cell))


def center(cell: int) -> tuple[float, float]:
    lat, lng = h3.cell_to_latlng(h3.int_to_str(cell))
    return lat, lng


def is_cell(value: int) -> bool:
    try:
        return h3.is_valid_cell(h3.int_to_str(value))
    except (ValueError, TypeError, OverflowError):
        return False


def disk(cell: int, ring: int) -> set[int]:
    """Return every cell within ``ring`` steps of ``cell``."""
    return {h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(cell), ring)}


def distance(a: int, b: int) -> int | None:
    """Return the grid distance between two cells of one resolution, or None if unknown.

    H3 cannot always measure across pentagons or very far apart; such cells never match.
    """
    try:
        return int(h3.grid_distance(h3.int_to_str(a), h3.int_to_str(b)))
    except Exception:  # noqa: BLE001 - h3 raises several error types for "too far"
        return None


def disks_intersect(a: Disk, b: Disk) -> bool:
    d = distance(a.cell, b.cell)
    return d is not None and d <= a.ring + b.ring


def ring_for_radius(radius_m: float, resolution: int) -> int:
    """Return the smallest ring whose disk covers a circle of ``radius_m`` around any point
    of the centre cell.

    A disk of k rings reaches at least about 1.5 k edge lengths on its flat sides; one
    edge length more allows for the point lying anywhere inside its cell.
    """
    if radius_m <= 0:
        return 0  # just the cell holding the point
    edge = _EDGE_M[resolution]
    return math.ceil((radius_m + edge) / (1.5 * edge))


def cells_for_circle(lat: float, lng: float, radius_m: float, resolution: int) -> set[int]:
    c = cell_at(lat, lng, resolution)
    return disk(c, ring_for_radius(radius_m, resolution))


def boundary(cell: int) -> list[tuple[float, float]]:
    """Return the polygon of a cell as (lat, lng) pairs."""
    return [(lat, lng) for lat, lng in h3.cell_to_boundary(h3.int_to_str(cell))]


def geojson_cells(cells: set[int] | list[int]) -> dict:
    """Return a GeoJSON FeatureCollection of cell hexagons (lng, lat order)."""
    features = []
    for c in sorted(cells):
        ring = [[round(lng, 6), round(lat, 6)] for lat, lng in boundary(c)]
        ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "properties": {"cell": h3.int_to_str(c)},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def to_str(cell: int) -> str:
    return h3.int_to_str(cell)


def from_str(value: str) -> int:
    if not h3.is_valid_cell(value):
        raise GeoError(f"not an H3 cell: {value!r}")
    return h3.str_to_int(value)
