"""A member's own alerts, for "My alerts" on their page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max
from django.urls import reverse

from tocsin.alerts.messages import alert_link_token, place_text
from tocsin.alerts.models import Delivery, DeliveryStatus, Purpose
from tocsin.incidents.models import Incident
from tocsin.members.models import Member
from tocsin.places.naming import Gazetteer

# The alerts that tell a member about an incident (a confirmed one; an unverified one to
# responders). Requests to verify and notices to staff link elsewhere; all-clears and
# corrections only follow these.
LISTED = (Purpose.CONFIRMED, Purpose.POSSIBLE)
LIMIT = 20


@dataclass(frozen=True)
class MyAlert:
    incident: Incident
    # When the newest alert about it was sent to the member.
    at: datetime
    # The place as members are shown it (block level, "near Mariachi Plaza"), never the
    # exact one.
    place: str
    # The member's own alert page.
    url: str


def alerts_of(member: Member, *, limit: int = LIMIT) -> list[MyAlert]:
    """Return the incidents ``member`` was alerted about, newest alert first, one row
    each. Alerts cancelled before they were sent (the incident closed first, or a
    request to verify replaced them) never reached the member and are left out."""
    newest = (
        Delivery.objects.filter(member=member, alert__purpose__in=LISTED)
        .exclude(status=DeliveryStatus.CANCELLED)
        .values("alert__incident_id")
        .annotate(at=Max("alert__sent_at"))
        .order_by("-at", "-alert__incident_id")[:limit]
    )
    rows = list(newest)
    incidents = Incident.objects.prefetch_related("committees").in_bulk(
        [r["alert__incident_id"] for r in rows]
    )
    # Places named by the incidents' committees, as the alerts and the alert page name them.
    gazetteer = Gazetteer({c.pk for i in incidents.values() for c in i.committees.all()})
    return [
        MyAlert(
            incident=incident,
            at=r["at"],
            place=place_text(incident.cell, gazetteer),
            url=reverse(
                "alert_page",
                args=[alert_link_token(member_id=member.pk, incident_id=incident.pk)],
            ),
        )
        for r in rows
        if (incident := incidents.get(r["alert__incident_id"])) is not None
    ]
