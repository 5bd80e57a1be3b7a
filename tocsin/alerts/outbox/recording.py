"""Recording results: the outcome of a drain, the rows a batch sends, and sent rows
recorded as their sends return.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from tocsin.alerts.models import Alert, Delivery, DeliveryStatus
from tocsin.transports.base import TransportError


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
    # The endpoint's worker seal, if stored (tocsin.alerts.outbox.resealing).
    reseal: bytes | None = None

    @property
    def alert_id(self) -> int:
        return self.alert.pk


class Deferred(TransportError):
    """Not sent: the channel is paused. Put back without counting an attempt."""

    def __init__(self, seconds: float) -> None:
        super().__init__("channel paused by its provider", retry_after=seconds)


# A kill can make another worker send again only what the killed one had not recorded:
# at most RECORD_WINDOW pooled sends per worker (those in flight included; a send thread
# waits for a place before each send), and one inline send. A send is recorded as soon as
# the sends pause for RECORD_QUIET (so while they are slower than that, as any real
# provider is, each is recorded as it returns and only the messages in flight are
# unrecorded), when the window is full, or RECORD_SECONDS after it returned at the
# latest. Faster sends (a null transport) group their writes up to the window: one UPDATE
# per message cost a SQLite drain 1.5-4x its time, and each commit costs about as much as
# 30 rows' writes (a window of 32: 6.5 us a row recorded; of 128: 4 us; bench/fanout.py).
RECORD_WINDOW = 128
RECORD_QUIET = 0.002
RECORD_SECONDS = 0.05


class _SentRows:
    """Sent rows not yet recorded, per claim token: what the claiming thread collected
    since its last write, recorded together in one UPDATE (see sending.send_batches)."""

    def __init__(self) -> None:
        self.ids: dict[str, list[int]] = {}

    def add(self, token: str, delivery_id: int) -> None:
        self.ids.setdefault(token, []).append(delivery_id)

    def record(self) -> None:
        """Mark the collected rows sent, each only while still leased under its claim's
        token (a worker whose lease ran out records nothing over another's claim).

        One UPDATE in raw SQL: the ORM built a lookup per id, which cost more than the
        write itself on a fast channel."""
        leased = [(token, ids) for token, ids in self.ids.items() if ids]
        self.ids.clear()
        if not leased:
            return
        # Each claim's ids as one parameter, not one placeholder each: Django's SQLite
        # backend rewrites every placeholder of a statement's text with a regular
        # expression, and binds each value in Python.
        if connection.vendor == "postgresql":
            of_claim = "(claim_token = %s AND id = ANY(%s))"
            params: list[Any] = [v for token, ids in leased for v in (token, ids)]
        else:
            of_claim = "(claim_token = %s AND id IN (SELECT value FROM json_each(%s)))"
            params = [v for token, ids in leased for v in (token, json.dumps(ids))]
        mine = " OR ".join([of_claim] * len(leased))
        # Only the table name and fixed fragments are formatted in.
        sql = f"""
            UPDATE {Delivery._meta.db_table}
            SET status = %s, sent_at = %s, lease_until = NULL, error = ''
            WHERE status = %s AND ({mine})
        """  # noqa: S608
        params[:0] = [
            DeliveryStatus.SENT.value,
            connection.ops.adapt_datetimefield_value(timezone.now()),
            DeliveryStatus.SENDING.value,
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
