from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def tocsin(request: HttpRequest) -> dict[str, Any]:
    return {"DEMO": settings.DEMO, "TILE_URL": settings.TILE_URL}
