"""Where each person an alert targeted stands, for the dispatcher's incident page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from tocsin.alerts.about import Incident
from tocsin.alerts.models import Alert, Delivery, DeliveryStatus, Purpose
from tocsin.lib.incident_states import State

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


def label(alert: Alert, incident: Incident) -> str | Promise:
    """Name ``alert`` for the dispatcher as its people read it: the notice that closes an
    incident nobody verified in time says "not verified", not "false alarm"."""
    if alert.purpose == Purpose.CORRECTION and incident.state == State.EXPIRED:
        return _("Update: not verified")
    return alert.get_purpose_display()


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
                "label": label(alert, incident),
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
