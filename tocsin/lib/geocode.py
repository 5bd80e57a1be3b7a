"""Address search and reverse geocoding, through a geocoder the operator runs.

The browser (a dispatcher's hotline form, a reporter's page) asks Tocsin (same origin, no
third-party request from any page); Tocsin asks the geocoder at TOCSIN_GEOCODER_URL with
the Nominatim API (``/search?q=...&format=jsonv2`` and ``/reverse?lat=...&lon=...``),
which a self-hosted Nominatim, Photon's Nominatim adapter and most hosted services speak.
The address typed is neither stored nor logged: only the point picked becomes the
report's cell.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode

import urllib3
from django.conf import settings

from tocsin import geo
from tocsin.lib import untrusted

logger = logging.getLogger(__name__)

_pool = urllib3.PoolManager(
    timeout=urllib3.Timeout(connect=3.0, read=6.0), retries=False, maxsize=2
)
MAX_RESULTS = 5


class GeocoderError(Exception):
    """The geocoder is not configured, unreachable or answered nonsense."""


@dataclass(frozen=True)
class Place:
    label: str
    lat: float
    lng: float


def enabled() -> bool:
    return bool(settings.GEOCODER_URL)


def search(query: str) -> list[Place]:
    """Return up to MAX_RESULTS places for ``query`` (an address or a landmark)."""
    if not enabled():
        raise GeocoderError("no geocoder configured")
    query = query.replace("\x00", "").strip()[:200]
    if not query:
        return []
    params = {"q": query, "format": "jsonv2", "limit": str(MAX_RESULTS), "addressdetails": "0"}
    if settings.GEOCODER_COUNTRIES:
        params["countrycodes"] = settings.GEOCODER_COUNTRIES
    rows = _get("search", params)
    places = []
    for row in rows if isinstance(rows, list) else []:
        try:
            lat, lng = float(row["lat"]), float(row["lon"])
        except (KeyError, TypeError, ValueError):
            continue
        if geo.valid_latlng(lat, lng):
            places.append(Place(str(row.get("display_name", ""))[:200], lat, lng))
    return places[:MAX_RESULTS]


def reverse(lat: float, lng: float) -> str:
    """Return the address of a point as the geocoder words it ("" when it has none)."""
    if not enabled():
        raise GeocoderError("no geocoder configured")
    if not geo.valid_latlng(lat, lng):
        return ""
    params = {"lat": f"{lat:.6f}", "lon": f"{lng:.6f}", "format": "jsonv2", "zoom": "18"}
    row = _get("reverse", params)
    if not isinstance(row, dict):
        return ""
    return str(row.get("display_name") or "")[:200]


def _get(path: str, params: dict[str, str]) -> object:
    url = f"{settings.GEOCODER_URL.rstrip('/')}/{path}?{urlencode(params)}"
    try:
        response = _pool.request(
            "GET", url, headers={"Accept": "application/json", "User-Agent": "Tocsin"}
        )
    except urllib3.exceptions.HTTPError as e:
        # The query is an address someone typed, or where they are: never in a log line.
        logger.warning("geocoder unreachable: %s", type(e).__name__)
        raise GeocoderError("unreachable") from None
    if response.status != 200:
        logger.warning("geocoder answered HTTP %s", response.status)
        raise GeocoderError(f"HTTP {response.status}")
    try:
        return untrusted.load_json(response.data)
    except untrusted.NotJSON:
        raise GeocoderError("not JSON") from None
