"""Send on-call shift notices (reminders, "your shift was taken") from a worker.

A worker's housekeeping queues the due reminders, then sends the due notices as every
message to one person is sent (tocsin.alerts.notices): on the holder's first working
channel, in their language. A notice no longer needed (the shift swapped or begun) is
cancelled instead.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tocsin.alerts import notices
from tocsin.mobilize import oncall
from tocsin.mobilize.oncall import ShiftNotice
from tocsin.mobilize.templatetags.shifts import shift_span
from tocsin.transports.base import Message

Purpose = ShiftNotice.Purpose


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


def _stale(notice: ShiftNotice, now: datetime) -> bool:
    shift = notice.shift
    if notice.purpose == Purpose.REMINDER:
        # Swapped since, or already started: the reminder no longer helps.
        return shift.member_id != notice.member_id or now >= shift.starts_at
    return now >= shift.ends_at


KIND = notices.Kind[ShiftNotice](
    name="shift notice",
    key="shift-notice",
    channel=lambda notice: notices.first_channel(notice.member),
    render=lambda notice, channel: render(notice),
    stale=_stale,
)


def send_due(limit: int = 100, *, now: datetime | None = None) -> int:
    """Queue the due reminders and send the due notices (in a worker); return how many
    went out."""
    now = now or timezone.now()
    oncall.queue_reminders(now)
    rows = ShiftNotice.objects.select_related("shift__committee", "member")
    return notices.send_due(rows, KIND, limit=limit, now=now)
