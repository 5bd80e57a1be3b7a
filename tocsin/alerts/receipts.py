"""The receipt a member's device posts when a push alert arrives (see static/js/sw.js).

The signed token is the only credential: the service worker sends no cookies. A receipt
marks the delivery "received", so the dispatcher sees it arrive and the worker does not
fall back to the member's next channel.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tocsin.alerts import outbox


@csrf_exempt  # posted by the service worker without cookies; the signed token authorizes
@require_POST
def delivery_receipt(request: HttpRequest, token: str) -> HttpResponse:
    if not outbox.record_receipt(token):
        raise Http404
    return HttpResponse(status=204)
