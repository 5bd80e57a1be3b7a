"""The public map of incidents: which ones a filter shows, and the same as GeoJSON.

Everything here reads incidents through ``tocsin.public.incidents.published`` and shows
only the fields of ``PublicIncident``, so the page, its live list and the GeoJSON are never
finer or earlier than the operator's exposure rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin import geo
from tocsin.lib.exposure import PUBLIC_KINDS, PublicKind, public_kind
from tocsin.public.incidents import PublicIncident, published

# The periods a person can choose, newest first; the page opens on the week.
WINDOWS: dict[str, tuple[dt.timedelta, Any]] = {
    "24h": (dt.timedelta(hours=24), _("Last 24 hours")),
    "7d": (dt.timedelta(days=7), _("Last 7 days")),
    "30d": (dt.timedelta(days=30), _("Last 30 days")),
}
DEFAULT_WINDOW = "7d"


@dataclass(frozen=True)
class Filter:
    """What a person asked to see: one public kind (or every kind) over one period."""

    kind: str = ""
    window: str = DEFAULT_WINDOW

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filter:
        """Return the filter a query string asks for; anything unknown means the default."""
        kind = query.get("kind", "")
        window = query.get("window", DEFAULT_WINDOW)
        return cls(
            # An old link's report kind (?kind=checkpoint) asks for its public kind.
            kind=public_kind(kind) if kind in PublicKind.values or kind in PUBLIC_KINDS else "",
            window=window if window in WINDOWS else DEFAULT_WINDOW,
        )

    @property
    def query(self) -> dict[str, str]:
        return {k: v for k, v in (("kind", self.kind), ("window", self.window)) if v}

    def incidents(self, now: dt.datetime | None = None) -> list[PublicIncident]:
        """Return the public incidents this filter shows ``now``, newest first."""
        now = now or timezone.now()
        found = published(now, since=now - WINDOWS[self.window][0])
        return [p for p in found if not self.kind or p.kind == self.kind]


def kinds() -> list[tuple[str, str]]:
    return [("", str(_("All kinds"))), *((k, str(label)) for k, label in PublicKind.choices)]


def windows() -> list[tuple[str, str]]:
    return [(key, str(label)) for key, (_span, label) in WINDOWS.items()]


def _ring(cell: int) -> list[list[float]]:
    """Return the cell's outline as a closed GeoJSON ring, lon/lat, counterclockwise
    (RFC 7946 section 3.1.6: exterior rings follow the right-hand rule)."""
    ring = [[round(lng, 6), round(lat, 6)] for lat, lng in geo.boundary(cell)]
    twice_area = sum(
        x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True)
    )
    if twice_area < 0:
        ring.reverse()
    return [*ring, ring[0]]


def feature(p: PublicIncident) -> dict[str, Any]:
    """Return one incident as a GeoJSON Feature: its public cell and public fields only."""
    return {
        "type": "Feature",
        "id": p.public_id,
        "geometry": {"type": "Polygon", "coordinates": [_ring(p.cell)]},
        "properties": {
            "kind": p.kind,
            "kind_label": p.kind_label,
            "state": p.state,
            "state_label": p.state_label,
            "at": p.at.isoformat().replace("+00:00", "Z"),
            "place": p.place_text,
            "verification": p.verification,
            "cell": p.cell_id,
            "resolution": p.resolution,
        },
    }


def geojson(incidents: list[PublicIncident]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [feature(p) for p in incidents]}
