"""The page and the one-click POST that turn one email endpoint off (RFC 8058).

The token and the headers are made when the email is sent (tocsin.transports.unsubscribe).
"""

from __future__ import annotations

from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from tocsin.lib import languages
from tocsin.members.models import ContactEndpoint, EndpointKind
from tocsin.transports.unsubscribe import MAX_AGE, REASON, SALT


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
