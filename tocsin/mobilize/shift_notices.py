"""Send on-call shift notices (reminders, "your shift was taken") from a worker.

Like the messages to people signed up for mobilizations (tocsin.mobilize.notices): a
worker's housekeeping queues the due reminders, claims each due row with a conditional
update, and sends it on the holder's first working channel, in their language, paced per
channel like alerts. Only workers can open the sealed addresses.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tocsin import vault
from tocsin.alerts.outbox import backoff, limiter
from tocsin.members.models import Member
from tocsin.mobilize import oncall
from tocsin.mobilize.oncall import ShiftNotice
from tocsin.mobilize.templatetags.shifts import shift_span
from tocsin.transports import registry as transports
from tocsin.transports.base import Message, TransportError
from tocsin.vault import locking

logger = logging.getLogger(__name__)

Purpose = ShiftNotice.Purpose
Status = ShiftNotice.Status
MAX_ATTEMPTS = 8


def render(notice: ShiftNotice) -> Message:
    """Return the message ``notice`` stands for, in its recipient's language."""
    shift = notice.shift
    link = settings.SITE_URL + reverse("committee_oncall", args=[shift.committee.slug])
    with translation.override(notice.member.language or settings.LANGUAGE_CODE):
        facts = {
            "duty": shift.get_duty_display().lower(),
            "committee": shift.committee.name,
            "when": shift_span(shift.starts_at, shift.ends_at),
            "link": link,
        }
        if notice.purpose == Purpose.REMINDER:
            text = _(
                "Your shift as %(duty)s for %(committee)s starts soon: %(when)s. "
                "Can't make it? Offer it to swap: %(link)s"
            )
            subject = _("Your shift starts soon: %(when)s")
        else:
            text = _(
                "Someone took over your shift as %(duty)s for %(committee)s, %(when)s: "
                "you are off duty for it. %(link)s"
            )
            subject = _("Your shift was taken over: %(when)s")
        text, subject = text % facts, subject % facts
    return Message(
        subject=subject,
        text=text,
        url=link,
        extra={"purpose": f"shift-{notice.purpose}", "language": notice.member.language},
    )


def _channel(member: Member) -> tuple[str, dict] | None:
    """Return the channel and opened address of the member's first working channel."""
    endpoint = member.endpoints.usable().exclude(kind="webpush").first()
    endpoint = endpoint or member.endpoints.usable().first()
    if endpoint is None:
        return None
    payload = endpoint.open()
    payload.setdefault("member_id", member.pk)
    payload.setdefault("channel", endpoint.kind)
    return endpoint.kind, payload


def _stale(notice: ShiftNotice, now: datetime) -> bool:
    shift = notice.shift
    if notice.purpose == Purpose.REMINDER:
        # Swapped since, or already started: the reminder no longer helps.
        return shift.member_id != notice.member_id or now >= shift.starts_at
    return now >= shift.ends_at


def send_due(limit: int = 100, *, now: datetime | None = None) -> int:
    """Queue the due reminders and send the due notices (in a worker); return how many
    went out."""
    now = now or timezone.now()
    oncall.queue_reminders(now)
    if not locking.check():
        return 0  # the vault is locked: notices wait
    due = list(
        ShiftNotice.objects.filter(
            status__in=[Status.QUEUED, Status.FAILED], next_attempt_at__lte=now
        )
        .select_related("shift__committee", "member")
        .order_by("next_attempt_at", "pk")[:limit]
    )
    sent = 0
    for notice in due:
        # Claim it: another worker's conditional update then finds it moved on.
        claimed = ShiftNotice.objects.filter(
            pk=notice.pk, status=notice.status, attempts=notice.attempts
        ).update(
            attempts=F("attempts") + 1,
            next_attempt_at=now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
        )
        if not claimed:
            continue
        if _stale(notice, now):
            ShiftNotice.objects.filter(pk=notice.pk).update(status=Status.CANCELLED)
            continue
        attempts = notice.attempts + 1
        kind = ""
        try:
            channel = _channel(notice.member)
            if channel is None:
                _fail(notice, "no channel to send on", dead=True)
                continue
            kind, payload = channel
            wait = limiter(kind).acquire()
            if wait:
                ShiftNotice.objects.filter(pk=notice.pk).update(
                    attempts=F("attempts") - 1, next_attempt_at=now + timedelta(seconds=wait)
                )
                continue
            transports.get(kind).send(
                payload, render(notice), idempotency_key=f"shift-notice-{notice.pk}"
            )
        except vault.VaultLocked:
            ShiftNotice.objects.filter(pk=notice.pk).update(
                attempts=F("attempts") - 1, next_attempt_at=now
            )
            continue
        except TransportError as e:
            logger.info("shift notice %s failed: %s", notice.pk, e.message)
            if e.retry_after and kind:
                limiter(kind).pause(e.retry_after)
            _fail(
                notice,
                e.message,
                dead=e.permanent or attempts >= MAX_ATTEMPTS,
                wait=max(backoff(attempts), e.retry_after or 0),
            )
        except Exception as e:  # a broken sealed row: visible, never a crash loop
            logger.error("shift notice %s crashed", notice.pk, exc_info=e)
            _fail(notice, f"internal error: {type(e).__name__}", dead=True)
        else:
            ShiftNotice.objects.filter(pk=notice.pk).update(
                status=Status.SENT, error="", sent_at=timezone.now()
            )
            sent += 1
    return sent


def _fail(notice: ShiftNotice, error: str, *, dead: bool, wait: float = 0) -> None:
    ShiftNotice.objects.filter(pk=notice.pk).update(
        status=Status.DEAD if dead else Status.FAILED,
        error=error[:200],
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
    )
