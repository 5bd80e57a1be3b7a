"""Sending the messages to emergency contacts (in a worker: it opens sealed addresses).

A call for help says only who needs help and the committee's legal line, in the
contact's language: nothing about where, why or by whom.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Case, F, Value, When
from django.tasks import task
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tocsin import vault
from tocsin.alerts.outbox import backoff, limiter
from tocsin.family.models import ContactMessage, FamilyPlan, Trigger
from tocsin.transports import registry as transports
from tocsin.transports.base import Message, TransportError
from tocsin.vault import locking

logger = logging.getLogger(__name__)

Purpose = ContactMessage.Purpose
Status = ContactMessage.Status
MAX_ATTEMPTS = 10


def legal_line(plan: FamilyPlan) -> str:
    """Return the number contacts are told to call: the committee's first hotline."""
    committee = plan.committee
    if committee is None:
        first = plan.member.memberships.select_related("committee").order_by("pk").first()
        committee = first.committee if first else None
    numbers = committee.hotline_numbers if committee is not None else []
    return numbers[0] if numbers else ""


def render(message: ContactMessage) -> Message:
    """Return the text of ``message`` in the contact's language."""
    contact = message.contact
    plan = contact.plan
    name = plan.member.display_name
    line = legal_line(plan)
    link = ""
    with translation.override(contact.language or settings.LANGUAGE_CODE):
        if message.purpose == Purpose.CONFIRM:
            link = settings.SITE_URL + reverse("family_confirm", args=[contact.token])
            subject = _("%(name)s asks you to be an emergency contact") % {"name": name}
            text = _(
                "%(name)s asks you to be their emergency contact on Tocsin: if they ever need "
                "help, you get a message. To agree, open %(link)s"
            ) % {"name": name, "link": link}
        elif message.purpose == Purpose.PANIC:
            subject = _("%(name)s needs help") % {"name": name}
            if line:
                text = _("%(name)s needs help. Call the legal line %(line)s.") % {
                    "name": name,
                    "line": line,
                }
            else:
                text = _("%(name)s needs help. Call their committee's legal line.") % {"name": name}
        else:
            subject = _("%(name)s: it was a mistake") % {"name": name}
            text = _("%(name)s is fine: the earlier message for help was a mistake.") % {
                "name": name
            }
    return Message(
        subject=subject,
        text=text,
        url=link,
        extra={"purpose": f"family-{message.purpose}", "language": contact.language},
    )


def send_due(limit: int = 200, *, trigger_id: int | None = None) -> int:
    """Send the due messages (calls for help first); return how many went out."""
    if not locking.check():
        return 0  # the vault is locked: messages wait
    now = timezone.now()
    due = ContactMessage.objects.filter(
        status__in=[Status.QUEUED, Status.FAILED], next_attempt_at__lte=now
    )
    if trigger_id is not None:
        due = due.filter(trigger_id=trigger_id)
    # A call for help before a mistake, a mistake before a request to agree: ordered
    # before the limit, so a backlog of requests never holds a call for help back a round.
    first = Case(
        When(purpose=Purpose.PANIC, then=Value(0)),
        When(purpose=Purpose.MISTAKE, then=Value(1)),
        default=Value(2),
    )
    rows = list(
        due.select_related("contact__plan__member", "contact__plan__committee").order_by(
            first, "pk"
        )[:limit]
    )
    sent = 0
    for message in rows:
        claimed = ContactMessage.objects.filter(
            pk=message.pk, status=message.status, attempts=message.attempts
        ).update(
            attempts=F("attempts") + 1,
            next_attempt_at=now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
        )
        if not claimed:
            continue
        if message.purpose == Purpose.PANIC and _cancelled(message):
            # Cancelled while this one waited for a retry: it is not sent late.
            _fail(message, "cancelled: it was a mistake", dead=True)
            continue
        sent += _send(message, message.attempts + 1)
    return sent


def _cancelled(message: ContactMessage) -> bool:
    return Trigger.objects.filter(messages=message.pk, cancelled_at__isnull=False).exists()


def _send(message: ContactMessage, attempts: int) -> int:
    contact = message.contact
    try:
        wait = limiter(contact.kind).acquire()
        if wait:
            ContactMessage.objects.filter(pk=message.pk).update(
                attempts=F("attempts") - 1,
                next_attempt_at=timezone.now() + timedelta(seconds=wait),
            )
            return 0
        payload = vault.unseal(bytes(contact.sealed))
        transports.get(contact.kind).send(
            payload, render(message), idempotency_key=f"family-{message.pk}"
        )
    except vault.VaultLocked:
        ContactMessage.objects.filter(pk=message.pk).update(
            attempts=F("attempts") - 1, next_attempt_at=timezone.now()
        )
        return 0
    except TransportError as e:
        logger.info("contact message %s failed: %s", message.pk, e.message)
        if e.retry_after:
            limiter(contact.kind).pause(e.retry_after)
        _fail(
            message,
            e.message,
            dead=e.permanent or attempts >= MAX_ATTEMPTS,
            wait=max(backoff(attempts), e.retry_after or 0),
        )
        return 0
    except Exception as e:  # a broken sealed row: visible, never a crash loop
        logger.error("contact message %s crashed", message.pk, exc_info=e)
        _fail(message, f"internal error: {type(e).__name__}", dead=True)
        return 0
    ContactMessage.objects.filter(pk=message.pk).update(
        status=Status.SENT, error="", sent_at=timezone.now()
    )
    return 1


def _fail(message: ContactMessage, error: str, *, dead: bool, wait: float = 0) -> None:
    ContactMessage.objects.filter(pk=message.pk).update(
        status=Status.DEAD if dead else Status.FAILED,
        error=error[:200],
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
    )


@task()
def send_contact_messages() -> int:
    """Send the due messages to emergency contacts now (queued when one is written)."""
    return send_due()


def wake() -> None:
    """Have a worker send the new messages now rather than at its next housekeeping."""
    try:
        send_contact_messages.enqueue()
    except Exception:  # the housekeeping sends them anyway
        logger.exception("could not enqueue the contact messages task")
