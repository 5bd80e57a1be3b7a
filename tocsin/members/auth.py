"""Login by a one-time code sent to a verified email address."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tocsin.members.models import ContactEndpoint, LoginCode, Member
from tocsin.transports import registry as transports
from tocsin.transports.base import Message, TransportError

logger = logging.getLogger(__name__)
CODE_MINUTES = 15
MAX_ATTEMPTS = 5


def _hash(code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), code.encode(), hashlib.sha256).hexdigest()


def send_login_code(email: str) -> int | None:
    """Email a code to the member with this verified address; return the LoginCode id.

    Returns None, and sends nothing, when no member has the address; the caller shows the
    same page either way so addresses cannot be probed.
    """
    index = transports.blind_index("email", email)
    # At most LOGIN_CODES_PER_HOUR codes per address, counted by its blind index (the
    # cache never sees the address); known and unknown addresses count alike.
    key = f"login-codes:{index}"
    cache.add(key, 0, timeout=3600)
    if cache.incr(key) > settings.LOGIN_CODES_PER_HOUR:
        logger.info("login code refused: rate limit")
        return None
    endpoint = (
        ContactEndpoint.objects.usable()
        .filter(kind="email", blind_index=index)
        .select_related("member")
        .first()
    )
    if endpoint is None:
        return None
    code = f"{secrets.randbelow(10**6):06d}"
    login = LoginCode.objects.create(
        member=endpoint.member,
        code_hash=_hash(code),
        expires_at=timezone.now() + timedelta(minutes=CODE_MINUTES),
    )
    with translation.override(endpoint.member.language):
        message = Message(
            subject=_("Your Tocsin login code: %(code)s") % {"code": code},
            text=_("Your Tocsin login code is %(code)s. It works for %(minutes)d minutes.")
            % {"code": code, "minutes": CODE_MINUTES},
            url=settings.SITE_URL,
        )
    try:
        # The web process has the address the person just typed; it does not unseal anything.
        transports.get("email").send(
            {"address": email, "member_id": endpoint.member_id, "channel": "email"},
            message,
            idempotency_key=f"login-{login.pk}",
        )
    except TransportError as e:
        logger.warning("login code not sent: %s", e.message)
    return login.pk


def check_code(login_id: int, code: str) -> Member | None:
    live = LoginCode.objects.filter(
        pk=login_id, used=False, expires_at__gt=timezone.now(), attempts__lt=MAX_ATTEMPTS
    )
    # Count the attempt before checking it, atomically: parallel guesses cannot share
    # one count and get past the limit.
    if not live.update(attempts=F("attempts") + 1):
        return None
    login = LoginCode.objects.select_related("member").get(pk=login_id)
    if not hmac.compare_digest(login.code_hash, _hash(code.strip())):
        return None
    # Only one request can turn used from False to True.
    if not LoginCode.objects.filter(pk=login.pk, used=False).update(used=True):
        return None
    return login.member


def send_verification(member: Member, endpoint: ContactEndpoint, email: str, link: str) -> None:
    with translation.override(member.language):
        message = Message(
            subject=_("Confirm your email for Tocsin alerts"),
            text=_("Open this link to receive Tocsin alerts at this address: %(link)s")
            % {"link": link},
            url=link,
        )
    try:
        transports.get("email").send(
            {"address": email, "member_id": member.pk, "channel": "email"},
            message,
            idempotency_key=f"verify-{endpoint.pk}",
        )
    except TransportError as e:
        logger.warning("verification not sent: %s", e.message)
