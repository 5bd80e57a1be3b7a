"""Endpoints for the operator's tools: a load balancer's probes and Prometheus."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tocsin.ops import readiness
from tocsin.ops.metrics import REGISTRY


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
    response = JsonResponse(body, status=200 if body["ready"] else 503)
    # A load balancer asks every few seconds: a 503 here is an answer, not a server error
    # to log each time (Django's own flag for a response already logged).
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for a scrape from this machine (no proxy in between) or with
    ``Authorization: Bearer $TOCSIN_METRICS_TOKEN``; 403 to anyone else."""
    if not _may_scrape(request):
        return HttpResponseForbidden("forbidden\n", content_type="text/plain")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


def _may_scrape(request: HttpRequest) -> bool:
    if getattr(request, "tocsin_local", False):
        return True
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )
