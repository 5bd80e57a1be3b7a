"""The public list and map of upcoming mobilizations: what a query asks to see, and the
same as GeoJSON.

Only ``Mobilization.objects.listed()``: public mobilizations of active committees, never
those for members or responders only. Their assembly point is public and exact by design
(an organizer chose a public place), so the map shows it as it is.

"Near" takes a US ZIP code (tocsin.geo.zips, bundled, nothing downloaded) or the name of
a place in the committees' public gazetteers (tocsin.places.search), and a radius.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin.geo import zips
from tocsin.geo.describe import metres
from tocsin.mobilize.planned import Mobilization, MobilizationKind
from tocsin.places import search

PAGE_SIZE = 100
# The radii a person can choose, in km; the list opens on DEFAULT_KM once a place is named.
RADII_KM = (2, 5, 10, 25, 50)
DEFAULT_KM = 10


@dataclass(frozen=True)
class Centre:
    """Where "near" is measured from: a ZIP code's centre or a named public place."""

    name: str
    lat: float
    lng: float


def find_centre(typed: str) -> Centre | None:
    """Return the centre ``typed`` names (a ZIP code, or a place in an active
    committee's gazetteer), or None when it names nothing known."""
    typed = typed.strip()[:100]
    if zips.clean(typed) is not None:
        z = zips.find(typed)
        return Centre(f"{z.code} ({z.town})", z.lat, z.lng) if z is not None else None
    found = search.search(typed, committee_ids=search.active(), limit=1)
    if not found:
        return None
    return Centre(found[0].name, found[0].lat, found[0].lng)


def within(point: tuple[float, float] | None, centre: Centre, km: int) -> bool:
    return point is not None and metres(point, (centre.lat, centre.lng)) <= km * 1000


@dataclass(frozen=True)
class Filter:
    """What a person asked to see: a committee (``area``, its slug), a kind, a language,
    and near a place within ``km``. Anything unknown means "all"; a place that names
    nothing known is kept (the form shows it again) with ``unknown`` set."""

    area: str = ""
    kind: str = ""
    language: str = ""
    near: str = ""
    km: int = DEFAULT_KM
    centre: Centre | None = field(default=None, compare=False)

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filter:
        kind = query.get("kind", "")
        language = query.get("language", "")
        near = query.get("near", "").strip()[:100]
        try:
            km = int(query.get("km", DEFAULT_KM))
        except ValueError:
            km = DEFAULT_KM
        return cls(
            area=query.get("area", "")[:80],
            kind=kind if kind in MobilizationKind.values else "",
            language=language if language in ("en", "es") else "",
            near=near,
            km=km if km in RADII_KM else DEFAULT_KM,
            centre=find_centre(near) if near else None,
        )

    @property
    def unknown(self) -> bool:
        """Return whether "near" names no known ZIP code or place (then it is not applied)."""
        return bool(self.near) and self.centre is None

    @property
    def unknown_zip(self) -> bool:
        return self.unknown and zips.clean(self.near) is not None

    @property
    def query(self) -> dict[str, str]:
        values = {
            "area": self.area,
            "kind": self.kind,
            "language": self.language,
            "near": self.near,
            "km": str(self.km) if self.near else "",
        }
        return {k: v for k, v in values.items() if v}

    def mobilizations(self) -> list[Mobilization]:
        """Return the upcoming listed mobilizations this filter shows, soonest first."""
        qs = Mobilization.objects.listed().upcoming().select_related("committee", "place")
        if self.area:
            qs = qs.filter(committee__slug=self.area)
        if self.kind:
            qs = qs.filter(kind=self.kind)
        if self.language:
            qs = qs.in_language(self.language)
        if self.centre is None:
            return list(qs[:PAGE_SIZE])
        # A box first (cheap, indexed columns), then the real distance.
        c, reach = self.centre, self.km * 1000
        dlat = reach / 111_000
        dlng = dlat / max(0.05, abs(math.cos(math.radians(c.lat))))
        box = Q(
            place__isnull=True,
            lat__range=(c.lat - dlat, c.lat + dlat),
            lng__range=(c.lng - dlng, c.lng + dlng),
        ) | Q(
            place__lat__range=(c.lat - dlat, c.lat + dlat),
            place__lng__range=(c.lng - dlng, c.lng + dlng),
        )
        found = [m for m in qs.filter(box) if within(m.point(), c, self.km)]
        return found[:PAGE_SIZE]


def radii() -> list[tuple[int, str]]:
    return [(km, str(_("within %(km)d km") % {"km": km})) for km in RADII_KM]


def feature(m: Mobilization, *, language: str) -> dict[str, Any] | None:
    """Return one mobilization as a GeoJSON Feature at its public assembly point (None
    without one): what its public page shows, never who signed up."""
    point = m.point()
    if point is None:
        return None
    lat, lng = point
    return {
        "type": "Feature",
        "id": m.pk,
        "geometry": {"type": "Point", "coordinates": [round(lng, 6), round(lat, 6)]},
        "properties": {
            "title": m.title_in(language),
            "kind": m.kind,
            "kind_label": str(m.get_kind_display()),
            "committee": m.committee.name,
            "starts_at": timezone.localtime(m.starts_at).isoformat(),
            "ends_at": timezone.localtime(m.ends_at).isoformat(),
            "where": m.where(),
            "languages": m.languages(),
            "url": reverse("mobilization", args=[m.pk]),
        },
    }


def geojson(mobilizations: list[Mobilization], *, language: str) -> dict[str, Any]:
    """Return the mobilizations as a GeoJSON FeatureCollection (RFC 7946: lon, lat)."""
    features = [feature(m, language=language) for m in mobilizations]
    return {"type": "FeatureCollection", "features": [f for f in features if f is not None]}
