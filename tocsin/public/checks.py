"""`manage.py check` says whether maps show streets, and what to do when they do not.

No map at all is an Info (every page works without one); a vector map that cannot be
drawn is a Warning, because the operator meant to have streets.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from tocsin.public import basemap
from tocsin.transports.telegram import TelegramTransport

HOW = "see docs/operations.md, Street maps"


@checks.register()
def check_street_maps(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.MAP_FILE is None and not settings.TILE_URL:
        return [
            checks.Info(
                "Maps show no streets: TOCSIN_MAP_FILE is not set.",
                hint="Download a .pmtiles map of your area once and set TOCSIN_MAP_FILE "
                f"to it ({HOW}); until then maps show committee areas only.",
                id="maps.I001",
            )
        ]
    vector = (
        settings.TILE_KIND == "vector"
        if settings.TILE_URL
        else (found := basemap.map_file()) is not None and found.format.kind == "vector"
    )
    if vector and not basemap.renderer_installed():
        return [
            checks.Warning(
                "Maps show no streets: the map has vector tiles, and protomaps-leaflet, "
                "which draws them, is not installed.",
                hint="Run `npm ci` in the Tocsin folder (Node.js and npm needed once), then "
                f"restart; or serve a raster map ({HOW}).",
                id="maps.W001",
            )
        ]
    return []


@checks.register()
def check_public_channel(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A public Telegram channel set without a working bot posts nothing: say so."""
    if settings.TELEGRAM_PUBLIC_CHANNEL and TelegramTransport.problems():
        return [
            checks.Warning(
                "The public Telegram channel gets no posts: the Telegram bot is not set up.",
                hint="Set TOCSIN_TELEGRAM_BOT_TOKEN and TOCSIN_TELEGRAM_WEBHOOK_SECRET, or "
                "unset TOCSIN_TELEGRAM_PUBLIC_CHANNEL.",
                id="public.W001",
            )
        ]
    return []
