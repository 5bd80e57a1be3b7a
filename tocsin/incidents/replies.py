"""The desk answering a reporter on the reporter's own channel, without seeing them.

A web reporter reads the answer on their receipt page (the receipt code is the only key)
and can write back there. An SMS, Signal or Telegram reporter, or a hotline caller who
left a callback number, gets it as a message from Tocsin: the address is sealed on the
report (tocsin.intake.models.ReportContact), so only a delivery worker can open it, and the
dispatcher never sees it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tocsin import vault
from tocsin.alerts.outbox import limiter
from tocsin.committees import partners
from tocsin.incidents import services
from tocsin.incidents.models import Incident, IncidentEvent, coded
from tocsin.intake.models import Report, ReportContact, ReportMessage
from tocsin.lib import live
from tocsin.lib.retry import backoff
from tocsin.members.models import Member
from tocsin.transports import registry as transports
from tocsin.transports.base import Message, TransportError
from tocsin.vault import locking

logger = logging.getLogger(__name__)

MAX_BODY = 1000
# A reply that fails this many times is left for the dispatcher to see as failed.
MAX_ATTEMPTS = 8


class EmptyMessage(ValueError):
    pass


def _publish(report: Report) -> None:
    channels = [*partners.desks(report.committees.values_list("pk", flat=True))]
    # The reporter's receipt page, if it is open.
    channels.append(f"receipt:{report.pk}")
    if report.incident_id:
        channels.append(f"incident:{report.incident_id}")
    transaction.on_commit(lambda: live.publish(*channels))


def can_message(report: Report) -> bool:
    """Return whether a reply reaches the reporter by a message (not only on the web)."""
    return ReportContact.objects.filter(report=report).exists()


def reply(report: Report, body: str, *, actor: Member) -> ReportMessage:
    """Queue the dispatcher's answer to the reporter of ``report``. Raises
    tocsin.incidents.services.HeldByOther when another dispatcher holds its incident."""
    body = body.replace("\x00", "").strip()[:MAX_BODY]
    if not body:
        raise EmptyMessage
    status = ReportMessage.Status.QUEUED if can_message(report) else ReportMessage.Status.SHOWN
    with transaction.atomic():
        if report.incident_id:
            services.claim(Incident.objects.select_for_update().get(pk=report.incident_id), actor)
        message = ReportMessage.objects.create(
            report=report,
            direction=ReportMessage.Direction.TO_REPORTER,
            body=body,
            author=actor,
            status=status,
        )
        if report.incident_id:
            IncidentEvent.objects.create(
                incident_id=report.incident_id,
                actor=actor,
                action="replied",
                detail=coded("report", report.channel, report.receipt),
            )
        _publish(report)
    return message


def reporter_says(report: Report, body: str) -> ReportMessage:
    """Store what a web reporter wrote back on their receipt page."""
    body = body.replace("\x00", "").strip()[:MAX_BODY]
    if not body:
        raise EmptyMessage
    with transaction.atomic():
        message = ReportMessage.objects.create(
            report=report, direction=ReportMessage.Direction.FROM_REPORTER, body=body
        )
        _publish(report)
    return message


def render(message: ReportMessage) -> Message:
    """Return the text a reporter receives, in the report's language."""
    with translation.override(message.report.language or settings.LANGUAGE_CODE):
        if message.kind == ReportMessage.Kind.OUTCOME:
            # What happened to the report (tocsin.incidents.outcomes.tell_reporters): it
            # names the report itself.
            text = message.body
        else:
            text = _("Tocsin dispatcher, about your report %(receipt)s: %(body)s") % {
                "receipt": message.report.receipt,
                "body": message.body,
            }
        subject = _("About your report %(receipt)s") % {"receipt": message.report.receipt}
    return Message(subject=subject, text=text, url="", extra={"purpose": "reply"})


def send_due(limit: int = 50) -> int:
    """Send queued replies on the reporters' channels (in a worker: it opens the sealed
    address); return how many went out."""
    if not locking.check():
        return 0  # the vault is locked: replies wait
    now = timezone.now()
    due = list(
        ReportMessage.objects.filter(
            status__in=[ReportMessage.Status.QUEUED, ReportMessage.Status.FAILED],
            next_attempt_at__lte=now,
        )
        .select_related("report__contact")
        .order_by("next_attempt_at", "id")[:limit]
    )
    sent = 0
    for message in due:
        # Claim it: a second worker's conditional update finds it already moved on.
        claimed = ReportMessage.objects.filter(
            pk=message.pk, status=message.status, attempts=message.attempts
        ).update(
            attempts=F("attempts") + 1,
            next_attempt_at=now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
        )
        if not claimed:
            continue
        attempts = message.attempts + 1
        kind = ""
        try:
            contact = message.report.contact
            kind = contact.kind
            transport = transports.get(kind)
            wait = limiter(kind).acquire()
            if wait:
                # The channel's provider asked for a pause: the reply waits, uncounted.
                ReportMessage.objects.filter(pk=message.pk).update(
                    attempts=F("attempts") - 1, next_attempt_at=now + timedelta(seconds=wait)
                )
                continue
            transport.send(
                vault.unseal(bytes(contact.sealed)),
                render(message),
                idempotency_key=f"reply-{message.pk}",
            )
        except vault.VaultLocked:
            # Locked since the check: the reply waits, its attempt not counted.
            ReportMessage.objects.filter(pk=message.pk).update(
                attempts=F("attempts") - 1, next_attempt_at=now
            )
            continue
        except ReportContact.DoesNotExist:
            _fail(message, "the reporter's contact is gone", dead=True)
        except TransportError as e:
            logger.info("reply %s failed: %s", message.pk, e.message)
            if e.retry_after and kind:
                limiter(kind).pause(e.retry_after)
            _fail(
                message,
                e.message,
                dead=e.permanent or attempts >= MAX_ATTEMPTS,
                wait=max(backoff(attempts), e.retry_after or 0),
            )
        except Exception as e:  # a broken sealed row: visible, never a crash loop
            logger.error("reply %s crashed", message.pk, exc_info=e)
            _fail(message, f"internal error: {type(e).__name__}", dead=True)
        else:
            ReportMessage.objects.filter(pk=message.pk).update(
                status=ReportMessage.Status.SENT, error=""
            )
            sent += 1
        _publish(message.report)
    return sent


def _fail(message: ReportMessage, error: str, *, dead: bool, wait: float = 0) -> None:
    ReportMessage.objects.filter(pk=message.pk).update(
        status=ReportMessage.Status.DEAD if dead else ReportMessage.Status.FAILED,
        error=error[:200],
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
    )
