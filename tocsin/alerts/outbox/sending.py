"""Sending claimed batches: each row unsealed and rendered, then sent on its channel's
pool of threads (or inline), and every result recorded by the claiming thread as it
returns, so a worker killed mid-batch re-sends only what was in flight.
"""

from __future__ import annotations

import queue
import time
from collections import deque
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from tocsin import vault
from tocsin.alerts import messages
from tocsin.alerts.models import Alert, Delivery, DeliveryStatus
from tocsin.alerts.outbox import claiming
from tocsin.alerts.outbox.claiming import Batch, Values
from tocsin.alerts.outbox.pacing import RateLimiter, _pool, _pool_size, limiter
from tocsin.alerts.outbox.receipts import RECEIPT_KINDS, receipt_url
from tocsin.alerts.outbox.recording import (
    RECORD_QUIET,
    RECORD_SECONDS,
    RECORD_WINDOW,
    Deferred,
    Outcome,
    Row,
    _SentRows,
)
from tocsin.alerts.outbox.resealing import open_fast, store, worker_key
from tocsin.alerts.outbox.retrying import _record_failure
from tocsin.transports import registry as transports
from tocsin.transports.base import Message, Transport, TransportError


class _Claim:
    """A batch's claim, shared by its jobs: the token its rows are leased under, and
    those rows while still leased to this worker (for recording a failure)."""

    __slots__ = ("mine", "token")

    def __init__(self, token: str) -> None:
        self.token = token
        self.mine = Delivery.objects.filter(status=DeliveryStatus.SENDING, claim_token=token)


# One delivery ready to send: its claimed values (claiming.Values), the opened payload,
# the rendered message and its claim. A tuple, not an object: one is made per delivery
# of a fan-out, and a tuple costs a tenth of a dataclass.
_Job = tuple[Values, dict[str, Any], Message, _Claim]


def _row(values: Values, alert: Alert) -> Row:
    """The delivery as ``_record_failure`` and ``fall_back`` take it (made on failure
    only: a batch of 500 would otherwise build 500 of them)."""
    pk, _, member_id, endpoint_id, kind, attempts, priority = values[:7]
    sealed, disabled_at, language, reseal = values[7:]
    return Row(
        pk,
        alert,
        member_id,
        endpoint_id,
        kind,
        attempts,
        priority,
        # No sealed details: the endpoint was removed after the row was written.
        bytes(sealed) if sealed is not None else b"",
        disabled_at is not None or sealed is None,
        language,
        bytes(reseal) if reseal is not None else None,
    )


def _send(
    transport: Transport, kind: str, job: _Job, pace: RateLimiter | None = None
) -> BaseException | None:
    """Send one job; return its error, if any. Runs on a pool thread: no database.
    ``pace`` is the channel's limiter (a lane takes it once)."""
    paused = (pace or limiter(kind)).acquire()
    if paused:
        return Deferred(paused)
    values, payload, message, _ = job
    try:
        transport.send(payload, message, idempotency_key=f"a{values[1]}-e{values[3]}")
    except Exception as e:  # recorded by the claiming thread
        if isinstance(e, TransportError) and e.retry_after and transport.shared_limit:
            (pace or limiter(kind)).pause(e.retry_after)
        return e
    return None


def send_batch(batch: Batch, outcome: Outcome) -> set[int]:
    """Send the deliveries leased under ``batch.token`` and record each result. Return
    the ids of the incidents touched. Rows whose lease this worker lost are skipped."""
    return send_batches([batch], outcome)


def send_batches(
    batches: list[Batch], outcome: Outcome, renderer: messages.Renderer | None = None
) -> set[int]:
    """Send several claimed batches (one per channel) side by side: a slow channel
    never holds back another's sends. Return the ids of the incidents touched.

    A drain passes one ``renderer`` for all its rounds: each alert is then rendered
    once per language in the drain, not once per batch."""
    renderer = renderer or messages.Renderer()
    by_kind: dict[str, list[_Job]] = {}
    touched: set[int] = set()
    # Endpoints opened the slow way this time, sealed again for the next alerts.
    seals: dict[int, bytes] = {}
    for batch in batches:
        _prepare(batch, renderer, by_kind, touched, seals, outcome)

    results: queue.SimpleQueue[tuple[_Job, BaseException | None] | None] = queue.SimpleQueue()
    # Pooled sends not yet recorded (those in flight included) never exceed the window.
    window = _Window(RECORD_WINDOW)
    lanes: list[_Lane] = []
    inline: dict[str, tuple[Transport, list[_Job]]] = {}
    runners = 0
    for kind, jobs in by_kind.items():
        try:
            transport = transports.get(kind)
        except TransportError as e:
            for job in jobs:
                _fail(job, e, outcome, renderer.alerts)
            continue
        pool = _pool(kind) if transport.concurrent else None
        if pool is None:
            inline[kind] = (transport, jobs)
            continue
        lane = _Lane(transport, kind, jobs, results, window)
        lanes.append(lane)
        threads = -(-len(jobs) // transport.messages_per_thread)
        for _ in range(min(_pool_size(kind), threads)):
            pool.submit(lane.run)
            runners += 1
    try:
        # Sends that must stay in this thread run while the pools work on the others;
        # each is recorded (with whatever the pools returned meanwhile) before the next.
        for kind, (transport, jobs) in inline.items():
            with transport.batch() as sender:
                for job in jobs:
                    ready = _ready(results)
                    runners -= _record(
                        [(job, _send(sender, kind, job)), *ready], outcome, renderer.alerts
                    )
                    if n := _pooled(ready):
                        window.release(n)
        while runners:
            group = _gather(results, runners)
            runners -= _record(group, outcome, renderer.alerts)
            if n := _pooled(group):
                window.release(n)
    except BaseException:
        # Recording failed (the database went away): send nothing more of these
        # batches; their leases run out and they are sent again, once.
        for lane in lanes:
            lane.stop()
        window.release(runners + 1)
        raise
    # After the sends: storing them never delays an alert.
    store(seals)
    return touched


def _prepare(
    batch: Batch,
    renderer: messages.Renderer,
    by_kind: dict[str, list[_Job]],
    touched: set[int],
    seals: dict[int, bytes],
    outcome: Outcome,
) -> None:
    """Open and render each row of ``batch`` still leased to this worker, adding a job
    per row to ``by_kind`` (a failure is recorded at once), the incidents to ``touched``
    and the endpoints opened the slow way to ``seals``.

    Once per delivery of a fan-out, so written flat: the claim's tuples as they are, no
    object per row, and each step's function looked up once per batch."""
    claim = _Claim(batch.token)
    try:
        key: bytes | None = worker_key()
    except vault.VaultLocked:
        key = None  # locked since the claim: each row below goes back
    rows = _load(batch)
    alerts = renderer.alerts
    missing = {v[1] for v in rows} - alerts.keys()
    if missing:
        alerts.update(Alert.objects.select_related("incident").in_bulk(missing))
    # Per alert: it, and the start of its messages' topics (its incident; reading a
    # model's key attribute is a descriptor call, so it is read once per batch).
    of_alert = {a: (alerts[a], f"i{alerts[a].incident_id}-e") for a in {v[1] for v in rows}}
    touched.update(alert.incident_id for alert, _ in of_alert.values())
    render = renderer.render
    for values in rows:
        pk, alert_id, member_id, endpoint_id, kind, _, _, sealed, disabled_at, language, reseal = (
            values
        )
        alert, topic = of_alert[alert_id]
        try:
            if disabled_at is not None or sealed is None:
                gone = "endpoint removed" if sealed is None else "endpoint disabled"
                raise TransportError(gone, permanent=True)
            payload, fresh = open_fast(sealed, reseal, key)
            if fresh is not None:
                seals[endpoint_id] = fresh
            payload.setdefault("member_id", member_id)
            payload.setdefault("channel", kind)
            extra = {
                "topic": f"{topic}{endpoint_id}",
                # For channels whose provider reports delivery back (SMS status callbacks).
                "delivery": pk,
                "language": language,
            }
            if kind in RECEIPT_KINDS:
                extra["receipt"] = receipt_url(pk)
            message = render(alert, member_id=member_id, language=language, extra=extra)
        except vault.VaultLocked:
            # Locked since the claim: the row goes back, its attempt not counted.
            _record_failure(_row(values, alert), claim.mine, Deferred(1.0), outcome)
            continue
        except Exception as e:
            _record_failure(_row(values, alert), claim.mine, e, outcome)
            continue
        jobs = by_kind.get(kind)
        if jobs is None:
            jobs = by_kind[kind] = []
        jobs.append((values, payload, message, claim))


class _Window:
    """Places for sends not yet recorded: a send thread takes one before each send, the
    claiming thread gives them back once it wrote the results. A queue of tokens, not a
    threading.Semaphore: its get and put are one C call each, the semaphore's a Python
    condition (taken and given back once per message of a fan-out)."""

    def __init__(self, places: int) -> None:
        self._tokens: queue.SimpleQueue[None] = queue.SimpleQueue()
        self.release(places)

    def acquire(self) -> None:
        self._tokens.get()

    def release(self, n: int = 1) -> None:
        for _ in range(n):
            self._tokens.put(None)


class _Lane:
    """One channel's jobs of a batch, taken in turn by that channel's pool threads (one
    task per thread, not one per delivery: handing each send to the pool cost more than
    a fast send itself). Results go to the claiming thread, which records them. A thread
    takes a place in the window before each send; the claiming thread gives it back once
    the result is written (see send_batches)."""

    def __init__(
        self,
        transport: Transport,
        kind: str,
        jobs: list[_Job],
        results: queue.SimpleQueue[tuple[_Job, BaseException | None] | None],
        window: _Window,
    ) -> None:
        self.transport, self.kind = transport, kind
        self.pace = limiter(kind)
        self.jobs = deque(jobs)
        self.results = results
        self.window = window
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True
        self.jobs.clear()

    def run(self) -> None:
        try:
            # One batch context per thread: an email lane's thread keeps one connection.
            with self.transport.batch() as sender:
                while not self.stopped:
                    self.window.acquire()
                    try:
                        job = self.jobs.popleft()
                    except IndexError:
                        self.window.release()
                        return
                    self.results.put((job, _send(sender, self.kind, job, self.pace)))
        finally:
            self.results.put(None)


def _load(batch: Batch) -> list[Values]:
    """Return the rows still leased under ``batch.token``, with what sending needs: as
    the claim read them while its lease lasts, else read again (rows whose lease ran out
    may be another worker's now). Sealed values come as bytes (a driver that gives
    another buffer type has them copied)."""
    now = timezone.now()
    values = batch.values
    if values is None or batch.lease_until is None or batch.lease_until <= now:
        values = _select(batch, now) if batch else []
    if values and not all(
        isinstance(v, bytes | None) for row in values[:1] for v in (row[7], row[10])
    ):
        values = [(*v[:7], _bytes(v[7]), v[8], v[9], _bytes(v[10])) for v in values]
    return values


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _select(batch: Batch, now: datetime) -> list[Values]:
    """Read the rows of ``batch`` still leased under its token."""
    delivery = Delivery._meta.db_table
    # Only table names and placeholders are formatted in.
    sql = f"""
        SELECT {claiming.columns(delivery)} FROM {delivery}
        WHERE id IN ({", ".join(["%s"] * len(batch))})
          AND status = %s AND claim_token = %s AND lease_until > %s
        ORDER BY priority, id
    """  # noqa: S608
    params = [
        *batch,
        DeliveryStatus.SENDING.value,
        batch.token,
        connection.ops.adapt_datetimefield_value(now),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _ready(
    results: queue.SimpleQueue[tuple[_Job, BaseException | None] | None],
) -> list[tuple[_Job, BaseException | None] | None]:
    """Return the results already waiting, without waiting for more."""
    ready = []
    while True:
        try:
            ready.append(results.get_nowait())
        except queue.Empty:
            return ready


def _gather(
    results: queue.SimpleQueue[tuple[_Job, BaseException | None] | None], runners: int
) -> list[tuple[_Job, BaseException | None] | None]:
    """Wait for the next results to record together: until the sends pause for
    RECORD_QUIET, the window is full (its send threads wait), every runner ended, or the
    first result waited RECORD_SECONDS."""
    group = [results.get()]
    ended = group.count(None)
    deadline = time.monotonic() + RECORD_SECONDS
    # Counted as they come (each result is a send or a runner's end), not recounted.
    while 0 < len(group) - ended < RECORD_WINDOW and ended < runners:
        try:
            # Those already waiting first, without a clock read each (fast sends).
            result = results.get_nowait()
        except queue.Empty:
            timeout = min(RECORD_QUIET, deadline - time.monotonic())
            if timeout <= 0:
                break
            try:
                result = results.get(timeout=timeout)
            except queue.Empty:
                break
        group.append(result)
        ended += result is None
    return group


def _pooled(group: list[tuple[_Job, BaseException | None] | None]) -> int:
    return len(group) - group.count(None)


def _fail(job: _Job, error: BaseException, outcome: Outcome, alerts: dict[int, Alert]) -> None:
    values, _, _, claim = job
    _record_failure(_row(values, alerts[values[1]]), claim.mine, error, outcome)


def _record(
    group: list[tuple[_Job, BaseException | None] | None],
    outcome: Outcome,
    alerts: dict[int, Alert],
) -> int:
    """Record a group of results: failures one by one, sends in one UPDATE. Return how
    many runners the group says ended (None results).

    While sends are slower than RECORD_QUIET (any real provider), each is recorded alone
    as soon as it returns; while they are faster, the writes group, up to the window (no
    round trip per message)."""
    sent = _SentRows()
    ended = 0
    ids = sent.ids
    for result in group:
        if result is None:  # a runner found its lane empty
            ended += 1
            continue
        job, error = result
        if error is None:
            token = job[3].token
            of_claim = ids.get(token)
            if of_claim is None:
                of_claim = ids[token] = []
            of_claim.append(job[0][0])
        else:
            _fail(job, error, outcome, alerts)
    if ids:
        outcome.sent += sum(map(len, ids.values()))
    sent.record()
    return ended


def send_one(delivery_id: int, outcome: Outcome, *, token: str) -> int | None:
    """Send one delivery leased under ``token``; return its incident id, or None if this
    worker no longer holds it."""
    touched = send_batch(Batch([delivery_id], token), outcome)
    return next(iter(touched), None)
