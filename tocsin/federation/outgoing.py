"""What each partner is sent: the public view of incidents (tocsin.public.incidents.
published, never finer or earlier) whose area touches the partner's, as CAP 1.2: an Alert
once it is public, an Update when its public view changes, a Cancel when it is resolved
or turns out a false alarm (a partner that was sent the Alert must hear it is off).

The worker's housekeeping calls ``queue_due()`` every few seconds; it records each
message due on a ``Sent`` row and enqueues the ``deliver`` task, which signs the alert
and POSTs it to the partner's /federation/inbox through tocsin.lib.http's pinned seam,
like every address Tocsin did not choose itself: the partner's host resolved once, every
answer a public address (tocsin.lib.egress) unless the operator lists the host in
TOCSIN_FEDERATION_PRIVATE_HOSTS (a partner on their own network), the connection made to
the address checked, no redirect followed. A refused partner's row records why, and the
log names the partner by id only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.tasks import task
from django.utils import timezone

from tocsin.federation import keys, signing
from tocsin.federation.models import Partner, Sent
from tocsin.incidents.models import Incident
from tocsin.lib import egress, http
from tocsin.lib.incident_states import State
from tocsin.public import cap, cap_versions
from tocsin.public.incidents import PublicIncident, fingerprint, published

logger = logging.getLogger(__name__)

INBOX = "/federation/inbox/"
TIMEOUTS = (5.0, 15.0)
MAX_ATTEMPTS = 8
# A row not yet delivered is queued again once this long passed after its last attempt
# (a lost task, a partner that was down); doubles are refused by the partner as replays.
RETRY_SECONDS = 60.0
# Why a partner was not posted to, for its row and the log (never its host or address).
NOT_PUBLIC = (
    "its address is not public; list its host in TOCSIN_FEDERATION_PRIVATE_HOSTS "
    "if it is on your own network"
)


def _view(incident: PublicIncident) -> dict[str, Any]:
    return incident.view()


def _incident(view: dict[str, Any]) -> PublicIncident:
    return PublicIncident(**{**view, "at": dt.datetime.fromisoformat(view["at"])})


def _fingerprint(view: dict[str, Any]) -> str:
    # The public feed's Update of the same view has the same identifier.
    return fingerprint(view)


@dataclasses.dataclass(frozen=True)
class Due:
    partner: Partner
    incident_id: int
    msg_type: str
    view: dict[str, Any]
    # Nothing to send: the partner never had an Alert about what is now over.
    silent: bool = False


def _next(before: Sent | None, incident: PublicIncident) -> tuple[str, bool] | None:
    """Return the message (and whether it is silent) a partner is owed about a public
    incident, given the last one recorded, or None."""
    view = _view(incident)
    if before is None:
        return (cap.ALERT, False) if incident.state != State.RESOLVED else None
    if before.msg_type == cap.CANCEL or before.fingerprint == _fingerprint(view):
        return None
    if incident.state == State.RESOLVED:
        return cap.CANCEL, not before.announced
    return (cap.UPDATE if before.announced else cap.ALERT), False


def due(now: dt.datetime | None = None) -> list[Due]:
    """Return the messages partners are owed ``now``."""
    if not keys.enabled():
        return []
    partners = list(Partner.objects.enabled())
    if not partners:
        return []
    now = now or timezone.now()
    public = published(now)
    shown = {p.id for p in public}
    sent = {(s.partner_id, s.incident_id): s for s in Sent.objects.filter(partner__in=partners)}
    owed: list[Due] = []
    for partner in partners:
        for incident in public:
            if not partner.touches(incident.cell):
                continue
            message = _next(sent.get((partner.pk, incident.id)), incident)
            if message is not None:
                kind, silent = message
                owed.append(Due(partner, incident.id, kind, _view(incident), silent))
    # A false alarm leaves the public view: a partner told of it gets a Cancel.
    withdrawn = [
        s for s in sent.values() if s.msg_type != cap.CANCEL and s.incident_id not in shown
    ]
    unfounded = set(
        Incident.objects.filter(
            pk__in=[s.incident_id for s in withdrawn], state=State.UNFOUNDED
        ).values_list("pk", flat=True)
    )
    by_pk = {p.pk: p for p in partners}
    for s in withdrawn:
        if s.incident_id in unfounded:
            # Its Cancel says it was a false alarm (CAP certainty Unlikely).
            view = {**json.loads(s.view), "state": State.UNFOUNDED}
            owed.append(Due(by_pk[s.partner_id], s.incident_id, cap.CANCEL, view, not s.announced))
    return owed


def _retry_due(now: dt.datetime) -> list[int]:
    rows = Sent.objects.filter(delivered=False, attempts__lt=MAX_ATTEMPTS, partner__enabled=True)
    return [
        s.pk
        for s in rows
        if s.updated_at <= now - dt.timedelta(seconds=min(RETRY_SECONDS * (1 + s.attempts), 3600))
    ]


def record(owed: list[Due]) -> list[int]:
    """Record each message owed on its Sent row; return the rows to deliver."""
    ids = []
    for d in owed:
        with transaction.atomic():
            row, _ = Sent.objects.update_or_create(
                partner=d.partner,
                incident_id=d.incident_id,
                defaults={
                    "msg_type": d.msg_type,
                    "fingerprint": _fingerprint(d.view),
                    "view": json.dumps(d.view),
                    "delivered": d.silent,
                    "attempts": 0,
                    "error": "",
                },
            )
        if not d.silent:
            ids.append(row.pk)
    return ids


def queue_due(now: dt.datetime | None = None) -> int:
    """Record what partners are owed and enqueue a delivery task for each (and for
    undelivered ones whose retry time came); return how many were queued."""
    if not keys.enabled():
        return 0
    now = now or timezone.now()
    ids = record(due(now)) + _retry_due(now)
    for pk in dict.fromkeys(ids):
        deliver.enqueue(pk)
    return len(ids)


def send_due(now: dt.datetime | None = None) -> list[Sent]:
    """Record and deliver at once, here: `tocsin manage partners send` and the tests."""
    now = now or timezone.now()
    ids = record(due(now)) + _retry_due(now)
    for pk in dict.fromkeys(ids):
        _deliver(pk)
    return list(Sent.objects.filter(pk__in=ids))


def body(row: Sent) -> bytes:
    incident = _incident(json.loads(row.view))
    version = row.fingerprint[: cap_versions.VERSION_LENGTH] if row.msg_type == cap.UPDATE else ""
    return cap.alert(incident, kind=row.msg_type, version=version)


def _deliver(sent_id: int) -> None:
    row = Sent.objects.select_related("partner").filter(pk=sent_id).first()
    if row is None or row.delivered or not keys.enabled():
        return
    if (
        row.msg_type != cap.CANCEL
        and Incident.objects.filter(pk=row.incident_id, state=State.UNFOUNDED).exists()
    ):
        # A false alarm since this was queued: the next sweep owes a Cancel, or nothing.
        return
    partner = row.partner
    url = partner.base_url.rstrip("/") + INBOX
    payload = body(row)
    headers = signing.sign(url, payload, key=keys.private_key(), key_id=keys.public_key())
    headers["Content-Type"] = f"{cap.CONTENT_TYPE}; charset=utf-8"
    headers["Content-Length"] = str(len(payload))
    parts = urlsplit(url)
    origin, path = f"{parts.scheme}://{parts.netloc}", parts.path
    error = ""
    # Public addresses only, unless the operator says this host is on their own network.
    trusted = egress.matches(parts.hostname or "", settings.FEDERATION_PRIVATE_HOSTS)
    try:
        status, _ = http.pinned_post(
            origin, path, payload, headers, trusted=trusted, timeouts=TIMEOUTS, size=1
        )
    except egress.Refused:
        status, error = 0, NOT_PUBLIC
    except (http.Unreachable, OSError) as e:
        status, error = 0, type(e).__name__
    # 409: the partner already has this message (a second delivery of it).
    delivered = 200 <= status < 300 or status == 409
    if not delivered and not error:
        error = f"HTTP {status}"
    Sent.objects.filter(pk=row.pk, fingerprint=row.fingerprint).update(
        delivered=delivered,
        announced=row.announced or (delivered and row.msg_type != cap.CANCEL),
        attempts=row.attempts + 1,
        error=error[:200],
        updated_at=timezone.now(),
    )
    if delivered:
        logger.info("federation %s sent to partner %s", row.msg_type, partner.pk)
    else:
        logger.warning(
            "federation %s to partner %s failed (%s); retried later",
            row.msg_type,
            partner.pk,
            error,
        )


# Queued task rows name the task by its path: make it this module's ``deliver``.
_deliver.__name__ = _deliver.__qualname__ = "deliver"
deliver = task()(_deliver)
