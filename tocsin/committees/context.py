from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def tocsin(request: HttpRequest) -> dict[str, Any]:
    is_dispatcher = False
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and hasattr(user, "member"):
        from tocsin.committees.access import is_dispatcher as check

        is_dispatcher = check(user.member)
    return {"DEMO": settings.DEMO, "IS_DISPATCHER": is_dispatcher}
