"""Reports about one operation join one incident, whatever their channel
(tocsin.incidents.clustering: a pure rule; tocsin.incidents.services: using it, merging
and splitting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import EAST, WEST, World, own_incident
from tocsin import geo
from tocsin.incidents import clustering
from tocsin.incidents.clustering import Rule, Seen, choose, fits
from tocsin.incidents.models import Incident, IncidentEvent, State
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import MergeError, change_state, merge, open_incident, split
from tocsin.intake.models import Report, ReportKind
from tocsin.members.models import Member

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
HERE = geo.cell_at(*EAST, geo.REPORT_RESOLUTION)
KINDS = [k.value for k in ReportKind]


def seen(cell: int = HERE, kind: str = "checkpoint", at: datetime = T0, i: int = 1) -> Seen:
    return Seen(i, cell, kind, at, at)


def cell_steps_away(n: int) -> int:
    """A report cell whose cluster cell is exactly ``n`` steps from HERE's."""
    base = geo.parent(HERE, clustering.CLUSTER_RESOLUTION)
    target = next(c for c in geo.disk(base, n) if geo.distance(base, c) == n)
    return geo.cell_at(*geo.center(target), geo.REPORT_RESOLUTION)


# --- the rule ---


def test_a_report_next_door_a_minute_later_joins() -> None:
    assert fits(seen(at=T0 + timedelta(minutes=1)), seen())


def test_a_report_beyond_the_ring_does_not_join() -> None:
    assert fits(seen(cell_steps_away(2)), seen())
    assert not fits(seen(cell_steps_away(3)), seen())


def test_a_report_after_the_window_does_not_join() -> None:
    assert fits(seen(at=T0 + timedelta(minutes=90)), seen())
    assert not fits(seen(at=T0 + timedelta(minutes=91)), seen())


def test_a_report_about_a_home_arrest_does_not_join_a_checkpoint() -> None:
    assert not fits(seen(kind="home_arrest"), seen(kind="checkpoint"))
    assert fits(seen(kind="agents_seen"), seen(kind="checkpoint"))


def test_among_several_it_joins_the_nearest_then_the_latest() -> None:
    near = seen(HERE, i=1)
    far = seen(cell_steps_away(1), i=2)
    assert choose(seen(), [far, near]) == 1
    older = Seen(3, HERE, "checkpoint", T0 - timedelta(minutes=30), T0 - timedelta(minutes=20))
    assert choose(seen(), [older, near]) == 1


@given(
    a=st.sampled_from(KINDS),
    b=st.sampled_from(KINDS),
    steps=st.integers(0, 4),
    minutes=st.integers(-30, 200),
)
def test_the_rule_is_symmetric_in_kind_and_needs_space_time_and_kind(
    a: str, b: str, steps: int, minutes: int
) -> None:
    report = seen(cell_steps_away(steps), a, T0 + timedelta(minutes=minutes))
    incident = seen(kind=b)
    joined = fits(report, incident)
    assert clustering.compatible(a, b) == clustering.compatible(b, a)
    if joined:
        assert clustering.compatible(a, b)
        assert steps <= Rule().ring
        assert -15 <= minutes <= 90
    else:
        assert not clustering.compatible(a, b) or steps > Rule().ring or not -15 <= minutes <= 90


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 120)), max_size=8))
def test_the_chosen_incident_always_fits(candidates: list[tuple[int, int]]) -> None:
    incidents = [
        Seen(i, cell_steps_away(d), "checkpoint", T0, T0 + timedelta(minutes=m))
        for i, (d, m) in enumerate(candidates)
    ]
    chosen = choose(seen(at=T0 + timedelta(minutes=60)), incidents)
    fitting = [i for i in incidents if fits(seen(at=T0 + timedelta(minutes=60)), i)]
    assert (chosen is None) == (not fitting)
    if chosen is not None:
        assert chosen in {i.id for i in fitting}


# --- on the desk ---


def report(
    place: tuple[float, float] = EAST, kind: str = "checkpoint", channel: str = "web"
) -> Report:
    return submit_report(channel=channel, kind=kind, lat=place[0], lng=place[1], text="vans")


@pytest.mark.django_db
def test_reports_from_several_channels_join_the_open_incident(w: World) -> None:
    incident = open_incident(report(), actor=w.dispatcher)
    by_sms = report((EAST[0] + 0.0005, EAST[1]), "agents_seen", channel="sms")
    by_telegram = report(channel="telegram")
    assert by_sms.incident == incident
    assert by_telegram.incident == incident
    assert set(incident.reports.values_list("channel", flat=True)) == {"web", "sms", "telegram"}
    assert IncidentEvent.objects.filter(incident=incident, action="report_clustered").count() == 2


@pytest.mark.django_db
def test_a_report_elsewhere_stays_on_its_own(w: World) -> None:
    open_incident(report(), actor=w.dispatcher)
    assert report(WEST).incident is None
    assert report(kind="home_arrest").incident is None


@pytest.mark.django_db
def test_a_closed_incident_takes_no_more_reports(w: World) -> None:
    incident = open_incident(report(), actor=w.dispatcher)
    change_state(incident, State.UNFOUNDED, actor=w.dispatcher)
    assert report().incident is None


@pytest.mark.django_db
def test_a_joining_report_moves_the_incidents_last_seen(w: World) -> None:
    incident = open_incident(report(), actor=w.dispatcher)
    later = report()
    incident.refresh_from_db()
    assert incident.last_seen_at == later.received_at
    assert incident.first_seen_at <= incident.last_seen_at


@pytest.mark.django_db
def test_merging_moves_the_reports_and_closes_the_other(w: World) -> None:
    a = open_incident(report(), actor=w.dispatcher)
    b = open_incident(report(WEST), actor=w.dispatcher)
    merge(b, a, actor=w.dispatcher)
    b.refresh_from_db()
    assert b.state == State.MERGED and b.merged_into == a
    assert a.reports.count() == 2
    assert IncidentEvent.objects.filter(incident=a, action="merged_in").exists()


@pytest.mark.django_db
def test_an_incident_members_heard_about_cannot_be_merged_away(w: World) -> None:
    a = open_incident(report(), actor=w.dispatcher)
    b = open_incident(report(WEST), actor=w.dispatcher)
    change_state(b, State.CONFIRMED, actor=w.dispatcher)
    with pytest.raises(MergeError):
        merge(b, a, actor=w.dispatcher)
    with pytest.raises(MergeError):
        merge(a, a, actor=w.dispatcher)


@pytest.mark.django_db
def test_splitting_moves_chosen_reports_to_a_new_incident(w: World) -> None:
    first = report()
    incident = open_incident(first, actor=w.dispatcher)
    second = report(kind="agents_seen")
    assert second.incident == incident
    new = split(incident, [second.pk], actor=w.dispatcher)
    assert list(new.reports.all()) == [second]
    assert list(incident.reports.all()) == [first]
    assert new.state == State.REPORTED
    with pytest.raises(MergeError):
        split(incident, [first.pk], actor=w.dispatcher)  # one report must stay


@pytest.mark.django_db
def test_merged_incidents_are_closed_for_retention(w: World) -> None:
    a = open_incident(report(), actor=w.dispatcher)
    b = open_incident(report(WEST), actor=w.dispatcher)
    merge(b, a, actor=w.dispatcher)
    assert (
        Incident.objects.closed_before(b.updated_at + timedelta(seconds=1)).filter(pk=b.pk).exists()
    )


# --- the dispatcher's buttons ---


def as_(persona: Member) -> Client:
    client = Client()
    client.force_login(persona.user)
    return client


@pytest.mark.django_db
def test_a_dispatcher_merges_from_the_incident_page(w: World) -> None:
    a = open_incident(report(), actor=w.dispatcher)
    b = own_incident(report(kind="home_arrest"), w.dispatcher)
    page = as_(w.dispatcher).get(reverse("incident", args=[b.pk])).content.decode()
    assert f'value="{a.pk}"' in page  # offered as a merge target
    response = as_(w.dispatcher).post(reverse("incident_merge", args=[b.pk]), {"into": a.pk})
    assert response.status_code == 302 and response["Location"] == reverse("incident", args=[a.pk])
    b.refresh_from_db()
    assert b.state == State.MERGED


@pytest.mark.django_db
def test_a_merged_incidents_page_links_to_the_incident_it_joined(w: World) -> None:
    a = open_incident(report(), actor=w.dispatcher)
    b = own_incident(report(kind="home_arrest"), w.dispatcher)
    merge(b, a, actor=w.dispatcher)
    page = as_(w.dispatcher).get(reverse("incident", args=[b.pk])).content.decode()
    target = reverse("incident", args=[a.pk])
    assert f'<a href="{target}" data-testid="merged-into">#{a.pk}</a>' in page
    # Both timelines link to each other.
    timeline = page.split('<ol class="timeline">')[1]
    assert f'Merged into <a href="{target}">#{a.pk}</a>' in timeline
    other = as_(w.dispatcher).get(target).content.decode().split('<ol class="timeline">')[1]
    assert f'Incident merged in <a href="{reverse("incident", args=[b.pk])}">#{b.pk}</a>' in other


@pytest.mark.django_db
def test_nobody_handles_an_incident_merged_away(w: World) -> None:
    a = open_incident(report(), actor=w.dispatcher)
    b = own_incident(report(kind="home_arrest"), w.dispatcher)
    merge(b, a, actor=w.dispatcher)
    b.refresh_from_db()
    assert b.held_by_id is None
    page = as_(w.dispatcher).get(reverse("incident", args=[b.pk])).content.decode()
    assert "You are handling this incident." not in page


@pytest.mark.django_db
def test_an_incident_people_heard_about_offers_no_merge_that_would_be_refused(w: World) -> None:
    a = open_incident(report(), actor=w.dispatcher)
    b = own_incident(report(kind="home_arrest"), w.dispatcher)
    change_state(b, State.VERIFYING, actor=w.dispatcher)  # responders nearby are told
    page = as_(w.dispatcher).get(reverse("incident", args=[b.pk])).content.decode()
    assert reverse("incident_merge", args=[b.pk]) not in page
    assert "cannot be merged into another" in page
    # The other way round still works: #a merges into #b.
    other = as_(w.dispatcher).get(reverse("incident", args=[a.pk])).content.decode()
    assert reverse("incident_merge", args=[a.pk]) in other


@pytest.mark.django_db
def test_the_dispatcher_who_splits_handles_the_new_incident(w: World) -> None:
    first = report()
    incident = open_incident(first, actor=w.dispatcher)
    second = report(kind="agents_seen")
    new = split(incident, [second.pk], actor=w.dispatcher)
    page = as_(w.dispatcher).get(reverse("incident", args=[new.pk])).content.decode()
    assert "You are handling this incident." in page
    assert "Nobody is handling" not in page


@pytest.mark.django_db
def test_a_dispatcher_splits_from_the_incident_page(w: World) -> None:
    first = report()
    incident = open_incident(first, actor=w.dispatcher)
    second = report(kind="agents_seen")
    response = as_(w.dispatcher).post(
        reverse("incident_split", args=[incident.pk]), {"reports": [second.pk]}
    )
    second.refresh_from_db()
    assert second.incident is not None and second.incident != incident
    assert response["Location"] == reverse("incident", args=[second.incident.pk])


@pytest.mark.django_db
def test_the_split_list_says_what_each_report_is(w: World) -> None:
    first = report()
    incident = open_incident(first, actor=w.dispatcher)
    report(kind="agents_seen")
    page = as_(w.dispatcher).get(reverse("incident", args=[incident.pk])).content.decode()
    boxes = page.split('name="reports"')[1:]
    assert any("Agents or vehicles seen" in b.split("</label>")[0] for b in boxes), boxes


@pytest.mark.django_db
def test_a_bad_merge_keeps_both_and_says_why(w: World) -> None:
    a = open_incident(report(), actor=w.dispatcher)
    response = as_(w.dispatcher).post(
        reverse("incident_merge", args=[a.pk]), {"into": a.pk}, follow=True
    )
    assert "cannot be merged" in response.content.decode()
    a.refresh_from_db()
    assert a.state == State.REPORTED


@pytest.mark.django_db
def test_another_committees_dispatcher_cannot_merge_or_split(w: World) -> None:
    a = open_incident(report(), actor=w.dispatcher)
    b = own_incident(report(), w.dispatcher)
    west = as_(w.west_dispatcher)
    assert west.post(reverse("incident_merge", args=[b.pk]), {"into": a.pk}).status_code == 404
    assert west.post(reverse("incident_split", args=[a.pk]), {"reports": []}).status_code == 404
    # Nor can an East dispatcher merge into an incident they cannot see.
    w_incident = own_incident(report(WEST), w.west_dispatcher)
    east = as_(w.dispatcher)
    assert (
        east.post(reverse("incident_merge", args=[a.pk]), {"into": w_incident.pk}).status_code
        == 404
    )
    assert Incident.objects.filter(state=State.MERGED).count() == 0


@pytest.mark.django_db
def test_members_and_outsiders_cannot_merge(w: World) -> None:
    a = open_incident(report(), actor=w.dispatcher)
    b = own_incident(report(), w.dispatcher)
    for persona in (w.member, w.outsider):
        response = as_(persona).post(reverse("incident_merge", args=[b.pk]), {"into": a.pk})
        assert response.status_code in (403, 404)
    assert Incident.objects.filter(state=State.MERGED).count() == 0
