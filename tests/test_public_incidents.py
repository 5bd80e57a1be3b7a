"""What the public may see of incidents (tocsin/public/incidents.py): confirmed or
resolved ones, coarse and late, named by an area, labelled by how they were verified."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import EAST, World, confirmed_incident, world
from tocsin import geo
from tocsin.incidents.models import ConfirmedBy
from tocsin.places.models import Place, PlaceKind
from tocsin.public.incidents import published

pytestmark = pytest.mark.django_db


@pytest.fixture
def w() -> World:
    return world()


def test_a_confirmed_incident_is_public_only_after_the_delay(w: World) -> None:
    fresh = confirmed_incident(w.dispatcher, minutes_ago=5)
    old = confirmed_incident(w.dispatcher, (34.0500, -118.2000), minutes_ago=45)
    assert [p.id for p in published()] == [old.id]
    assert fresh.confirmed_by == ConfirmedBy.DISPATCHER


def test_the_public_sees_the_coarse_cell_and_a_rounded_time(w: World) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=47)
    [seen] = published()
    assert seen.resolution == geo.PUBLIC_RESOLUTION
    assert seen.cell == geo.parent(incident.cell, geo.PUBLIC_RESOLUTION)
    assert seen.at <= incident.confirmed_at
    assert seen.at.minute % 15 == 0 and seen.at.second == 0


@pytest.mark.parametrize("end", ["unfounded", "resolved"])
def test_a_false_alarm_never_appears_and_a_resolved_one_stays(w: World, end: str) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=120, end=end)
    shown = [p.state for p in published()]
    assert shown == ([] if end == "unfounded" else ["resolved"])


def test_the_place_is_a_named_area_never_a_store_near_it(w: World) -> None:
    Place.objects.create(
        committee=w.east, name="Food 4 Less, Soto", kind=PlaceKind.STORE, lat=EAST[0], lng=EAST[1]
    )
    Place.objects.create(
        committee=w.east,
        name="Boyle Heights",
        kind=PlaceKind.AREA,
        lat=EAST[0] + 0.002,
        lng=EAST[1],
    )
    confirmed_incident(w.dispatcher, minutes_ago=60)
    [seen] = published()
    assert seen.place == "Boyle Heights"
    assert "Food 4 Less" not in seen.place_text


def test_it_says_how_it_was_verified(w: World) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=60)
    [seen] = published()
    assert seen.verification == "confirmed by the committee's dispatcher"


def test_no_public_output_carries_the_incidents_database_number(w: World) -> None:
    # Counting database numbers would tell how many incidents the public never sees (false
    # alarms, unverified reports): every public output names an incident by an opaque id.
    from django.test import Client
    from django.urls import reverse

    hidden = [confirmed_incident(w.dispatcher, minutes_ago=90, end="unfounded") for _ in range(3)]
    shown = confirmed_incident(w.dispatcher, (34.0500, -118.2000), minutes_ago=60)
    [seen] = published()
    assert seen.public_id and seen.public_id != str(shown.pk)
    assert seen.public_id == published()[0].public_id  # stable
    client = Client()
    pages = {
        "map": client.get(reverse("public_map")).content.decode(),
        "geojson": client.get(reverse("public_map_geojson")).content.decode(),
        "api": client.get(reverse("api:api_incidents")).content.decode(),
        "cap_feed": client.get(reverse("public_cap_feed")).content.decode(),
        "atom": client.get(reverse("public_feed")).content.decode(),
    }
    for name, body in pages.items():
        assert seen.public_id in body, name
        for marker in (f'"id": {shown.pk}', f"incident.{shown.pk}.", f"/incidents/{shown.pk}"):
            assert marker not in body, (name, marker)
        assert f'data-incident="{shown.pk}"' not in body, name
    one = client.get(reverse("api:api_incident", args=[seen.public_id]))
    assert one.status_code == 200
    assert client.get(reverse("public_cap", args=[seen.public_id])).status_code == 200
    # An unfounded incident's id gives the same 404 as a made-up one.
    assert client.get(reverse("public_cap", args=["nothing0000"])).status_code == 404
    assert len(hidden) == 3


def test_since_compares_with_the_public_time_not_the_confirmation(w: World) -> None:
    # Asking with ever closer ``since`` values must not tell the minute of confirmation.
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    [seen] = published()
    assert seen.at <= incident.confirmed_at
    just_before_confirmation = incident.confirmed_at - dt.timedelta(seconds=1)
    if seen.at <= just_before_confirmation:
        assert published(since=just_before_confirmation) == []
    assert [p.id for p in published(since=seen.at - dt.timedelta(seconds=1))] == [incident.pk]
