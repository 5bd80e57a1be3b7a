"""Claiming due deliveries with a lease: a crashed worker's rows become due again when
its lease ends, and urgent alerts are claimed first.

A claim leases the rows and reads what sending them needs in raw SQL (the ORM builds a
lookup per id: a batch of 500 cost more in Python than in the database): on PostgreSQL
one ``UPDATE ... RETURNING`` per kind of due row, on SQLite a read of the rows joined to
their endpoints, then one ``UPDATE`` of the same selection, in the claim's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from tocsin.alerts.models import RETRYABLE, Delivery, DeliveryStatus, WorkerSeal
from tocsin.members.models import ContactEndpoint, Member

# One claimed row as the claim returns it (and sending._load reads it again): id,
# alert_id, member_id, endpoint_id, kind (the endpoint's, copied on the row), attempts,
# priority, sealed details, the endpoint's disabled_at, the member's language, the
# endpoint's worker seal or None.
Values = tuple[int, int, int, int, str, int, int, Any, Any, str, Any]


class Batch(list[int]):
    """The ids of claimed deliveries, with the token of the claim. A batch claimed by
    ``claim`` also carries what sending its rows needs (``values``), read by the claim's
    own statement, and the end of its lease."""

    # Django rebuilds list values with type(value)(iterable) when resolving lookups.
    def __init__(
        self,
        ids: Iterable[int] = (),
        token: str = "",
        *,
        values: list[Values] | None = None,
        lease_until: datetime | None = None,
    ) -> None:
        super().__init__(ids)
        self.token = token
        self.values = values
        self.lease_until = lease_until


def _literals(values: Sequence[str]) -> str:
    # Status names are the model's constants: written into the SQL as literals so
    # SQLite matches the partial indexes whose conditions name them.
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def columns(delivery: str) -> str:
    """The columns of ``Values``, for a statement whose delivery table is ``delivery``
    (the endpoint's, member's and worker seal's columns are scalar subqueries: SQLite's
    RETURNING names the updated table only)."""
    endpoint = ContactEndpoint._meta.db_table
    member = Member._meta.db_table
    seal = WorkerSeal._meta.db_table
    of = f"FROM {endpoint} e WHERE e.id = {delivery}.endpoint_id"
    return f"""
        {delivery}.id, {delivery}.alert_id, {delivery}.member_id, {delivery}.endpoint_id,
        {delivery}.kind, {delivery}.attempts, {delivery}.priority,
        (SELECT e.sealed {of}), (SELECT e.disabled_at {of}),
        (SELECT m.language FROM {member} m WHERE m.id = {delivery}.member_id),
        (SELECT s.blob FROM {seal} s WHERE s.endpoint_id = {delivery}.endpoint_id)
    """  # noqa: S608 - table names from the models


def _joined(delivery: str) -> str:
    """The FROM of a read of ``Values`` from the delivery table aliased ``d``: the
    endpoint, member and worker seal joined (left: a removed endpoint still reads)."""
    endpoint = ContactEndpoint._meta.db_table
    member = Member._meta.db_table
    seal = WorkerSeal._meta.db_table
    return f"""
        {delivery} d
        LEFT JOIN {endpoint} e ON e.id = d.endpoint_id
        LEFT JOIN {member} m ON m.id = d.member_id
        LEFT JOIN {seal} s ON s.endpoint_id = d.endpoint_id
    """


def _lease(
    where: str, order: str, params: list[Any], *, limit: int, lease: datetime, token: str
) -> list[Values]:
    """Lease up to ``limit`` rows matching ``where`` in ``order`` (both naming the
    delivery table ``d``); return their values, urgent first."""
    delivery = Delivery._meta.db_table
    # Only table names and fixed fragments are formatted in; every value is a parameter.
    if connection.features.has_select_for_update_skip_locked:
        # PostgreSQL: the rows are picked, locked and skipped if another claim holds
        # them, in a MATERIALIZED CTE: as an IN (subquery), the planner may run the
        # subquery again for each row it updates, and each run picks rows again, so one
        # claim of 20 leased all 1,000 rows due (whose lease could then run out before
        # they are sent).
        sql = f"""
            WITH picked AS MATERIALIZED (
                SELECT d.id FROM {delivery} d WHERE {where} ORDER BY {order} LIMIT %s
                FOR UPDATE SKIP LOCKED
            )
            UPDATE {delivery}
            SET status = %s, lease_until = %s, claim_token = %s, attempts = attempts + 1
            FROM picked WHERE {delivery}.id = picked.id
            RETURNING {columns(delivery)}
        """  # noqa: S608
        values = [*params, int(limit)]
        values += [DeliveryStatus.SENDING.value, lease, token]
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            rows: list[Values] = cursor.fetchall()
    else:
        # SQLite: the claim's IMMEDIATE transaction holds the write lock, so no other
        # worker writes between the read and the lease. The rows are read with what
        # sending them needs in one join, then leased by the same selection: 1.5 us a
        # row less than one UPDATE ... RETURNING whose every returned row ran four
        # subqueries (docs/benchmarks.md).
        select = f"SELECT d.id FROM {delivery} d WHERE {where} ORDER BY {order} LIMIT %s"  # noqa: S608
        read = f"""
            SELECT d.id, d.alert_id, d.member_id, d.endpoint_id, d.kind, d.attempts + 1,
                   d.priority, e.sealed, e.disabled_at, m.language, s.blob
            FROM {_joined(delivery)}
            WHERE {where} ORDER BY {order} LIMIT %s
        """  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(read, [*params, int(limit)])
            rows = cursor.fetchall()
            if not rows:
                return rows
            cursor.execute(
                f"""
                UPDATE {delivery}
                SET status = %s, lease_until = %s, claim_token = %s, attempts = attempts + 1
                WHERE id IN ({select})
                """,  # noqa: S608
                [
                    DeliveryStatus.SENDING.value,
                    connection.ops.adapt_datetimefield_value(lease),
                    token,
                    *params,
                    int(limit),
                ],
            )
    # The batch keeps the claim's order, urgent first (RETURNING gives none).
    rows.sort(key=_URGENT_FIRST)
    return rows


_URGENT_FIRST = itemgetter(6, 0)


def claim(limit: int | None = None, *, kind: str | None = None) -> Batch:
    """Lease up to ``limit`` due deliveries (of channel ``kind``, or of any) to this
    worker: first those whose lease ran out (a worker crashed), then the most urgent
    due ones. Both reads come from partial indexes in order and stop at the limit."""
    limit = limit or settings.DELIVERY_BATCH
    token = uuid.uuid4().hex
    now = timezone.now()
    lease = now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    at = connection.ops.adapt_datetimefield_value(now)
    of_kind, kind_params = (" AND d.kind = %s", [kind]) if kind is not None else ("", [])
    expired = (
        f"d.status = '{DeliveryStatus.SENDING.value}' AND d.lease_until < %s{of_kind}",
        "d.lease_until, d.id",
        [at, *kind_params],
    )
    due = (
        f"d.status IN ({_literals(RETRYABLE)}) AND d.next_attempt_at <= %s{of_kind}",
        "d.priority, d.next_attempt_at, d.id",
        [at, *kind_params],
    )
    values: list[Values] = []
    with transaction.atomic():
        for where, order, params in (expired, due):
            if len(values) >= limit:
                break
            values += _lease(
                where, order, params, limit=limit - len(values), lease=lease, token=token
            )
    return Batch([v[0] for v in values], token, values=values, lease_until=lease)


def claim_unhandled(kinds: list[str]) -> Batch:
    """Claim due rows of channels this process has no transport for (say, a channel the
    operator turned off after alerts were queued), so they fail visibly."""
    token = uuid.uuid4().hex
    now = timezone.now()
    lease = now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    at = connection.ops.adapt_datetimefield_value(now)
    handled = f" AND d.kind NOT IN ({', '.join(['%s'] * len(kinds))})" if kinds else ""
    with transaction.atomic():
        values = _lease(
            f"d.status IN ({_literals(RETRYABLE)}) AND d.next_attempt_at <= %s{handled}",
            "d.id",
            [at, *kinds],
            limit=settings.DELIVERY_BATCH,
            lease=lease,
            token=token,
        )
    return Batch([v[0] for v in values], token, values=values, lease_until=lease)
