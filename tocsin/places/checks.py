"""Say once, to the operator, that address search is off: never to a dispatcher mid-call."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register()
def check_geocoder(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.GEOCODER_URL:
        return []
    return [
        checks.Info(
            "Address search is off: TOCSIN_GEOCODER_URL is not set. The report page and the "
            "hotline form find the committees' named places only.",
            hint="Run a Nominatim-compatible geocoder and set TOCSIN_GEOCODER_URL (see "
            "deploy/tocsin.env.example and docs/operations.md, “Places”).",
            id="places.I001",
        )
    ]
