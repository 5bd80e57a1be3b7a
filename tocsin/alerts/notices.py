"""Messages to one person at a time, outside an alert's fan-out: an RSVP's confirmations and
reminders (tocsin.mobilize.notices), on-call shift notices (tocsin.mobilize.shift_notices),
the legal team's notices (tocsin.legal.notices) and the daily digest (tocsin.digest).

Each kind keeps its messages in a table of its own with the same columns (``status``:
queued, failed, sent, dead and, where a message can stop being needed, cancelled;
``attempts``, ``next_attempt_at``, ``error``, ``sent_at``) and a ``Kind`` that says how to
reach the person and what to tell them. ``send_due`` sends every kind's due messages the
same way, in a worker (it opens sealed addresses): each row claimed with a conditional
update, so a second worker finds it moved on and a worker killed mid-send leaves a claim
that runs out after the delivery lease; sent on the channel the kind picks, in the
person's language, paced per channel like alerts; retried with the outbox's backoff; given
up after MAX_ATTEMPTS or a permanent error, and on anything unexpected (a broken sealed
row is visible, never a crash loop).

Two senders keep loops of their own: messages to a member's emergency contacts
(tocsin.family.sending: calls for help go first, and one cancelled while it waited is
given up, not cancelled) and the desk's replies to reporters (tocsin.incidents.replies:
every outcome updates the desk's live page).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F
from django.utils import timezone

from tocsin import vault
from tocsin.alerts.outbox import backoff, limiter
from tocsin.members.models import Member
from tocsin.transports import registry as transports
from tocsin.transports.base import Message, TransportError
from tocsin.vault import locking

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8

# The address a kind's message goes to: its channel and the opened sealed details.
Channel = tuple[str, dict[str, Any]]


def _never(row: Any, now: datetime) -> bool:
    return False


def _nothing(row: Any) -> None:
    return None


@dataclass(frozen=True)
class Kind[M: models.Model]:
    """How one kind of message reaches its person."""

    # What the worker's log calls one ("shift notice"), and its idempotency key's prefix.
    name: str
    key: str
    # The channel and opened address to send on, or None when there is none (the message
    # is then given up). May raise vault.VaultLocked: the message waits, uncounted.
    channel: Callable[[M], Channel | None]
    # The message for that channel, in the person's language; None when it has nothing
    # left to say (it is then cancelled).
    render: Callable[[M, str], Message | None]
    # Checked once claimed: a message no longer needed (a shift swapped since, an event
    # already begun) is cancelled, not sent.
    stale: Callable[[M, datetime], bool] = _never
    # After a send, in the worker: what else a sent message changes.
    sent: Callable[[M], None] = _nothing


def first_channel(member: Member) -> Channel | None:
    """Return the channel and opened address of ``member``'s first working channel (web
    push only when they have no other), or None."""
    endpoints = member.endpoints.usable()
    endpoint = endpoints.exclude(kind="webpush").first() or endpoints.first()
    if endpoint is None:
        return None
    payload = endpoint.open()
    # As alerts do: the email's unsubscribe link and the demo inbox need the member.
    payload.setdefault("member_id", member.pk)
    payload.setdefault("channel", endpoint.kind)
    return endpoint.kind, payload


def send_due[M: models.Model](
    rows: models.QuerySet[M], kind: Kind[M], *, limit: int = 100, now: datetime | None = None
) -> int:
    """Send the due messages of ``rows`` (a kind's table, with what ``kind`` reads joined
    in), the longest waiting first; return how many went out."""
    if not locking.check():
        return 0  # the vault is locked: messages wait
    now = now or timezone.now()
    Status = rows.model.Status  # type: ignore[attr-defined]
    due = list(
        rows.filter(status__in=[Status.QUEUED, Status.FAILED], next_attempt_at__lte=now).order_by(
            "next_attempt_at", "pk"
        )[:limit]
    )
    sent = 0
    row: Any
    for row in due:
        this = rows.model._default_manager.filter(pk=row.pk)
        # Claimed: another worker's conditional update then finds the row moved on.
        claimed = this.filter(status=row.status, attempts=row.attempts).update(
            attempts=F("attempts") + 1,
            next_attempt_at=now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
        )
        if claimed and _send(this, Status, row, kind, now):
            sent += 1
    return sent


def _send(
    this: models.QuerySet[Any], Status: Any, row: Any, kind: Kind[Any], now: datetime
) -> bool:
    """Send one claimed message and record the outcome; return whether it went out."""
    if kind.stale(row, now):
        this.update(status=Status.CANCELLED)
        return False
    attempts = row.attempts + 1
    channel = ""
    try:
        found = kind.channel(row)
        if found is None:
            _fail(this, Status, "no channel to send on", dead=True)
            return False
        channel, payload = found
        message = kind.render(row, channel)
        if message is None:
            this.update(status=Status.CANCELLED)
            return False
        wait = limiter(channel).acquire()
        if wait:
            # The channel's provider asked for a pause: this waits, uncounted.
            this.update(attempts=F("attempts") - 1, next_attempt_at=now + timedelta(seconds=wait))
            return False
        transports.get(channel).send(payload, message, idempotency_key=f"{kind.key}-{row.pk}")
    except vault.VaultLocked:
        # Locked since the check: the message waits, its attempt not counted.
        this.update(attempts=F("attempts") - 1, next_attempt_at=now)
        return False
    except TransportError as e:
        logger.info("%s %s failed: %s", kind.name, row.pk, e.message)
        if e.retry_after and channel:
            limiter(channel).pause(e.retry_after)
        _fail(
            this,
            Status,
            e.message,
            dead=e.permanent or attempts >= MAX_ATTEMPTS,
            wait=max(backoff(attempts), e.retry_after or 0),
        )
        return False
    except Exception as e:  # a broken sealed row: visible, never a crash loop
        logger.error("%s %s crashed", kind.name, row.pk, exc_info=e)
        _fail(this, Status, f"internal error: {type(e).__name__}", dead=True)
        return False
    this.update(status=Status.SENT, error="", sent_at=timezone.now())
    kind.sent(row)
    return True


def _fail(
    this: models.QuerySet[Any], Status: Any, error: str, *, dead: bool, wait: float = 0
) -> None:
    this.update(
        status=Status.DEAD if dead else Status.FAILED,
        error=error[:200],
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
    )
