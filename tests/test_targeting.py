"""Targeting in the database equals the definition: grid distance <= sum of the rings."""

from __future__ import annotations

import random

import pytest
from django.conf import settings

from tests.factories import member
from tocsin import geo
from tocsin.alerts import targeting
from tocsin.members.models import AlertArea

LA = (33.95, 34.10, -118.35, -118.15)


@pytest.mark.django_db
def test_the_query_matches_exactly_the_areas_whose_disks_intersect_the_alert() -> None:
    rng = random.Random(11)
    people = [member(f"m{i}") for i in range(60)]
    areas = []
    for _ in range(400):
        lat, lng = rng.uniform(LA[0], LA[1]), rng.uniform(LA[2], LA[3])
        areas.append(
            AlertArea(
                member=rng.choice(people),
                cell=geo.cell_at(lat, lng, settings.AREA_RESOLUTION),
                ring=rng.randint(0, 3),
            )
        )
    AlertArea.objects.bulk_create(areas)
    for _ in range(25):
        lat, lng = rng.uniform(LA[0], LA[1]), rng.uniform(LA[2], LA[3])
        alert = geo.Disk(geo.cell_at(lat, lng, settings.AREA_RESOLUTION), rng.randint(0, 6))
        expected = {
            a.member_id for a in areas if geo.disks_intersect(alert, geo.Disk(a.cell, a.ring))
        }
        assert targeting.matching_members(alert) == expected


def test_each_candidate_cell_gets_the_smallest_ring_that_reaches_the_alert() -> None:
    alert = geo.Disk(geo.cell_at(34.05, -118.25, 8), 2)
    by_reach = targeting.cells_by_reach(alert)
    for min_ring, cells in by_reach.items():
        for cell in cells:
            d = geo.distance(alert.cell, cell)
            assert d is not None and max(0, d - alert.ring) == min_ring
    assert sum(len(c) for c in by_reach.values()) == len(geo.disk(alert.cell, alert.ring + 3))
