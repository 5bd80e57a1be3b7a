"""Tasks a worker runs for member pages: only workers can open a sealed address."""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.tasks import task
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tocsin.members import codes, staff
from tocsin.members.models import ContactEndpoint, Member
from tocsin.transports import registry as transports
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
    code, verification = codes.new_code(endpoint)
    with translation.override(endpoint.member.language):
        message = Message(
            subject=_("Your Tocsin code"),
            text=_(
                "Tocsin: your code is %(code)s. It works for %(minutes)d minutes. "
                "If you did not ask for it, ignore this message."
            )
            % {"code": code, "minutes": codes.CODE_MINUTES},
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


# A factor's kind as it reads inside a sentence.
FACTOR_WORDS = {
    "totp": gettext_lazy("an authenticator app"),
    "passkey": gettext_lazy("a passkey"),
}


def _factor_text(change: str, factor: str, when: str, name: str | None) -> str:
    """Return what changed, for the member (``name`` None) or one of their organizers."""
    if name is None:
        what = {
            "added": _("Tocsin: %(factor)s was added to your account on %(when)s."),
            "removed": _("Tocsin: %(factor)s was removed from your account on %(when)s."),
            "confirmed": _(
                "Tocsin: %(factor)s on your account was confirmed for the dispatch desk "
                "on %(when)s."
            ),
        }[change] % {"factor": factor, "when": when}
        advice = _(
            "If this was not you, tell your organizer now and use “Log out everywhere” on "
            "your security page."
        )
        return f"{what} {advice}"
    what = {
        "added": _("Tocsin: %(factor)s was added to the account of %(name)s on %(when)s."),
        "removed": _("Tocsin: %(factor)s was removed from the account of %(name)s on %(when)s."),
        "confirmed": _(
            "Tocsin: %(factor)s on the account of %(name)s was confirmed for the dispatch "
            "desk on %(when)s."
        ),
    }[change] % {"factor": factor, "when": when, "name": name}
    advice = _(
        "If %(name)s did not do this, reach them on another channel: they should use "
        "“Log out everywhere”, and you can take their role away until it is sorted out."
    ) % {"name": name}
    return f"{what} {advice}"


def _notice(reader: Member, change: str, kind: str, at: str, about: Member | None) -> Message:
    """Render a factor notice in ``reader``'s language; ``about`` is the member whose
    factor changed when the reader is one of their organizers."""
    moment = parse_datetime(at) or timezone.now()
    # Numbers, not month names: the same on a phone's SMS and in any language.
    when = timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")
    with translation.override(reader.language):
        factor = str(FACTOR_WORDS.get(kind, _("a second factor")))
        name = about.display_name if about is not None else None
        return Message(
            subject=_("Tocsin: a login factor changed"),
            text=_factor_text(change, factor, when, name),
            url=settings.SITE_URL + reverse("security" if about is None else "me"),
        )


def _organizers_of(member: Member) -> list[Member]:
    return staff.organizers_of(member)


@task()
def send_factor_notice(member_id: int, change: str, kind: str, at: str) -> int:
    """Tell a member on every working channel, and each of their organizers on their
    first working one, that a passkey or authenticator app was added, removed or
    confirmed; return how many messages left. Never names the factor's secret."""
    member = Member.objects.filter(pk=member_id).first()
    if member is None:
        return 0
    sent = 0
    # Every channel: the one an attacker holds (a mailbox) must not be the only one told.
    message = _notice(member, change, kind, at, None)
    for endpoint in member.endpoints.usable().order_by("priority", "id"):
        sent += _send(endpoint, message, f"factor-{endpoint.pk}-{secrets.token_hex(6)}")
    for organizer in _organizers_of(member):
        message = _notice(organizer, change, kind, at, member)
        for endpoint in organizer.endpoints.usable().order_by("priority", "id"):
            if _send(endpoint, message, f"factor-{endpoint.pk}-{secrets.token_hex(6)}"):
                sent += 1
                break
    return sent
