"""Writing the outbox: an alert and its Delivery rows, in the transaction that decides
them; who has heard about an incident and who is owed how it ended.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Q
from django.dispatch import receiver
from django.utils import timezone

from tocsin.alerts import posts, targeting
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
from tocsin.alerts.outbox.draining import announce
from tocsin.committees.models import Membership
from tocsin.committees.services import left_every_committee
from tocsin.members.models import ContactEndpoint, Member

PRIORITY = {
    Purpose.CONFIRMED: Priority.URGENT,
    Purpose.POSSIBLE: Priority.URGENT,
    Purpose.VERIFY: Priority.URGENT,
    Purpose.APPROVAL: Priority.URGENT,
    # People on their way turn back or go elsewhere: as urgent as the call itself.
    Purpose.STAND_DOWN: Priority.URGENT,
    Purpose.REDIRECT: Priority.URGENT,
    Purpose.CORRECTION: Priority.CORRECTION,
    Purpose.ALL_CLEAR: Priority.ROUTINE,
}

# Alerts whose recipients hear how the incident ended (all-clear or correction).
FOLLOWED_UP = (Purpose.CONFIRMED, Purpose.POSSIBLE)
# Who hears how an incident ended: whoever got an alert about it, and the verifiers sent to
# check it (one on her way to a false alarm is told she need not go).
HEARD = (*FOLLOWED_UP, Purpose.VERIFY)


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
      alert about it decided by a committee in ``scope`` (None: every committee) or a
      request to verify it, and the messages to responders; nobody hears it twice.
      Alerts about the incident still waiting in the queue are cancelled instead of
      sent late.
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
            alert__purpose__in=HEARD,
            status__in=RETRYABLE,
        ).update(status=DeliveryStatus.CANCELLED, error="superseded", lease_until=None)
        written = _insert_follow_up(alert, incident, now, scope=scope)
    alert.targeted = written
    alert.save(update_fields=["targeted"])
    # Committee channels (Apprise) hear what members hear.
    posts.queue(alert, scope=scope)
    announce(incident.pk)
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
    announce(incident.pk)
    return alert


def heard(incident: Incident, scope: set[int] | None = None) -> bool:
    """Return whether anyone got (or is being sent) a confirmed or possible alert about
    ``incident`` decided by a committee in ``scope`` (None: any), a request to verify it,
    or a message to responders: then they must hear how it ended."""
    rows = Delivery.objects.filter(
        alert__incident_id=incident.pk,
        alert__purpose__in=HEARD,
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
    heard = ", ".join(["%s"] * len(HEARD))
    sql = f"""
        INSERT INTO {delivery} ({_COLUMNS})
        SELECT %s, d.member_id, d.endpoint_id, MIN(d.kind), %s, %s, 0, %s, '', '', %s, FALSE,
               ROW_NUMBER() OVER (PARTITION BY d.member_id ORDER BY d.endpoint_id) > 1
        FROM {delivery} d JOIN {alerts} a ON a.id = d.alert_id
        WHERE a.incident_id = %s AND a.purpose IN ({heard}) AND d.status IN (%s, %s){in_scope}
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
        *(p.value for p in HEARD),
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
