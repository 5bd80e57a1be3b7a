"""Send the legal team's notices (a new case to the lawyer on call, a call to an
interpreter) from a worker, as every message to one person is sent (tocsin.alerts.notices):
on the person's first working channel, in their language. The message says only that
someone needs help and links, with a signed token, to the page behind the legal team's
login: no detail of the case.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from tocsin.alerts import notices
from tocsin.committees import hotlines
from tocsin.legal import cases
from tocsin.legal.models import Notice, language_name
from tocsin.transports.base import Message


def render(notice: Notice) -> Message:
    """Return the message ``notice`` stands for, in its recipient's language."""
    with translation.override(notice.member.language or settings.LANGUAGE_CODE):
        if notice.purpose == Notice.Purpose.CASE and notice.case is not None:
            case = notice.case
            link = settings.SITE_URL + reverse(
                "legal_case_link", args=[cases.link_token(case, notice.member)]
            )
            line = hotlines.said(case.committee)
            facts = {"committee": case.committee.name, "ref": case.ref, "link": link, "line": line}
            if line:
                text = _(
                    "Someone needs help: %(committee)s, case %(ref)s. Call the legal line, "
                    "%(line)s. For the legal team only: %(link)s"
                )
            else:
                text = _(
                    "Someone needs help: %(committee)s, case %(ref)s. Call the legal line. "
                    "For the legal team only: %(link)s"
                )
            subject = _("Someone needs legal help: case %(ref)s")
        else:
            call = notice.call
            assert call is not None
            link = settings.SITE_URL + reverse("me")
            line = hotlines.said(call.committee)
            facts = {
                "committee": call.committee.name,
                "language": language_name(call.language),
                "link": link,
                "line": line,
            }
            if line:
                text = _(
                    "%(committee)s needs an interpreter for %(language)s now. "
                    "Call the committee's line, %(line)s. %(link)s"
                )
            else:
                text = _(
                    "%(committee)s needs an interpreter for %(language)s now. "
                    "Call the committee's line. %(link)s"
                )
            subject = _("Interpreter needed: %(language)s")
        text, subject = text % facts, subject % facts
    return Message(
        subject=subject,
        text=text,
        url=link,
        extra={"purpose": f"legal-{notice.purpose}", "language": notice.member.language},
    )


def _notified(notice: Notice) -> None:
    if notice.case_id is not None:
        cases.notified(notice.case_id, notice.member_id)


KIND = notices.Kind[Notice](
    name="legal notice",
    key="legal-notice",
    channel=lambda notice: notices.first_channel(notice.member),
    render=lambda notice, channel: render(notice),
    sent=_notified,
)


def send_due(limit: int = 100, *, now: datetime | None = None) -> int:
    """Send the due notices (in a worker); return how many went out."""
    rows = Notice.objects.select_related("case__committee", "call__committee", "member")
    return notices.send_due(rows, KIND, limit=limit, now=now)
