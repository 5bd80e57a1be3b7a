"""The one message of an accepted request: the join link, on the person's own channel.

An organizer accepting a request to join (or the operator starting a committee someone
asked for) marks the request's row due (tocsin.committees.joining); a worker's
housekeeping loop claims the due rows and sends each on the sealed channel, in the
person's language, paced per channel like alerts. Only workers can open the addresses.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from tocsin import vault
from tocsin.alerts.outbox import backoff, limiter
from tocsin.committees.models import MAX_SEND_ATTEMPTS, CommitteeRequest, JoinRequest
from tocsin.transports import registry as transports
from tocsin.transports.base import Message, TransportError
from tocsin.vault import locking

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = MAX_SEND_ATTEMPTS


def render(row: JoinRequest | CommitteeRequest) -> Message:
    """Return the message for an accepted request, in the person's language."""
    assert row.invite is not None
    link = settings.SITE_URL + reverse("join", args=[row.invite.token])
    with translation.override(row.language or settings.LANGUAGE_CODE):
        until = formats.date_format(timezone.localtime(row.invite.expires_at), "j F")
        if isinstance(row, JoinRequest):
            facts = {"committee": row.committee.name, "link": link, "until": until}
            subject = _("Welcome to %(committee)s") % facts
            text = _(
                "An organizer of %(committee)s accepted your request to join. Open this "
                "link to join (it works once, until %(until)s): %(link)s"
            )
        else:
            assert row.committee is not None
            facts = {"committee": row.committee.name, "link": link, "until": until}
            subject = _("You can start %(committee)s") % facts
            text = _(
                "Your committee %(committee)s can start. Open this link to become its first "
                "organizer (it works once, until %(until)s): %(link)s"
            )
        text = text % facts + "\n\n" + _("Observe, document, support. Do not interfere.")
    return Message(
        subject=subject,
        text=text,
        url=link,
        extra={"purpose": "join", "language": row.language},
    )


def _due(model: type[models.Model], now: datetime, limit: int) -> list:  # type: ignore[type-arg]
    return list(
        model._default_manager.filter(
            sent_at__isnull=True,
            invite__isnull=False,
            next_attempt_at__lte=now,
            attempts__lt=MAX_ATTEMPTS,
        )
        .select_related("invite", "committee")
        .order_by("next_attempt_at", "pk")[:limit]
    )


def send_due(limit: int = 100, *, now: datetime | None = None) -> int:
    """Send the due join links (in a worker: it opens sealed addresses); return how many
    went out."""
    if not locking.check():
        return 0  # the vault is locked: messages wait
    now = now or timezone.now()
    sent = 0
    for model in (JoinRequest, CommitteeRequest):
        for row in _due(model, now, limit):
            sent += _send(model, row, now)
    return sent


def _send(model: type[models.Model], row: JoinRequest | CommitteeRequest, now: datetime) -> int:
    rows = model._default_manager.filter(pk=row.pk)
    # Claim it: another worker's conditional update then finds it moved on.
    claimed = rows.filter(attempts=row.attempts, sent_at__isnull=True).update(
        attempts=F("attempts") + 1,
        next_attempt_at=now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
    )
    if not claimed:
        return 0
    kind = row.kind if isinstance(row, JoinRequest) else row.channel
    attempts = row.attempts + 1
    try:
        payload = vault.unseal(bytes(row.sealed))
        payload.setdefault("channel", kind)
        wait = limiter(kind).acquire()
        if wait:
            # The channel's provider asked for a pause: this waits, uncounted.
            rows.update(attempts=F("attempts") - 1, next_attempt_at=now + timedelta(seconds=wait))
            return 0
        transports.get(kind).send(
            payload, render(row), idempotency_key=f"join-{model.__name__}-{row.pk}"
        )
    except vault.VaultLocked:
        rows.update(attempts=F("attempts") - 1, next_attempt_at=now)
        return 0
    except TransportError as e:
        logger.info("join message %s failed: %s", row.pk, e.message)
        if e.retry_after and kind:
            limiter(kind).pause(e.retry_after)
        dead = e.permanent or attempts >= MAX_ATTEMPTS
        rows.update(
            error=e.message[:200],
            attempts=MAX_ATTEMPTS if dead else attempts,
            next_attempt_at=timezone.now()
            + timedelta(seconds=max(backoff(attempts), e.retry_after or 0)),
        )
        return 0
    except Exception as e:  # a broken sealed row: visible, never a crash loop
        logger.error("join message %s crashed", row.pk, exc_info=e)
        rows.update(error=f"internal error: {type(e).__name__}", attempts=MAX_ATTEMPTS)
        return 0
    rows.update(sent_at=timezone.now(), error="")
    return 1
