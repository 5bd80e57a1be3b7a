"""Send the legal team's notices (a new case to the lawyer on call, a call to an
interpreter) from a worker, like on-call shift notices (tocsin.mobilize.shift_notices):
claimed with a conditional update, sent on the person's first working channel in their
language, paced per channel. The message says only that someone needs help and links,
with a signed token, to the page behind the legal team's login: no detail of the case.
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
from tocsin.legal import cases
from tocsin.legal.models import Notice, language_name
from tocsin.members.models import Member
from tocsin.transports import registry as transports
from tocsin.transports.base import Message, TransportError
from tocsin.vault import locking

logger = logging.getLogger(__name__)

Status = Notice.Status
MAX_ATTEMPTS = 8


def render(notice: Notice) -> Message:
    """Return the message ``notice`` stands for, in its recipient's language."""
    with translation.override(notice.member.language or settings.LANGUAGE_CODE):
        if notice.purpose == Notice.Purpose.CASE and notice.case is not None:
            case = notice.case
            link = settings.SITE_URL + reverse(
                "legal_case_link", args=[cases.link_token(case, notice.member)]
            )
            facts = {"committee": case.committee.name, "ref": case.ref, "link": link}
            text = _(
                "Someone needs help: %(committee)s, case %(ref)s. Call the legal line. "
                "For the legal team only: %(link)s"
            )
            subject = _("Someone needs legal help: case %(ref)s")
        else:
            call = notice.call
            assert call is not None
            link = settings.SITE_URL + reverse("me")
            facts = {
                "committee": call.committee.name,
                "language": language_name(call.language),
                "link": link,
            }
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


def _channel(member: Member) -> tuple[str, dict] | None:
    endpoint = member.endpoints.usable().exclude(kind="webpush").first()
    endpoint = endpoint or member.endpoints.usable().first()
    if endpoint is None:
        return None
    payload = endpoint.open()
    payload.setdefault("member_id", member.pk)
    payload.setdefault("channel", endpoint.kind)
    return endpoint.kind, payload


def send_due(limit: int = 100, *, now: datetime | None = None) -> int:
    """Send the due notices (in a worker); return how many went out."""
    now = now or timezone.now()
    if not locking.check():
        return 0  # the vault is locked: notices wait
    due = list(
        Notice.objects.filter(status__in=[Status.QUEUED, Status.FAILED], next_attempt_at__lte=now)
        .select_related("case__committee", "call__committee", "member")
        .order_by("next_attempt_at", "pk")[:limit]
    )
    sent = 0
    for notice in due:
        claimed = Notice.objects.filter(
            pk=notice.pk, status=notice.status, attempts=notice.attempts
        ).update(
            attempts=F("attempts") + 1,
            next_attempt_at=now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
        )
        if not claimed:
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
                Notice.objects.filter(pk=notice.pk).update(
                    attempts=F("attempts") - 1, next_attempt_at=now + timedelta(seconds=wait)
                )
                continue
            transports.get(kind).send(
                payload, render(notice), idempotency_key=f"legal-notice-{notice.pk}"
            )
        except vault.VaultLocked:
            Notice.objects.filter(pk=notice.pk).update(
                attempts=F("attempts") - 1, next_attempt_at=now
            )
            continue
        except TransportError as e:
            logger.info("legal notice %s failed: %s", notice.pk, e.message)
            if e.retry_after and kind:
                limiter(kind).pause(e.retry_after)
            _fail(
                notice,
                e.message,
                dead=e.permanent or attempts >= MAX_ATTEMPTS,
                wait=max(backoff(attempts), e.retry_after or 0),
            )
        except Exception as e:  # a broken sealed row: visible, never a crash loop
            logger.error("legal notice %s crashed", notice.pk, exc_info=e)
            _fail(notice, f"internal error: {type(e).__name__}", dead=True)
        else:
            Notice.objects.filter(pk=notice.pk).update(
                status=Status.SENT, error="", sent_at=timezone.now()
            )
            if notice.case_id is not None:
                cases.notified(notice.case_id, notice.member_id)
            sent += 1
    return sent


def _fail(notice: Notice, error: str, *, dead: bool, wait: float = 0) -> None:
    Notice.objects.filter(pk=notice.pk).update(
        status=Status.DEAD if dead else Status.FAILED,
        error=error[:200],
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
    )
