"""Dispatch quorum, stand-down, redirect and re-open.

The dispatcher sets how many of each role (a row of the headcount: a responder role, or
members coming as observers) an incident needs. When "on my way" answers reach that
number, everyone else alerted for the role who has not answered hears, through the
outbox on their own channel and language, "enough people are there, thank you" (or "go
to this other place instead"). Members are alerted for the observers' row; responders
for every responder role. Re-opening the call tells those stood down that they are
needed again, and no number stands them down until the dispatcher sets one again.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from tocsin import geo
from tocsin.alerts import outbox
from tocsin.alerts.models import Alert, Certainty, Delivery, Purpose
from tocsin.committees.models import Membership, Role
from tocsin.incidents.models import Incident, IncidentEvent, State, coded
from tocsin.lib import live
from tocsin.members.models import Member
from tocsin.mobilize.escalation import Quorum
from tocsin.mobilize.models import ResponderRole, Response, ResponseState
from tocsin.places.models import Place

# The headcount's row of members who are not responders: they come as observers.
MEMBERS = "member"
ROLES = (*ResponderRole.values, MEMBERS)
COMING = (ResponseState.ON_MY_WAY, ResponseState.ARRIVED)
# Who counts as alerted about an incident: a confirmed alert (from the confirmation or
# the ladder) or, for responders, the unverified notice.
ALERTED = (Purpose.CONFIRMED, Purpose.POSSIBLE)
STOOD_DOWN = (Purpose.STAND_DOWN, Purpose.REDIRECT)
# A redirect names its place at the gazetteer's finest: the place itself.
PLACE_RESOLUTION = 12


class QuorumError(ValueError):
    """The quorum cannot be changed (the incident is not confirmed)."""


def tally(incident: Incident) -> dict[tuple[str, str], int]:
    """Return how many answered, by (headcount row, state): responders by the role they
    chose, members who are not responders in the MEMBERS row."""
    responder = Exists(
        Membership.objects.filter(member=OuterRef("member")).at_least(Role.RESPONDER)
    )
    rows = (
        Response.objects.filter(incident=incident, state__in=COMING)
        .annotate(responder=responder)
        .values("role", "state", "responder")
        .annotate(n=Count("id"))
    )
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r["role"] if r["responder"] else MEMBERS, r["state"])
        counts[key] = counts.get(key, 0) + r["n"]
    return counts


def coming(incident: Incident) -> dict[str, int]:
    """Return, per headcount row, how many are on their way or there."""
    counts = tally(incident)
    return {role: sum(counts.get((role, s), 0) for s in COMING) for role in ROLES}


def of(incident: Incident) -> dict[str, Quorum]:
    """Return the incident's quorums by role."""
    return {q.role: q for q in Quorum.objects.filter(incident=incident)}


def set_needed(
    incident: Incident,
    needed: dict[str, int],
    *,
    actor: Member,
    redirect_place: Place | None = None,
) -> list[Quorum]:
    """Set how many of each role ``incident`` needs (0: no limit) and where those not
    needed go instead (None: they stand down); stand down the roles already reached.
    Return the quorums stood down now."""
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.state != State.CONFIRMED:
            raise QuorumError("only a confirmed incident has a call to answer")
        now = timezone.now()
        for role, n in needed.items():
            if role not in ROLES:
                continue
            Quorum.objects.update_or_create(
                incident=incident,
                role=role,
                defaults={"needed": max(0, n), "redirect_place": redirect_place, "updated_at": now},
            )
        met = _stand_down_reached(incident, actor=actor)
        _publish(incident)
    return met


def check(incident: Incident) -> list[Quorum]:
    """Stand down the roles whose "on my way" answers reached their number (called after
    each answer); return the quorums stood down now."""
    if not Quorum.objects.filter(incident=incident, needed__gt=0, met_at__isnull=True).exists():
        return []
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.state != State.CONFIRMED:
            return []
        met = _stand_down_reached(incident, actor=None)
        if met:
            _publish(incident)
    return met


def _stand_down_reached(incident: Incident, *, actor: Member | None) -> list[Quorum]:
    counts = coming(incident)
    open_ = Quorum.objects.select_for_update(of=("self",)).filter(
        incident=incident, needed__gt=0, met_at__isnull=True
    )
    met = []
    for q in open_.select_related("redirect_place"):
        if counts.get(q.role, 0) >= q.needed:
            _stand_down(incident, q, actor=actor)
            met.append(q)
    return met


def still_alerted(incident: Incident, role: str) -> set[int]:
    """Return the members alerted for ``role`` about ``incident`` who have not answered
    (neither "on my way" nor "cannot come") and were not stood down since they were last
    called."""
    last_called: dict[int, object] = {}
    last_stood_down: dict[int, object] = {}
    rows = Delivery.objects.filter(
        alert__incident=incident, alert__purpose__in=(*ALERTED, *STOOD_DOWN)
    ).values_list("member_id", "alert__purpose", "alert__sent_at")
    for member_id, purpose, at in rows:
        seen = last_stood_down if purpose in STOOD_DOWN else last_called
        if member_id not in seen or at > seen[member_id]:  # type: ignore[operator]
            seen[member_id] = at
    # Whoever answered is left alone: on their way (they count), or not coming at all.
    answered = set(Response.objects.filter(incident=incident).values_list("member_id", flat=True))
    # A subquery, not a list of ids: a confirmed alert may reach many members.
    responders = set(
        Membership.objects.filter(
            member_id__in=Delivery.objects.filter(
                alert__incident=incident, alert__purpose__in=ALERTED
            ).values("member_id")
        )
        .at_least(Role.RESPONDER)
        .values_list("member_id", flat=True)
    )
    wanted = set()
    for member_id, called in last_called.items():
        if member_id in answered:
            continue
        stood = last_stood_down.get(member_id)
        if stood is not None and stood >= called:  # type: ignore[operator]
            continue
        if (member_id in responders) == (role != MEMBERS):
            wanted.add(member_id)
    return wanted


def _stand_down(incident: Incident, q: Quorum, *, actor: Member | None) -> None:
    ids = still_alerted(incident, q.role)
    alert = None
    if ids:
        place = q.redirect_place
        purpose = Purpose.REDIRECT if place is not None else Purpose.STAND_DOWN
        alert = outbox.issue_direct(incident, purpose, ids)
        fields: dict[str, object] = {"certainty": Certainty.OBSERVED}
        if place is not None:
            fields["cell"] = geo.cell_at(place.lat, place.lng, PLACE_RESOLUTION)
        Alert.objects.filter(pk=alert.pk).update(**fields)
    q.met_at = timezone.now()
    q.stand_down = alert
    q.save(update_fields=["met_at", "stand_down"])
    IncidentEvent.objects.create(
        incident=incident,
        actor=actor,
        action="stood_down",
        detail=coded(
            "notice", alert.purpose if alert else Purpose.STAND_DOWN, alert.targeted if alert else 0
        ),
    )


def reopen(incident: Incident, role: str, *, actor: Member) -> int:
    """Re-open the call for ``role``: the people its stand-down reached who have not
    answered at all hear the confirmed alert again, and no number stands them down until
    the dispatcher sets one. Return how many were called again."""
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.state != State.CONFIRMED:
            raise QuorumError("only a confirmed incident has a call to answer")
        q = Quorum.objects.select_for_update().filter(incident=incident, role=role).first()
        if q is None or q.met_at is None:
            return 0
        ids: set[int] = set()
        if q.stand_down_id is not None:
            ids = set(
                Delivery.objects.filter(alert_id=q.stand_down_id).values_list(
                    "member_id", flat=True
                )
            )
            ids -= set(
                Response.objects.filter(incident=incident).values_list("member_id", flat=True)
            )
        n = 0
        if ids:
            alert = outbox.issue_direct(incident, Purpose.CONFIRMED, ids)
            Alert.objects.filter(pk=alert.pk).update(certainty=Certainty.OBSERVED)
            n = alert.targeted
        q.met_at, q.stand_down, q.needed = None, None, 0
        q.reopened_at = timezone.now()
        q.save(update_fields=["met_at", "stand_down", "needed", "reopened_at"])
        IncidentEvent.objects.create(
            incident=incident,
            actor=actor,
            action="call_reopened",
            detail=coded("notice", Purpose.CONFIRMED, n),
        )
        _publish(incident)
    return n


def _publish(incident: Incident) -> None:
    channels = [f"incident:{incident.pk}"]
    transaction.on_commit(lambda: live.publish(*channels))
