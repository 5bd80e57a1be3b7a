"""A text says where: cross streets, a place people know, an address; resolved against the
committee's gazetteer and the operator's geocoder, or a question back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from tests.factories import EAST, WEST, committee
from tests.peers.geocoder import Geocoder
from tests.peers.geocoder import running as running_geocoder
from tocsin.places.locate import NOWHERE, Spot, choose, locate
from tocsin.places.models import Place, PlaceKind
from tocsin.places.wording import MAX_TEXT, Corner, read

# --- reading -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "corner"),
    [
        ("REPORT checkpoint at Soto and 4th", ("Soto", "4th")),
        ("4th & Soto", ("4th", "Soto")),
        ("retén en Soto y 4th ahora", ("Soto", "4th")),
        ("esquina de César Chávez y Soto, muchos agentes", ("César Chávez", "Soto")),
        ("corner of Whittier Blvd and Atlantic Blvd!!", ("Whittier Blvd", "Atlantic Blvd")),
        ("migra en Soto e Indiana", ("Soto", "Indiana")),
        ("vans at 1st St / Boyle Ave", ("1st St", "Boyle Ave")),
    ],
)
def test_it_reads_cross_streets_in_english_and_spanish(text: str, corner: tuple[str, str]) -> None:
    assert read(text).corners[0] == Corner(*corner)


def test_a_house_number_and_an_initial_are_not_a_corner() -> None:
    wording = read("ICE at 1234 E Cesar Chavez Ave now")
    assert wording.corners == ()
    assert wording.addresses == ("1234 E Cesar Chavez Ave",)


def test_corners_that_name_a_street_come_before_other_pairs_of_words() -> None:
    wording = read("vans and agents at Soto and 4th")
    assert wording.corners[0] == Corner("Soto", "4th")


def test_it_reads_a_zip_code_but_not_a_house_number_as_one() -> None:
    assert read("agents at the school in 90033").zips == ("90033",)
    assert read("12345 Main St").zips == ()


def test_the_words_left_for_names_leave_out_the_sentence() -> None:
    assert read("migra en el car wash de Cesar Chavez").words == (
        "car",
        "wash",
        "cesar",
        "chavez",
    )


@examples(max_examples=300, deadline=None)
@given(st.text(max_size=MAX_TEXT))
def test_any_text_reads_without_an_error(text: str) -> None:
    wording = read(text)
    assert len(wording.text) <= MAX_TEXT
    for corner in wording.corners:
        assert corner.first and corner.second


@examples(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "Soto",
                "y",
                "and",
                "&",
                "4th",
                "e",
                "E",
                "Indiana",
                "1234",
                "St",
                "at",
                "en",
                ",",
                "90033",
                "calle",
                "Avenida",
                "César",
                "/",
                "@",
                "x",
                "!!",
                "car",
                "wash",
            ]
        ),
        max_size=40,
    )
)
def test_texts_made_of_place_words_read_without_an_error(words: list[str]) -> None:
    read(" ".join(words))


# --- locating ----------------------------------------------------------------------


@pytest.fixture
def east() -> set[int]:
    c = committee("East")
    for name, name_es, kind, lat, lng in [
        ("Car wash, Cesar Chavez & Soto", "", PlaceKind.WORKPLACE, 34.0405, -118.2072),
        ("Soto St & 4th St", "Soto y 4th", PlaceKind.INTERSECTION, 34.0361, -118.2093),
        ("Roosevelt High School", "Preparatoria Roosevelt", PlaceKind.SCHOOL, 34.0350, -118.2120),
        ("Food 4 Less, Soto", "", PlaceKind.STORE, 34.0330, -118.2100),
        ("Food 4 Less, Whittier", "", PlaceKind.STORE, 34.0310, -118.2050),
    ]:
        Place.objects.create(committee=c, name=name, name_es=name_es, kind=kind, lat=lat, lng=lng)
    return {c.pk}


@pytest.fixture
def geocoder(settings: Any) -> Iterator[Geocoder]:
    with running_geocoder() as server:
        settings.GEOCODER_URL = server.url
        yield server


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("checkpoint at Soto and 4th", "Soto St & 4th St"),
        ("retén en 4th y Soto", "Soto St & 4th St"),
        ("migra at the car wash on Cesar Chavez", "Car wash, Cesar Chavez & Soto"),
        ("agentes en el car wash de César Chávez", "Car wash, Cesar Chavez & Soto"),
        ("agents near Roosevelt", "Roosevelt High School"),
        ("ICE afuera de la Preparatoria Roosevelt", "Roosevelt High School"),
    ],
)
def test_a_text_is_placed_from_the_gazetteer(east: set[int], text: str, name: str | None) -> None:
    located = locate(read(text), east)
    if name is None:
        assert located == NOWHERE
    else:
        assert located.spot is not None and located.spot.name == name


@pytest.mark.django_db
def test_two_places_that_fit_equally_are_a_choice_nearest_first(east: set[int]) -> None:
    near_whittier = (34.0309, -118.2049)
    located = locate(read("agents at the Food 4 Less"), east, near=near_whittier)
    assert located.spot is None
    assert [c.name for c in located.choices] == ["Food 4 Less, Whittier", "Food 4 Less, Soto"]
    assert choose(located, "1") == located.choices[0]
    assert choose(located, " 2) ") == located.choices[1]
    assert choose(located, "3") is None
    assert choose(located, "the blue one") is None


@pytest.mark.django_db
def test_an_address_goes_to_the_operators_geocoder_and_counts_only_inside_the_area(
    east: set[int], geocoder: Geocoder
) -> None:
    geocoder.answer(
        [
            {"display_name": "Far away", "lat": str(WEST[0]), "lon": str(WEST[1])},
            {"display_name": "1234 E Cesar Chavez Ave", "lat": str(EAST[0]), "lon": str(EAST[1])},
        ]
    )
    located = locate(read("ICE at 1234 E Cesar Chavez Ave"), east)
    assert located.spot == Spot("1234 E Cesar Chavez Ave", EAST[0], EAST[1])
    assert geocoder.queries[-1]["q"] == ["1234 E Cesar Chavez Ave"]


@pytest.mark.django_db
def test_a_corner_not_in_the_gazetteer_is_asked_of_the_geocoder(
    east: set[int], geocoder: Geocoder
) -> None:
    geocoder.answer(
        [{"display_name": "Mott St & 1st St", "lat": str(EAST[0]), "lon": str(EAST[1])}]
    )
    located = locate(read("vans at Mott y 1st"), east)
    assert located.spot is not None and located.spot.name == "Mott St & 1st St"
    assert geocoder.queries[-1]["q"] == ["Mott & 1st"]


@pytest.mark.django_db
def test_nothing_said_or_a_zip_alone_is_nowhere(east: set[int]) -> None:
    assert locate(read("help they are here"), east) == NOWHERE
    assert locate(read("agents 90033"), east) == NOWHERE
    assert locate(read(""), east) == NOWHERE
    assert locate(read("Soto and 4th"), set()) == NOWHERE


@pytest.mark.parametrize(
    "text",
    [
        "geo:34.036100,-118.209300",
        "https://maps.google.com/maps?q=34.0361%2C-118.2093",
        "look https://www.google.com/maps/@34.0361,-118.2093,17z here",
        "vans at 34.0361, -118.2093",
    ],
)
def test_it_reads_a_shared_location_or_typed_coordinates(text: str) -> None:
    assert read(text).points == ((34.0361, -118.2093),)


def test_numbers_that_are_not_coordinates_are_not_a_point() -> None:
    assert read("2 vans, 3 agents, 1234 E 4th St").points == ()
    assert read("geo:134.5,-500.1").points == ()


@pytest.mark.django_db
def test_a_shared_location_is_the_place_inside_the_areas_only(east: set[int]) -> None:
    located = locate(read(f"geo:{EAST[0]},{EAST[1]}"), east)
    assert located.spot == Spot("", EAST[0], EAST[1])
    assert locate(read(f"geo:{WEST[0]},{WEST[1]}"), east) == NOWHERE
