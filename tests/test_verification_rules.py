"""The verification rules as pure functions (tocsin.incidents.verification)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.incidents.verification import (
    DEFAULT,
    Rules,
    Sighting,
    VerifierAnswer,
    decide,
    expires_at,
    metres,
    quorum_size,
)

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
HERE = (34.0339, -118.2107)
# About 111 m north for each 0.001 degree of latitude.
DEG_PER_100M = 0.0009


def seen(
    minutes: float = 0,
    *,
    north_m: float = 0,
    source: str | None = "a",
    trusted: bool = True,
) -> Sighting:
    return Sighting(
        at=T0 + timedelta(minutes=minutes),
        lat=HERE[0] + north_m / 100 * DEG_PER_100M,
        lng=HERE[1],
        source=source,
        trusted=trusted,
    )


sightings = st.lists(
    st.builds(
        seen,
        minutes=st.floats(0, 90),
        north_m=st.floats(0, 1500),
        source=st.one_of(st.none(), st.sampled_from("abcdef")),
        trusted=st.booleans(),
    ),
    max_size=14,
)
rules = st.builds(
    Rules,
    quorum=st.integers(0, 5),
    quorum_meters=st.integers(50, 2000),
    quorum_minutes=st.integers(1, 90),
    verifier_confirms=st.booleans(),
)


# Distance.


def test_metres_between_a_point_and_itself_is_zero() -> None:
    assert metres(HERE, HERE) == 0


def test_metres_matches_a_known_distance() -> None:
    # 0.01 degree of latitude is about 1,112 m anywhere.
    assert metres(HERE, (HERE[0] + 0.01, HERE[1])) == pytest.approx(1112, rel=0.01)


@given(st.floats(-80, 80), st.floats(-179, 179), st.floats(-80, 80), st.floats(-179, 179))
def test_metres_is_symmetric_and_never_negative(a: float, b: float, c: float, d: float) -> None:
    assert metres((a, b), (c, d)) == pytest.approx(metres((c, d), (a, b)), abs=1e-6)
    assert metres((a, b), (c, d)) >= 0


# The quorum.


def test_three_trusted_members_nearby_within_the_window_confirm() -> None:
    decision = decide([seen(0, source="a"), seen(5, source="b"), seen(12, source="c")], [], DEFAULT)
    assert decision is not None
    assert (decision.reason, decision.sources) == ("quorum", 3)


def test_one_member_reporting_three_times_is_one_source() -> None:
    assert quorum_size([seen(0), seen(1), seen(2)], DEFAULT) == 1
    assert decide([seen(0), seen(1), seen(2)], [], DEFAULT) is None


def test_anonymous_reports_never_count() -> None:
    anonymous = [seen(i, source=None) for i in range(10)]
    assert quorum_size(anonymous, DEFAULT) == 0
    assert decide([*anonymous, seen(0, source="a"), seen(1, source="b")], [], DEFAULT) is None


def test_untrusted_members_never_count() -> None:
    doubtful = [seen(i, source=s, trusted=False) for i, s in enumerate("abcdef")]
    assert quorum_size(doubtful, DEFAULT) == 0


def test_reports_beyond_the_quorum_distance_do_not_join() -> None:
    far = [seen(0, source="a"), seen(1, source="b"), seen(2, source="c", north_m=900)]
    assert quorum_size(far, DEFAULT) == 2
    assert decide(far, [], DEFAULT) is None


def test_reports_after_the_quorum_window_do_not_join() -> None:
    late = [seen(0, source="a"), seen(1, source="b"), seen(45, source="c")]
    assert quorum_size(late, DEFAULT) == 2
    # The window slides: three sources within any 30 minutes still confirm.
    assert quorum_size([*late, seen(50, source="a")], DEFAULT) == 2
    assert quorum_size([*late, seen(50, source="a"), seen(55, source="b")], DEFAULT) == 3


def test_a_committee_without_a_quorum_confirms_only_by_verifier() -> None:
    no_quorum = Rules(quorum=0)
    assert decide([seen(0, source=s) for s in "abcdef"], [], no_quorum) is None


@given(sightings, rules)
def test_the_quorum_never_exceeds_the_distinct_trusted_sources(
    seen_: list[Sighting], rules_: Rules
) -> None:
    distinct = {s.source for s in seen_ if s.trusted and s.source}
    assert 0 <= quorum_size(seen_, rules_) <= len(distinct)


@given(sightings, rules, st.randoms(use_true_random=False))
def test_the_quorum_does_not_depend_on_the_order_of_reports(
    seen_: list[Sighting], rules_: Rules, random: object
) -> None:
    shuffled = list(seen_)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    assert quorum_size(shuffled, rules_) == quorum_size(seen_, rules_)


@given(sightings, rules, st.lists(st.builds(seen, minutes=st.floats(0, 90)), max_size=5))
def test_anonymous_untrusted_or_repeat_reports_never_change_the_quorum(
    seen_: list[Sighting], rules_: Rules, extra: list[Sighting]
) -> None:
    before = quorum_size(seen_, rules_)
    anonymous = [Sighting(e.at, e.lat, e.lng, None, True) for e in extra]
    untrusted = [Sighting(e.at, e.lat, e.lng, "z", False) for e in extra]
    assert quorum_size([*seen_, *anonymous, *untrusted], rules_) == before
    # A repeat report at the very moment and place of one already counted adds no source.
    counted = [s for s in seen_ if s.trusted and s.source]
    assert quorum_size([*seen_, *counted], rules_) == before


@given(sightings, rules, st.builds(seen, minutes=st.floats(0, 90), source=st.just("new")))
def test_one_more_trusted_report_never_lowers_the_quorum(
    seen_: list[Sighting], rules_: Rules, more: Sighting
) -> None:
    assert quorum_size([*seen_, more], rules_) >= quorum_size(seen_, rules_)


@given(sightings, rules)
def test_a_quorum_decision_names_at_least_the_quorum(seen_: list[Sighting], rules_: Rules) -> None:
    decision = decide(seen_, [], rules_)
    if decision is None:
        assert rules_.quorum == 0 or quorum_size(seen_, rules_) < rules_.quorum
    else:
        assert decision.reason == "quorum"
        assert decision.sources >= rules_.quorum > 0


# Verifiers.


def test_a_trusted_verifiers_confirmation_confirms() -> None:
    decision = decide([], [VerifierAnswer("confirmed", trusted=True)], DEFAULT)
    assert decision is not None and decision.reason == "verifier"


def test_an_untrusted_verifiers_confirmation_does_not() -> None:
    assert decide([], [VerifierAnswer("confirmed", trusted=False)], DEFAULT) is None


@pytest.mark.parametrize("answer", ["police", "nothing"])
def test_police_or_nothing_never_confirms(answer: str) -> None:
    assert decide([], [VerifierAnswer(answer, trusted=True)] * 3, DEFAULT) is None


def test_a_committee_can_turn_off_confirmation_by_one_verifier() -> None:
    rules_ = Rules(verifier_confirms=False)
    assert decide([], [VerifierAnswer("confirmed", trusted=True)], rules_) is None


@given(
    sightings,
    rules,
    st.lists(st.builds(VerifierAnswer, st.sampled_from(["police", "nothing"]), st.booleans())),
)
def test_answers_other_than_confirmed_never_change_the_decision(
    seen_: list[Sighting], rules_: Rules, answers: list[VerifierAnswer]
) -> None:
    assert decide(seen_, answers, rules_) == decide(seen_, [], rules_)


# Expiry.


def test_an_incident_expires_after_the_committees_minutes() -> None:
    assert expires_at(T0, [Rules(expire_minutes=90)]) == T0 + timedelta(minutes=90)


def test_where_committees_overlap_the_latest_expiry_wins() -> None:
    both = [Rules(expire_minutes=30), Rules(expire_minutes=240)]
    assert expires_at(T0, both) == T0 + timedelta(minutes=240)


def test_a_committee_that_never_expires_keeps_the_incident_open() -> None:
    assert expires_at(T0, [Rules(expire_minutes=30), Rules(expire_minutes=0)]) is None
    assert expires_at(T0, []) is None


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=4))
def test_expiry_is_never_before_any_committees_own(minutes: list[int]) -> None:
    until = expires_at(T0, [Rules(expire_minutes=m) for m in minutes])
    assert until is not None
    assert all(until >= T0 + timedelta(minutes=m) for m in minutes)
