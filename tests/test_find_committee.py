"""Find the committee near you by ZIP code, and each listed committee's public page: a
coarse area named by towns, its upcoming public mobilizations, never its members."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import EAST, World, world
from tocsin.committees import listing
from tocsin.geo import zips
from tocsin.mobilize.planned import Mobilization, Visibility


@pytest.fixture
def w(db: None) -> World:
    found = world()
    for c in (found.east, found.west):
        c.listed = True
        c.save()
    return found


def text(response: Any) -> str:
    return response.content.decode()


def find(zip_code: str, **headers: str) -> Any:
    return Client(**headers).get(reverse("committees_find"), {"zip": zip_code})


def listed_slugs(response: Any) -> list[str]:
    return re.findall(r'data-committee="([^"]+)"', text(response))


# --- the ZIP table (bundled, offline) -----------------------------------------------------


def test_a_zip_code_is_a_town_with_a_centre() -> None:
    found = zips.find("90033")
    assert found is not None
    assert (found.code, found.town) == ("90033", "Los Angeles, CA")
    assert 33.9 < found.lat < 34.2 and -118.4 < found.lng < -118.1


def test_a_zip_plus_four_is_read_and_anything_else_is_not() -> None:
    assert zips.find(" 90033-1234 ") == zips.find("90033")
    for typed in ("", "9003", "900333", "abcde", "00000", "90033; drop"):
        assert zips.find(typed) is None, typed


def test_the_nearest_zip_names_a_point() -> None:
    nearest = zips.nearest(*EAST)
    assert nearest is not None
    assert nearest.town == "Los Angeles, CA"
    assert zips.nearest(0.0, -150.0) is None  # the middle of the Pacific


# --- finding by ZIP -----------------------------------------------------------------------


def test_a_zip_inside_a_committees_area_finds_it_first(w: World) -> None:
    place = zips.find("90033")
    assert place is not None
    near = listing.near(place)
    assert [n.committee.slug for n in near] == ["east", "west"]
    assert near[0].covers
    assert not near[1].covers and 5 <= near[1].km <= 15
    response = find("90033")
    assert listed_slugs(response) == ["east", "west"]
    assert "covers your ZIP code" in text(response)


def test_a_zip_far_from_every_committee_finds_none_and_offers_to_start_one(w: World) -> None:
    response = find("94103")  # San Francisco
    assert listed_slugs(response) == []
    assert "No listed committee near this ZIP code yet." in text(response)
    assert reverse("committee_start") in text(response)


def test_an_unknown_zip_says_so(w: World) -> None:
    response = find("00000")
    assert response.status_code == 200
    assert "We do not know that ZIP code." in text(response)


def test_unlisted_and_unapproved_committees_are_not_found(w: World) -> None:
    w.west.listed = False
    w.west.save()
    w.east.approved_at = None
    w.east.save()
    assert listed_slugs(find("90033")) == []
    assert listed_slugs(Client().get(reverse("committees_find"))) == []


def test_without_a_zip_the_page_lists_the_public_committees(w: World) -> None:
    w.west.listed = False
    w.west.save()
    assert listed_slugs(Client().get(reverse("committees_find"))) == ["east"]


def test_the_find_page_speaks_spanish(w: World) -> None:
    response = find("90033", HTTP_ACCEPT_LANGUAGE="es")
    assert "Encuentre el comité cerca de usted" in text(response)
    assert "cubre su código postal" in text(response)


def test_the_map_shows_the_public_committees_coarse_areas_only(w: World) -> None:
    w.west.listed = False
    w.west.save()
    found = Client().get(reverse("committees_areas")).json()
    names = {f["properties"]["name"] for f in found["features"]}
    urls = {f["properties"]["url"] for f in found["features"]}
    assert names == {"East"}
    assert urls == {reverse("committee_public", args=["east"])}
    # Coarse cells (about 1.2 km), fewer than the committee's own.
    assert 0 < len(found["features"]) < len(w.east.cells())
    assert {len(f["geometry"]["coordinates"][0]) for f in found["features"]} <= {7, 8}


def test_the_find_page_works_without_its_map(w: World) -> None:
    body = text(find("90033"))
    assert "data-committee-map" in body
    assert re.search(r"<div[^>]*data-committee-map[^>]*hidden", body)
    assert 'name="zip"' in body


# --- the public page ----------------------------------------------------------------------


def vigil(w: World, visibility: str = Visibility.PUBLIC, **fields: Any) -> Mobilization:
    start = timezone.now() + timedelta(days=2)
    values: dict[str, Any] = {
        "committee": w.east,
        "kind": "vigil",
        "title": "Vigil for the Soto families",
        "address": "Mariachi Plaza",
        "lat": 34.0472,
        "lng": -118.2195,
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "visibility": visibility,
        **fields,
    }
    return Mobilization.objects.create(**values)


def test_the_page_names_the_area_by_towns_never_by_coordinates(w: World) -> None:
    response = Client().get(reverse("committee_public", args=["east"]))
    assert response.status_code == 200
    body = text(response)
    assert "Los Angeles, CA" in body
    assert not re.search(r"-?\d{2,3}\.\d{3,}", body), "a coordinate on the public page"


def test_the_page_shows_upcoming_public_mobilizations_only(w: World) -> None:
    public = vigil(w)
    vigil(w, Visibility.MEMBERS, title="Members meeting")
    vigil(
        w,
        title="Last week",
        starts_at=timezone.now() - timedelta(days=7),
        ends_at=timezone.now() - timedelta(days=7) + timedelta(hours=1),
    )
    vigil(w, title="West vigil", committee=w.west)
    body = text(Client().get(reverse("committee_public", args=["east"])))
    assert f'data-mobilization="{public.pk}"' in body
    assert "Members meeting" not in body
    assert "Last week" not in body
    assert "West vigil" not in body


def test_the_page_never_names_members(w: World) -> None:
    body = text(Client().get(reverse("committee_public", args=["east"])))
    for name in ("Olga", "Diego", "Rosa", "Mateo"):
        assert name not in body


def test_the_page_works_without_javascript_and_in_spanish(w: World) -> None:
    response = Client(HTTP_ACCEPT_LANGUAGE="es").get(reverse("committee_public", args=["east"]))
    body = text(response)
    assert "<script" not in body.split("</main>")[0].split("<main")[-1]
    assert "Pedir unirse" in body
    assert 'method="post"' in body
