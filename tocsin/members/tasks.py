"""Tasks a worker runs for member pages: only workers can open a sealed address."""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.tasks import task
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from tocsin.members import channels
from tocsin.members.models import ContactEndpoint
from tocsin.transports import base as transports
from tocsin.transports.base import Message, TransportError
from tocsin.vault import VaultLocked

logger = logging.getLogger(__name__)


def _endpoint(endpoint_id: int) -> ContactEndpoint | None:
    return ContactEndpoint.objects.select_related("member").filter(pk=endpoint_id).first()


def _send(endpoint: ContactEndpoint, message: Message, key: str) -> bool:
    """Send ``message`` to ``endpoint``; on failure note the error for the member's page."""
    try:
        address = endpoint.open()
    except VaultLocked:
        # Not the member's fault: nothing is noted, and they can ask again once unlocked.
        logger.warning(
            "%s message to endpoint %s not sent: vault locked", endpoint.kind, endpoint.pk
        )
        return False
    payload = {**address, "member_id": endpoint.member_id, "channel": endpoint.kind}
    try:
        transports.get(endpoint.kind).send(payload, message, idempotency_key=key)
    except TransportError as e:
        logger.warning("%s message to endpoint %s not sent: %s", endpoint.kind, endpoint.pk, e)
        ContactEndpoint.objects.filter(pk=endpoint.pk).update(last_error=e.message[:200])
        return False
    return True


@task()
def send_verification_code(endpoint_id: int) -> bool:
    """Make a new code for an unverified phone channel and send it there."""
    endpoint = _endpoint(endpoint_id)
    if endpoint is None or endpoint.verified_at is not None:
        return False
    code, verification = channels.new_code(endpoint)
    with translation.override(endpoint.member.language):
        message = Message(
            subject=_("Your Tocsin code"),
            text=_(
                "Tocsin: your code is %(code)s. It works for %(minutes)d minutes. "
                "If you did not ask for it, ignore this message."
            )
            % {"code": code, "minutes": channels.CODE_MINUTES},
            url="",
        )
    sent = _send(endpoint, message, f"verify-{endpoint.pk}-{verification.pk}")
    if not sent:
        # A code that never left cannot be typed: do not keep its hash.
        verification.delete()
    return sent


@task()
def send_test_message(endpoint_id: int) -> bool:
    """Send a short test text to a verified channel the member asked to check."""
    endpoint = _endpoint(endpoint_id)
    if endpoint is None or endpoint.verified_at is None or endpoint.disabled_at is not None:
        return False
    with translation.override(endpoint.member.language):
        message = Message(
            subject=_("Tocsin test message"),
            text=_(
                "Tocsin test: this channel works. Alerts about raids near your areas will "
                "come here."
            ),
            url=settings.SITE_URL + reverse("me"),
        )
    sent = _send(endpoint, message, f"test-{endpoint.pk}-{secrets.token_hex(6)}")
    if sent and endpoint.last_error:
        ContactEndpoint.objects.filter(pk=endpoint.pk, disabled_at__isnull=True).update(
            last_error=""
        )
    return sent
