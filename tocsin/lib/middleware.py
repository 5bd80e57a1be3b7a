"""Middleware that keeps people's addresses and devices out of Tocsin."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# Headers that identify a person's network or device. Nothing below this middleware
# can read them, so nothing can store or log them by accident.
_IDENTIFYING = (
    "REMOTE_ADDR",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
    "HTTP_USER_AGENT",
    "HTTP_CF_CONNECTING_IP",
    "HTTP_TRUE_CLIENT_IP",
)


# Headers a proxy adds: a request that carries one came through a proxy, even when the
# proxy runs on this machine, and is not the machine's own.
_FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def _from_this_machine(meta: dict[str, object]) -> bool:
    """Return whether a request came straight from this machine (loopback, no proxy)."""
    address = str(meta.get("REMOTE_ADDR", ""))
    try:
        loopback = ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False
    return loopback and not any(meta.get(h) for h in _FORWARDED)


class PrivacyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Only this yes-or-no stays, for the operator's own tools (tocsin.ops: /metrics).
        request.tocsin_local = _from_this_machine(request.META)  # type: ignore[attr-defined]
        for key in _IDENTIFYING:
            request.META.pop(key, None)
        request.META["REMOTE_ADDR"] = "0.0.0.0"  # noqa: S104 - a placeholder, never a bind
        response = self.get_response(request)
        # No copy of what a person read or sent stays in a browser's cache (a phone can be
        # seized or shared): not their pages, nor an alert opened from a link, nor a report
        # receipt. Views that serve the same to everyone (manifest, coverage map, static
        # files) set their own Cache-Control.
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(self), payment=()"
        )
        return response
