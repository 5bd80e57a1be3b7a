"""Our federation public key, for partner operators to register us."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from tocsin.federation import keys
from tocsin.federation.outgoing import INBOX


@require_safe
def public_key(request: HttpRequest) -> JsonResponse:
    """The key our alerts are signed with (also their keyid); 404 when federation is off."""
    if not keys.enabled():
        raise Http404
    return JsonResponse(
        {
            "alg": "ed25519",
            "keyid": keys.public_key(),
            "public_key": keys.public_key(),
            "inbox": settings.SITE_URL + INBOX,
        }
    )
