"""The street map under Tocsin's maps: which tiles, drawn how, credited to whom.

Three setups, from the settings: tiles Tocsin serves itself from the operator's map file
(TOCSIN_MAP_FILE), tiles from the operator's own tile server (TOCSIN_TILE_URL), or no
streets at all (maps still show committee areas, and every page works). Raster tiles
are images Leaflet draws; vector tiles are drawn in the page by protomaps-leaflet, which
the operator installs from npm (without it, a vector map shows no streets).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy

from tocsin.geo.mapfile import MapFile, MapFileError

logger = logging.getLogger(__name__)

# OpenStreetMap's ODbL asks every map made from its data to credit it.
OSM_ATTRIBUTION = gettext_lazy("© OpenStreetMap contributors")
RENDERER = "protomaps-leaflet/protomaps-leaflet.js"
# Zoom levels a person can reach; past the deepest zoom of the tiles, the last tiles are
# enlarged.
MAX_VIEW_ZOOM = 19

_lock = threading.Lock()
_open: MapFile | None = None
_refused: tuple[object, ...] | None = None


def _signature(stat: os.stat_result) -> tuple[int, int, int, int]:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def map_file() -> MapFile | None:
    """Return the operator's map file, open, or None when there is none to serve.

    A file replaced while Tocsin runs (``mv new.pmtiles map.pmtiles``) is opened on the
    next request; one that fails the check is logged once and the last good one stays.
    """
    global _open, _refused
    path = settings.MAP_FILE
    if path is None:
        return None
    current = _open if _open is not None and _open.path == path else None
    try:
        signature = _signature(os.stat(path))
    except OSError:
        return current
    if current is not None and _signature(current.stat) == signature:
        return current
    with _lock:
        current = _open if _open is not None and _open.path == path else None
        if current is not None and _signature(current.stat) == signature:
            return current
        if _refused == (path, signature):
            return current
        try:
            opened = MapFile(path)
        except MapFileError as e:
            _refused = (path, signature)
            logger.warning("map file not reopened, still serving the last good one: %s", e)
            return current
        # The old file is closed when the last request reading it lets go of it.
        _open = opened
        return opened


@cache
def renderer_installed() -> bool:
    """Return whether protomaps-leaflet is installed (`npm ci`) for vector maps."""
    return bool(finders.find(RENDERER))


@dataclass(frozen=True)
class Basemap:
    """What a page's maps draw under the committee areas and the marker."""

    tiles: str = ""  # a URL template with {z}, {x} and {y}; "" for no streets
    kind: str = ""  # "raster" or "vector"
    max_zoom: int = MAX_VIEW_ZOOM  # the deepest zoom the tiles have
    attribution: str = ""  # plain text

    @property
    def renderer(self) -> str:
        """Return the static path of the vector renderer the page needs, or ""."""
        return RENDERER if self.kind == "vector" else ""

    @property
    def config_json(self) -> str:
        """Return what static/js/basemap.js reads (its data-basemap, in _map_scripts.html)."""
        if not self.tiles:
            return "{}"
        return json.dumps(
            {
                "tiles": self.tiles,
                "kind": self.kind,
                "maxZoom": self.max_zoom,
                "maxViewZoom": MAX_VIEW_ZOOM,
                "attribution": self.attribution,
            }
        )


def tile_url(ext: str) -> str:
    """Return the URL template of Tocsin's own tiles ("/tiles/{z}/{x}/{y}.png")."""
    sample = reverse("tile", kwargs={"z": 0, "x": 0, "y": 0, "ext": ext})
    return sample.removesuffix(f"0/0/0.{ext}") + "{z}/{x}/{y}." + ext


def basemap() -> Basemap:
    """Return the street map this Tocsin shows, from its settings and map file."""
    if settings.MAP_FILE is not None:
        found = map_file()
        if found is None:
            return Basemap()
        result = Basemap(
            tiles=tile_url(found.format.ext),
            kind=found.format.kind,
            max_zoom=found.header["max_zoom"],
            attribution=settings.MAP_ATTRIBUTION or found.attribution or str(OSM_ATTRIBUTION),
        )
    elif settings.TILE_URL:
        result = Basemap(
            tiles=settings.TILE_URL,
            kind=settings.TILE_KIND,
            attribution=settings.MAP_ATTRIBUTION or str(OSM_ATTRIBUTION),
        )
    else:
        return Basemap()
    if result.kind == "vector" and not renderer_installed():
        return Basemap()
    return result


def describe() -> str:
    """Return one line for the operator at start: where the streets come from, or why none."""
    if settings.MAP_FILE is not None:
        found = map_file()
        if found is None:
            return f"Street maps: none ({settings.MAP_FILE} cannot be read)."
        h = found.header
        where = (
            f"Street maps: {found.path} ({found.format.kind}, {found.format.ext} tiles, "
            f"zoom {h['min_zoom']}-{h['max_zoom']})"
        )
        if found.format.kind == "vector" and not renderer_installed():
            return (
                f"{where}, but no streets are drawn: vector maps need protomaps-leaflet "
                "(run `npm ci` in the Tocsin folder, then restart)."
            )
        return where + "."
    if settings.TILE_URL:
        if settings.TILE_KIND == "vector" and not renderer_installed():
            return (
                f"Street maps: your tile server {settings.TILE_URL} has vector tiles, but no "
                "streets are drawn: run `npm ci` in the Tocsin folder, then restart."
            )
        return f"Street maps: from your tile server {settings.TILE_URL}."
    return (
        "Street maps: none (maps show committee areas only). To see streets, set "
        "TOCSIN_MAP_FILE to a .pmtiles map of your area: docs/operations.md, Street maps."
    )


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context: MAP, computed only on pages that draw a map."""
    return {"MAP": SimpleLazyObject(basemap)}
