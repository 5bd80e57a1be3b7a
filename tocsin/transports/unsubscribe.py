"""One-click unsubscribe from email alerts (RFC 2369 ``List-Unsubscribe``, RFC 8058).

Every alert email carries a link with a signed, expiring token that names the member and
the blind index of the address (never the address). A POST to it, which is what a mail
provider's "Unsubscribe" button sends, without cookies, turns that one email endpoint
off; a GET shows a page with a button that posts (tocsin.hooks.unsubscribe). The
member's other channels, and the endpoint row itself, stay: the member can turn it back on
from /me/ (tocsin.members.channels.enable, which knows this reason).

This half makes the token and the headers, for the email transport.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone

from tocsin import vault
from tocsin.lib.links import PresignedAt

SALT = "tocsin.email-unsubscribe"
# The blind index is keyed by the channel kind (the email endpoints' kind).
KIND = "email"
# Long enough for an alert email read weeks later; short enough that an old email that
# was forwarded or leaked cannot be used to silence a member's alerts for long.
MAX_AGE = timedelta(days=30)
# The endpoint's last_error: the member's own choice, which /me/ lets them undo.
REASON = "unsubscribed by member"


def token_for(
    *, member_id: int, address: str, signer: signing.TimestampSigner | None = None
) -> str:
    """Return the signed token that unsubscribes ``address`` of member ``member_id``
    (with ``signer``, one batch's, made by ``batch_signer``)."""
    value = [member_id, vault.blind_index(KIND, address, form="email")]
    if signer is None:
        return signing.dumps(value, salt=SALT)
    return signer.sign_object(value)


def batch_signer() -> signing.TimestampSigner:
    """Return a signer for one batch of emails: the tokens ``signing.dumps`` makes,
    signed at the batch's start, with the HMAC key derived once, not once per email."""
    return PresignedAt(timezone.now(), salt=SALT)


_TOKEN = "@@token@@"


@functools.lru_cache(maxsize=16)
def _around(site_url: str, urlconf: str, prefix: str) -> tuple[str, str]:
    """Return the unsubscribe URL before and after its token: resolved once, not once
    per email."""
    before, after = (site_url + reverse("email_unsubscribe", args=[_TOKEN])).split(_TOKEN)
    return before, after


def headers_for(
    payload: dict[str, Any], *, signer: signing.TimestampSigner | None = None
) -> dict[str, str]:
    """Return the List-Unsubscribe headers for the email endpoint in ``payload`` (as the
    outbox hands it to the transport: ``address`` and ``member_id``), or none when the
    payload names no member."""
    member_id = payload.get("member_id")
    if member_id is None:
        return {}
    token = token_for(member_id=int(member_id), address=payload["address"], signer=signer)
    before, after = _around(
        settings.SITE_URL, get_urlconf(settings.ROOT_URLCONF), get_script_prefix()
    )
    url = f"{before}{token}{after}"
    return {
        "List-Unsubscribe": f"<{url}>",
        # RFC 8058: a POST with this body unsubscribes; no page to visit, no login.
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
