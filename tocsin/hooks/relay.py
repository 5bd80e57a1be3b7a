"""What people send back through the phone relay (tocsin.transports.relay).

The bridge posts ``{"from": "+12135550142", "text": "1", "id": "..."}`` with the same
bearer token Tocsin sends it; the reply, if any, comes back in the answer as
``{"reply": "..."}``, for the bridge to send. Nothing here logs a number or a text.
"""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tocsin.hooks import inbound
from tocsin.lib import untrusted

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def relay_inbound(request: HttpRequest) -> HttpResponse:
    """A message a person sent to the relay: JSON in, JSON reply out."""
    expected = settings.RELAY_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        logger.warning("relay webhook refused: wrong or missing token")
        return HttpResponse(status=403)
    try:
        data = untrusted.load_json(request.body)
    except (untrusted.NotJSON, RequestDataTooBig):
        return HttpResponse(status=400)
    if not isinstance(data, dict):
        return HttpResponse(status=400)
    sender, text, message_id = data.get("from"), data.get("text", ""), data.get("id", "")
    if not isinstance(sender, str) or not sender or not isinstance(text, str):
        return HttpResponse(status=400)
    if not isinstance(message_id, str):
        return HttpResponse(status=400)
    reply = inbound.handle(inbound.Inbound("relay", sender, text, message_id[:200]))
    return JsonResponse({"reply": reply})


urlpatterns = [path("inbound/", relay_inbound, name="relay_inbound")]
