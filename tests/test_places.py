"""A committee's gazetteer (tocsin/places): importing it all or nothing, the organizer's
page, and the `places` command."""

from __future__ import annotations

import html
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from tests.factories import EAST, WEST, World, session_for
from tocsin.places import importing
from tocsin.places.models import Place, PlaceKind, fold

pytestmark = pytest.mark.django_db

CSV = (
    "name,name_es,kind,lat,lng\n"
    '"Car wash, Cesar Chavez & Soto","Autolavado, Cesar Chavez y Soto",car_wash,'
    "34.0343,-118.2107\n"
    "Mariachi Plaza,Plaza del Mariachi,transit,34.0370,-118.2140\n"
)


def page(response: Any) -> str:
    return html.unescape(response.content.decode())


def geojson(*features: dict) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def point(name: str, lat: float, lng: float, **props: str) -> dict:
    return {
        "type": "Feature",
        "properties": {"name": name, **props},
        "geometry": {"type": "Point", "coordinates": [lng, lat]},
    }


# --- the model ---


def test_search_text_folds_accents_case_and_ampersands() -> None:
    assert fold("César CHÁVEZ & Soto") == "cesar chavez and soto"
    assert fold("Chavez y Soto") == "chavez and soto"


def test_a_saved_place_is_searchable_by_either_name(w: World) -> None:
    place = Place.objects.create(
        committee=w.east,
        name="Mariachi Plaza",
        name_es="Plaza del Mariachi",
        lat=34.03,
        lng=-118.21,
    )
    assert place.search_text == "mariachi plaza plaza del mariachi"
    assert list(Place.objects.matching("PLAZA DEL mariachí")) == [place]
    assert not Place.objects.matching("soto").exists()


# --- importing ---


def test_a_csv_file_is_imported_with_both_names_and_kinds(w: World) -> None:
    result = importing.import_file(w.east, CSV.encode(), "places.csv")
    assert (result.added, result.updated) == (2, 0)
    wash = Place.objects.get(kind=PlaceKind.CAR_WASH)
    assert (wash.name, wash.name_es) == (
        "Car wash, Cesar Chavez & Soto",
        "Autolavado, Cesar Chavez y Soto",
    )
    assert (wash.lat, wash.lng) == (34.0343, -118.2107)
    assert wash.committee == w.east


def test_a_geojson_file_is_imported_longitude_first(w: World) -> None:
    data = geojson(point("Hollenbeck Park", 34.0360, -118.2150, kind="park"))
    importing.import_file(w.east, data, "places.geojson")
    park = Place.objects.get()
    assert (park.lat, park.lng, park.kind) == (34.036, -118.215, PlaceKind.PARK)


def test_importing_the_same_names_again_moves_them_instead_of_adding_twice(w: World) -> None:
    importing.import_file(w.east, CSV.encode())
    moved = CSV.replace("34.0370,-118.2140", "34.0372,-118.2142").replace(
        "Mariachi Plaza,", "MARIACHI plaza,"
    )
    result = importing.import_file(w.east, moved.encode())
    assert (result.added, result.updated) == (0, 2)
    assert Place.objects.count() == 2
    assert Place.objects.get(name="MARIACHI plaza").lat == 34.0372


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(w: World) -> None:
    bad = (
        CSV
        + ",,other,34.035,-118.21\n"  # line 4: no name
        + "Somewhere,,other,north,-118.21\n"  # line 5: not a number
        + "Moon base,,other,95,-118.21\n"  # line 6: not on Earth
        + "Bakery,,bakery,34.035,-118.21\n"  # line 7: unknown kind
    )
    with pytest.raises(importing.Rejected) as e:
        importing.import_file(w.east, bad.encode())
    assert [str(p) for p in e.value.problems] == [
        "line 4: the name is empty",
        "line 5: the latitude and longitude must be numbers, like 34.0339 and -118.2107",
        "line 6: 95, -118.21 is not a place on Earth",
        "line 7: unknown kind “bakery” (use one of: " + ", ".join(PlaceKind.values) + ")",
    ]
    assert not Place.objects.exists()


def test_a_place_outside_the_committees_area_rejects_the_whole_file(w: World) -> None:
    outside = CSV + f"West's corner,,intersection,{WEST[0]},{WEST[1]}\n"
    with pytest.raises(importing.Rejected) as e:
        importing.import_file(w.east, outside.encode())
    assert [str(p) for p in e.value.problems] == [
        "line 4: West's corner is outside the committee's area"
    ]
    assert not Place.objects.exists()


def test_a_name_twice_in_one_file_is_refused_with_both_lines(w: World) -> None:
    twice = CSV + "mariachi PLAZA,,park,34.0371,-118.2141\n"
    with pytest.raises(importing.Rejected) as e:
        importing.import_file(w.east, twice.encode())
    assert [str(p) for p in e.value.problems] == ["line 4: “mariachi PLAZA” is also on line 3"]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "file: it is empty"),
        (b"\xff\xfenot utf-8", "file: it is not UTF-8 text"),
        (b"title,where\nx,y\n", "line 1: the first line must name the columns name, lat and lng"),
        (b'{"type": "Feature"}', "file: a GeoJSON FeatureCollection was expected"),
        (b"{not json", "file: it is neither CSV nor GeoJSON"),
    ],
)
def test_a_file_that_is_not_a_gazetteer_is_refused_saying_why(
    w: World, data: bytes, problem: str
) -> None:
    with pytest.raises(importing.Rejected) as e:
        importing.import_file(w.east, data)
    assert [str(p) for p in e.value.problems] == [problem]


def test_a_geojson_line_or_polygon_is_refused_by_feature_number(w: World) -> None:
    line = {
        "type": "Feature",
        "properties": {"name": "1st St"},
        "geometry": {"type": "LineString", "coordinates": [[-118.21, 34.03], [-118.2, 34.03]]},
    }
    with pytest.raises(importing.Rejected) as e:
        importing.import_file(w.east, geojson(point("Plaza", 34.036, -118.215), line))
    assert [str(p) for p in e.value.problems] == ["feature 2: only Point features can be places"]


def test_a_committee_without_an_area_is_told_to_draw_it_first(w: World) -> None:
    w.east.set_area(set())
    with pytest.raises(importing.Rejected) as e:
        importing.import_file(w.east, CSV.encode())
    assert [str(p) for p in e.value.problems] == ["file: draw the committee's area first"]


def test_a_committee_has_at_most_so_many_places(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importing, "MAX_PLACES", 1)
    with pytest.raises(importing.Rejected) as e:
        importing.import_file(w.east, CSV.encode())
    assert [str(p) for p in e.value.problems] == ["file: a committee can have at most 1 places"]


# --- the command ---


def test_the_command_imports_a_file_and_lists_the_places(w: World, tmp_path: Path) -> None:
    path = tmp_path / "east.csv"
    path.write_text(CSV, encoding="utf-8")
    out = StringIO()
    call_command("places", "import", "east", str(path), stdout=out)
    assert out.getvalue().strip() == "Imported 2 places into East (2 new, 0 updated)."
    listing = StringIO()
    call_command("places", "list", "east", stdout=listing)
    assert (
        "34.037000,-118.214000\ttransit\tMariachi Plaza\tPlaza del Mariachi" in listing.getvalue()
    )


def test_the_command_lists_every_bad_line_and_imports_nothing(w: World, tmp_path: Path) -> None:
    path = tmp_path / "east.csv"
    path.write_text(CSV + ",,other,34.035,-118.21\n", encoding="utf-8")
    err = StringIO()
    with pytest.raises(CommandError, match="nothing imported: 1 problem"):
        call_command("places", "import", "east", str(path), stderr=err)
    assert "east.csv, line 4: the name is empty" in err.getvalue()
    assert not Place.objects.exists()


def test_the_command_refuses_an_unknown_committee(w: World, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no committee at /c/nowhere/"):
        call_command("places", "list", "nowhere")


# --- the organizer's page ---


def organizer(w: World) -> Client:
    return session_for(w.organizer, strong=True)


def test_the_organizer_adds_a_public_place_by_coordinates(w: World) -> None:
    client = organizer(w)
    text = page(client.get(reverse("committee_places", args=["east"])))
    assert "Public places only. Never a member's home" in text
    response = client.post(
        reverse("committee_places", args=["east"]),
        {
            "name": "  Soto  station ",
            "name_es": "",
            "kind": "transit",
            "lat": "34.0437",
            "lng": "-118.2100",
        },
    )
    assert response.status_code == 302
    place = w.east.places.get()
    assert (place.name, place.kind, place.lat, place.lng) == (
        "Soto station",
        "transit",
        34.0437,
        -118.21,
    )


def test_the_organizer_cannot_add_a_place_outside_the_area_or_twice(w: World) -> None:
    client = organizer(w)
    url = reverse("committee_places", args=["east"])
    outside = client.post(url, {"name": "Far", "kind": "other", "lat": WEST[0], "lng": WEST[1]})
    assert outside.status_code == 400
    assert "outside the committee's area" in page(outside)
    client.post(url, {"name": "Plaza", "kind": "park", "lat": EAST[0], "lng": EAST[1]})
    again = client.post(url, {"name": "PLAZA", "kind": "park", "lat": EAST[0], "lng": EAST[1]})
    assert again.status_code == 400
    assert "already has a place with that name" in page(again)
    assert w.east.places.count() == 1


def test_the_organizer_uploads_a_file_and_sees_every_problem_when_it_is_bad(w: World) -> None:
    client = organizer(w)
    url = reverse("committee_places_import", args=["east"])
    bad = SimpleUploadedFile("east.csv", (CSV + "Moon,,other,95,0\n").encode(), "text/csv")
    refused = client.post(url, {"file": bad})
    assert refused.status_code == 400
    assert "Nothing was imported" in page(refused)
    assert "line 4: 95, 0 is not a place on Earth" in page(refused)
    assert not Place.objects.exists()
    good = SimpleUploadedFile("east.csv", CSV.encode(), "text/csv")
    response = client.post(url, {"file": good}, follow=True)
    assert "Imported 2 places (2 new, 0 updated)." in page(response)
    assert w.east.places.count() == 2


def test_the_organizer_renames_moves_and_removes_a_place(w: World) -> None:
    importing.import_file(w.east, CSV.encode())
    place = Place.objects.get(name="Mariachi Plaza")
    client = organizer(w)
    client.post(
        reverse("committee_place", args=["east", place.pk]),
        {
            "name": "Mariachi Plaza station",
            "name_es": "",
            "kind": "transit",
            "lat": "34.0371",
            "lng": "-118.2141",
        },
    )
    place.refresh_from_db()
    assert (place.name, place.name_es, place.lat) == ("Mariachi Plaza station", "", 34.0371)
    assert place.search_text == "mariachi plaza station"
    client.post(reverse("committee_place_delete", args=["east", place.pk]))
    assert not Place.objects.filter(pk=place.pk).exists()


def test_another_committees_organizer_cannot_touch_the_places(w: World) -> None:
    importing.import_file(w.east, CSV.encode())
    place = Place.objects.get(name="Mariachi Plaza")
    wendy = session_for(w.west_organizer, strong=True)
    assert wendy.get(reverse("committee_places", args=["east"])).status_code == 404
    # Her own committee's address with East's place id: the same 404 as a missing one.
    edit = wendy.post(
        reverse("committee_place", args=["west", place.pk]),
        {"name": "Mine now", "kind": "other", "lat": WEST[0], "lng": WEST[1]},
    )
    delete = wendy.post(reverse("committee_place_delete", args=["west", place.pk]))
    assert edit.status_code == delete.status_code == 404
    place.refresh_from_db()
    assert place.name == "Mariachi Plaza"
    otto = session_for(w.outsider)
    assert otto.get(reverse("committee_places", args=["east"])).status_code == 404
    assert otto.post(reverse("committee_place_delete", args=["east", place.pk])).status_code == 404
    assert Place.objects.filter(pk=place.pk).exists()


def test_a_dispatcher_of_the_committee_does_not_curate_its_places(w: World) -> None:
    diego = session_for(w.dispatcher, strong=True)
    assert diego.get(reverse("committee_places", args=["east"])).status_code == 404
