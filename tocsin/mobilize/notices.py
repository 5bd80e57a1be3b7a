"""Messages to the people signed up for a mobilization, sent by the workers.

The rows (``RsvpMessage``) are written by tocsin.mobilize.rsvps when something calls for
one; a worker's housekeeping loop sends the due ones as every message to one person is
sent (tocsin.alerts.notices), each on the person's own channel (their sealed address, or a
member's first working channel), in their language. A reminder no longer needed (the
place given up, the event begun or cancelled) is cancelled instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from tocsin import vault
from tocsin.alerts import notices
from tocsin.mobilize import rsvps
from tocsin.mobilize.planned import Mobilization, MobilizationShift, Rsvp, RsvpMessage, RsvpStatus
from tocsin.transports.base import Message

Purpose = RsvpMessage.Purpose
# A reminder for a time already past is pointless: dropped rather than sent late.
BEFORE_START = (Purpose.DAY_BEFORE, Purpose.MORNING_OF, Purpose.SOON)
# Sent only while the person still has a place.
NEEDS_PLACE = (*BEFORE_START, Purpose.THANKS, Purpose.CONFIRMATION, Purpose.PROMOTED)


def _when(m: Mobilization, shift: MobilizationShift | None = None) -> str:
    """When the person is expected: their shift's hours if they have one, else the start."""
    if shift is None:
        return formats.date_format(timezone.localtime(m.starts_at, rsvps.zone()), "l j F, H:i")
    start = timezone.localtime(shift.starts_at, rsvps.zone())
    end = timezone.localtime(shift.ends_at, rsvps.zone())
    return f"{formats.date_format(start, 'l j F, H:i')}–{formats.time_format(end, 'H:i')}"


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
        when = _when(m, rsvp.shift)
        facts = {"title": title, "when": when, "where": m.where(), "link": link}
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


def _channel(rsvp: Rsvp) -> notices.Channel | None:
    """Return the channel and opened address ``rsvp``'s messages go to, or None."""
    if rsvp.member_id is not None:
        assert rsvp.member is not None
        return notices.first_channel(rsvp.member)
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


KIND = notices.Kind[RsvpMessage](
    name="rsvp message",
    key="rsvp",
    channel=lambda message: _channel(message.rsvp),
    render=lambda message, channel: render(message, channel=channel),
    stale=_stale,
)


def send_due(limit: int = 100, *, now: datetime | None = None) -> int:
    """Send the due messages (in a worker: it opens sealed addresses); return how many
    went out."""
    rows = RsvpMessage.objects.select_related("rsvp__mobilization__place", "rsvp__member")
    return notices.send_due(rows, KIND, limit=limit, now=now)
