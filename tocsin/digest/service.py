"""The daily digest: subscribe (double opt-in), confirm, unsubscribe, the day's issue and
sending it.

An address is sealed to the vault like a sign-up to a mobilization (tocsin.mobilize.rsvps):
web processes seal, only workers open. Every email is a ``DigestMessage`` row written in
the transaction that calls for it; the worker's loop sends the due ones through the email
transport as every message to one person is sent (tocsin.alerts.notices). Each day at
TOCSIN_DIGEST_HOUR (local time) one ``Issue`` lists the incidents newly public since the
earlier issues, read through ``published()`` only; confirmed subscriptions get it when it
is not empty. The digest
shows the incidents as published() shows them when it is sent: one that turned out a false
alarm since is left out.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, close_old_connections, transaction
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from tocsin import vault
from tocsin.alerts import notices
from tocsin.digest.models import DigestMessage, Issue, Subscription
from tocsin.public.incidents import PublicIncident, published
from tocsin.transports import registry as transports
from tocsin.transports.base import Message

logger = logging.getLogger(__name__)

Status = DigestMessage.Status
LINK_SALT = "tocsin.digest-link"
# An address never confirmed is forgotten after this long.
UNCONFIRMED = dt.timedelta(days=2)
# Sent messages are kept this long (the sealed address is on the subscription only).
KEEP_SENT = dt.timedelta(days=7)
# How far back an issue looks for incidents no earlier issue listed.
LOOK_BACK = dt.timedelta(days=2)
POLL_SECONDS = 30.0


# --- links ---


def link_token(subscription: Subscription) -> str:
    return signing.Signer(salt=LINK_SALT).sign(subscription.token)


def for_link(token: str) -> Subscription | None:
    try:
        raw = signing.Signer(salt=LINK_SALT).unsign(token)
    except signing.BadSignature:
        return None
    return Subscription.objects.filter(token=raw).first()


def _url(name: str, subscription: Subscription) -> str:
    return settings.SITE_URL + reverse(name, args=[link_token(subscription)])


# --- subscribing ---


def subscribe(address: str, *, language: str, now: dt.datetime | None = None) -> None:
    """Ask ``address`` to confirm it wants the digest. An address already signed up
    (confirmed or not) gets nothing more: the page says the same either way, so typing
    someone's address tells nothing and sends them no second email."""
    address = address.strip()
    now = now or timezone.now()
    index = transports.blind_index("email", address)
    try:
        with transaction.atomic():
            subscription = Subscription.objects.create(
                sealed=vault.seal({"address": address}),
                blind_index=index,
                language=language,
                created_at=now,
            )
            DigestMessage.objects.create(subscription=subscription, next_attempt_at=now)
    except IntegrityError:
        return  # signed up already


def confirm(subscription: Subscription, *, now: dt.datetime | None = None) -> None:
    Subscription.objects.filter(pk=subscription.pk, confirmed_at__isnull=True).update(
        confirmed_at=now or timezone.now()
    )


def unsubscribe(subscription: Subscription) -> None:
    """Forget the address: the subscription, its sealed address and its messages."""
    Subscription.objects.filter(pk=subscription.pk).delete()


# --- the day's issue ---


def issue_due(now: dt.datetime | None = None) -> Issue | None:
    """Write today's issue once it is TOCSIN_DIGEST_HOUR, with a message to every
    confirmed subscription when it lists any incident; return it (None: not due, or
    written already)."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    if local.hour < settings.DIGEST_HOUR:
        return None
    day = local.date()
    if Issue.objects.filter(day=day).exists():
        return None
    listed: set[int] = set()
    for ids in Issue.objects.filter(day__gte=day - dt.timedelta(days=7)).values_list(
        "incident_ids", flat=True
    ):
        listed.update(ids)
    ids = [p.id for p in published(now) if p.id not in listed and p.at >= now - LOOK_BACK]
    try:
        with transaction.atomic():
            issue = Issue.objects.create(day=day, incident_ids=ids, created_at=now)
            if ids:
                DigestMessage.objects.bulk_create(
                    DigestMessage(subscription_id=pk, issue=issue, next_attempt_at=now)
                    for pk in Subscription.objects.filter(confirmed_at__isnull=False)
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
    except IntegrityError:
        return None  # another worker wrote it
    return issue


# --- rendering ---


def _line(incident: PublicIncident) -> str:
    return _("%(kind)s %(where)s: %(state)s around %(time)s, %(verification)s.") % {
        "kind": incident.kind_label,
        "where": incident.place_text,
        "state": incident.state_label.lower(),
        "time": timezone.localtime(incident.at).strftime("%H:%M"),
        "verification": incident.verification,
    }


def render(message: DigestMessage, public: dict[int, PublicIncident]) -> Message | None:
    """Return the email ``message`` stands for, in the subscriber's language, or None
    when an issue has nothing left to say."""
    subscription = message.subscription
    with translation.override(subscription.language or settings.LANGUAGE_CODE):
        if message.issue is None:
            link = _url("digest_confirm", subscription)
            text = _(
                "Someone asked for Tocsin's daily email of verified incidents at this "
                "address. To get it, open this link and confirm: %(link)s\n\nIf it was "
                "not you, ignore this email: nothing more will be sent."
            ) % {"link": link}
            return Message(subject=_("Confirm: Tocsin's daily digest"), text=text, url=link)
        shown = [public[i] for i in message.issue.incident_ids if i in public]
        if not shown:
            return None
        home = settings.SITE_URL + reverse("home")
        stop = _url("digest_unsubscribe", subscription)
        day = formats.date_format(message.issue.day, "l j F")
        lines = "\n".join(f"- {_line(i)}" for i in shown)
        text = "\n\n".join(
            [
                _("Incidents newly shown on the public map, as it shows them:"),
                lines,
                _("Observe, document, support. Do not interfere."),
                home,
                _("Stop these emails: %(link)s") % {"link": stop},
            ]
        )
        subject = _("Tocsin: verified incidents, %(day)s") % {"day": day}
    return Message(subject=subject, text=text, url=home)


# --- sending ---


def send_due(limit: int = 100, *, now: dt.datetime | None = None) -> int:
    """Send the due messages (in a worker: it opens sealed addresses); return how many
    went out."""
    now = now or timezone.now()
    public: dict[int, PublicIncident] | None = None

    def render_now(message: DigestMessage, channel: str) -> Message | None:
        nonlocal public
        if public is None:  # read once, and only when a message is due
            public = {p.id: p for p in published(now)}
        return render(message, public)

    kind = notices.Kind[DigestMessage](
        name="digest message",
        key="digest",
        channel=lambda message: ("email", vault.unseal(bytes(message.subscription.sealed))),
        render=render_now,
    )
    rows = DigestMessage.objects.select_related("subscription", "issue")
    return notices.send_due(rows, kind, limit=limit, now=now)


def forget_stale(now: dt.datetime | None = None) -> None:
    """Delete addresses never confirmed, and messages sent or given up long ago."""
    now = now or timezone.now()
    Subscription.objects.filter(
        confirmed_at__isnull=True, created_at__lt=now - UNCONFIRMED
    ).delete()
    DigestMessage.objects.filter(
        status__in=[Status.SENT, Status.DEAD, Status.CANCELLED], created_at__lt=now - KEEP_SENT
    ).delete()


# --- the worker's loop ---


def run(stop_event: threading.Event, interval: float = POLL_SECONDS) -> None:
    """Every ``interval`` seconds: forget stale rows, write the day's issue when due,
    send due messages; until stopped."""
    while not stop_event.is_set():
        try:
            forget_stale()
            issue_due()
            send_due()
        except Exception:
            logger.exception("digest failed; retrying")
        finally:
            close_old_connections()
        stop_event.wait(interval)
