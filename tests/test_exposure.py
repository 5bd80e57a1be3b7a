"""How precisely and how soon each audience sees an incident (tocsin/lib/exposure.py):
properties that hold for every place, state, time and operator setting."""

from __future__ import annotations

import datetime as dt

import h3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin import geo
from tocsin.lib.exposure import (
    EPOCH,
    SHOWN,
    Audience,
    PublicKind,
    Rules,
    block_point,
    coarsen,
    expose,
    public_cutoff,
    public_from,
    public_kind,
)
from tocsin.lib.incident_states import State

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
REPORT_KINDS = ["checkpoint", "workplace_raid", "home_arrest", "agents_seen", "detention"]
CLOSED = (State.RESOLVED, State.UNFOUNDED, State.MERGED, State.EXPIRED)

latitudes = st.floats(min_value=-60, max_value=70, allow_nan=False)
longitudes = st.floats(min_value=-179.9, max_value=179.9, allow_nan=False)
states = st.sampled_from(list(State))
moments = st.integers(min_value=0, max_value=365 * 24 * 3600).map(
    lambda s: START + dt.timedelta(seconds=s)
)
rules = st.builds(
    Rules,
    public_resolution=st.integers(min_value=5, max_value=geo.BLOCK_RESOLUTION),
    public_delay=st.integers(min_value=0, max_value=7 * 24 * 60).map(
        lambda m: dt.timedelta(minutes=m)
    ),
    public_time_step=st.integers(min_value=1, max_value=24 * 60).map(
        lambda m: dt.timedelta(minutes=m)
    ),
)


@st.composite
def incidents(draw: st.DrawFn) -> dict:
    cell = geo.cell_at(draw(latitudes), draw(longitudes), geo.REPORT_RESOLUTION)
    opened_at = draw(moments)
    confirmed = draw(st.booleans())
    confirmed_at = opened_at + dt.timedelta(seconds=draw(st.integers(0, 86400)))
    closed_at = confirmed_at + dt.timedelta(seconds=draw(st.integers(0, 86400)))
    state = draw(states)
    return {
        "cell": cell,
        "state": state,
        "opened_at": opened_at,
        "confirmed_at": confirmed_at if confirmed else None,
        "kind": draw(st.sampled_from([*REPORT_KINDS, "something_new"])),
        "closed_at": closed_at if state in CLOSED else None,
    }


def seen(audience: Audience, incident: dict, now: dt.datetime, r: Rules):  # type: ignore[no-untyped-def]
    return expose(audience, now=now, rules=r, **incident)


@given(incidents(), st.integers(0, 30 * 86400), rules)
def test_the_public_never_sees_finer_than_its_cell_nor_before_the_delay(
    incident: dict, later: int, r: Rules
) -> None:
    now = incident["opened_at"] + dt.timedelta(seconds=later)
    public = seen(Audience.PUBLIC, incident, now, r)
    if public is None:
        return
    assert incident["state"] in (State.CONFIRMED, State.RESOLVED)
    assert incident["confirmed_at"] is not None
    assert now >= incident["confirmed_at"] + r.public_delay
    # Not before the confirmation's time step has ended, plus the delay: the moment it
    # appears tells the step, never the minute.
    assert now >= public_from(incident["confirmed_at"], r)
    assert (public_from(incident["confirmed_at"], r) - r.public_delay - EPOCH) % (
        r.public_time_step
    ) == dt.timedelta(0)
    assert public.resolution == geo.resolution(public.cell) == r.public_resolution
    assert public.resolution <= geo.BLOCK_RESOLUTION
    # The time shown is the confirmation rounded down, never later, never finer than a step.
    assert incident["confirmed_at"] - r.public_time_step < public.at <= incident["confirmed_at"]
    assert (public.at - EPOCH) % r.public_time_step == dt.timedelta(0)


@given(incidents(), st.integers(0, 30 * 86400), rules)
def test_each_audience_sees_a_parent_of_what_the_one_closer_sees(
    incident: dict, later: int, r: Rules
) -> None:
    now = incident["opened_at"] + dt.timedelta(seconds=later)
    responder = seen(Audience.RESPONDER, incident, now, r)
    member = seen(Audience.MEMBER, incident, now, r)
    public = seen(Audience.PUBLIC, incident, now, r)
    if public is not None:
        assert member is not None
        assert h3.cell_to_parent(h3.int_to_str(member.cell), public.resolution) == h3.int_to_str(
            public.cell
        )
    if member is not None:
        assert responder is not None
        assert member.resolution == geo.BLOCK_RESOLUTION
        assert geo.parent(responder.cell, member.resolution) == member.cell


@given(incidents(), rules)
def test_nothing_unconfirmed_reaches_members_or_the_public(incident: dict, r: Rules) -> None:
    incident = {**incident, "confirmed_at": None}
    far_later = incident["opened_at"] + dt.timedelta(days=365)
    assert seen(Audience.MEMBER, incident, far_later, r) is None
    assert seen(Audience.PUBLIC, incident, far_later, r) is None


@pytest.mark.parametrize("state", [State.UNFOUNDED, State.EXPIRED, State.MERGED])
def test_a_false_alarm_an_expired_or_a_merged_incident_never_reaches_the_public(
    state: State,
) -> None:
    cell = geo.cell_at(34.0361, -118.2093, geo.REPORT_RESOLUTION)
    found = expose(
        Audience.PUBLIC,
        cell=cell,
        state=state,
        opened_at=START,
        confirmed_at=START,
        now=START + dt.timedelta(days=30),
    )
    assert found is None
    assert state not in SHOWN[Audience.PUBLIC]


def test_a_responder_sees_the_exact_place_at_once_a_member_the_block_the_public_later() -> None:
    cell = geo.cell_at(34.0361, -118.2093, geo.REPORT_RESOLUTION)
    incident = {
        "cell": cell,
        "state": State.CONFIRMED,
        "opened_at": START,
        "confirmed_at": START + dt.timedelta(minutes=7, seconds=12),
    }
    now = START + dt.timedelta(minutes=8)
    r = Rules()
    assert seen(Audience.RESPONDER, incident, now, r).cell == cell  # type: ignore[union-attr]
    assert seen(Audience.MEMBER, incident, now, r).resolution == geo.BLOCK_RESOLUTION  # type: ignore[union-attr]
    assert seen(Audience.PUBLIC, incident, now, r) is None
    # 00:07:12 + 30 min is not yet: its quarter hour ends at 00:15, public from 00:45.
    assert seen(Audience.PUBLIC, incident, START + dt.timedelta(minutes=38), r) is None
    later = START + dt.timedelta(minutes=45)
    public = seen(Audience.PUBLIC, incident, later, r)
    assert public is not None
    assert public.resolution == geo.PUBLIC_RESOLUTION
    assert public.at == START  # 00:07:12 rounded down to the quarter hour
    assert public_cutoff(later, r) == later - r.public_delay


def test_an_operator_cannot_make_the_public_finer_than_a_block() -> None:
    with pytest.raises(ValueError):
        Rules(public_resolution=geo.BLOCK_RESOLUTION + 1)
    with pytest.raises(ValueError):
        Rules(public_delay=dt.timedelta(minutes=-1))


@given(incidents(), st.integers(0, 30 * 86400), rules)
def test_the_public_sees_a_resolution_no_sooner_than_a_confirmation(
    incident: dict, later: int, r: Rules
) -> None:
    now = incident["opened_at"] + dt.timedelta(seconds=later)
    public = seen(Audience.PUBLIC, incident, now, r)
    if public is None or incident["state"] != State.RESOLVED:
        return
    if now < public_from(incident["closed_at"], r):
        assert public.state == State.CONFIRMED
    else:
        assert public.state == State.RESOLVED
    # Members hear of it at once.
    member = seen(Audience.MEMBER, incident, now, r)
    assert member is not None and member.state == State.RESOLVED


@given(incidents(), st.integers(0, 30 * 86400), rules)
def test_the_public_is_told_a_public_kind_that_never_names_a_home(
    incident: dict, later: int, r: Rules
) -> None:
    now = incident["opened_at"] + dt.timedelta(seconds=later)
    public = seen(Audience.PUBLIC, incident, now, r)
    if public is not None:
        assert public.kind in PublicKind.values
        assert public.kind not in ("home_arrest", "workplace_raid", "detention")
    member = seen(Audience.MEMBER, incident, now, r)
    if member is not None:
        assert member.kind == incident["kind"]


def test_enforcement_at_a_home_or_a_workplace_is_enforcement_activity() -> None:
    assert {k: public_kind(k) for k in REPORT_KINDS} == {
        "checkpoint": "checkpoint",
        "workplace_raid": "enforcement",
        "home_arrest": "enforcement",
        "agents_seen": "agents_seen",
        "detention": "enforcement",
    }
    assert public_kind("something_new") == "enforcement"
    assert public_kind("enforcement") == "enforcement"


@given(incidents(), rules)
def test_the_block_and_the_public_cell_are_what_expose_shows(incident: dict, r: Rules) -> None:
    # One function says how fine each audience sees: the members' block point (their
    # alerts' and pages' place) is the centre of what expose shows them.
    incident = {**incident, "state": State.CONFIRMED, "confirmed_at": incident["opened_at"]}
    far_later = incident["opened_at"] + dt.timedelta(days=30)
    member = seen(Audience.MEMBER, incident, far_later, r)
    public = seen(Audience.PUBLIC, incident, far_later, r)
    assert member is not None and public is not None
    lat, lng = geo.center(member.cell)
    assert block_point(incident["cell"]) == (round(lat, 4), round(lng, 4))
    assert (member.cell, member.resolution) == coarsen(Audience.MEMBER, incident["cell"], r)
    assert (public.cell, public.resolution) == coarsen(Audience.PUBLIC, incident["cell"], r)
