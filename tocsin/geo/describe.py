"""Places as people say them: "80 m north of Car wash, Cesar Chavez & Soto".

``describe`` is a pure function of a point and the named places that may name it. It
returns the nearest one within its audience's limit, with the distance rounded to that
audience's step and the direction in compass words; or, when nothing is that close, the
nearest named area ("near Boyle Heights"); or just the coordinates. Members are described
from the centre of their block-level cell (``BLOCK``), so what they read depends on the
block alone: a place name never tells them more than the block does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _

_EARTH_M = 6_371_008.8
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


@dataclass(frozen=True)
class Named:
    """A named place: a spot (a store, a corner, a station) or an area (a neighbourhood)."""

    name: str
    lat: float
    lng: float
    name_es: str = ""
    area: bool = False

    def said(self, language: str | None = None) -> str:
        """Return the name in ``language`` (the active one): its Spanish name, if any."""
        language = language or get_language() or "en"
        if language.startswith("es") and self.name_es:
            return self.name_es
        return self.name


@dataclass(frozen=True)
class Precision:
    """How close a place must be to be named, and how finely distances are said."""

    limit_m: float  # a spot farther than this is never named
    step_m: int  # distances are rounded to this
    at_m: float  # closer than this: "at X" (exact) or "near X" (block), no distance
    area_limit_m: float = 2500  # an area farther than this is never named
    exact: bool = True  # "at" a place, coordinates to 5 decimals; else "near", 4 decimals


# Verifiers, responders and dispatchers: the report's ~25 m cell.
EXACT = Precision(limit_m=400, step_m=10, at_m=30)
# Members: the centre of the ~170 m block cell, a coarse distance.
BLOCK = Precision(limit_m=600, step_m=100, at_m=200, exact=False)
# The public: the centre of a coarse cell, named only by an area (a neighbourhood), never by
# a spot near it (a store's name would say more than the cell does).
PUBLIC = Precision(limit_m=-1, step_m=1000, at_m=0, area_limit_m=3000, exact=False)


@dataclass(frozen=True)
class Where:
    """What ``describe`` found for a point. ``place`` None: nothing named near enough."""

    lat: float
    lng: float
    precision: Precision
    place: Named | None = None
    metres: int = 0  # the rounded distance from the place; 0 when at or near it
    direction: str = ""  # compass point (COMPASS) of the point seen from the place

    @property
    def coordinates(self) -> str:
        """Return "lat, lng" (never with a decimal comma), as finely as the audience may see."""
        digits = 5 if self.precision.exact else 4
        return f"{self.lat:.{digits}f}, {self.lng:.{digits}f}"

    @property
    def geo_uri(self) -> str:
        """Return a ``geo:`` URI (RFC 5870), which phones hand to their own maps app."""
        return "geo:" + self.coordinates.replace(" ", "")

    @property
    def name(self) -> str:
        """Return the named place alone, or "" when none is near."""
        return self.place.said() if self.place is not None else ""

    @property
    def text(self) -> str:
        """Return the place in words, in the active language, ready for "Confirmed raid …"."""
        exact = self.precision.exact
        if self.place is None:
            if exact:
                return _("at %(coordinates)s") % {"coordinates": self.coordinates}
            return _("near %(coordinates)s") % {"coordinates": self.coordinates}
        name = self.place.said()
        if self.place.area:
            return _("in %(area)s") % {"area": name}
        if not self.metres:
            return (_("at %(place)s") if exact else _("near %(place)s")) % {"place": name}
        values = {"m": self.metres, "direction": direction_words(self.direction), "place": name}
        if exact:
            return _("%(m)s m %(direction)s of %(place)s") % values
        return _("about %(m)s m %(direction)s of %(place)s") % values

    def __str__(self) -> str:
        return self.text


def direction_words(code: str) -> str:
    """Return a compass point in words, in the active language."""
    words = {
        "N": pgettext("direction", "north"),
        "NE": pgettext("direction", "northeast"),
        "E": pgettext("direction", "east"),
        "SE": pgettext("direction", "southeast"),
        "S": pgettext("direction", "south"),
        "SW": pgettext("direction", "southwest"),
        "W": pgettext("direction", "west"),
        "NW": pgettext("direction", "northwest"),
    }
    return words.get(code, code)


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the great-circle distance between two (lat, lng) points, in metres."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * _EARTH_M * math.asin(min(1.0, math.sqrt(h)))


def compass(origin: tuple[float, float], point: tuple[float, float]) -> str:
    """Return the compass point (of eight) of ``point`` as seen from ``origin``."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*origin, *point))
    y = math.sin(lng2 - lng1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lng2 - lng1)
    degrees = math.degrees(math.atan2(y, x)) % 360
    return COMPASS[int((degrees + 22.5) // 45) % 8]


def rounded(distance_m: float, step_m: int) -> int:
    """Return ``distance_m`` to the nearest ``step_m`` (at least one step): monotonic."""
    return max(step_m, int(math.floor(distance_m / step_m + 0.5)) * step_m)


def describe(
    lat: float, lng: float, candidates: Iterable[Named], *, precision: Precision = EXACT
) -> Where:
    """Return the point described by the nearest named spot within ``precision.limit_m``,
    else by the nearest named area within ``precision.area_limit_m``, else by nothing
    (its coordinates). Ties go to the name that sorts first, so the answer never depends
    on the order of ``candidates``."""
    point = (lat, lng)
    spot: tuple[float, str, Named] | None = None
    area: tuple[float, str, Named] | None = None
    for c in candidates:
        key = (metres((c.lat, c.lng), point), c.name, c)
        if c.area:
            if key[0] <= precision.area_limit_m and (area is None or key[:2] < area[:2]):
                area = key
        elif key[0] <= precision.limit_m and (spot is None or key[:2] < spot[:2]):
            spot = key
    if spot is not None:
        d, _name, place = spot
        if d <= precision.at_m:
            return Where(lat, lng, precision, place)
        return Where(
            lat,
            lng,
            precision,
            place,
            metres=rounded(d, precision.step_m),
            direction=compass((place.lat, place.lng), point),
        )
    if area is not None:
        return Where(lat, lng, precision, area[2])
    return Where(lat, lng, precision)
