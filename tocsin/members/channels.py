"""A member's channels: adding a phone, proving it with a code, ordering, testing.

Web processes hold only the vault's public key, so they never send to a stored address:
they queue a task (tocsin.members.tasks) that a worker runs with the private key. The
code is made by that task too, so it never sits in the task queue in plain text.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from tocsin.members.codes import hash_code
from tocsin.members.models import ContactEndpoint, EndpointVerification, Member
from tocsin.members.tasks import send_test_message, send_verification_code
from tocsin.transports import registry as transports

# Channels proven with a code typed back on the site (their transports say so).
CODE_KINDS = tuple(transports.code_kinds())
MAX_ATTEMPTS = 5
CODES_PER_HOUR = 3  # per endpoint
# Per member, across all their channels (email links, phone codes, Telegram links):
# settings.VERIFICATIONS_PER_HOUR, so nobody can use Tocsin to message strangers at will.
TESTS_PER_WINDOW = 3  # per member
TEST_WINDOW_SECONDS = 600
MAX_CHANNELS = 10
# What tocsin.hooks.inbound writes when a member sends STOP, and
# tocsin.transports.unsubscribe when they follow an email's unsubscribe link: the member's
# own choice, which they may undo here. A provider's refusal they may not.
STOPPED = "stopped by the member"
UNSUBSCRIBED = "unsubscribed by member"
MEMBER_CHOICES = (STOPPED, UNSUBSCRIBED)


class CodeCheck(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"


class AddChannel(enum.Enum):
    ADDED = "added"
    EXISTS = "exists"
    TOO_MANY = "too_many"
    RATE_LIMITED = "rate_limited"


# The name the phone pages grew up with.
AddPhone = AddChannel


def code_kinds() -> list[str]:
    """Return the phone channels this server can send codes on, in display order."""
    configured = transports.registry()
    return [kind for kind in CODE_KINDS if kind in configured]


def _allow(key: str, limit: int, seconds: int) -> bool:
    """Count one use of ``key``; return False once more than ``limit`` in the window."""
    cache.add(key, 0, timeout=seconds)
    try:
        return cache.incr(key) <= limit
    except ValueError:  # the window ran out between add and incr
        cache.add(key, 1, timeout=seconds)
        return True


def take_verification(member: Member) -> bool:
    """Count one confirmation message (an email link, a phone code, a Telegram link) for
    ``member``; False once they set off VERIFICATIONS_PER_HOUR this hour."""
    return _allow(f"member-codes:{member.pk}", settings.VERIFICATIONS_PER_HOUR, 3600)


def _may_send_code(endpoint: ContactEndpoint) -> bool:
    return _allow(f"endpoint-codes:{endpoint.pk}", CODES_PER_HOUR, 3600) and take_verification(
        endpoint.member
    )


def _queue_code(endpoint_id: int) -> None:
    transaction.on_commit(lambda: send_verification_code.enqueue(endpoint_id))


def add_phone(
    member: Member, kind: str, number: str, *, label: str = ""
) -> tuple[AddPhone, ContactEndpoint | None]:
    """Store ``number`` as an unverified ``kind`` channel and queue a code to it.

    A number the member already has is left as it is (adding it again must not undo its
    verification); the caller sends them to confirm it if it is still waiting.
    """
    existing = ContactEndpoint.objects.filter(
        member=member, kind=kind, blind_index=_index(kind, number)
    ).first()
    if existing is not None:
        return AddPhone.EXISTS, existing
    if member.endpoints.count() >= MAX_CHANNELS:
        return AddPhone.TOO_MANY, None
    if not take_verification(member):
        return AddPhone.RATE_LIMITED, None
    endpoint = ContactEndpoint.create(member, kind, number)
    if label:
        ContactEndpoint.objects.filter(pk=endpoint.pk).update(label=label)
    _allow(f"endpoint-codes:{endpoint.pk}", CODES_PER_HOUR, 3600)  # this first code counts
    _queue_code(endpoint.pk)
    return AddPhone.ADDED, endpoint


def add_email(member: Member, email: str) -> tuple[AddChannel, ContactEndpoint | None]:
    """Store ``email`` as an unverified channel of ``member``, counted against their
    confirmation messages; the caller sends the confirmation link.

    An address the member already has is left as it is: adding it again must neither undo
    its confirmation nor send another message.
    """
    existing = ContactEndpoint.objects.filter(
        member=member, kind="email", blind_index=_index("email", email)
    ).first()
    if existing is not None and existing.verified_at is not None:
        return AddChannel.EXISTS, existing
    if existing is None and member.endpoints.count() >= MAX_CHANNELS:
        return AddChannel.TOO_MANY, None
    if not take_verification(member):
        return AddChannel.RATE_LIMITED, None
    return AddChannel.ADDED, ContactEndpoint.create(member, "email", email)


def _index(kind: str, number: str) -> str:
    return transports.blind_index(kind, number)


def resend_code(endpoint: ContactEndpoint) -> bool:
    """Queue a new code for an unverified phone channel; False when over the limit."""
    if not _may_send_code(endpoint):
        return False
    _queue_code(endpoint.pk)
    return True


def check_code(endpoint: ContactEndpoint, code: str) -> CodeCheck:
    """Verify ``endpoint`` if ``code`` is its latest code, unexpired and within the
    attempt limit."""
    latest = EndpointVerification.objects.filter(endpoint=endpoint).order_by("-id").first()
    if latest is None:
        return CodeCheck.EXPIRED
    # Count the attempt before checking it, atomically: parallel guesses cannot share
    # one count and get past the limit.
    counted = EndpointVerification.objects.filter(
        pk=latest.pk, expires_at__gt=timezone.now(), attempts__lt=MAX_ATTEMPTS
    ).update(attempts=F("attempts") + 1)
    if not counted:
        return CodeCheck.EXPIRED
    if not hmac.compare_digest(latest.code_hash, hash_code(endpoint.pk, code)):
        return CodeCheck.WRONG
    with transaction.atomic():
        # Only the request that deletes the code verifies: a code works once.
        if not EndpointVerification.objects.filter(pk=latest.pk).delete()[0]:
            return CodeCheck.EXPIRED
        ContactEndpoint.objects.filter(pk=endpoint.pk).update(
            verified_at=timezone.now(), disabled_at=None, last_error=""
        )
    return CodeCheck.OK


def move(endpoint: ContactEndpoint, *, up: bool) -> None:
    """Swap ``endpoint`` with its neighbour in the member's order; alerts go to the first
    working channel, then the next."""
    with transaction.atomic():
        ordered = list(
            ContactEndpoint.objects.select_for_update()
            .filter(member_id=endpoint.member_id)
            .order_by("priority", "id")
        )
        i = next(n for n, e in enumerate(ordered) if e.pk == endpoint.pk)
        j = i - 1 if up else i + 1
        if 0 <= j < len(ordered):
            ordered[i], ordered[j] = ordered[j], ordered[i]
        # Renumber all of them: earlier deletions can leave gaps or ties.
        for priority, e in enumerate(ordered):
            e.priority = priority
        ContactEndpoint.objects.bulk_update(ordered, ["priority"])


def may_test(member: Member) -> bool:
    return _allow(f"channel-tests:{member.pk}", TESTS_PER_WINDOW, TEST_WINDOW_SECONDS)


def queue_test(endpoint: ContactEndpoint) -> None:
    transaction.on_commit(lambda: send_test_message.enqueue(endpoint.pk))


def stopped_by_member(endpoint: ContactEndpoint) -> bool:
    return endpoint.disabled_at is not None and endpoint.last_error in MEMBER_CHOICES


def enable(endpoint: ContactEndpoint) -> bool:
    """Turn on again a channel the member stopped (STOP, unsubscribe link); return
    whether it was. Only this endpoint: the same number of another member stays off."""
    return bool(
        ContactEndpoint.objects.filter(
            pk=endpoint.pk, disabled_at__isnull=False, last_error__in=MEMBER_CHOICES
        ).update(disabled_at=None, last_error="")
    )


def error_in_plain_words(error: str) -> str:
    """Return what a transport's error means, for the member (never the raw reply)."""
    if not error:
        return ""
    lowered = error.lower()
    rules = (
        (STOPPED, _("stopped by you (STOP)")),
        (UNSUBSCRIBED, _("stopped by you (unsubscribe link)")),
        ("replied stop", _("you texted STOP: text START to our number to get texts again")),
        ("subscription gone", _("the push service says this device is gone")),
        # Tocsin refused to send, before any connection (tocsin.transports.webpush).
        ("tocsin_push_hosts", _("this server does not send to this browser's push service")),
        ("not a public address", _("this server does not send to this browser's push service")),
        ("push service", _("the push service refused our messages")),
        ("recipient refused", _("the mail server refused our messages")),
        ("smtp", _("the mail server refused our messages")),
        ("not on signal", _("this number is not on Signal")),
        ("forbidden", _("you blocked the bot or left the chat")),
        ("invalid", _("the number or account does not work")),
        ("not a mobile", _("the number cannot get texts")),
        ("cannot be reached", _("the number cannot be reached")),
        ("no route", _("the number cannot be reached")),
        ("undelivered", _("the phone company could not deliver our texts")),
        ("not registered", _("the number or account does not work")),
        ("blocked", _("the messages were blocked")),
        ("unsubscribed", _("the messages were blocked")),
        ("no transport", _("this server does not send on this channel now")),
        ("not configured", _("this server does not send on this channel now")),
    )
    for needle, words in rules:
        if needle in lowered:
            return str(words)
    return _("the channel said it cannot deliver our messages")


@dataclass(frozen=True)
class ChannelRow:
    """One channel as the member sees it on /me/."""

    endpoint: ContactEndpoint
    state: str  # "ready", "waiting", "off"
    problem: str
    can_enable: bool
    can_verify: bool
    first: bool
    last: bool


def rows(member: Member) -> list[ChannelRow]:
    endpoints = list(member.endpoints.order_by("priority", "id"))
    result = []
    for n, e in enumerate(endpoints):
        if e.disabled_at is not None:
            state = "off"
        elif e.verified_at is not None:
            state = "ready"
        else:
            state = "waiting"
        result.append(
            ChannelRow(
                endpoint=e,
                state=state,
                problem=error_in_plain_words(e.last_error),
                can_enable=stopped_by_member(e),
                can_verify=e.verified_at is None and e.kind in CODE_KINDS,
                first=n == 0,
                last=n == len(endpoints) - 1,
            )
        )
    return result


def telegram_link(member: Member) -> str | None:
    """Return the Telegram deep link for ``member`` when this server runs a bot."""
    if "telegram" not in transports.registry():
        return None
    try:
        from tocsin.transports import telegram
    except ImportError:
        return None
    link_url = getattr(telegram, "link_url", None)
    return link_url(member) if link_url is not None else None
