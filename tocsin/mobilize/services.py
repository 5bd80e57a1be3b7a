"""Responses to an incident and the live headcount."""

from __future__ import annotations

from django.db.models import Count
from django.utils import timezone

from tocsin.incidents.models import Incident
from tocsin.lib import live
from tocsin.members.models import Member
from tocsin.mobilize.models import ResponderRole, Response, ResponseState


def headcount(incident: Incident) -> list[dict]:
    """Return, per responder role, how many are on their way and how many arrived."""
    rows = (
        Response.objects.filter(incident=incident)
        .exclude(state=ResponseState.CANCELLED)
        .values("role", "state")
        .annotate(n=Count("id"))
    )
    counts = {(r["role"], r["state"]): r["n"] for r in rows}
    return [
        {
            "role": role,
            "label": role.label,
            "on_my_way": counts.get((role.value, ResponseState.ON_MY_WAY), 0),
            "arrived": counts.get((role.value, ResponseState.ARRIVED), 0),
        }
        for role in ResponderRole
    ]


def respond(
    incident: Incident, member: Member, *, role: str, state: str, eta_minutes: int | None
) -> Response:
    response, _created = Response.objects.update_or_create(
        incident=incident,
        member=member,
        defaults={
            "role": role,
            "state": state,
            "eta_minutes": eta_minutes,
            "updated_at": timezone.now(),
        },
    )
    live.publish(f"incident:{incident.pk}")
    return response
