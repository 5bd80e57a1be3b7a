"""Messages to the people signed up for a mobilization, sent by the workers.

The rows (``RsvpMessage``) are written by tocsin.mobilize.rsvps when something calls for
one; a worker's housekeeping loop claims the due ones and sends each on the person's own
channel (their sealed address, or a member's first working channel), in their language,
paced per channel like alerts (tocsin.alerts.outbox.limiter). Only workers can open the
sealed addresses.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from tocsin import vault
from tocsin.alerts.outbox import backoff, limiter
from tocsin.mobilize import rsvps
from tocsin.mobilize.planned import Mobilization, Rsvp, RsvpMessage, RsvpStatus
from tocsin.transports import registry as transports
from tocsin.transports.base import Message, TransportError
from tocsin.vault import locking

logger = logging.getLogger(__name__)

Purpose = RsvpMessage.Purpose
Status = RsvpMessage.Status

MAX_ATTEMPTS = 8
# A reminder for a time already past is pointless: dropped rather than sent late.
BEFORE_START = (Purpose.DAY_BEFORE, Purpose.MORNING_OF, Purpose.SOON)
# Sent only while the person still has a place.
NEEDS_PLACE = (*BEFORE_START, Purpose.THANKS, Purpose.CONFIRMATION, Purpose.PROMOTED)


def _when(m: Mobilization) -> str:
    start = timezone.localtime(m.starts_at, rsvps.zone())
    return formats.date_format(start, "l j F, H:i")


# Channels whose replies reach tocsin.hooks.inbound: there "2" or "NO" cancels the
# soonest sign-up (when no alert waits for an answer).
REPLY_CHANNELS = frozenset({"sms", "signal", "telegram"})
# The messages that tell the person how to cancel by a reply on those channels.
SAY_REPLY = (Purpose.CONFIRMATION, Purpose.PROMOTED, Purpose.DAY_BEFORE)


def render(message: RsvpMessage, *, channel: str = "") -> Message:
    """Return the message ``message`` stands for, in the person's language; on a
    ``channel`` people can reply on, the confirmation and the day-before reminder also
    say how to cancel by a reply."""
    rsvp = message.rsvp
    m = rsvp.mobilization
    link = settings.SITE_URL + reverse("rsvp_page", args=[rsvps.link_token(rsvp)])
    with translation.override(rsvp.language or settings.LANGUAGE_CODE):
        title = m.title_in()
        facts = {"title": title, "when": _when(m), "where": m.where(), "link": link}
        p = message.purpose
        if p == Purpose.CONFIRMATION:
            text = _(
                "You are signed up for %(title)s, %(when)s, at %(where)s. "
                "To cancel or check in: %(link)s"
            )
            subject = _("Signed up: %(title)s")
        elif p == Purpose.WAITLISTED:
            text = _(
                "%(title)s is full: you are on the waiting list. If a place opens, "
                "you get it and we tell you. %(link)s"
            )
            subject = _("Waiting list: %(title)s")
        elif p == Purpose.PROMOTED:
            text = _(
                "A place opened: you are now signed up for %(title)s, %(when)s, at "
                "%(where)s. Can't come? Cancel: %(link)s"
            )
            subject = _("You have a place: %(title)s")
        elif p == Purpose.DAY_BEFORE:
            text = _(
                "Tomorrow: %(title)s, %(when)s, at %(where)s. Still coming? Confirm or "
                "cancel: %(link)s"
            )
            subject = _("Tomorrow: %(title)s")
        elif p == Purpose.MORNING_OF:
            text = _("Today: %(title)s, %(when)s, at %(where)s. %(link)s")
            subject = _("Today: %(title)s")
        elif p == Purpose.SOON:
            text = _("In 30 minutes: %(title)s at %(where)s. %(link)s")
            subject = _("In 30 minutes: %(title)s")
        elif p == Purpose.THANKS:
            # The next action: what else is coming up.
            link = settings.SITE_URL + reverse("mobilizations")
            facts["link"] = link
            text = _(
                "Thank you for coming to %(title)s. How did it go? Tell your committee, "
                "and see what is next: %(link)s"
            )
            subject = _("Thank you: %(title)s")
        elif p == Purpose.CHANGED:
            text = _("Changed: %(title)s is now %(when)s, at %(where)s. Can't come? %(link)s")
            subject = _("Changed: %(title)s")
        else:
            text = _("Cancelled: %(title)s, %(when)s, will not take place. %(link)s")
            subject = _("Cancelled: %(title)s")
        text = text % facts
        extra = {"purpose": f"rsvp-{p}", "language": rsvp.language}
        if channel in REPLY_CHANNELS and p in SAY_REPLY:
            # "NO" is the same word in English and Spanish (tocsin.hooks.inbound.KEYWORDS);
            # "CANCEL" is not offered: it is STOP there, and would stop every message.
            extra["reply"] = _("Or reply NO to cancel.")
            text += " " + extra["reply"]
        if p not in (Purpose.CANCELLED, Purpose.THANKS):
            text += "\n\n" + _("Observe, document, support. Do not interfere.")
        subject = subject % facts
    return Message(
        subject=subject,
        text=text,
        url=link,
        extra=extra,
    )


def _channel(rsvp: Rsvp) -> tuple[str, dict] | None:
    """Return the channel and opened address ``rsvp``'s messages go to, or None."""
    if rsvp.member_id is not None:
        assert rsvp.member is not None
        endpoint = rsvp.member.endpoints.usable().exclude(kind="webpush").first()
        endpoint = endpoint or rsvp.member.endpoints.usable().first()
        if endpoint is None:
            return None
        payload = endpoint.open()
        # As alerts do: the email's unsubscribe link and the demo inbox need the member.
        payload.setdefault("member_id", rsvp.member_id)
        payload.setdefault("channel", endpoint.kind)
        return endpoint.kind, payload
    if not rsvp.sealed:
        return None
    return rsvp.kind, vault.unseal(bytes(rsvp.sealed))


def _stale(message: RsvpMessage, now: datetime) -> bool:
    rsvp = message.rsvp
    m = rsvp.mobilization
    if message.purpose in NEEDS_PLACE and rsvp.status != RsvpStatus.GOING:
        return True
    if message.purpose in BEFORE_START and now >= m.starts_at:
        return True
    if message.purpose == Purpose.THANKS and now > m.ends_at + timedelta(days=1):
        return True
    return m.is_cancelled and message.purpose != Purpose.CANCELLED


def send_due(limit: int = 100, *, now: datetime | None = None) -> int:
    """Send the due messages (in a worker: it opens sealed addresses); return how many
    went out."""
    if not locking.check():
        return 0  # the vault is locked: messages wait
    now = now or timezone.now()
    due = list(
        RsvpMessage.objects.filter(
            status__in=[Status.QUEUED, Status.FAILED], next_attempt_at__lte=now
        )
        .select_related("rsvp__mobilization__place", "rsvp__member")
        .order_by("next_attempt_at", "pk")[:limit]
    )
    sent = 0
    for message in due:
        # Claim it: another worker's conditional update then finds it moved on.
        claimed = RsvpMessage.objects.filter(
            pk=message.pk, status=message.status, attempts=message.attempts
        ).update(
            attempts=F("attempts") + 1,
            next_attempt_at=now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
        )
        if not claimed:
            continue
        if _stale(message, now):
            RsvpMessage.objects.filter(pk=message.pk).update(status=Status.CANCELLED)
            continue
        attempts = message.attempts + 1
        kind = ""
        try:
            channel = _channel(message.rsvp)
            if channel is None:
                _fail(message, "no channel to send on", dead=True)
                continue
            kind, payload = channel
            wait = limiter(kind).acquire()
            if wait:
                # The channel's provider asked for a pause: this waits, uncounted.
                RsvpMessage.objects.filter(pk=message.pk).update(
                    attempts=F("attempts") - 1, next_attempt_at=now + timedelta(seconds=wait)
                )
                continue
            transports.get(kind).send(
                payload, render(message, channel=kind), idempotency_key=f"rsvp-{message.pk}"
            )
        except vault.VaultLocked:
            RsvpMessage.objects.filter(pk=message.pk).update(
                attempts=F("attempts") - 1, next_attempt_at=now
            )
            continue
        except TransportError as e:
            logger.info("rsvp message %s failed: %s", message.pk, e.message)
            if e.retry_after and kind:
                limiter(kind).pause(e.retry_after)
            _fail(
                message,
                e.message,
                dead=e.permanent or attempts >= MAX_ATTEMPTS,
                wait=max(backoff(attempts), e.retry_after or 0),
            )
        except Exception as e:  # a broken sealed row: visible, never a crash loop
            logger.error("rsvp message %s crashed", message.pk, exc_info=e)
            _fail(message, f"internal error: {type(e).__name__}", dead=True)
        else:
            RsvpMessage.objects.filter(pk=message.pk).update(
                status=Status.SENT, error="", sent_at=timezone.now()
            )
            sent += 1
    return sent


def _fail(message: RsvpMessage, error: str, *, dead: bool, wait: float = 0) -> None:
    RsvpMessage.objects.filter(pk=message.pk).update(
        status=Status.DEAD if dead else Status.FAILED,
        error=error[:200],
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
    )
