"""The in-memory targeting index (tocsin.alerts.cellindex) answers exactly what the
database answers, and stays exact as members join, move, leave and are loaded in bulk."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.factories import EAST, WEST, World, world
from tests.test_outbox import confirmed_incident
from tocsin import geo
from tocsin.alerts import cellindex, targeting
from tocsin.alerts.models import Delivery
from tocsin.committees.models import Membership
from tocsin.members.models import AlertArea, AreaChange, AreaLog, ContactEndpoint, Member

RES = 8
CENTER = geo.cell_at(*EAST, RES)
NEARBY = sorted(geo.disk(CENTER, 6))


def brute_force(areas: list[tuple[int, int, int]], alert: geo.Disk) -> set[int]:
    """Members with an area whose disk intersects the alert's: the definition."""
    alert_cells = geo.disk(alert.cell, alert.ring)
    return {m for cell, ring, m in areas if geo.disk(cell, ring) & alert_cells}


areas_strategy = st.lists(
    st.tuples(st.sampled_from(NEARBY), st.integers(0, 3), st.integers(1, 40)),
    max_size=60,
)


@hsettings(max_examples=150, deadline=None)
@given(
    areas=areas_strategy,
    alert_cell=st.sampled_from(NEARBY),
    alert_ring=st.integers(0, 4),
)
def test_the_index_matches_exactly_the_members_whose_disks_intersect_the_alert(
    areas: list[tuple[int, int, int]], alert_cell: int, alert_ring: int
) -> None:
    index = cellindex.CellIndex()
    index.load(areas)
    alert = geo.Disk(alert_cell, alert_ring)
    assert index.lookup(targeting.cells_by_reach(alert)).members() == brute_force(areas, alert)


def alert_members(place: tuple[float, float] = EAST) -> set[int]:
    disk = targeting.alert_disk(geo.cell_at(*place, geo.REPORT_RESOLUTION))
    return targeting.matching_members(disk)


def query_members(place: tuple[float, float] = EAST) -> set[int]:
    disk = targeting.alert_disk(geo.cell_at(*place, geo.REPORT_RESOLUTION))
    return targeting.query_members(disk)


@pytest.mark.django_db
def test_it_answers_what_the_database_answers_for_random_members() -> None:
    rng = random.Random(8)
    members = [Member.create(display_name=f"M{i}", language="en") for i in range(60)]
    for m in members:
        for _ in range(rng.randint(0, 3)):
            AlertArea.objects.create(member=m, cell=rng.choice(NEARBY), ring=rng.randint(0, 3))
    for place in (EAST, WEST):
        assert alert_members(place) == query_members(place)
    assert cellindex.INDEX.ready


@pytest.mark.django_db
def test_a_member_who_adds_an_area_is_targeted_by_the_next_alert(w: World) -> None:
    alert_members()  # the index is built now
    newcomer = Member.create(display_name="Nueva", language="es")
    AlertArea.objects.create(member=newcomer, cell=geo.cell_at(*EAST, RES), ring=0)
    assert newcomer.pk in alert_members()


@pytest.mark.django_db
def test_a_member_who_removes_their_area_is_not_targeted_any_more(w: World) -> None:
    assert w.member.pk in alert_members()
    w.member.areas.all().delete()
    assert w.member.pk not in alert_members()


@pytest.mark.django_db
def test_a_member_who_moves_their_area_is_targeted_at_the_new_place_only(w: World) -> None:
    assert w.member.pk in alert_members(EAST)
    assert w.member.pk not in alert_members(WEST)
    for area in w.member.areas.all():
        area.cell = geo.cell_at(*WEST, RES)
        area.save()
    assert w.member.pk not in alert_members(EAST)
    assert w.member.pk in alert_members(WEST)


@pytest.mark.django_db
def test_a_deleted_member_is_not_targeted(w: World) -> None:
    gone = w.member.pk
    assert gone in alert_members()
    w.member.user.delete()  # cascades to the member and their areas
    assert gone not in alert_members()


@pytest.mark.django_db
def test_a_confirmed_alert_reaches_a_member_who_joined_after_the_index_was_built(
    w: World,
) -> None:
    alert_members()
    joined = Member.create(display_name="Late", language="en")
    Membership.objects.create(committee=w.east, member=joined)
    AlertArea.objects.create(member=joined, cell=geo.cell_at(*EAST, RES), ring=1)
    ContactEndpoint.create(joined, "email", "late@example.org", verified=True)
    confirmed_incident(w)
    assert Delivery.objects.filter(member=joined).count() == 1


@pytest.mark.django_db
def test_areas_loaded_in_bulk_are_seen_once_announced() -> None:
    alert_members()
    bulk = [Member.create(display_name=f"B{i}", language="en") for i in range(3)]
    AlertArea.objects.bulk_create(AlertArea(member=m, cell=CENTER, ring=1) for m in bulk)
    cellindex.areas_replaced()
    assert {m.pk for m in bulk} <= alert_members()


@pytest.mark.django_db
def test_it_logs_each_change_and_serializes_the_changing_transactions(w: World) -> None:
    before = AreaChange.objects.count()
    AlertArea.objects.create(member=w.member, cell=CENTER, ring=0)
    assert AreaChange.objects.count() == before + 1
    assert AreaChange.objects.latest("id").member_id == w.member.pk
    assert AreaLog.objects.filter(pk=1).exists()


@pytest.mark.django_db
def test_it_rebuilds_when_changes_it_had_not_read_were_purged(w: World) -> None:
    alert_members()
    AlertArea.objects.create(member=w.outsider, cell=CENTER, ring=0)
    AreaChange.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert cellindex.purge_changes() > 0
    assert AreaChange.objects.count() == 0
    assert w.outsider.pk in alert_members()


@pytest.mark.django_db
def test_it_folds_a_large_overlay_into_a_new_snapshot(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cellindex, "OVERLAY_LIMIT", 2)
    alert_members()
    extra = [Member.create(display_name=f"O{i}", language="en") for i in range(3)]
    for m in extra:
        AlertArea.objects.create(member=m, cell=CENTER, ring=0)
    assert {m.pk for m in extra} <= alert_members()
    assert cellindex.INDEX._overlay == {}


@pytest.mark.django_db
def test_targeting_asks_the_database_until_the_index_is_ready(w: World) -> None:
    cellindex.INDEX.reset(lazy=False)
    assert cellindex.INDEX.members(targeting.cells_by_reach(geo.Disk(CENTER, 1))) is None
    assert alert_members() == query_members()
    assert not cellindex.INDEX.ready


@pytest.mark.django_db(transaction=True)
def test_the_background_thread_builds_the_index_and_keeps_it_fresh() -> None:
    w = world()
    index = cellindex.CellIndex()
    stop = threading.Event()
    thread = threading.Thread(target=index.run, args=(stop, 0.05), daemon=True)
    thread.start()
    try:
        by_reach = targeting.cells_by_reach(targeting.alert_disk(CENTER))
        deadline = time.monotonic() + 30
        while not index.ready and time.monotonic() < deadline:
            time.sleep(0.02)
        assert w.member.pk in index.lookup(by_reach).members()
        newcomer = Member.create(display_name="Fresh", language="en")
        AlertArea.objects.create(member=newcomer, cell=CENTER, ring=0)
        while newcomer.pk not in index.lookup(by_reach).members() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert newcomer.pk in index.lookup(by_reach).members()
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert settings.AREA_RESOLUTION == RES
