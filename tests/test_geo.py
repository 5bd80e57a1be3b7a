"""Tests for tocsin.geo: cells, disks, alert-area matching and GeoJSON."""

from __future__ import annotations

import math

import h3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin import geo
from tocsin.geo import Disk
from tocsin.lib import exposure

RESOLUTION = 8  # the default AREA_RESOLUTION

# Cells near Los Angeles, where Tocsin's first committees are.
LA_LAT = st.floats(min_value=33.7, max_value=34.3)
LA_LNG = st.floats(min_value=-118.7, max_value=-117.9)
MEMBER_RING = st.integers(min_value=0, max_value=geo.MAX_AREA_RING)
ALERT_RING = st.integers(min_value=0, max_value=5)


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the great-circle distance in metres between two (lat, lng) points."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


@st.composite
def la_cells(draw: st.DrawFn, resolution: int = RESOLUTION) -> int:
    return geo.cell_at(draw(LA_LAT), draw(LA_LNG), resolution)


@st.composite
def cell_pairs(draw: st.DrawFn) -> tuple[int, int]:
    """Return two cells: mostly a few steps apart (so both answers occur), sometimes far."""
    a = draw(la_cells())
    near = st.sampled_from(sorted(geo.disk(a, 10)))
    b = draw(st.one_of(near, near, la_cells()))
    return a, b


def ring_cells(cell: int, k: int) -> set[int]:
    """Return the cells exactly ``k`` steps from ``cell``."""
    return {h3.str_to_int(c) for c in h3.grid_ring(h3.int_to_str(cell), k)}


# disks_intersect


@settings(max_examples=500)
@given(pair=cell_pairs(), ra=ALERT_RING, rb=MEMBER_RING)
def test_it_matches_disks_exactly_when_they_share_a_cell(
    pair: tuple[int, int], ra: int, rb: int
) -> None:
    a, b = pair
    brute_force = bool(geo.disk(a, ra) & geo.disk(b, rb))
    assert geo.disks_intersect(Disk(a, ra), Disk(b, rb)) is brute_force


@given(a=la_cells(), ra=ALERT_RING, rb=MEMBER_RING)
def test_it_matches_a_member_area_whose_edge_touches_the_alert_edge(
    a: int, ra: int, rb: int
) -> None:
    b = min(ring_cells(a, ra + rb))
    assert geo.disks_intersect(Disk(a, ra), Disk(b, rb))


@given(a=la_cells(), ra=ALERT_RING, rb=MEMBER_RING)
def test_it_does_not_match_a_member_area_one_step_beyond_the_alert(
    a: int, ra: int, rb: int
) -> None:
    b = min(ring_cells(a, ra + rb + 1))
    assert not geo.disks_intersect(Disk(a, ra), Disk(b, rb))


@given(pair=cell_pairs(), ra=ALERT_RING, rb=MEMBER_RING)
def test_it_matches_symmetrically(pair: tuple[int, int], ra: int, rb: int) -> None:
    a, b = pair
    assert geo.disks_intersect(Disk(a, ra), Disk(b, rb)) == geo.disks_intersect(
        Disk(b, rb), Disk(a, ra)
    )


def test_it_never_matches_cells_it_cannot_measure() -> None:
    los_angeles = geo.cell_at(34.05, -118.25, RESOLUTION)
    sydney = geo.cell_at(-33.87, 151.21, RESOLUTION)
    assert not geo.disks_intersect(Disk(los_angeles, 5), Disk(sydney, 3))


# ring_for_radius


def test_it_gives_ring_zero_for_a_zero_radius() -> None:
    assert geo.ring_for_radius(0, RESOLUTION) == 0


@given(r1=st.floats(0, 20_000), r2=st.floats(0, 20_000), resolution=st.integers(6, 10))
def test_it_never_shrinks_the_ring_as_the_radius_grows(
    r1: float, r2: float, resolution: int
) -> None:
    small, large = sorted((r1, r2))
    assert geo.ring_for_radius(small, resolution) <= geo.ring_for_radius(large, resolution)


def uncovered_cells(lat: float, lng: float, radius_m: float, resolution: int) -> list[int]:
    """Return cells outside the disk whose centre lies within ``radius_m`` of the centre.

    The nearest cells left out of a disk lie in the two rings just beyond it, so every
    centre there is a sample point that the radius may reach.
    """
    centre_cell = geo.cell_at(lat, lng, resolution)
    origin = geo.center(centre_cell)
    ring = geo.ring_for_radius(radius_m, resolution)
    beyond = ring_cells(centre_cell, ring + 1) | ring_cells(centre_cell, ring + 2)
    return [c for c in beyond if haversine_m(origin, geo.center(c)) <= radius_m]


@settings(max_examples=300)
@given(lat=LA_LAT, lng=LA_LNG, radius_m=st.floats(0, 3_000))
def test_it_covers_every_cell_centre_within_the_radius(
    lat: float, lng: float, radius_m: float
) -> None:
    assert uncovered_cells(lat, lng, radius_m, RESOLUTION) == []


@settings(max_examples=300)
@given(
    lat=LA_LAT,
    lng=LA_LNG,
    radius_m=st.floats(100, 20_000),  # TOCSIN_ALERT_RADIUS_M's allowed range
    resolution=st.integers(6, 10),  # TOCSIN_AREA_RESOLUTION's allowed range
)
def test_it_covers_the_radius_at_every_configurable_setting(
    lat: float, lng: float, radius_m: float, resolution: int
) -> None:
    assert uncovered_cells(lat, lng, radius_m, resolution) == []


@given(lat=LA_LAT, lng=LA_LNG)
def test_it_covers_every_point_within_the_circle(lat: float, lng: float) -> None:
    # A point just inside 1500 m of the centre, on any bearing, lies in one of the cells.
    cells = geo.cells_for_circle(lat, lng, 1500, RESOLUTION)
    for bearing in range(0, 360, 15):
        b = math.radians(bearing)
        dlat = 1500 * math.cos(b) / 111_320
        dlng = 1500 * math.sin(b) / (111_320 * math.cos(math.radians(lat)))
        point = (lat + dlat * 0.999, lng + dlng * 0.999)
        assert haversine_m((lat, lng), point) <= 1500
        assert geo.cell_at(*point, RESOLUTION) in cells


# cell_at


@pytest.mark.parametrize(
    ("lat", "lng"),
    [
        (math.nan, -118.25),
        (34.05, math.nan),
        (math.inf, -118.25),
        (34.05, -math.inf),
        (90.0001, 0.0),
        (-90.0001, 0.0),
        (0.0, 180.0001),
        (0.0, -180.0001),
    ],
)
def test_it_rejects_a_point_not_on_earth(lat: float, lng: float) -> None:
    with pytest.raises(geo.GeoError):
        geo.cell_at(lat, lng, RESOLUTION)


@given(
    lat=st.floats(-90, 90),
    lng=st.floats(-180, 180),
    resolution=st.integers(0, 15),
)
def test_it_returns_a_cell_of_the_asked_resolution(lat: float, lng: float, resolution: int) -> None:
    cell = geo.cell_at(lat, lng, resolution)
    assert geo.is_cell(cell)
    assert geo.resolution(cell) == resolution


@given(lat=LA_LAT, lng=LA_LNG)
def test_it_puts_the_point_near_its_cell_centre(lat: float, lng: float) -> None:
    cell = geo.cell_at(lat, lng, geo.REPORT_RESOLUTION)
    # A point is within one (generous) edge length of its own cell's centre.
    assert haversine_m((lat, lng), geo.center(cell)) <= 2 * h3.average_hexagon_edge_length(
        11, unit="m"
    )


@pytest.mark.parametrize("value", [0, -1, 2**64, 12345])
def test_it_does_not_take_arbitrary_numbers_for_cells(value: int) -> None:
    assert not geo.is_cell(value)


@pytest.mark.parametrize("value", ["", "hello", "88283082bffffff0", "zz283082bffffff"])
def test_it_rejects_strings_that_are_not_cells(value: str) -> None:
    with pytest.raises(geo.GeoError):
        geo.from_str(value)


@given(cell=la_cells(geo.REPORT_RESOLUTION))
def test_it_round_trips_cells_through_strings(cell: int) -> None:
    assert geo.from_str(geo.to_str(cell)) == cell


# block_point (tocsin.lib.exposure: the block a member sees, from coarsen)


@given(cell=la_cells(geo.REPORT_RESOLUTION))
def test_it_shows_a_report_at_its_block_centre(cell: int) -> None:
    block = geo.parent(cell, geo.BLOCK_RESOLUTION)
    lat, lng = geo.center(block)
    assert exposure.block_point(cell) == (round(lat, 4), round(lng, 4))


@given(cell=la_cells(geo.REPORT_RESOLUTION), data=st.data())
def test_it_shows_every_report_in_one_block_at_one_point(cell: int, data: st.DataObject) -> None:
    block = h3.cell_to_parent(h3.int_to_str(cell), geo.BLOCK_RESOLUTION)
    sibling = data.draw(st.sampled_from(sorted(h3.cell_to_children(block, geo.REPORT_RESOLUTION))))
    assert exposure.block_point(h3.str_to_int(sibling)) == exposure.block_point(cell)


@given(cell=la_cells(geo.REPORT_RESOLUTION))
def test_it_moves_the_shown_point_off_the_exact_place(cell: int) -> None:
    # The shown point is the block's centre, not the 25 m cell's; only a report cell that
    # is itself the block's centre child may coincide.
    block = geo.parent(cell, geo.BLOCK_RESOLUTION)
    centre_child = h3.str_to_int(
        h3.cell_to_center_child(h3.int_to_str(block), geo.REPORT_RESOLUTION)
    )
    lat, lng = geo.center(cell)
    if cell != centre_child:
        assert exposure.block_point(cell) != (round(lat, 4), round(lng, 4))


@given(cell=la_cells(RESOLUTION))
def test_it_does_not_refine_a_cell_coarser_than_a_block(cell: int) -> None:
    lat, lng = geo.center(cell)
    assert exposure.block_point(cell) == (round(lat, 4), round(lng, 4))


@given(cell=la_cells(geo.REPORT_RESOLUTION))
def test_it_rounds_the_shown_point_to_four_decimals(cell: int) -> None:
    lat, lng = exposure.block_point(cell)
    assert (round(lat, 4), round(lng, 4)) == (lat, lng)


# geojson_cells


def test_it_returns_an_empty_collection_for_no_cells() -> None:
    assert geo.geojson_cells([]) == {"type": "FeatureCollection", "features": []}


def test_it_returns_one_feature_per_cell() -> None:
    cells = geo.disk(geo.cell_at(34.05, -118.25, RESOLUTION), 1)
    collection = geo.geojson_cells(cells)
    assert collection["type"] == "FeatureCollection"
    assert sorted(f["properties"]["cell"] for f in collection["features"]) == sorted(
        map(geo.to_str, cells)
    )


def test_it_draws_each_cell_as_a_closed_hexagon() -> None:
    collection = geo.geojson_cells({geo.cell_at(34.05, -118.25, RESOLUTION)})
    (feature,) = collection["features"]
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "Polygon"
    (ring,) = feature["geometry"]["coordinates"]
    assert len(ring) == 7
    assert ring[0] == ring[-1]


def test_it_writes_coordinates_longitude_first() -> None:
    collection = geo.geojson_cells({geo.cell_at(34.05, -118.25, RESOLUTION)})
    (ring,) = collection["features"][0]["geometry"]["coordinates"]
    for lng, lat in ring:
        assert -118.3 < lng < -118.2
        assert 34.0 < lat < 34.1


def test_it_lists_features_in_a_stable_order() -> None:
    cells = list(geo.disk(geo.cell_at(34.05, -118.25, RESOLUTION), 2))
    assert geo.geojson_cells(cells) == geo.geojson_cells(list(reversed(cells)))
