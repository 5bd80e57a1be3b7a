"""The delivery outbox: alerts become Delivery rows in the transaction that decides them;
workers claim due rows with a lease, send them, and record the outcome.

A crashed worker loses nothing: its leased rows become due again when the lease ends.
The unique (alert, endpoint) key makes a second claim of the same row harmless, and
the transport gets that key as its idempotency key.

Each channel (transport kind) is claimed and paced on its own: a batch is at most what
the channel may send in a quarter of the lease at its rate, sends run on a small pool of
threads per channel, and a provider's Retry-After pauses the channel. Urgent alerts are
claimed before corrections, and corrections before all-clears.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from array import array
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q, QuerySet
from django.dispatch import receiver
from django.tasks import task
from django.urls import reverse
from django.utils import timezone

from tocsin import vault
from tocsin.alerts import messages, posts, targeting
from tocsin.alerts.about import Incident
from tocsin.alerts.cellindex import Match
from tocsin.alerts.models import (
    RETRYABLE,
    Alert,
    Certainty,
    Delivery,
    DeliveryStatus,
    MsgType,
    Priority,
    Purpose,
)
from tocsin.committees.models import Membership
from tocsin.committees.services import left_every_committee
from tocsin.lib import live
from tocsin.lib.incident_states import State
from tocsin.lib.retry import backoff
from tocsin.members.models import ContactEndpoint, Member
from tocsin.transports import registry as transports
from tocsin.transports.base import Message, NoTransport, Transport, TransportError
from tocsin.vault import locking

logger = logging.getLogger(__name__)

WORKER_ID = uuid.uuid4().hex[:12]

PRIORITY = {
    Purpose.CONFIRMED: Priority.URGENT,
    Purpose.POSSIBLE: Priority.URGENT,
    Purpose.VERIFY: Priority.URGENT,
    Purpose.APPROVAL: Priority.URGENT,
    Purpose.CORRECTION: Priority.CORRECTION,
    Purpose.ALL_CLEAR: Priority.ROUTINE,
}

# Alerts whose recipients hear how the incident ended (all-clear or correction).
FOLLOWED_UP = (Purpose.CONFIRMED, Purpose.POSSIBLE)


# --- writing the outbox ---


def issue_alert(
    incident: Incident,
    purpose: str,
    *,
    all_channels: bool = False,
    committee_id: int | None = None,
    by_committee_id: int | None = None,
    scope: set[int] | None = None,
) -> Alert:
    """Create an alert about ``incident`` and its deliveries. Call inside the transaction
    that changes the incident's state, so both commit or neither does.

    Who hears what is DESIGN.md section 3's table, within committees:

    - confirmed: the members of ``committee_id`` whose areas match, each on their first
      usable channel (or every channel with ``all_channels``), except members who already
      got a confirmed alert about the incident from another committee;
      ``by_committee_id`` is the committee whose staff or rules decided it.
    - possible (unverified): the responders and verifiers whose areas match, of the
      committees in ``scope`` (None: those the incident belongs to).
    - all-clear or correction: exactly the endpoints that got a confirmed or possible
      alert about it decided by a committee in ``scope`` (None: every committee), and
      the messages to responders; nobody hears it twice. Alerts about the incident
      still waiting in the queue are cancelled instead of sent late.
    """
    now = timezone.now()
    previous = incident.alerts.filter(purpose__in=FOLLOWED_UP).order_by("-sent_at", "-id").first()
    disk = targeting.alert_disk(incident.cell)
    if purpose == Purpose.CONFIRMED and committee_id is None:
        raise ValueError("a confirmed alert reaches one committee's members")
    alert = Alert.objects.create(
        incident_id=incident.pk,
        msg_type={
            Purpose.CONFIRMED: MsgType.ALERT,
            Purpose.POSSIBLE: MsgType.ALERT,
            Purpose.ALL_CLEAR: MsgType.UPDATE,
            Purpose.CORRECTION: MsgType.CANCEL,
        }[Purpose(purpose)],
        purpose=purpose,
        certainty=Certainty.POSSIBLE if purpose == Purpose.POSSIBLE else Certainty.OBSERVED,
        cell=disk.cell,
        ring=disk.ring,
        sent_at=now,
        expires_at=now + timedelta(hours=6),
        references=previous if purpose != Purpose.POSSIBLE else None,
        all_channels=all_channels,
        committee_id=committee_id,
        by_committee_id=by_committee_id or committee_id,
    )
    if purpose == Purpose.CONFIRMED:
        assert committee_id is not None
        match = targeting.recipients(disk)
        written = _insert_for_members(
            alert,
            match,
            now,
            all_channels=all_channels,
            committee_id=committee_id,
            once_per_incident=previous is not None,
        )
    elif purpose == Purpose.POSSIBLE:
        if scope is None:
            scope = set(incident.committees.values_list("pk", flat=True))
        responders = targeting.responders(disk, scope)
        written = _insert_for_members(
            alert, Match(array("q"), add=responders), now, all_channels=False
        )
    else:
        Delivery.objects.filter(
            alert__incident_id=incident.pk,
            alert__purpose__in=FOLLOWED_UP,
            status__in=RETRYABLE,
        ).update(status=DeliveryStatus.CANCELLED, error="superseded", lease_until=None)
        written = _insert_follow_up(alert, incident, now, scope=scope)
    alert.targeted = written
    alert.save(update_fields=["targeted"])
    # Committee channels (Apprise) hear what members hear.
    posts.queue(alert, scope=scope)
    transaction.on_commit(lambda: _wake_workers(incident.pk))
    return alert


def issue_direct(incident: Incident, purpose: str, member_ids: set[int]) -> Alert:
    """Create a message about ``incident`` to the given members only (a request to
    verify, a notice to staff), each on their first usable channel. Call inside the
    deciding transaction."""
    now = timezone.now()
    disk = targeting.alert_disk(incident.cell)
    alert = Alert.objects.create(
        incident_id=incident.pk,
        msg_type=MsgType.ALERT,
        purpose=purpose,
        certainty=Certainty.POSSIBLE,
        cell=disk.cell,
        ring=disk.ring,
        sent_at=now,
        expires_at=now + timedelta(hours=6),
    )
    alert.targeted = _insert_for_members(
        alert, Match(array("q"), add=set(member_ids)), now, all_channels=False
    )
    alert.save(update_fields=["targeted"])
    transaction.on_commit(lambda: _wake_workers(incident.pk))
    return alert


def heard(incident: Incident, scope: set[int] | None = None) -> bool:
    """Return whether anyone got (or is being sent) a confirmed or possible alert about
    ``incident`` decided by a committee in ``scope`` (None: any), or a message to
    responders: then they must hear how it ended."""
    rows = Delivery.objects.filter(
        alert__incident_id=incident.pk,
        alert__purpose__in=FOLLOWED_UP,
        status__in=[DeliveryStatus.SENT, DeliveryStatus.SENDING],
    )
    if scope is not None:
        rows = rows.filter(_in_scope("alert__", scope))
    return rows.exists()


def owed_follow_ups(incident: Incident) -> dict[int, int]:
    """Return, for each committee that decided a confirmed alert about ``incident``, how
    many members it reached who have not heard how it ended (each committee sends its
    own all-clear or correction)."""
    followed = Delivery.objects.filter(
        alert__incident_id=incident.pk, alert__purpose__in=[Purpose.ALL_CLEAR, Purpose.CORRECTION]
    ).values("endpoint_id")
    rows = (
        Delivery.objects.filter(
            alert__incident_id=incident.pk,
            alert__purpose=Purpose.CONFIRMED,
            alert__by_committee__isnull=False,
            status__in=[DeliveryStatus.SENT, DeliveryStatus.SENDING],
        )
        .exclude(endpoint_id__in=followed)
        .values("alert__by_committee_id")
        .annotate(n=Count("member_id", distinct=True))
    )
    return {r["alert__by_committee_id"]: r["n"] for r in rows}


def _in_scope(prefix: str, scope: set[int]) -> Q:
    """Alerts decided by, or reaching, a committee in ``scope``, and incident-wide ones."""
    return (
        Q(**{f"{prefix}by_committee_id__in": scope})
        | Q(**{f"{prefix}committee_id__in": scope})
        | Q(**{f"{prefix}by_committee__isnull": True})
    )


_COLUMNS = (
    "alert_id, member_id, endpoint_id, kind, priority, status, attempts, next_attempt_at, "
    "claim_token, error, created_at, fell_back, extra"
)


def _row_values(alert: Alert, now: datetime) -> list[Any]:
    when = connection.ops.adapt_datetimefield_value(now)
    return [alert.pk, PRIORITY[Purpose(alert.purpose)], DeliveryStatus.QUEUED, when, when]


def _insert_for_members(
    alert: Alert,
    match: Match,
    now: datetime,
    *,
    all_channels: bool,
    committee_id: int | None = None,
    once_per_incident: bool = False,
) -> int:
    """Write one delivery per member reached (their first usable endpoint, or every one)
    in one INSERT ... SELECT; return how many members. Member ids travel as array
    parameters and the rows never pass through Python; the database also drops the
    repeats of a member matched twice.

    With ``committee_id``, only that committee's members are reached; with
    ``once_per_incident``, not members who got a confirmed alert about the same incident
    already (from another committee's alert)."""
    if not match.ids and not match.add:
        return 0
    delivery = Delivery._meta.db_table
    endpoint = ContactEndpoint._meta.db_table
    alerts = Alert._meta.db_table
    membership = Membership._meta.db_table
    if connection.vendor == "postgresql":
        member_in = "e.member_id = ANY(%s)"

        def param(ids: Iterable[int]) -> Any:
            return list(ids)
    else:
        member_in = "e.member_id IN (SELECT value FROM json_each(%s))"

        def param(ids: Iterable[int]) -> Any:
            return json.dumps(list(ids))

    conditions, params = [], []
    if match.ids:
        if match.stale:
            conditions.append(f"({member_in} AND NOT {member_in})")
            params += [param(match.ids.tolist()), param(sorted(match.stale))]
        else:
            conditions.append(member_in)
            params.append(param(match.ids.tolist()))
    if match.add:
        conditions.append(member_in)
        params.append(param(sorted(match.add)))
    # Only table names are formatted in; values are parameters.
    restrict = ""
    if committee_id is not None:
        restrict += (
            f" AND e.member_id IN (SELECT member_id FROM {membership} WHERE committee_id = %s)"  # noqa: S608, E501
        )
        params.append(committee_id)
    if once_per_incident:
        restrict += f" AND NOT EXISTS (SELECT 1 FROM {delivery} d JOIN {alerts} a ON a.id = d.alert_id WHERE a.incident_id = %s AND a.purpose = %s AND d.member_id = e.member_id)"  # noqa: S608, E501
        params += [alert.incident_id, Purpose.CONFIRMED.value]
    first_only = "" if all_channels else "WHERE t.rn = 1"
    # Only table names and fixed fragments are formatted in; every value is a parameter.
    sql = f"""
        INSERT INTO {delivery} ({_COLUMNS})
        SELECT %s, t.member_id, t.id, t.kind, %s, %s, 0, %s, '', '', %s, FALSE, t.rn > 1
        FROM (
            SELECT e.member_id, e.id, e.kind, ROW_NUMBER() OVER (
                PARTITION BY e.member_id ORDER BY e.priority, e.id
            ) AS rn
            FROM {endpoint} e
            WHERE ({" OR ".join(conditions)})
              AND e.verified_at IS NOT NULL AND e.disabled_at IS NULL{restrict}
        ) t
        {first_only}
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*_row_values(alert, now), *params])
        written = cursor.rowcount
    return _people(alert, written) if all_channels else written


def _insert_follow_up(
    alert: Alert, incident: Incident, now: datetime, *, scope: set[int] | None
) -> int:
    """Write the all-clear or correction for every endpoint that got (or is being sent)
    an alert about ``incident`` in ``scope`` (see issue_alert), and has not had one,
    in one INSERT ... SELECT; return how many members."""
    delivery = Delivery._meta.db_table
    alerts = Alert._meta.db_table
    in_scope, scope_params = "", []
    if scope is not None:
        ids = sorted(scope) or [0]
        marks = ", ".join(["%s"] * len(ids))
        in_scope = (
            f" AND (a.by_committee_id IN ({marks}) OR a.committee_id IN ({marks})"
            " OR a.by_committee_id IS NULL)"
        )
        scope_params = [*ids, *ids]
    sql = f"""
        INSERT INTO {delivery} ({_COLUMNS})
        SELECT %s, d.member_id, d.endpoint_id, MIN(d.kind), %s, %s, 0, %s, '', '', %s, FALSE,
               ROW_NUMBER() OVER (PARTITION BY d.member_id ORDER BY d.endpoint_id) > 1
        FROM {delivery} d JOIN {alerts} a ON a.id = d.alert_id
        WHERE a.incident_id = %s AND a.purpose IN (%s, %s) AND d.status IN (%s, %s){in_scope}
          AND NOT EXISTS (
            SELECT 1 FROM {delivery} f JOIN {alerts} fa ON fa.id = f.alert_id
            WHERE fa.incident_id = %s AND fa.purpose IN (%s, %s)
              AND f.endpoint_id = d.endpoint_id
          )
        GROUP BY d.member_id, d.endpoint_id
    """  # noqa: S608
    params = [
        *_row_values(alert, now),
        incident.pk,
        *(p.value for p in FOLLOWED_UP),
        DeliveryStatus.SENT.value,
        DeliveryStatus.SENDING.value,
        *scope_params,
        incident.pk,
        Purpose.ALL_CLEAR.value,
        Purpose.CORRECTION.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        written = cursor.rowcount
    # A member who got the alert on two channels hears how it ended on both.
    return _people(alert, written)


def _people(alert: Alert, written: int) -> int:
    """Return how many members the ``written`` deliveries of ``alert`` reach: a
    member's rows after their first are marked extra. ``targeted`` counts people, not
    channels (the two-person rule and the incident page count people)."""
    return written - Delivery.objects.filter(alert=alert, extra=True).count()


@receiver(left_every_committee)
def cancel_for_revoked(sender: Any, *, member: Member, **kwargs: Any) -> None:
    """Cancel what is still queued for a member just removed from their last committee
    (tocsin.committees.services.revoke, in its transaction)."""
    Delivery.objects.filter(
        member=member, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED]
    ).update(status=DeliveryStatus.CANCELLED, error="revoked")


@task()
def deliver_outbox() -> int:
    """Send every due delivery; return how many were sent."""
    return drain().sent


def _wake_workers(incident_id: int) -> None:
    live.publish(f"incident:{incident_id}")
    try:
        deliver_outbox.enqueue()
    except Exception:  # the worker's sweep sends them anyway
        logger.exception("could not enqueue the outbox task")


# --- claiming ---


class Batch(list[int]):
    """The ids of claimed deliveries, with the token of the claim."""

    # Django rebuilds list values with type(value)(iterable) when resolving lookups.
    def __init__(self, ids: Iterable[int] = (), token: str = "") -> None:
        super().__init__(ids)
        self.token = token


def claim(limit: int | None = None, *, kind: str | None = None) -> Batch:
    """Lease up to ``limit`` due deliveries (of channel ``kind``, or of any) to this
    worker: first those whose lease ran out (a worker crashed), then the most urgent
    due ones. Both reads come from partial indexes in order and stop at the limit."""
    limit = limit or settings.DELIVERY_BATCH
    token = uuid.uuid4().hex
    now = timezone.now()
    lease = now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    skip_locked = connection.features.has_select_for_update_skip_locked
    with transaction.atomic():
        ids: list[int] = []
        expired = Delivery.objects.filter(status=DeliveryStatus.SENDING, lease_until__lt=now)
        due = Delivery.objects.filter(status__in=RETRYABLE, next_attempt_at__lte=now)
        if kind is not None:
            expired, due = expired.filter(kind=kind), due.filter(kind=kind)
        for qs in (
            expired.order_by("lease_until", "id"),
            due.order_by("priority", "next_attempt_at", "id"),
        ):
            if len(ids) >= limit:
                break
            if skip_locked:
                qs = qs.select_for_update(skip_locked=True)
            # On SQLite the IMMEDIATE transaction holds the write lock, so no other
            # worker can claim between this read and the update below.
            ids += qs.values_list("id", flat=True)[: limit - len(ids)]
        if ids:
            Delivery.objects.filter(id__in=ids).update(
                status=DeliveryStatus.SENDING,
                lease_until=lease,
                claim_token=token,
                attempts=F("attempts") + 1,
            )
    return Batch(ids, token)


def claim_unhandled(kinds: list[str]) -> Batch:
    """Claim due rows of channels this process has no transport for (say, a channel the
    operator turned off after alerts were queued), so they fail visibly."""
    token = uuid.uuid4().hex
    now = timezone.now()
    with transaction.atomic():
        qs = Delivery.objects.filter(status__in=RETRYABLE, next_attempt_at__lte=now).exclude(
            kind__in=kinds
        )
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        ids = list(qs.order_by("id").values_list("id", flat=True)[: settings.DELIVERY_BATCH])
        if ids:
            Delivery.objects.filter(id__in=ids).update(
                status=DeliveryStatus.SENDING,
                lease_until=now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
                claim_token=token,
                attempts=F("attempts") + 1,
            )
    return Batch(ids, token)


# --- pacing ---


class RateLimiter:
    """Messages per second for one channel in this process, and a pause for the whole
    channel when its provider answers 429 with Retry-After."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._next = 0.0
        self._paused_until = 0.0

    def paused_for(self) -> float:
        """Seconds the channel stays paused (0 if it is not)."""
        return max(0.0, self._paused_until - time.monotonic())

    def acquire(self) -> float:
        """Wait for this send's turn. Return 0, or, if the channel is paused for longer
        than a moment, the seconds left without waiting (the send is put back)."""
        with self._lock:
            now = time.monotonic()
            if self._paused_until - now > 1.0:
                return self._paused_until - now
            at = max(now, self._paused_until)
            if self.rate:
                at = max(at, self._next)
                self._next = at + 1.0 / self.rate
        if at > now:
            time.sleep(at - now)
        return 0.0

    def pause(self, seconds: float) -> None:
        with self._lock:
            until = time.monotonic() + min(seconds, MAX_PAUSE)
            self._paused_until = max(self._paused_until, until)


# A provider asking for a longer pause is asked again after this long.
MAX_PAUSE = 900.0


_limiters: dict[str, RateLimiter] = {}
_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()
# The send pools' threads are named after this and their channel.
SEND_THREAD_PREFIX = "send-"


def reset_pacing() -> None:
    """Forget rates, pauses and thread pools (tests change the settings)."""
    with _pools_lock:
        _limiters.clear()
        for pool in _pools.values():
            pool.shutdown(wait=False)
        _pools.clear()


def limiter(kind: str) -> RateLimiter:
    with _pools_lock:
        if kind not in _limiters:
            _limiters[kind] = RateLimiter(settings.DELIVERY_RATE.get(kind, 0))
        return _limiters[kind]


def _pool_size(kind: str) -> int:
    return int(settings.DELIVERY_CONCURRENCY.get(kind, 4))


def _pool(kind: str) -> ThreadPoolExecutor | None:
    size = _pool_size(kind)
    if size <= 0:
        return None
    with _pools_lock:
        if kind not in _pools:
            _pools[kind] = ThreadPoolExecutor(
                max_workers=size, thread_name_prefix=f"{SEND_THREAD_PREFIX}{kind}"
            )
        return _pools[kind]


def batch_limit(kind: str) -> int:
    """Claim no more than the channel can send in a quarter of the lease."""
    rate = settings.DELIVERY_RATE.get(kind, 0)
    if not rate:
        return settings.DELIVERY_BATCH
    return max(1, min(settings.DELIVERY_BATCH, int(rate * settings.DELIVERY_LEASE_SECONDS / 4)))


# --- sending ---


@dataclass
class Outcome:
    sent: int = 0
    failed: int = 0
    dead: int = 0

    def __iadd__(self, other: Outcome) -> Outcome:
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead
        return self


@dataclass
class Row:
    """What sending one delivery needs, read in one query per batch (no model objects:
    a batch of 500 would otherwise build 2,500 of them)."""

    pk: int
    alert: Alert
    member_id: int
    endpoint_id: int
    kind: str
    attempts: int
    priority: int
    sealed: bytes
    disabled: bool
    language: str

    @property
    def alert_id(self) -> int:
        return self.alert.pk


@dataclass
class _Job:
    delivery: Row
    payload: dict[str, Any]
    message: Message
    mine: QuerySet[Delivery]  # the batch's rows still leased to this worker
    token: str


def _send(transport: Transport, kind: str, job: _Job) -> BaseException | None:
    """Send one job; return its error, if any. Runs on a pool thread: no database."""
    paused = limiter(kind).acquire()
    if paused:
        return Deferred(paused)
    try:
        transport.send(
            job.payload,
            job.message,
            idempotency_key=f"a{job.delivery.alert_id}-e{job.delivery.endpoint_id}",
        )
    except Exception as e:  # recorded by the claiming thread
        if isinstance(e, TransportError) and e.retry_after and transport.shared_limit:
            limiter(kind).pause(e.retry_after)
        return e
    return None


class Deferred(TransportError):
    """Not sent: the channel is paused. Put back without counting an attempt."""

    def __init__(self, seconds: float) -> None:
        super().__init__("channel paused by its provider", retry_after=seconds)


# Sent rows are recorded in small groups: a worker killed mid-batch re-sends at most
# what it had not recorded yet, which the idempotency key lets the provider drop. A
# group is at least RECORD_EVERY rows, recorded at most every RECORD_SECONDS while
# sends stream in fast (one commit per ten sends would cap a PostgreSQL worker), and
# never more than RECORD_MAX rows.
RECORD_EVERY = 10
RECORD_SECONDS = 0.05
RECORD_MAX = 500


def send_batch(batch: Batch, outcome: Outcome) -> set[int]:
    """Send the deliveries leased under ``batch.token`` and record each result. Return
    the ids of the incidents touched. Rows whose lease this worker lost are skipped."""
    return send_batches([batch], outcome)


def send_batches(batches: list[Batch], outcome: Outcome) -> set[int]:
    """Send several claimed batches (one per channel) side by side: a slow channel
    never holds back another's sends. Return the ids of the incidents touched."""
    renderer = messages.Renderer()
    by_kind: dict[str, list[_Job]] = {}
    touched: set[int] = set()
    for batch in batches:
        mine = Delivery.objects.filter(status=DeliveryStatus.SENDING, claim_token=batch.token)
        for d in _load(batch):
            touched.add(d.alert.incident_id)
            try:
                if d.disabled:
                    raise TransportError("endpoint disabled", permanent=True)
                payload = vault.unseal(d.sealed)
                payload.setdefault("member_id", d.member_id)
                payload.setdefault("channel", d.kind)
                message = renderer.render(d.alert, member_id=d.member_id, language=d.language)
                message.extra["topic"] = f"i{d.alert.incident_id}-e{d.endpoint_id}"
                # For channels whose provider reports delivery back (SMS status callbacks).
                message.extra["delivery"] = d.pk
                message.extra["language"] = d.language
                if d.kind in RECEIPT_KINDS:
                    message.extra["receipt"] = receipt_url(d.pk)
            except vault.VaultLocked:
                # Locked since the claim: the row goes back, its attempt not counted.
                _record_failure(d, mine, Deferred(1.0), outcome)
                continue
            except Exception as e:
                _record_failure(d, mine, e, outcome)
                continue
            by_kind.setdefault(d.kind, []).append(_Job(d, payload, message, mine, batch.token))

    sent = _SentRows([b.token for b in batches])
    results: queue.SimpleQueue[tuple[_Job, BaseException | None] | None] = queue.SimpleQueue()
    lanes: list[_Lane] = []
    inline: list[tuple[Transport, str, _Job]] = []
    runners = 0
    for kind, jobs in by_kind.items():
        try:
            transport = transports.get(kind)
        except TransportError as e:
            for job in jobs:
                _record_failure(job.delivery, job.mine, e, outcome)
            continue
        pool = _pool(kind) if transport.concurrent else None
        if pool is None:
            inline.extend((transport, kind, job) for job in jobs)
            continue
        lane = _Lane(transport, kind, jobs, results)
        lanes.append(lane)
        for _ in range(min(_pool_size(kind), len(jobs))):
            pool.submit(lane.run)
            runners += 1
    try:
        # Sends that must stay in this thread run while the pools work on the others.
        for transport, kind, job in inline:
            _finish(job, _send(transport, kind, job), outcome, sent)
        while runners:
            result = results.get()
            if result is None:  # a runner found its lane empty
                runners -= 1
            else:
                _finish(*result, outcome, sent)
        sent.record()
    except BaseException:
        # Recording failed (the database went away): send nothing more of these
        # batches; their leases run out and they are sent again, once.
        for lane in lanes:
            lane.stop()
        raise
    return touched


class _Lane:
    """One channel's jobs of a batch, taken in turn by that channel's pool threads (one
    task per thread, not one per delivery: handing each send to the pool cost more than
    a fast send itself). Results go to the claiming thread, which records them."""

    def __init__(
        self,
        transport: Transport,
        kind: str,
        jobs: list[_Job],
        results: queue.SimpleQueue[tuple[_Job, BaseException | None] | None],
    ) -> None:
        self.transport, self.kind = transport, kind
        self.jobs = deque(jobs)
        self.results = results
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True
        self.jobs.clear()

    def run(self) -> None:
        try:
            while not self.stopped:
                try:
                    job = self.jobs.popleft()
                except IndexError:
                    return
                self.results.put((job, _send(self.transport, self.kind, job)))
        finally:
            self.results.put(None)


class _SentRows:
    """Sent rows not yet recorded, per claim token; recorded in groups as they come."""

    def __init__(self, tokens: list[str]) -> None:
        self.ids: dict[str, list[int]] = {t: [] for t in tokens}
        self.pending = 0
        self.recorded = time.monotonic()

    def add(self, token: str, delivery_id: int) -> None:
        self.ids[token].append(delivery_id)
        self.pending += 1
        waited = time.monotonic() - self.recorded
        if self.pending >= RECORD_MAX or (self.pending >= RECORD_EVERY and waited > RECORD_SECONDS):
            self.record()

    def record(self) -> None:
        now = timezone.now()
        for token, ids in self.ids.items():
            if ids:
                Delivery.objects.filter(
                    id__in=ids, status=DeliveryStatus.SENDING, claim_token=token
                ).update(status=DeliveryStatus.SENT, sent_at=now, lease_until=None, error="")
                ids.clear()
        self.pending = 0
        self.recorded = time.monotonic()


def _load(batch: Batch) -> list[Row]:
    """Read the rows still leased under ``batch.token``, with what sending needs."""
    values = Delivery.objects.filter(
        id__in=batch,
        status=DeliveryStatus.SENDING,
        claim_token=batch.token,
        lease_until__gt=timezone.now(),
    ).values_list(
        "id",
        "alert_id",
        "member_id",
        "endpoint_id",
        "endpoint__kind",
        "attempts",
        "priority",
        "endpoint__sealed",
        "endpoint__disabled_at",
        "member__language",
    )
    rows = list(values)
    alerts = Alert.objects.select_related("incident").in_bulk({r[1] for r in rows})
    return [
        Row(
            pk=pk,
            alert=alerts[alert_id],
            member_id=member_id,
            endpoint_id=endpoint_id,
            kind=kind,
            attempts=attempts,
            priority=priority,
            sealed=bytes(sealed),
            disabled=disabled_at is not None,
            language=language,
        )
        for (
            pk,
            alert_id,
            member_id,
            endpoint_id,
            kind,
            attempts,
            priority,
            sealed,
            disabled_at,
            language,
        ) in rows
    ]


def _finish(job: _Job, error: BaseException | None, outcome: Outcome, sent: _SentRows) -> None:
    if error is None:
        sent.add(job.token, job.delivery.pk)
        outcome.sent += 1
    else:
        _record_failure(job.delivery, job.mine, error, outcome)


def _record_failure(
    d: Row, mine: QuerySet[Delivery], error: BaseException, outcome: Outcome
) -> None:
    row = mine.filter(pk=d.pk)
    if not isinstance(error, TransportError):
        # A bug or a broken sealed row: keep it visible for operators, never lose the rest.
        logger.error("delivery %s crashed", d.pk, exc_info=error)
        row.update(
            status=DeliveryStatus.DEAD,
            error=f"internal error: {type(error).__name__}",
            lease_until=None,
        )
        outcome.dead += 1
        return
    if isinstance(error, Deferred):
        row.update(
            status=DeliveryStatus.QUEUED,
            attempts=F("attempts") - 1,
            lease_until=None,
            next_attempt_at=timezone.now() + timedelta(seconds=error.retry_after or 1),
        )
        return
    logger.info("delivery %s failed: %s", d.pk, error.message)
    if error.permanent or d.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
        row.update(status=DeliveryStatus.DEAD, error=error.message[:200], lease_until=None)
        outcome.dead += 1
        if error.permanent and not isinstance(error, NoTransport):
            # An endpoint already off keeps its reason (the member's STOP, an unsubscribe).
            ContactEndpoint.objects.filter(pk=d.endpoint_id, disabled_at__isnull=True).update(
                disabled_at=timezone.now(), last_error=error.message[:200]
            )
        fall_back(d)
    else:
        wait = max(backoff(d.attempts), error.retry_after or 0)
        row.update(
            status=DeliveryStatus.FAILED,
            error=error.message[:200],
            lease_until=None,
            next_attempt_at=timezone.now() + timedelta(seconds=wait),
        )
        outcome.failed += 1


def send_one(delivery_id: int, outcome: Outcome, *, token: str) -> int | None:
    """Send one delivery leased under ``token``; return its incident id, or None if this
    worker no longer holds it."""
    touched = send_batch(Batch([delivery_id], token), outcome)
    return next(iter(touched), None)


def fall_back(d: Row | Delivery) -> bool:
    """Queue the alert on the member's next usable endpoint not yet tried; return
    whether there was one."""
    if d.alert.all_channels:
        return False  # every channel already has its own delivery
    tried = Delivery.objects.filter(alert_id=d.alert_id, member_id=d.member_id).values_list(
        "endpoint_id"
    )
    nxt = (
        ContactEndpoint.objects.usable()
        .filter(member_id=d.member_id)
        .exclude(id__in=tried)
        .order_by("priority", "id")
        .first()
    )
    if nxt is None:
        return False
    Delivery.objects.get_or_create(
        alert_id=d.alert_id,
        endpoint=nxt,
        defaults={
            "member_id": d.member_id,
            "kind": nxt.kind,
            "priority": d.priority,
            "extra": True,
        },
    )
    return True


# --- draining ---

# One drain at a time per process: the task and the sweep would otherwise only contend
# for the same rows (and, on SQLite, for the write lock).
_drain_lock = threading.Lock()


def drain(*, max_batches: int | None = None, stop: threading.Event | None = None) -> Outcome:
    """Send due deliveries until none are left (or ``max_batches`` rounds).

    Each round claims a batch per channel and sends the channels side by side.
    Returns at once, doing nothing, if this process is already draining.
    """
    if not _drain_lock.acquire(blocking=False):
        return Outcome()
    try:
        return _drain(max_batches, stop)
    finally:
        _drain_lock.release()


def _drain(max_batches: int | None, stop: threading.Event | None = None) -> Outcome:
    outcome = Outcome()
    # While the vault is locked nothing is claimed: deliveries wait in the queue.
    if not locking.check():
        return outcome
    # Pushes no device acknowledged in time go to the member's next channel first.
    fall_back_unreceived()
    rounds = 0
    kinds = list(transports.registry())
    while max_batches is None or rounds < max_batches:
        if stop is not None and stop.is_set():
            break  # the worker is stopping: claim nothing more
        if rounds and not locking.check():
            break  # locked between batches
        rounds += 1
        batches = [
            claim(batch_limit(kind), kind=kind)
            for kind in kinds
            # A channel whose provider asked for a pause waits; the others go on.
            if limiter(kind).paused_for() <= 1.0
        ]
        batches = [b for b in batches if b]
        if not batches:
            # Rows of a channel no transport handles: claimed to fail them visibly.
            batches = [b for b in [claim_unhandled(kinds)] if b]
        if not batches:
            break
        live.publish(*(f"incident:{i}" for i in send_batches(batches, outcome)))
    return outcome


# --- receipts ---

# Channels whose arrival the member's device confirms: the app's service worker posts
# the receipt link when the push arrives.
RECEIPT_KINDS = frozenset({"webpush"})
RECEIPT_SALT = "tocsin.delivery-receipt"


def receipt_url(delivery_id: int) -> str:
    token = signing.dumps(delivery_id, salt=RECEIPT_SALT)
    return settings.SITE_URL + reverse("delivery_receipt", args=[token])


def record_receipt(token: str) -> bool:
    """Mark the delivery in a signed receipt token received; False if the token is bad."""
    try:
        delivery_id = int(signing.loads(token, salt=RECEIPT_SALT, max_age=7 * 86400))
    except (signing.BadSignature, TypeError, ValueError):
        return False
    if Delivery.objects.filter(pk=delivery_id, receipt_at__isnull=True).update(
        receipt_at=timezone.now()
    ):
        incident_id = (
            Delivery.objects.filter(pk=delivery_id)
            .values_list("alert__incident_id", flat=True)
            .first()
        )
        if incident_id:
            live.publish(f"incident:{incident_id}")
    return True


def fall_back_unreceived(limit: int = 500) -> int:
    """Send confirmed alerts that no device acknowledged in time to the member's next
    channel as well. Return how many deliveries were followed up."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.DELIVERY_RECEIPT_SECONDS)
    stale = list(
        Delivery.objects.select_related("alert")
        .filter(
            status=DeliveryStatus.SENT,
            receipt_at__isnull=True,
            fell_back=False,
            sent_at__lt=cutoff,
            # Alerts expire after six hours: older rows are never looked at again.
            sent_at__gt=now - timedelta(hours=6),
            kind__in=RECEIPT_KINDS,
            alert__purpose=Purpose.CONFIRMED,
            alert__incident__state=State.CONFIRMED,
        )
        .order_by("sent_at")[:limit]
    )
    incidents = set()
    followed = 0
    for d in stale:
        with transaction.atomic():
            claimed = Delivery.objects.filter(pk=d.pk, fell_back=False).update(fell_back=True)
            if claimed and fall_back(d):
                followed += 1
                incidents.add(d.alert.incident_id)
    for incident_id in incidents:
        live.publish(f"incident:{incident_id}")
    return followed


# --- progress ---


# Each person is counted once, in the column of their furthest-along delivery (a member
# whose first channel failed and whose next one sent is "sent"); lower ranks win.
_RANK = {
    DeliveryStatus.SENT: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.QUEUED: 1,
    DeliveryStatus.FAILED: 2,
    DeliveryStatus.DEAD: 3,
    DeliveryStatus.CANCELLED: 4,
}
_COLUMN = {0: "sent", 1: "queued", 2: "retrying", 3: "failed", 4: "cancelled"}
_PENDING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.FAILED)


def progress(incident: Incident) -> list[dict[str, Any]]:
    """Return, per alert about ``incident``, where each person it targeted stands, for
    the dispatcher: queued (or being sent), sent (and of those, received by a device),
    retrying, failed, cancelled before sending, or gone (their delivery records were
    deleted with their account, or by the retention purge). The columns add up to
    ``targeted``.

    Rows are counted per status in one pass; then the few members with more than one
    row (a fall-back, an alert to every channel: they have an extra row) are counted
    again as one person each, in the column of their furthest-along row. The live
    incident page runs this every few seconds, so the common case stays one scan."""
    rows = _count_rows(incident)
    people = _count_people_with_extras(incident)
    out = []
    for alert in incident.alerts.all():
        counts = dict.fromkeys(_COLUMN.values(), 0)
        received = 0
        pending = False
        last_sent = None
        for status, n, receipts, latest in rows.get(alert.pk, []):
            counts[_COLUMN[_RANK[DeliveryStatus(status)]]] += n
            received += receipts
            pending = pending or status in _PENDING
            if latest is not None:
                last_sent = latest if last_sent is None else max(last_sent, latest)
        extra = people.get(alert.pk)
        if extra is not None:
            for status, n, receipts in extra.rows:
                counts[_COLUMN[_RANK[DeliveryStatus(status)]]] -= n
                received -= receipts
            for rank, n, receipts in extra.people:
                counts[_COLUMN[rank]] += n
                received += receipts
        out.append(
            {
                "alert": alert,
                "targeted": alert.targeted,
                **counts,
                "received": received,
                # Targeted people with no delivery row left.
                "gone": max(0, alert.targeted - sum(counts.values())),
                "done": not pending,
                "seconds": (last_sent - alert.sent_at).total_seconds() if last_sent else None,
            }
        )
    return out


def _count_rows(incident: Incident) -> dict[int, list[tuple[str, int, int, Any]]]:
    """Return, per alert, (status, rows, rows received, latest sent_at) for each status."""
    found: dict[int, list[tuple[str, int, int, Any]]] = {}
    rows = (
        Delivery.objects.filter(alert__incident_id=incident.pk)
        .values("alert_id", "status")
        .annotate(
            n=Count("id"),
            received=Count("id", filter=Q(receipt_at__isnull=False, status=DeliveryStatus.SENT)),
            latest=Max("sent_at"),
        )
        .order_by()
    )
    for r in rows:
        found.setdefault(r["alert_id"], []).append(
            (r["status"], r["n"], r["received"], r["latest"])
        )
    return found


@dataclass
class _Extras:
    """The rows of an alert's members who have more than one, counted per status
    (``rows``: status, rows, rows received) and per person (``people``: rank of their
    furthest-along row, people, people with a receipt)."""

    rows: list[tuple[str, int, int]]
    people: list[tuple[int, int, int]]


def _count_people_with_extras(incident: Incident) -> dict[int, _Extras]:
    """Return, per alert about ``incident`` that has members with an extra row, their
    rows counted both ways (see _Extras). The members come from the partial index of
    extra rows; their rows, from the member index."""
    delivery = Delivery._meta.db_table
    alerts = Alert._meta.db_table
    rank = " ".join(f"WHEN %s THEN {r:d}" for r in _RANK.values())
    rank_params = [status.value for status in _RANK]
    # Only table names and fixed fragments are formatted in; every value is a parameter.
    subset = f"""
        SELECT d.alert_id, d.member_id, d.status,
               CASE WHEN d.receipt_at IS NOT NULL AND d.status = %s THEN 1 ELSE 0 END AS got,
               CASE d.status {rank} END AS rank
        FROM (
            SELECT DISTINCT x.alert_id, x.member_id
            FROM {delivery} x JOIN {alerts} a ON a.id = x.alert_id
            WHERE a.incident_id = %s AND x.extra
        ) e
        JOIN {delivery} d ON d.member_id = e.member_id AND d.alert_id = e.alert_id
    """  # noqa: S608
    subset_params: list[str | int] = [DeliveryStatus.SENT.value, *rank_params, incident.pk]
    found: dict[int, _Extras] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT alert_id, status, COUNT(*), SUM(got) FROM ({subset}) s"  # noqa: S608
            " GROUP BY alert_id, status",
            subset_params,
        )
        for alert_id, status, n, got in cursor.fetchall():
            found.setdefault(alert_id, _Extras([], [])).rows.append((status, n, int(got or 0)))
        cursor.execute(
            f"""SELECT alert_id, best, COUNT(*), SUM(got) FROM (
                    SELECT alert_id, member_id, MIN(rank) AS best, MAX(got) AS got
                    FROM ({subset}) s GROUP BY alert_id, member_id
                ) m GROUP BY alert_id, best""",  # noqa: S608
            subset_params,
        )
        for alert_id, best, n, got in cursor.fetchall():
            found.setdefault(alert_id, _Extras([], [])).people.append((int(best), n, int(got or 0)))
    return found
