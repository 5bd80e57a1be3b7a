"""Tests for the incident state machine (tocsin.incidents.states): a pure function and its table."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.incidents import states
from tocsin.incidents.models import State

REPORTED, VERIFYING, CONFIRMED, RESOLVED, UNFOUNDED, MERGED, EXPIRED = (
    "reported",
    "verifying",
    "confirmed",
    "resolved",
    "unfounded",
    "merged",  # reached only by merging (tocsin.incidents.services.merge), never a move
    "expired",  # reached only when nobody verified it in time (tocsin.incidents.verify)
)
ALL = [REPORTED, VERIFYING, CONFIRMED, RESOLVED, UNFOUNDED, MERGED, EXPIRED]
TERMINAL = {RESOLVED, UNFOUNDED, MERGED, EXPIRED}

# Written out by hand from DESIGN.md section 3, not derived from states.TRANSITIONS.
ALLOWED = {
    (REPORTED, VERIFYING),
    (REPORTED, CONFIRMED),
    (REPORTED, UNFOUNDED),
    (REPORTED, EXPIRED),
    (VERIFYING, CONFIRMED),
    (VERIFYING, UNFOUNDED),
    (VERIFYING, EXPIRED),
    (CONFIRMED, RESOLVED),
    (CONFIRMED, UNFOUNDED),
}
FORBIDDEN = sorted(set(itertools.product(ALL, ALL)) - ALLOWED)

states_ = st.sampled_from(ALL)


def test_it_uses_the_model_state_values() -> None:
    assert sorted(State.values) == sorted(ALL)


@pytest.mark.parametrize(("current", "wanted"), sorted(ALLOWED))
def test_it_allows_the_transition(current: str, wanted: str) -> None:
    assert states.next_state(current, wanted) == wanted


@pytest.mark.parametrize(("current", "wanted"), FORBIDDEN)
def test_it_forbids_the_transition(current: str, wanted: str) -> None:
    with pytest.raises(states.TransitionError):
        states.next_state(current, wanted)


@pytest.mark.parametrize("wanted", ALL)
def test_it_forbids_leaving_an_unknown_state(wanted: str) -> None:
    with pytest.raises(states.TransitionError):
        states.next_state("escalated", wanted)


def test_it_forbids_moving_to_an_unknown_state() -> None:
    with pytest.raises(states.TransitionError):
        states.next_state(REPORTED, "escalated")


def test_it_accepts_model_state_members() -> None:
    assert states.next_state(State.REPORTED, State.CONFIRMED) == State.CONFIRMED


def apply(requests: list[str], start: str = REPORTED) -> list[str]:
    """Return the states an incident passes through when each request is tried in turn."""
    path = [start]
    for wanted in requests:
        try:
            path.append(states.next_state(path[-1], wanted))
        except states.TransitionError:
            pass
    return path


@given(requests=st.lists(states_, max_size=30))
def test_it_never_leaves_a_terminal_state(requests: list[str]) -> None:
    path = apply(requests)
    for before, after in itertools.pairwise(path):
        assert before not in TERMINAL, f"moved from {before} to {after}"


@given(requests=st.lists(states_, max_size=30))
def test_it_never_confirms_after_a_false_alarm(requests: list[str]) -> None:
    path = apply(requests)
    if UNFOUNDED in path:
        assert CONFIRMED not in path[path.index(UNFOUNDED) :]


@given(requests=st.lists(states_, max_size=30))
def test_it_never_returns_to_an_earlier_state(requests: list[str]) -> None:
    path = apply(requests)
    assert len(path) == len(set(path))


@given(requests=st.lists(states_, max_size=30))
def test_it_only_resolves_a_confirmed_incident(requests: list[str]) -> None:
    path = apply(requests)
    if RESOLVED in path:
        assert path[path.index(RESOLVED) - 1] == CONFIRMED


@given(start=states_, requests=st.lists(states_, max_size=30))
def test_it_only_moves_along_allowed_edges(start: str, requests: list[str]) -> None:
    path = apply(requests, start)
    assert set(itertools.pairwise(path)) <= ALLOWED


# notice_for


@pytest.mark.parametrize("previous", [REPORTED, VERIFYING])
@pytest.mark.parametrize("alerted", [False, True])
def test_it_sends_the_confirmed_notice_on_confirmation(previous: str, alerted: bool) -> None:
    assert states.notice_for(previous, CONFIRMED, members_were_alerted=alerted) == "confirmed"


@given(previous=states_, new=states_.filter(lambda s: s not in (CONFIRMED, VERIFYING)))
def test_it_sends_nothing_unless_someone_was_alerted_or_it_is_confirmed(
    previous: str, new: str
) -> None:
    assert states.notice_for(previous, new, members_were_alerted=False) is None


@pytest.mark.parametrize("alerted", [False, True])
def test_it_tells_the_responders_nearby_when_verification_starts(alerted: bool) -> None:
    assert states.notice_for(REPORTED, VERIFYING, members_were_alerted=alerted) == "possible"


@pytest.mark.parametrize("previous", [REPORTED, VERIFYING])
def test_it_corrects_whoever_heard_of_an_incident_that_expired(previous: str) -> None:
    assert states.notice_for(previous, EXPIRED, members_were_alerted=True) == "correction"
    assert states.notice_for(previous, EXPIRED, members_were_alerted=False) is None


def test_the_desk_never_offers_merging_or_expiry() -> None:
    for state in ALL:
        assert not set(states.choices(state)) & {MERGED, EXPIRED}
    assert states.choices(REPORTED) == [CONFIRMED, UNFOUNDED, VERIFYING]


def test_it_sends_an_all_clear_when_alerted_members_see_it_resolved() -> None:
    assert states.notice_for(CONFIRMED, RESOLVED, members_were_alerted=True) == "all_clear"


def test_it_sends_a_correction_when_alerted_members_see_a_false_alarm() -> None:
    assert states.notice_for(CONFIRMED, UNFOUNDED, members_were_alerted=True) == "correction"


def test_it_sends_no_correction_when_nobody_was_alerted() -> None:
    assert states.notice_for(CONFIRMED, UNFOUNDED, members_were_alerted=False) is None


def test_it_sends_no_all_clear_when_nobody_was_alerted() -> None:
    assert states.notice_for(CONFIRMED, RESOLVED, members_were_alerted=False) is None


@pytest.mark.parametrize("previous", [REPORTED, VERIFYING])
def test_it_sends_no_correction_for_a_report_dismissed_before_confirmation(previous: str) -> None:
    assert states.notice_for(previous, UNFOUNDED, members_were_alerted=False) is None


@given(previous=states_, new=states_, alerted=st.booleans())
def test_it_only_ever_sends_one_of_four_notices(previous: str, new: str, alerted: bool) -> None:
    assert states.notice_for(previous, new, members_were_alerted=alerted) in {
        None,
        "confirmed",
        "possible",
        "all_clear",
        "correction",
    }


@given(requests=st.lists(states_, max_size=30), data=st.data())
def test_it_sends_an_ending_notice_only_after_a_confirmed_notice(
    requests: list[str], data: st.DataObject
) -> None:
    # Walk a random history; members count as alerted only once a confirmed notice went
    # out (and then only if a delivery actually left, which the caller decides).
    path = apply(requests)
    confirmed_sent = False
    alerted = False
    for previous, new in itertools.pairwise(path):
        notice = states.notice_for(previous, new, members_were_alerted=alerted)
        if notice in {"all_clear", "correction"}:
            assert confirmed_sent
        if notice == "confirmed":
            confirmed_sent = True
            alerted = data.draw(st.booleans(), label="a delivery left")
