"""Describing a place in words (tocsin/geo/describe.py): the nearest named place, a
distance and a direction, never a place too far to help, and for members never finer
than the block."""

from __future__ import annotations

import math
import random

import h3
import pytest
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin import geo
from tocsin.geo.describe import BLOCK, EXACT, Named, Precision, compass, describe, metres
from tocsin.places.naming import Gazetteer

SOTO = Named("Car wash, Cesar Chavez & Soto", 34.0481, -118.2101, "Autolavado, Cesar Chavez y Soto")
PLAZA = Named("Mariachi Plaza", 34.0472, -118.2196, "Plaza del Mariachi")
BOYLE = Named("Boyle Heights", 34.0339, -118.2107, area=True)


def moved(place: Named, north_m: float, east_m: float) -> tuple[float, float]:
    """Return the point ``north_m`` north and ``east_m`` east of ``place``."""
    lat = place.lat + north_m / 111_195
    lng = place.lng + east_m / (111_195 * math.cos(math.radians(place.lat)))
    return lat, lng


# --- words ---


def test_it_names_the_nearest_place_with_a_distance_and_a_direction() -> None:
    where = describe(*moved(SOTO, 80, 0), [SOTO, PLAZA])
    assert where.place == SOTO
    assert where.text == "80 m north of Car wash, Cesar Chavez & Soto"


def test_it_says_at_a_place_when_the_point_is_on_it() -> None:
    assert describe(*moved(PLAZA, 5, -10), [SOTO, PLAZA]).text == "at Mariachi Plaza"


def test_it_speaks_spanish_with_the_spanish_name() -> None:
    with translation.override("es"):
        assert (
            describe(*moved(SOTO, 0, -120), [SOTO]).text
            == "a 120 m al oeste de Autolavado, Cesar Chavez y Soto"
        )
        assert describe(*moved(PLAZA, 0, 0), [PLAZA], precision=BLOCK).text == (
            "cerca de Plaza del Mariachi"
        )


def test_a_place_without_a_spanish_name_keeps_its_name_in_spanish() -> None:
    plain = Named("Hollenbeck Park", 34.042, -118.2188)
    with translation.override("es"):
        assert describe(plain.lat, plain.lng, [plain]).text == "en Hollenbeck Park"


def test_members_read_a_coarse_distance_from_the_block() -> None:
    where = describe(*moved(PLAZA, 0, 340), [PLAZA], precision=BLOCK)
    assert where.text == "about 300 m east of Mariachi Plaza"
    assert describe(*moved(PLAZA, 150, 0), [PLAZA], precision=BLOCK).text == "near Mariachi Plaza"


def test_with_no_spot_near_it_names_the_area() -> None:
    where = describe(*moved(BOYLE, -900, 300), [SOTO, PLAZA, BOYLE])
    assert where.place == BOYLE
    assert where.text == "in Boyle Heights"


def test_with_nothing_near_it_falls_back_to_coordinates() -> None:
    far = (34.2500, -117.9000)
    exact = describe(*far, [SOTO, PLAZA, BOYLE])
    assert exact.place is None
    assert exact.text == "at 34.25000, -117.90000"
    assert describe(*far, [], precision=BLOCK).text == "near 34.2500, -117.9000"


def test_the_coordinates_and_the_maps_link_never_have_a_decimal_comma() -> None:
    with translation.override("es"):
        where = describe(34.03391, -118.21072, [])
        assert where.coordinates == "34.03391, -118.21072"
        assert where.geo_uri == "geo:34.03391,-118.21072"


@pytest.mark.parametrize(
    ("north", "east", "expected"),
    [(100, 0, "N"), (70, 70, "NE"), (0, 100, "E"), (-70, 70, "SE"), (-100, 0, "S"),
     (-70, -70, "SW"), (0, -100, "W"), (70, -70, "NW")],
)  # fmt: skip
def test_the_direction_is_one_of_eight_compass_points(north: int, east: int, expected: str) -> None:
    assert compass((SOTO.lat, SOTO.lng), moved(SOTO, north, east)) == expected


# --- properties ---

offsets = st.floats(min_value=-3000, max_value=3000, allow_nan=False)
precisions = st.sampled_from([EXACT, BLOCK])
names = st.text(alphabet="abcdefgh &", min_size=1, max_size=12)


@st.composite
def places(draw: st.DrawFn) -> Named:
    north, east = draw(offsets), draw(offsets)
    lat, lng = moved(SOTO, north, east)
    return Named(draw(names), lat, lng, area=draw(st.booleans()))


@settings(max_examples=200, deadline=None)
@given(
    bearing=st.floats(min_value=0, max_value=2 * math.pi),
    near=st.floats(min_value=0, max_value=900),
    farther=st.floats(min_value=0, max_value=900),
    precision=precisions,
)
def test_the_distance_said_never_shrinks_as_the_point_moves_away(
    bearing: float, near: float, farther: float, precision: Precision
) -> None:
    near, farther = sorted((near, farther))
    a = describe(*moved(SOTO, near * math.cos(bearing), near * math.sin(bearing)), [SOTO],
                 precision=precision)  # fmt: skip
    b = describe(*moved(SOTO, farther * math.cos(bearing), farther * math.sin(bearing)), [SOTO],
                 precision=precision)  # fmt: skip
    if b.place is not None:
        assert a.place is not None
        assert a.metres <= b.metres


@settings(max_examples=200, deadline=None)
@given(
    candidates=st.lists(places(), max_size=8),
    north=offsets,
    east=offsets,
    precision=precisions,
)
def test_it_never_names_a_place_farther_than_its_limit_nor_passes_over_a_nearer_one(
    candidates: list[Named], north: float, east: float, precision: Precision
) -> None:
    point = moved(SOTO, north, east)
    where = describe(*point, candidates, precision=precision)
    spots = [c for c in candidates if not c.area]
    areas = [c for c in candidates if c.area]
    nearest_spot = min((metres((c.lat, c.lng), point) for c in spots), default=math.inf)
    if where.place is None:
        # Nothing named: nothing was close enough, and the words are the coordinates.
        assert nearest_spot > precision.limit_m
        assert all(metres((c.lat, c.lng), point) > precision.area_limit_m for c in areas)
        assert where.coordinates in where.text
        return
    d = metres((where.place.lat, where.place.lng), point)
    if where.place.area:
        assert nearest_spot > precision.limit_m
        assert d <= precision.area_limit_m
    else:
        assert d <= precision.limit_m
        assert d <= nearest_spot + 1e-6
        assert where.metres <= precision.limit_m
        assert abs(where.metres - d) <= max(precision.step_m, precision.at_m)


@settings(max_examples=100, deadline=None)
@given(candidates=st.lists(places(), max_size=8), seed=st.randoms())
def test_the_answer_does_not_depend_on_the_order_of_the_places(
    candidates: list[Named], seed: random.Random
) -> None:
    shuffled = list(candidates)
    seed.shuffle(shuffled)
    point = moved(SOTO, 120, -40)
    assert describe(*point, candidates) == describe(*point, shuffled)


@settings(max_examples=100, deadline=None)
@given(candidates=st.lists(places(), max_size=6), north=offsets, east=offsets)
def test_members_read_the_same_words_anywhere_in_one_block(
    candidates: list[Named], north: float, east: float
) -> None:
    """What members read is a function of the block cell alone: two exact places in one
    block cannot be told apart from the alert."""
    cell = geo.cell_at(*moved(SOTO, north, east), geo.REPORT_RESOLUTION)
    block = geo.parent(cell, geo.BLOCK_RESOLUTION)
    siblings = sorted(geo.disk(cell, 3) & _children(block))[:4]
    gazetteer = Gazetteer(())
    gazetteer._named = candidates
    said = {gazetteer.block(c).text for c in [cell, *siblings]}
    assert len(said) == 1


def _children(block: int) -> set[int]:
    return {
        h3.str_to_int(c) for c in h3.cell_to_children(h3.int_to_str(block), geo.REPORT_RESOLUTION)
    }
