"""Responses to an incident and the live headcount."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin.committees.models import Membership, Role
from tocsin.incidents.models import Incident
from tocsin.lib import live
from tocsin.members.models import Member
from tocsin.mobilize import quorum
from tocsin.mobilize.models import ResponderRole, Response, ResponseState

# The headcount row of members who are not responders: they come as observers.
MEMBERS = quorum.MEMBERS
MEMBERS_LABEL = _("Members, as observers")


def is_responder(member: Member) -> bool:
    """Return whether ``member`` responds with a role (a responder, or more, anywhere)."""
    return Membership.objects.filter(member=member).at_least(Role.RESPONDER).exists()


def headcount(incident: Incident) -> list[dict]:
    """Return how many are on their way and how many arrived: responders per role, then
    the members (not responders) who answered, who come as observers; with how many the
    dispatcher needs of each (0: no limit) and whether enough are there."""
    counts = quorum.tally(incident)
    needs = quorum.of(incident)
    labels: list[tuple[str, object]] = [(role.value, role.label) for role in ResponderRole]
    labels.append((MEMBERS, MEMBERS_LABEL))
    rows = []
    for role, label in labels:
        q = needs.get(role)
        on_my_way = counts.get((role, ResponseState.ON_MY_WAY), 0)
        arrived = counts.get((role, ResponseState.ARRIVED), 0)
        needed = q.needed if q is not None else 0
        rows.append(
            {
                "role": role,
                "label": label,
                "on_my_way": on_my_way,
                "arrived": arrived,
                "needed": needed,
                # How many more the dispatcher asks for (0 with no number set).
                "missing": max(0, needed - on_my_way - arrived),
                "enough": q is not None and q.met_at is not None,
            }
        )
    return rows


def respond(
    incident: Incident,
    member: Member,
    *,
    role: str | None,
    state: str,
    eta_minutes: int | None,
) -> Response:
    """Record ``member``'s answer to ``incident``. A member who is not a responder comes
    as an observer whatever ``role`` says; None keeps the role they answered with before
    (an SMS "1" after picking a role on the alert page), or observer."""
    if not is_responder(member):
        role = ResponderRole.OBSERVER
    elif role is None:
        earlier = Response.objects.filter(incident=incident, member=member).first()
        role = earlier.role if earlier is not None else ResponderRole.OBSERVER
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
    # Enough people now? Everyone else alerted for the role hears it (tocsin.mobilize.quorum).
    quorum.check(incident)
    return response
