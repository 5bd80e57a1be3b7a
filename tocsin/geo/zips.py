"""US ZIP codes as places: a ZIP's centre, and the town people call a point by.

The table comes with the ``zipcodes`` package (the USPS list with each ZIP's centre,
bundled in the wheel and updated by its maintainers): nothing is downloaded at run time.
A ZIP's centre is a public fact about a town, not anyone's address.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

import zipcodes

from tocsin import geo

_ZIP = re.compile(r"^\s*(\d{5})(?:-\d{4})?\s*$")


@dataclass(frozen=True)
class Zip:
    code: str
    city: str
    state: str
    lat: float
    lng: float

    @property
    def town(self) -> str:
        """Return the name people know the ZIP by: its town and state."""
        return f"{self.city}, {self.state}"


def clean(typed: str) -> str | None:
    """Return the five digits of a typed ZIP code (ZIP+4 accepted), or None."""
    match = _ZIP.match(typed or "")
    return match.group(1) if match else None


def _row(row: dict) -> Zip | None:
    try:
        lat, lng = float(row["lat"]), float(row["long"])
    except (KeyError, TypeError, ValueError):
        return None
    if not geo.valid_latlng(lat, lng) or (lat == 0 and lng == 0):
        return None
    return Zip(row["zip_code"], row.get("city", "").title(), row.get("state", ""), lat, lng)


def find(typed: str) -> Zip | None:
    """Return the ZIP code ``typed`` names, or None when it is not a US ZIP code."""
    code = clean(typed)
    if code is None:
        return None
    try:
        rows = zipcodes.matching(code)
    except (TypeError, ValueError):
        return None
    for row in rows:
        found = _row(row)
        if found is not None:
            return found
    return None


@cache
def _table() -> tuple[Zip, ...]:
    rows = (_row(r) for r in zipcodes.list_all() if r.get("active", True))
    return tuple(r for r in rows if r is not None)


@cache
def _by_coarse_cell() -> dict[int, list[Zip]]:
    found: dict[int, list[Zip]] = {}
    for z in _table():
        found.setdefault(geo.cell_at(z.lat, z.lng, 5), []).append(z)
    return found


def nearest(lat: float, lng: float) -> Zip | None:
    """Return the ZIP whose centre is nearest to the point (within about 30 km), or None."""
    home = geo.cell_at(lat, lng, 5)
    best: tuple[float, Zip] | None = None
    index = _by_coarse_cell()
    for cell in geo.disk(home, 1):
        for z in index.get(cell, ()):
            # Flat-earth distance is enough to rank places a few kilometres apart.
            d = math.hypot(z.lat - lat, (z.lng - lng) * math.cos(math.radians(lat)))
            if best is None or d < best[0]:
                best = (d, z)
    return best[1] if best else None
