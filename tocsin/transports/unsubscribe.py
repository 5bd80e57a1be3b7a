"""One-click unsubscribe from email alerts (RFC 2369 ``List-Unsubscribe``, RFC 8058).

Every alert email carries a link with a signed, expiring token that names the member and
the blind index of the address (never the address). A POST to it, which is what a mail
provider's "Unsubscribe" button sends, without cookies, turns that one email endpoint
off; a GET shows a page with a button that posts. The member's other channels, and the
endpoint row itself, stay: the member can turn it back on from /me/
(tocsin.members.channels.enable, which knows this reason).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from tocsin import vault
from tocsin.lib import languages
from tocsin.members.models import ContactEndpoint, EndpointKind

SALT = "tocsin.email-unsubscribe"
# Long enough for an alert email read weeks later; short enough that an old email that
# was forwarded or leaked cannot be used to silence a member's alerts for long.
MAX_AGE = timedelta(days=30)
# The endpoint's last_error: the member's own choice, which /me/ lets them undo.
REASON = "unsubscribed by member"


def token_for(*, member_id: int, address: str) -> str:
    """Return the signed token that unsubscribes ``address`` of member ``member_id``."""
    return signing.dumps([member_id, vault.blind_index(EndpointKind.EMAIL, address)], salt=SALT)


def headers_for(payload: dict[str, Any]) -> dict[str, str]:
    """Return the List-Unsubscribe headers for the email endpoint in ``payload`` (as the
    outbox hands it to the transport: ``address`` and ``member_id``), or none when the
    payload names no member."""
    member_id = payload.get("member_id")
    if member_id is None:
        return {}
    token = token_for(member_id=int(member_id), address=payload["address"])
    url = settings.SITE_URL + reverse("email_unsubscribe", args=[token])
    return {
        "List-Unsubscribe": f"<{url}>",
        # RFC 8058: a POST with this body unsubscribes; no page to visit, no login.
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def _endpoint(token: str) -> ContactEndpoint:
    """Return the email endpoint a valid token names; 404 for a bad or expired token."""
    try:
        member_id, index = signing.loads(token, salt=SALT, max_age=MAX_AGE)
        found = (
            ContactEndpoint.objects.select_related("member")
            .filter(member_id=int(member_id), kind=EndpointKind.EMAIL, blind_index=str(index))
            .first()
        )
    except (signing.BadSignature, ValueError, TypeError):
        raise Http404 from None
    if found is None:
        raise Http404
    return found


def unsubscribe(endpoint: ContactEndpoint) -> None:
    """Turn ``endpoint`` off; alerts already queued for it go to the member's next channel."""
    ContactEndpoint.objects.filter(pk=endpoint.pk, disabled_at__isnull=True).update(
        disabled_at=timezone.now(), last_error=REASON
    )


# Mail providers post without cookies or a CSRF token: the signed token authorizes.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def email_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    endpoint = _endpoint(token)
    languages.activate_for_link(request, endpoint.member.language)
    if request.method == "POST":
        unsubscribe(endpoint)
        return render(request, "transports/unsubscribed.html")
    return render(request, "transports/unsubscribe.html", {"token": token})
