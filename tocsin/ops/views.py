"""Endpoints for the operator's tools: a load balancer's probes and Prometheus."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from tocsin.ops import readiness


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers: nothing else is checked, not even the database."""
    return JsonResponse({"alive": True})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when this Tocsin can carry an alarm end to end, else 503; each check named."""
    checks = readiness.run()
    body = readiness.as_json(checks)
    return JsonResponse(body, status=200 if body["ready"] else 503)
