"""Public broadcast channels: a Telegram channel that carries what the public map shows.

An operator turns it on with TOCSIN_TELEGRAM_PUBLIC_CHANNEL (``@name`` or ``-100…``, the
bot an admin of the channel) and the Telegram bot settings. One post reaches every
subscriber, no sign-up kept by Tocsin.

The worker's ``run`` loop sweeps every few seconds: each incident ``published()`` shows
gets one post when the public first sees it confirmed and one when resolved, in the
operator's language and in Spanish, through the Telegram transport. Only the fields of
``PublicIncident`` are used, so a post is never finer or earlier than the map. A
confirmation the channel carried that turns out a false alarm gets a correction. A row is
written per (incident, state, channel) before sending, under a unique constraint, and
claimed with a conditional update and a lease: two workers never post the same thing,
and a worker that dies mid-send loses nothing (the lease runs out and the post is sent
again, the price of never losing one).

Turning the channel on does not flood it with history: a confirmation older than
``BACKLOG`` is not posted, and a resolution only when the channel posted the
confirmation or it is recent.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tocsin.incidents.models import Incident
from tocsin.lib import exposure
from tocsin.lib.incident_states import State
from tocsin.lib.retry import backoff
from tocsin.public.incidents import PublicIncident, published
from tocsin.public.models import PublicPost
from tocsin.transports.base import Message, TransportError
from tocsin.transports.telegram import TelegramTransport

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
# How often the worker looks for newly public incidents. The public sees them after a
# delay of minutes anyway.
POLL_SECONDS = 15.0
# A confirmation the public saw longer ago than this (after the delay) is old news: not
# posted when the channel is turned on, or after the worker was away that long.
BACKLOG = dt.timedelta(hours=6)
BATCH = 20
POSTED_STATES = (State.CONFIRMED, State.RESOLVED)
Status = PublicPost.Status


def enabled() -> bool:
    """Return whether the public Telegram channel is on and the bot can send."""
    return bool(settings.TELEGRAM_PUBLIC_CHANNEL) and not TelegramTransport.problems()


# --- rendering ---


def _text(incident: PublicIncident, state: str) -> str:
    """Return the post in the active language."""
    values = {
        "kind": incident.kind_label,
        "where": incident.place_text,
        "verification": incident.verification,
        "time": timezone.localtime(incident.at).strftime("%H:%M"),
    }
    if state == State.RESOLVED:
        return _("Over: %(kind)s %(where)s (confirmed around %(time)s, %(verification)s).") % values
    confirmed = _("Confirmed: %(kind)s %(where)s, around %(time)s, %(verification)s.") % values
    guidance = _("Observe, document, support. Do not interfere.")
    return f"{confirmed} {guidance}"


def render(incident: PublicIncident, state: str) -> Message:
    """Return the post about ``incident`` in ``state``: the operator's language, then
    Spanish (once when that is the operator's)."""
    url = settings.SITE_URL + reverse("home")
    languages = [settings.LANGUAGE_CODE] + (["es"] if settings.LANGUAGE_CODE != "es" else [])
    parts = []
    for language in languages:
        with translation.override(language):
            parts.append("Tocsin. " + _text(incident, state))
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("Tocsin: verified incidents")
    return Message(subject=subject, text="\n\n".join(parts) + f"\n\n{url}", url=url)


# --- writing ---


def queue(seen: list[PublicIncident], *, now: dt.datetime) -> int:
    """Write a post for each (incident, public state) not written yet; return how many."""
    confirmed_posts = set(
        PublicPost.objects.filter(
            channel=CHANNEL, state=State.CONFIRMED, incident_id__in=[i.id for i in seen]
        ).values_list("incident_id", flat=True)
    )
    # The public's "at" is the confirmation; it became public a delay later.
    fresh_after = now - BACKLOG - dt.timedelta(minutes=settings.PUBLIC_DELAY_MINUTES)
    rows = [
        PublicPost(
            incident_id=i.id,
            state=i.state,
            channel=CHANNEL,
            kind=i.kind,
            place=i.place,
            at=i.at,
            next_attempt_at=now,
        )
        for i in seen
        if i.state in POSTED_STATES and (i.at >= fresh_after or i.id in confirmed_posts)
    ]
    rows += corrections({i.id for i in seen}, now=now)
    # The unique constraint refuses what another sweep (or worker) already wrote.
    before = PublicPost.objects.filter(channel=CHANNEL).count()
    PublicPost.objects.bulk_create(rows, ignore_conflicts=True)
    return PublicPost.objects.filter(channel=CHANNEL).count() - before


def corrections(public_ids: set[int], *, now: dt.datetime) -> list[PublicPost]:
    """Return a correction for each confirmation the channel carried whose incident
    turned out a false alarm (DESIGN.md section 3: a correction to whoever heard it).

    This is the one read outside ``published()``: whether an incident that left it was
    marked a false alarm (not merged, not just older than its list). The correction says
    only what the channel already said, and that it was wrong.
    """
    carried = PublicPost.objects.filter(
        channel=CHANNEL,
        state=State.CONFIRMED,
        status=Status.SENT,
        sent_at__gte=now - BACKLOG - BACKLOG,
    ).exclude(incident_id__in=public_ids)
    unfounded = set(
        Incident.objects.filter(
            pk__in=carried.values("incident_id"), state=State.UNFOUNDED
        ).values_list("pk", flat=True)
    )
    return [
        PublicPost(
            incident_id=post.incident_id,
            state=State.UNFOUNDED,
            channel=CHANNEL,
            kind=post.kind,
            place=post.place,
            at=post.at,
            next_attempt_at=now,
        )
        for post in carried
        if post.incident_id in unfounded
    ]


def render_correction(post: PublicPost) -> Message:
    """Return the correction of ``post``'s confirmation, in the operator's language and
    Spanish, from what the channel said then."""
    url = settings.SITE_URL + reverse("home")
    languages = [settings.LANGUAGE_CODE] + (["es"] if settings.LANGUAGE_CODE != "es" else [])
    parts = []
    for language in languages:
        with translation.override(language):
            # Rows written before public kinds held the report's kind: said coarsely too.
            kind = exposure.public_kind_label(post.kind) if post.kind else ""
            where = (
                _("in %(area)s") % {"area": post.place}
                if post.place
                else _("somewhere in the area shown on the map")
            )
            at = timezone.localtime(post.at).strftime("%H:%M") if post.at else ""
            parts.append(
                "Tocsin. "
                + _(
                    "Correction: the %(kind)s %(where)s confirmed around %(time)s was a "
                    "false alarm."
                )
                % {"kind": kind.lower(), "where": where, "time": at}
            )
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("Tocsin: verified incidents")
    return Message(subject=subject, text="\n\n".join(parts) + f"\n\n{url}", url=url)


# --- sending ---


@dataclass
class Outcome:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    cancelled: int = 0


def _claim(post: PublicPost, now: dt.datetime) -> bool:
    """Lease ``post`` to this worker; return False when another worker took it first."""
    return bool(
        PublicPost.objects.filter(pk=post.pk, status=post.status, attempts=post.attempts).update(
            status=Status.SENDING,
            attempts=F("attempts") + 1,
            lease_until=now + dt.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
        )
    )


def send_due(seen: list[PublicIncident], *, now: dt.datetime, outcome: Outcome) -> None:
    """Send the due posts, oldest first, recording each outcome at once."""
    public = {i.id: i for i in seen}
    due = PublicPost.objects.filter(channel=CHANNEL).filter(
        Q(status__in=(Status.QUEUED, Status.FAILED), next_attempt_at__lte=now)
        | Q(status=Status.SENDING, lease_until__lt=now)
    )
    transport = TelegramTransport()
    for post in list(due.order_by("id")[:BATCH]):
        if not _claim(post, now):
            continue
        mine = PublicPost.objects.filter(pk=post.pk, status=Status.SENDING)
        incident = public.get(post.incident_id)
        if post.state == State.UNFOUNDED:
            message = render_correction(post)
        elif incident is None or (post.state == State.CONFIRMED and incident.state != post.state):
            # No longer public (a false alarm after all), or already over: say only that.
            mine.update(status=Status.DEAD, error="superseded", lease_until=None)
            outcome.cancelled += 1
            continue
        else:
            message = render(incident, post.state)
        try:
            transport.send(
                {"address": settings.TELEGRAM_PUBLIC_CHANNEL},
                message,
                idempotency_key=f"public-{post.incident_id}-{post.state}",
            )
        except TransportError as e:
            _record_failure(post, e, now, outcome)
        else:
            mine.update(status=Status.SENT, sent_at=timezone.now(), lease_until=None, error="")
            outcome.sent += 1


def _record_failure(
    post: PublicPost, error: TransportError, now: dt.datetime, outcome: Outcome
) -> None:
    reason = error.message[:200]
    logger.warning("public channel post %s failed: %s", post.pk, reason)
    rows = PublicPost.objects.filter(pk=post.pk, status=Status.SENDING)
    attempts = post.attempts + 1
    if error.permanent or attempts >= settings.DELIVERY_MAX_ATTEMPTS:
        rows.update(status=Status.DEAD, error=reason, lease_until=None)
        outcome.dead += 1
        return
    wait = max(backoff(attempts), error.retry_after or 0)
    rows.update(
        status=Status.FAILED,
        error=reason,
        lease_until=None,
        next_attempt_at=now + dt.timedelta(seconds=wait),
    )
    outcome.failed += 1


# --- the worker's loop ---

_sweep_lock = threading.Lock()


def sweep(now: dt.datetime | None = None) -> Outcome:
    """Queue the posts newly public incidents make and send the due ones."""
    outcome = Outcome()
    if not enabled() or not _sweep_lock.acquire(blocking=False):
        return outcome
    try:
        now = now or timezone.now()
        seen = published(now)
        queue(seen, now=now)
        send_due(seen, now=now, outcome=outcome)
    finally:
        _sweep_lock.release()
    return outcome


def run(stop_event: threading.Event, interval: float = POLL_SECONDS) -> None:
    """The worker's loop: sweep every ``interval`` seconds until stopped. Returns at once
    when no public channel is set (TOCSIN_TELEGRAM_PUBLIC_CHANNEL)."""
    if not settings.TELEGRAM_PUBLIC_CHANNEL:
        return
    while not stop_event.is_set():
        try:
            sweep()
        except Exception:
            # The database may be away for a while: wait and try again, never crash-loop.
            logger.exception("public channel sweep failed; retrying")
        finally:
            close_old_connections()
        stop_event.wait(interval)
