"""Committee posts: member-facing alerts to committee channels (tocsin.transports.models),
through Apprise.

A committee channel is a members' audience (a room many members read), so it hears
exactly what members hear and nothing else: confirmed alerts, all-clears and
corrections, by an explicit allow-list. Unverified ("possible") alerts and requests to
verifiers never get a post.

The outbox is the same as for deliveries. ``queue`` writes one CommitteePost per (alert,
channel) in the transaction that issues the alert; the worker's ``run`` loop claims due
posts with a lease and sends them one at a time, recording each outcome at once. A
worker that dies mid-send loses nothing: the lease runs out and another worker sends
the post again. That second attempt carries the same idempotency key, which the generic
webhooks pass on as an Idempotency-Key header (tocsin.transports.apprise); a service
with no such key (ntfy, Matrix through Apprise) may show the post twice, which is the
price of never losing one.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tocsin.alerts import messages
from tocsin.alerts.about import Incident
from tocsin.alerts.models import RETRYABLE, Alert, DeliveryStatus, Purpose
from tocsin.lib.retry import backoff
from tocsin.lib.screening import screen
from tocsin.transports import apprise
from tocsin.transports.base import Message, TransportError
from tocsin.transports.models import CommitteeChannel, CommitteePost
from tocsin.vault import VaultLocked, locking

logger = logging.getLogger(__name__)

# The alerts members get. Anything else (an unverified report, a request to a verifier)
# is for verifiers and responders only and never reaches a committee channel.
MEMBER_FACING = (Purpose.CONFIRMED, Purpose.ALL_CLEAR, Purpose.CORRECTION)

# Posts claimed at once. Each is leased again just before it is sent, so a slow service
# never lets the rest of a batch's leases run out under it.
BATCH = 10
# How often the worker looks for due posts.
POLL_SECONDS = 1.0

UNFINISHED = (*RETRYABLE, DeliveryStatus.SENDING)


# --- writing ---


def queue(alert: Alert, *, scope: set[int] | None = None) -> int:
    """Write the posts ``alert`` makes; return how many. Call inside the transaction
    that issues the alert (tocsin.alerts.outbox.issue_alert).

    A confirmed alert goes to every working channel of the committee whose members it
    reaches. An all-clear or a correction goes to the channels that got (or are being
    sent) a confirmed post about the incident from an alert decided by a committee in
    ``scope`` (None: any), as for members; a confirmed post still waiting is cancelled
    rather than posted late.
    """
    if alert.purpose not in MEMBER_FACING or not settings.APPRISE_ENABLED:
        return 0
    if alert.purpose == Purpose.CONFIRMED:
        channels = CommitteeChannel.objects.usable().filter(committee_id=alert.committee_id or 0)
    else:
        confirmed = CommitteePost.objects.filter(
            alert__incident_id=alert.incident_id, alert__purpose=Purpose.CONFIRMED
        )
        confirmed.filter(status__in=RETRYABLE).update(
            status=DeliveryStatus.CANCELLED, error="superseded", lease_until=None
        )
        reached = confirmed.filter(status__in=(DeliveryStatus.SENT, DeliveryStatus.SENDING))
        if scope is not None:
            reached = reached.filter(
                Q(alert__by_committee_id__in=scope) | Q(alert__committee_id__in=scope)
            )
        channels = CommitteeChannel.objects.usable().filter(pk__in=reached.values("channel_id"))
        # A room hears how it ended once.
        channels = channels.exclude(
            pk__in=CommitteePost.objects.filter(
                alert__incident_id=alert.incident_id,
                alert__purpose__in=[Purpose.ALL_CLEAR, Purpose.CORRECTION],
            ).values("channel_id")
        )
    now = timezone.now()
    rows = [
        CommitteePost(alert=alert, channel_id=pk, next_attempt_at=now, created_at=now)
        for pk in channels.values_list("pk", flat=True)
    ]
    CommitteePost.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def cancel_waiting(incident: Incident) -> int:
    """Cancel the posts about ``incident`` not sent yet (it closed before any room heard
    of it, so none should hear late); return how many."""
    return CommitteePost.objects.filter(
        alert__incident_id=incident.pk, status__in=RETRYABLE
    ).update(status=DeliveryStatus.CANCELLED, error="superseded", lease_until=None)


def heard(incident: Incident, scope: set[int] | None = None) -> bool:
    """Return whether a committee channel got (or is being sent) a confirmed post about
    ``incident`` (from an alert decided by a committee in ``scope``; None: any): then its
    room must hear how it ended, even if no member did yet."""
    rows = CommitteePost.objects.filter(
        alert__incident_id=incident.pk,
        alert__purpose=Purpose.CONFIRMED,
        status__in=(DeliveryStatus.SENT, DeliveryStatus.SENDING),
    )
    if scope is not None:
        rows = rows.filter(Q(alert__by_committee_id__in=scope) | Q(alert__committee_id__in=scope))
    return rows.exists()


# --- rendering ---


def render(alert: Alert, *, language: str) -> Message:
    """Return the post for ``alert`` in ``language``.

    The link is the public home page, never a member's signed alert link: a room is read
    by many people, and a signed link would let each of them act as one member.
    """
    url = settings.SITE_URL + reverse("home")
    if alert.purpose != Purpose.CONFIRMED:
        # An all-clear or a correction says the same to a room as to a member.
        return messages._render(alert, url=url, language=language)
    incident = alert.incident
    with translation.override(language):
        kind = incident.get_kind_display()
        place = messages.place_text(incident.cell, messages.Gazetteer.of(incident))
        since = timezone.localtime(incident.first_seen_at).strftime("%H:%M")
        subject = _("Confirmed: %(kind)s %(where)s") % {"kind": kind, "where": place}
        text = _(
            "Tocsin alert. Confirmed %(kind)s %(where)s since %(since)s. %(guidance)s "
            "Members: your own alert has the details and “I'm on my way”. %(url)s"
        ) % {
            "kind": kind.lower(),
            "where": place,
            "since": since,
            "guidance": _("Observe, document, support. Do not interfere."),
            "url": url,
        }
    # As in members' alerts: screened when saved, screened again here.
    if incident.summary and not screen(incident.summary).held:
        text = f"{text}\n\n{incident.summary}"
    return Message(subject=subject, text=text, url=url)


# --- claiming ---


@dataclass
class Batch:
    ids: list[int]
    token: str


def claim(limit: int = BATCH) -> Batch:
    """Lease up to ``limit`` due posts to this worker: first those whose lease ran out (a
    worker died), then the due ones, oldest first.

    A post waits while an earlier post of the same channel about the same incident is
    unfinished: a room never reads the all-clear before the alert.
    """
    token = uuid.uuid4().hex
    now = timezone.now()
    earlier = CommitteePost.objects.filter(
        channel_id=OuterRef("channel_id"),
        alert__incident_id=OuterRef("alert__incident_id"),
        id__lt=OuterRef("id"),
        status__in=UNFINISHED,
    )
    skip_locked = connection.features.has_select_for_update_skip_locked
    with transaction.atomic():
        ids: list[int] = []
        for qs in (
            CommitteePost.objects.filter(status=DeliveryStatus.SENDING, lease_until__lt=now),
            CommitteePost.objects.filter(status__in=RETRYABLE, next_attempt_at__lte=now).exclude(
                Exists(earlier)
            ),
        ):
            if len(ids) >= limit:
                break
            qs = qs.order_by("next_attempt_at", "id")
            if skip_locked:
                qs = qs.select_for_update(skip_locked=True, of=("self",))
            # On SQLite the IMMEDIATE transaction holds the write lock instead.
            ids += qs.values_list("id", flat=True)[: limit - len(ids)]
        if ids:
            CommitteePost.objects.filter(id__in=ids).update(
                status=DeliveryStatus.SENDING,
                lease_until=now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
                claim_token=token,
                attempts=F("attempts") + 1,
            )
    return Batch(sorted(ids), token)


# --- sending ---


@dataclass
class Outcome:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    cancelled: int = 0


def send_batch(batch: Batch, outcome: Outcome) -> None:
    """Send the posts leased under ``batch.token``, one at a time, and record each."""
    transport = apprise.AppriseTransport()
    for pk in batch.ids:
        mine = CommitteePost.objects.filter(
            pk=pk, status=DeliveryStatus.SENDING, claim_token=batch.token
        )
        now = timezone.now()
        # Lease it again for this send; a post another worker took over is skipped.
        if not mine.update(lease_until=now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)):
            continue
        post = CommitteePost.objects.select_related("alert__incident", "channel").get(pk=pk)
        channel = post.channel
        if post.alert.expires_at <= now:
            _cancel(mine, "the alert expired before it could be posted", outcome)
            continue
        if channel.disabled_at is not None:
            _cancel(mine, "the channel is turned off", outcome)
            continue
        try:
            payload = channel.open()
            message = render(post.alert, language=channel.language)
            transport.send(payload, message, idempotency_key=f"a{post.alert_id}-c{channel.pk}")
        except TransportError as e:
            _record_failure(post, mine, e, outcome)
        except VaultLocked:
            # Locked since the claim: the post goes back, its attempt not counted.
            mine.update(
                status=DeliveryStatus.QUEUED,
                attempts=F("attempts") - 1,
                lease_until=None,
                next_attempt_at=now,
            )
        except Exception as e:
            # A bug or a broken sealed row: keep it visible, never stop the other posts.
            logger.error("committee post %s crashed", pk, exc_info=e)
            mine.update(
                status=DeliveryStatus.DEAD,
                error=f"internal error: {type(e).__name__}",
                lease_until=None,
            )
            outcome.dead += 1
        else:
            _record_sent(post, mine, outcome)


def _record_sent(post: CommitteePost, mine: QuerySet[CommitteePost], outcome: Outcome) -> None:
    now = timezone.now()
    if mine.update(status=DeliveryStatus.SENT, sent_at=now, lease_until=None, error=""):
        CommitteeChannel.objects.filter(pk=post.channel_id).update(last_sent_at=now)
        outcome.sent += 1


def _cancel(mine: QuerySet[CommitteePost], reason: str, outcome: Outcome) -> None:
    mine.update(status=DeliveryStatus.CANCELLED, error=reason, lease_until=None)
    outcome.cancelled += 1


def _record_failure(
    post: CommitteePost, mine: QuerySet[CommitteePost], error: TransportError, outcome: Outcome
) -> None:
    now = timezone.now()
    reason = error.message[:200]
    logger.info("committee post %s failed: %s", post.pk, reason)
    channel = CommitteeChannel.objects.filter(pk=post.channel_id)
    channel.update(last_error=reason, last_error_at=now)
    if error.permanent:
        mine.update(status=DeliveryStatus.DEAD, error=reason, lease_until=None)
        channel.filter(disabled_at__isnull=True).update(disabled_at=now)
        outcome.dead += 1
    elif post.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
        mine.update(status=DeliveryStatus.DEAD, error=reason, lease_until=None)
        outcome.dead += 1
    else:
        wait = max(backoff(post.attempts), error.retry_after or 0)
        mine.update(
            status=DeliveryStatus.FAILED,
            error=reason,
            lease_until=None,
            next_attempt_at=now + timedelta(seconds=wait),
        )
        outcome.failed += 1


# --- draining ---

_drain_lock = threading.Lock()


def drain(*, stop: threading.Event | None = None) -> Outcome:
    """Send due posts until none are left. Does nothing while the channel is off or the
    vault is locked, or if this process is already draining."""
    outcome = Outcome()
    if apprise.AppriseTransport.problems() or not locking.check():
        return outcome  # off, or the vault is locked: posts wait
    if not _drain_lock.acquire(blocking=False):
        return outcome
    try:
        while stop is None or not stop.is_set():
            batch = claim()
            if not batch.ids:
                break
            send_batch(batch, outcome)
    finally:
        _drain_lock.release()
    return outcome


def run(stop_event: threading.Event, interval: float = POLL_SECONDS) -> None:
    """The worker's loop: drain due posts every ``interval`` seconds until stopped.
    Returns at once when the channel is off (TOCSIN_APPRISE_ENABLED)."""
    if apprise.AppriseTransport.problems():
        return
    apprise.preload()
    while not stop_event.is_set():
        try:
            drain(stop=stop_event)
        except Exception:
            # The database may be away for a while: wait and try again, never crash-loop.
            logger.exception("committee posts failed; retrying")
            stop_event.wait(5)
        finally:
            # A long-lived thread must not hold a dead or stale database connection.
            close_old_connections()
        stop_event.wait(interval)
