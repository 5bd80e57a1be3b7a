"""The rogue committee (issue 13, part 1), step by step from a fresh member account.

A member of East makes a committee of their own, draws it over East and the town, and
tries everything a dispatcher can do: read East's desk, reports and photos, dismiss
them, type in a hotline call at East's place and confirm it, send a false all-clear,
list East's verifiers and send one. Every step answers 404 or a refusal, and no member
of another committee ever gets a delivery. Once the operator approves the rogue
committee, overlapping East's area still shares nothing: what the rogue confirms
reaches only its own members.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from tests.factories import EAST, WEST, World, member, world
from tocsin import geo
from tocsin.alerts.models import Delivery
from tocsin.committees.models import Committee, CommitteeCell, Membership, Role
from tocsin.incidents import services as incidents
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report
from tocsin.intake.models import Channel, Report, ReportKind
from tocsin.intake.photos import scrub
from tocsin.members.models import Member

pytestmark = pytest.mark.django_db


def _photo() -> Any:
    image = io.BytesIO()
    Image.new("RGB", (8, 8)).save(image, "PNG")
    return scrub(image.getvalue(), max_bytes=settings.UPLOAD_MAX_BYTES)


def _others(w: World, rogue: Member) -> list[int]:
    """Every member who is not in the rogue's committee."""
    mine = Membership.objects.filter(committee__slug="rogue").values("member_id")
    return list(
        Member.objects.exclude(pk__in=mine).exclude(pk=rogue.pk).values_list("pk", flat=True)
    )


def _deliveries_to_others(w: World, rogue: Member) -> int:
    return Delivery.objects.filter(member_id__in=_others(w, rogue)).count()


@pytest.fixture
def w() -> World:
    w = world()
    # East has a verifier on duty-like standing and many members with areas.
    member("Vero", w.east, Role.VERIFIER, area=EAST, email="vero@example.org")
    for i in range(5):
        member(f"East {i}", w.east, area=EAST, email=f"east{i}@example.org")
    member("Wes", w.west, area=WEST, email="wes@example.org")
    return w


@pytest.fixture
def rogue(w: World) -> tuple[Member, Client]:
    """Mateo (a plain member of East) starts a committee of his own."""
    client = Client()
    client.force_login(w.member.user)
    response = client.post(reverse("committee_create"), {"name": "Rogue", "kind": "neighborhood"})
    assert response.status_code == 302
    return w.member, client


def test_a_new_committee_waits_for_the_operator(w: World, rogue: tuple[Member, Client]) -> None:
    committee = Committee.objects.get(slug="rogue")
    assert not committee.is_approved
    assert Membership.objects.get(committee=committee, member=rogue[0]).role == Role.ORGANIZER


def test_it_refuses_an_area_over_the_town(w: World, rogue: tuple[Member, Client]) -> None:
    _member, client = rogue
    response = client.post(
        reverse("committee_area", args=["rogue"]),
        {"lat": EAST[0], "lng": EAST[1], "radius_km": 30},
        follow=True,
    )
    assert not CommitteeCell.objects.filter(committee__slug="rogue").exists()
    assert "at most 3 km" in response.content.decode()


def test_it_refuses_the_area_in_spanish_too(w: World, rogue: tuple[Member, Client]) -> None:
    _member, client = rogue
    client.post(reverse("set_language"), {"language": "es"})
    response = client.post(
        reverse("committee_area", args=["rogue"]),
        {"lat": EAST[0], "lng": EAST[1], "radius_km": 30},
        follow=True,
    )
    assert "como mucho a 3 km" in response.content.decode()


@pytest.fixture
def drawn(w: World, rogue: tuple[Member, Client]) -> tuple[Member, Client]:
    """The rogue committee's area, as large as allowed, over East's."""
    _member, client = rogue
    response = client.post(
        reverse("committee_area", args=["rogue"]),
        {"lat": EAST[0], "lng": EAST[1], "radius_km": 3},
    )
    assert response.status_code == 302
    assert CommitteeCell.objects.filter(committee__slug="rogue").count() > 10
    return rogue


def test_every_step_of_the_attack_is_refused(w: World, drawn: tuple[Member, Client]) -> None:
    rogue_member, client = drawn
    report = receive_report(
        channel=Channel.WEB,
        kind=ReportKind.HOME_ARREST,
        lat=EAST[0],
        lng=EAST[1],
        text="Two vans outside the laundromat",
        photos=[_photo()],
    )
    other = receive_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1]
    )
    incident = incidents.open_incident(other, actor=w.dispatcher)
    assert list(report.committees.values_list("slug", flat=True)) == ["east"]

    # The desk: East's reports and incidents are not on it.
    desk = client.get(reverse("desk")).content.decode()
    assert report.receipt not in desk
    assert other.receipt not in desk
    assert "laundromat" not in desk
    # Reports, photos, dismissing, opening.
    photo = report.photos.get()
    assert client.get(reverse("report_photo", args=[photo.pk])).status_code == 404
    assert client.post(reverse("dismiss_report", args=[report.pk])).status_code == 404
    assert client.post(reverse("open_report", args=[report.pk])).status_code == 404
    assert not Report.objects.get(pk=report.pk).dismissed
    # The incident, its state, its verifiers, the merge list.
    assert client.get(reverse("incident", args=[incident.pk])).status_code == 404
    confirm = client.post(reverse("incident_state", args=[incident.pk]), {"state": "confirmed"})
    assert confirm.status_code == 404
    vero = Member.objects.get(display_name="Vero")
    send = client.post(reverse("incident_verify", args=[incident.pk]), {"verifier": vero.pk})
    assert send.status_code == 404
    assert not incident.verifications.exists()
    # A hotline call typed in at East's place is refused: no committee of theirs covers it.
    response = client.post(
        reverse("hotline"),
        {
            "kind": ReportKind.CHECKPOINT,
            "lat": EAST[0],
            "lng": EAST[1],
            "text": "checkpoint",
            "language": "en",
            "nonce": "rogue-call-1",
        },
    )
    assert response.status_code == 400
    assert not Report.objects.filter(channel=Channel.HOTLINE).exists()
    # A false all-clear needs the incident, which the rogue cannot open.
    incidents.change_state(incident, State.CONFIRMED, actor=w.dispatcher, committees={w.east.pk})
    alerted = Delivery.objects.count()
    assert alerted > 0
    resolve = client.post(reverse("incident_state", args=[incident.pk]), {"state": "resolved"})
    assert resolve.status_code == 404
    assert Incident.objects.get(pk=incident.pk).state == State.CONFIRMED
    assert Delivery.objects.count() == alerted
    assert not Delivery.objects.filter(alert__committee__slug="rogue").exists()


def test_the_merge_list_names_only_the_desks_own_incidents(w: World) -> None:
    east = incidents.open_incident(
        receive_report(channel=Channel.WEB, kind="checkpoint", lat=EAST[0], lng=EAST[1]),
        actor=w.dispatcher,
    )
    # Another committee drawn over the same place, approved, with its own incident nearby.
    other = Committee.objects.create(
        name="Overlap", slug="overlap", kind="neighborhood", approved_at=timezone.now()
    )
    other.set_area({geo.cell_at(*EAST, settings.AREA_RESOLUTION)})
    dispatcher = member("Oscar", other, Role.DISPATCHER)
    theirs = Incident.objects.create(
        kind="agents_seen", cell=east.cell, area_cell=east.area_cell, state=State.REPORTED
    )
    theirs.committees.set([other])
    client = Client()
    client.force_login(w.dispatcher.user)
    page = client.get(reverse("incident", args=[east.pk])).content.decode()
    assert f'<option value="{theirs.pk}">#{theirs.pk}' not in page
    client.force_login(dispatcher.user)
    assert client.get(reverse("incident", args=[east.pk])).status_code == 404


def test_nothing_the_rogue_did_reached_another_committees_member(
    w: World, drawn: tuple[Member, Client]
) -> None:
    rogue_member, client = drawn
    client.post(
        reverse("hotline"),
        {"kind": "checkpoint", "lat": EAST[0], "lng": EAST[1], "nonce": "n-2", "language": "en"},
    )
    assert _deliveries_to_others(w, rogue_member) == 0


@pytest.fixture
def approved(drawn: tuple[Member, Client]) -> tuple[Member, Client]:
    """The operator approved the rogue committee: it now takes reports in its area."""
    Committee.objects.filter(slug="rogue").update(approved_at=timezone.now())
    return drawn


def test_an_approved_overlap_alerts_only_its_own_members(
    w: World, approved: tuple[Member, Client]
) -> None:
    rogue_member, client = approved
    response = client.post(
        reverse("hotline"),
        {"kind": "checkpoint", "lat": EAST[0], "lng": EAST[1], "nonce": "n-3", "language": "en"},
    )
    assert response.status_code == 302
    call = Report.objects.get(channel=Channel.HOTLINE)
    # The call is about a place East covers too: it reaches East's desk as a report.
    assert set(call.committees.values_list("slug", flat=True)) == {"east", "rogue"}
    opened = client.post(reverse("open_report", args=[call.pk]))
    assert opened.status_code == 302
    call.refresh_from_db()
    incident = Incident.objects.get(pk=call.incident_id)
    client.post(reverse("incident_state", args=[incident.pk]), {"state": "confirmed"})
    assert Incident.objects.get(pk=incident.pk).state == State.CONFIRMED
    assert _deliveries_to_others(w, rogue_member) == 0
    # A false all-clear reaches nobody else either.
    client.post(reverse("incident_state", args=[incident.pk]), {"state": "resolved"})
    assert _deliveries_to_others(w, rogue_member) == 0
    # East's dispatcher sees the incident (it is about their area) and decides for East.
    east = Client()
    east.force_login(w.dispatcher.user)
    page = east.get(reverse("incident", args=[incident.pk]))
    assert page.status_code == 200


def test_an_approved_overlap_does_not_open_east_s_older_reports(
    w: World, drawn: tuple[Member, Client]
) -> None:
    rogue_member, client = drawn
    before = receive_report(channel=Channel.WEB, kind="checkpoint", lat=EAST[0], lng=EAST[1])
    Committee.objects.filter(slug="rogue").update(approved_at=timezone.now())
    assert client.post(reverse("open_report", args=[before.pk])).status_code == 404
    assert before.receipt not in client.get(reverse("desk")).content.decode()


def test_a_report_next_door_does_not_join_another_committees_incident(w: World) -> None:
    """Clustering joins a report to an incident only of a committee whose desk it reached:
    a neighbouring committee never sees another's incident by reporting next to it."""
    res = settings.AREA_RESOLUTION
    c0 = geo.cell_at(34.1500, -118.4000, res)
    c1 = next(iter(geo.disk(c0, 1) - {c0}))
    mine = Committee.objects.create(
        name="Mine", slug="mine", kind="workplace", approved_at=timezone.now()
    )
    mine.set_area({c0})
    next_door = Committee.objects.create(
        name="Next door", slug="next-door", kind="workplace", approved_at=timezone.now()
    )
    next_door.set_area({c1})
    dispatcher = member("Mina", mine, Role.DISPATCHER)
    # Two points a few metres apart on either side of the two areas' border.
    (a_lat, a_lng), (b_lat, b_lng) = geo.center(c0), geo.center(c1)
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        at = (a_lat + (b_lat - a_lat) * mid, a_lng + (b_lng - a_lng) * mid)
        lo, hi = (mid, hi) if geo.cell_at(*at, res) == c0 else (lo, mid)

    def along(t: float) -> tuple[float, float]:
        return a_lat + (b_lat - a_lat) * t, a_lng + (b_lng - a_lng) * t

    inside, outside = along(lo - 0.01), along(hi + 0.01)
    assert geo.cell_at(*inside, res) == c0 and geo.cell_at(*outside, res) == c1
    first = receive_report(channel=Channel.WEB, kind="checkpoint", lat=inside[0], lng=inside[1])
    incident = incidents.open_incident(first, actor=dispatcher)
    second = receive_report(channel=Channel.WEB, kind="checkpoint", lat=outside[0], lng=outside[1])
    second.refresh_from_db()
    assert second.incident_id is None
    assert list(incident.committees.values_list("slug", flat=True)) == ["mine"]
