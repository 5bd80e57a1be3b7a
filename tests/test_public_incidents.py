"""What the public may see of incidents (tocsin/public/incidents.py): confirmed or
resolved ones, coarse and late, named by an area, labelled by how they were verified."""

from __future__ import annotations

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
