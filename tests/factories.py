"""Personas and objects for tests: an organizer, dispatchers, members and an outsider."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.test import Client
from django.utils import timezone

from tocsin import geo
from tocsin.committees.models import Committee, Membership, Role
from tocsin.incidents.models import Incident
from tocsin.intake.models import Report
from tocsin.members import security
from tocsin.members.models import AlertArea, ContactEndpoint, Member

# Two committees far enough apart that their areas never overlap.
EAST = (34.0339, -118.2107)
WEST = (34.0467, -118.3330)


def committee(name: str, center: tuple[float, float] = EAST, radius_m: float = 2000) -> Committee:
    c = Committee.objects.create(
        name=name,
        slug=name.lower().replace(" ", "-"),
        kind=Committee.Kind.NEIGHBORHOOD,
        approved_at=timezone.now(),
    )
    c.set_area(geo.cells_for_circle(*center, radius_m, settings.AREA_RESOLUTION))
    return c


def member(
    name: str,
    committee: Committee | None = None,
    role: str = Role.MEMBER,
    *,
    language: str = "en",
    area: tuple[float, float] | None = None,
    ring: int = 1,
    email: str | None = None,
) -> Member:
    m = Member.create(display_name=name, language=language)
    if committee is not None:
        Membership.objects.create(committee=committee, member=m, role=role)
    if area is not None:
        AlertArea.objects.create(
            member=m, cell=geo.cell_at(*area, settings.AREA_RESOLUTION), ring=ring
        )
    if email is not None:
        ContactEndpoint.create(m, "email", email, verified=True)
    return m


@dataclass
class World:
    east: Committee
    west: Committee
    organizer: Member
    dispatcher: Member
    responder: Member
    member: Member
    west_organizer: Member
    west_dispatcher: Member
    outsider: Member


def world() -> World:
    east = committee("East")
    west = committee("West", WEST)
    return World(
        east=east,
        west=west,
        organizer=member("Olga", east, Role.ORGANIZER, email="olga@example.org"),
        dispatcher=member("Diego", east, Role.DISPATCHER, email="diego@example.org"),
        responder=member(
            "Rosa", east, Role.RESPONDER, area=EAST, email="rosa@example.org", language="es"
        ),
        member=member("Mateo", east, Role.MEMBER, area=EAST, email="mateo@example.org"),
        west_organizer=member("Wendy", west, Role.ORGANIZER, email="wendy@example.org"),
        west_dispatcher=member("Walt", west, Role.DISPATCHER, email="walt@example.org"),
        outsider=member("Otto"),
    )


def own_incident(report: Report, actor: Member) -> Incident:
    """Open an incident for ``report`` alone, even where clustering joined it to an
    incident at the same place (as a dispatcher splitting it off would): for tests
    that need several incidents in one spot."""
    from tocsin.incidents.services import open_incident

    if report.incident_id is not None:
        Report.objects.filter(pk=report.pk).update(incident=None)
        report.refresh_from_db()
    return open_incident(report, actor=actor)


def session_for(persona: Member, *, strong: bool = False) -> Client:
    """Return a client logged in as ``persona``: by emailed code alone (a weak session),
    or, with ``strong``, one that also proved a passkey or an authenticator app."""
    client = Client()
    client.force_login(persona.user)
    session = client.session
    session[security.EPOCH_KEY] = persona.session_epoch
    session[security.LOGIN_AT_KEY] = int(time.time())
    if strong:
        session[security.STRONG_KEY] = int(time.time())
    session.save()
    return client


# A corner in East's area, in its gazetteer, for reports by text to name.
SOTO_4TH = (34.0361, -118.2093)


def soto_4th() -> None:
    """Name the corner of Soto and 4th in East's gazetteer (texts say "Soto y 4th")."""
    from tocsin.places.models import Place, PlaceKind

    Place.objects.get_or_create(
        committee=Committee.objects.get(slug="east"),
        name="Soto St & 4th St",
        defaults={"kind": PlaceKind.INTERSECTION, "lat": SOTO_4TH[0], "lng": SOTO_4TH[1]},
    )


def report_by_text(channel: str, address: str, body: str) -> tuple[Report, str]:
    """Report ``body`` by text as a reporter would, answering the questions it asks
    (where: a corner in East's gazetteer; what: "agents"); return the report and the
    last reply."""
    from tocsin.hooks.inbound import Inbound, handle

    soto_4th()
    reply = handle(Inbound(channel, address, body)) or ""
    if "?" in reply and not Report.objects.filter(text__contains=body[:50]).exists():
        reply = handle(Inbound(channel, address, "Soto y 4th")) or ""
    report = Report.objects.order_by("-pk").first()
    assert report is not None, reply
    if report.receipt not in reply:
        reply = handle(Inbound(channel, address, "4")) or ""
    return Report.objects.get(pk=report.pk), reply


def confirmed_incident(
    dispatcher: Member,
    point: tuple[float, float] = EAST,
    *,
    minutes_ago: float = 60,
    end: str = "",
    kind: str = "checkpoint",
) -> Incident:
    """A web report at ``point``, confirmed by ``dispatcher`` ``minutes_ago`` (then, with
    ``end``, resolved or marked a false alarm at once): what the public may or may not
    see."""
    from datetime import timedelta

    from tocsin.incidents.reports import receive_report
    from tocsin.incidents.services import change_state
    from tocsin.intake.models import Channel

    report = receive_report(channel=Channel.WEB, kind=kind, lat=point[0], lng=point[1])
    incident = own_incident(report, dispatcher)
    incident = change_state(incident, "confirmed", actor=dispatcher)
    if end:
        incident = change_state(incident, end, actor=dispatcher)
    back = timezone.now() - timedelta(minutes=minutes_ago)
    Incident.objects.filter(pk=incident.pk).update(
        opened_at=back, confirmed_at=back, **({"closed_at": back} if end else {})
    )
    incident.refresh_from_db()
    return incident
